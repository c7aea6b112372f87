"""The derivation as a kernel-contract module, run by the interpreter.

Slow (a Python loop over the batch) but it is the derivation itself, with no
code generation in between: the checker's "derivation" column compares a
module against it."""
from __future__ import annotations

import types

import numpy as np

from ..derivation import derive
from ..evaluate import FloatBackend, run_backward, run_forward
from .batch import over_batch


class ComplexBackend(FloatBackend):
    dtype = complex

    def act(self, fn, a):
        return np.asarray(fn.numpy_fn(a), dtype=complex)

    def zeros(self, n):
        return np.zeros(n, dtype=complex)


def reference_module(cell, complex_safe=False):
    d = cell if hasattr(cell, "delta_defs") else derive(cell)
    c = d.cell
    backend = ComplexBackend() if complex_safe else FloatBackend()
    has_c = len(c.states) > 1

    def forward(params, x, h0=None, c0=None):
        T, B, _ = x.shape
        H = params[next(p for p, v in c.params.items() if v.shape[0] == "H")].shape[0]
        dtype = np.result_type(x, *params.values())
        init = {c.states[0]: np.zeros((B, H), dtype) if h0 is None else h0}
        if has_c:
            init[c.states[1]] = np.zeros((B, H), dtype) if c0 is None else c0
        ctxs = [run_forward(c, params, list(x[:, b]), {s: v[b] for s, v in init.items()}, backend)
                for b in range(B)]
        states = {s: np.array([[ctx.env[s, t] for ctx in ctxs] for t in range(1, T + 1)])
                  for s in c.states}
        cache = {"ctxs": ctxs, **{s: v for s, v in states.items() if s != c.states[0]}}
        return states[c.states[0]], cache

    def backward(params, dh, cache, dcT=None):
        def one(b):
            final = {c.states[1]: dcT[b]} if (has_c and dcT is not None) else {}
            return run_backward(d, cache["ctxs"][b], list(dh[:, b]), final)
        # s_{t−1} never read: no gradient reaches s_0
        return over_batch(one, len(cache["ctxs"]), c.states, missing=lambda k: np.zeros(dh.shape[1:], dh.dtype))

    mod = types.ModuleType(f"lstm_sym_reference_{c.name}")
    mod.CELL, mod.STATES = c.name, tuple(c.states)
    mod.PARAMS = {p: v.shape for p, v in c.params.items()}
    mod.forward, mod.backward = forward, backward
    return mod
