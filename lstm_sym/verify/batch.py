"""The one batch adapter: referees that work on one sequence at a time (the
interpreter behind the derivation, the scalar graph) answer for a batch.

A batch's gradients are the sum over its sequences for the parameters, and
the sequences' own gradients stacked along the batch axis for x (T, B, D)
and the initial states (B, H)."""
from __future__ import annotations

import numpy as np


def sequence(prob, b, states):
    """Sequence b of a Problem: (xs, init, G, Gc) as the interpreter takes
    them: xs and G lists over t, init and Gc keyed by state name."""
    init = {states[0]: prob.h0[b]}
    if prob.c0 is not None:
        init[states[1]] = prob.c0[b]
    Gc = {states[1]: prob.Gc[b]} if prob.Gc is not None else None
    return list(prob.x[:, b]), init, list(prob.G[:, b]), Gc


def over_batch(per_sequence, B, states, missing=None):
    """Gradients of a batch of B sequences from per_sequence(b) -> the
    gradients of sequence b (x as a list or array over t).  A state whose
    gradient no sequence returns gets missing(key) if given (else none)."""
    total, stacked = {}, {}
    keys = ["x"] + [s + "0" for s in states]
    for b in range(B):
        g = per_sequence(b)
        for k, v in g.items():
            if k in keys:
                stacked.setdefault(k, []).append(np.array(v) if k == "x" else v)
            else:
                total[k] = v if k not in total else total[k] + v
    out = dict(total)
    for k in keys:
        if k in stacked:
            out[k] = np.stack(stacked[k], axis=1 if k == "x" else 0)
        elif missing is not None and k != "x":
            out[k] = missing(k)
    return out


def one_sequence(params, xs, init, G, states):
    """A Problem of batch one from one sequence (the errata's numbers)."""
    from .problem import Problem
    one = lambda v: np.asarray(v)[None]               # (…) -> (1, …)
    return Problem(params, np.stack(xs)[:, None], one(init[states[0]]),
                   one(init[states[1]]) if len(states) > 1 else None, np.stack(G)[:, None], None)
