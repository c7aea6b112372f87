"""Comparing what a user's code was given with what the checker keeps, running
no user code (sandbox.Guarded's test that inputs came back unchanged)."""
from __future__ import annotations

import numpy as np


def same(a, b, depth=0):
    """Structural equality that runs no user code (unknown objects: identity)."""
    if depth > 50 or type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind == "O":
            return all(same(u, v, depth + 1) for u, v in zip(a.flat, b.flat))
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, dict):
        return (list(dict.keys(a)) == list(dict.keys(b))
                and all(same(dict.__getitem__(a, k), dict.__getitem__(b, k), depth + 1) for k in dict.keys(a)))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(u, v, depth + 1) for u, v in zip(a, b))
    if isinstance(a, (bool, int, float, complex, str, bytes, type(None), np.generic, frozenset, set)):
        return a == b or (a != a and b != b)
    if hasattr(a, "__dict__") and type(a).__eq__ is object.__eq__:
        return same(vars(a), vars(b), depth + 1)
    return a is b


def _changed(given, ours):
    """Names of the inputs the user's code changed: given are the copies it
    got, ours the checker's originals."""
    out = []
    for name, (g, o) in given.items():
        if isinstance(o, dict):
            if not isinstance(g, dict):
                out.append(name)
                continue
            keys = list(dict.fromkeys([*o, *dict.keys(g)]))
            out += [f"{name}[{k!r}]" for k in keys
                    if k not in o or not dict.__contains__(g, k) or not same(dict.__getitem__(g, k), o[k])]
        elif not same(g, o):
            out.append(name)
    return out
