"""The tutorial's published LSTM backward pass, as an edit of the derivation,
and how far its gradients are from the true ones on a small example.

The tutorial (hanbt, 零基础入门深度学习(6) 长短时记忆网络(LSTM), 式7–式14) makes two slips: its gate deltas use
only the path through h_t (δc_t loses the carry δc_{t+1} ⊙ f_{t+1}), and its
input-weight gradients keep only the last step instead of a sum over time."""
from __future__ import annotations

import numpy as np

from .derive import derive
from .evaluate import run_backward, run_forward
from .ir import Delta, Next, TimeSum, add, transform


def tutorial_variant(derivation):
    """The derivation with the tutorial's two slips."""
    d = derivation
    dc = d.delta_of("c")
    d = d.with_delta("c", add(*[t for t in dc.terms if not isinstance(t, Next)]))
    for p, v in d.cell.params.items():
        if v.shape == ("H", "D"):                  # input weights W_gx
            d = d.with_grad(p, TimeSum(d.param_grads[p].a, "last"))
    return d


def inline_state_deltas(derivation, eqs):
    """Write δc_t out inside the gate deltas, as the tutorial prints them."""
    dc = derivation.delta_of("c")
    return [(l, transform(r, lambda n: dc if n == Delta("c") else None)) for l, r in eqs]


def example(D=3, H=4, T=5, seed=0, scale=0.5, zero_init=False):
    """A random LSTM instance (float64): params, xs, init, G, Gc."""
    cell = derive("lstm").cell
    rng = np.random.default_rng(seed)
    dims = {"H": H, "D": D}
    params = {p: scale * rng.standard_normal([dims[s] for s in v.shape]) for p, v in cell.params.items()}
    xs = [rng.standard_normal(D) for _ in range(T)]
    init = {s: (np.zeros(H) if zero_init else rng.standard_normal(H)) for s in cell.states}
    G = [rng.standard_normal(H) for _ in range(T)]
    return params, xs, init, G


def gradients(derivation, params, xs, init, G):
    ctx = run_forward(derivation.cell, params, xs, init)
    return run_backward(derivation, ctx, G)


def central_differences(derivation, params, xs, init, G, name):
    """∂L/∂(name) by central differences of the forward pass alone: the
    checker's own routine, on the cell run as a batch of one."""
    from .verify.numeric import STEPS, Problem, central
    from .verify.reference import reference_module
    one = lambda v: np.asarray(v)[None]               # (…) -> (1, …): batch of one
    prob = Problem(params, np.stack(xs)[:, None], one(init["h"]),
                   one(init["c"]) if "c" in init else None, np.stack(G)[:, None], None)
    fd = central(reference_module(derivation), prob, name, STEPS["central", "float64"])
    return fd[0] if name in ("h0", "c0") else fd


def relative_error(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def compare(D=3, H=4, T=5, seed=0, zero_init=False):
    """Rows (gradient, tutorial vs derived, derived vs central differences)."""
    d = derive("lstm")
    tut = tutorial_variant(d)
    params, xs, init, G = example(D, H, T, seed, zero_init=zero_init)
    right = gradients(d, params, xs, init, G)
    wrong = gradients(tut, params, xs, init, G)
    rows = []
    for name in list(params) + ["h0", "c0"]:
        fd = central_differences(d, params, xs, init, G, name)
        rows.append((name, relative_error(wrong[name], right[name]), relative_error(right[name], fd)))
    return rows
