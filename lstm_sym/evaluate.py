"""An interpreter for cells and derivations, over one sequence (no batch).

The same code runs on float arrays, on object arrays of SymPy expressions
(the forward that the symbolic proof differentiates) and on object arrays of
prime-field elements (the derived gradients at a random point)."""
from __future__ import annotations

import functools

import numpy as np
import sympy

from . import activations
from .ir import (Act, Add, Delta, Direct, Had, Map, MatVec, Neg, Next, OneMinus,
                 Outer, Pow, Scale, TimeSum, Var)


@functools.lru_cache(maxsize=None)
def _numpy_map(expr, x):
    """lambdify once per expression, not once per step."""
    return sympy.lambdify(x, expr, "numpy")


class FloatBackend:
    dtype = float

    def act(self, fn, a):
        with np.errstate(over="ignore"):
            return np.asarray(fn.numpy_fn(a), dtype=float)

    def map(self, expr, x, a):
        return np.asarray(_numpy_map(expr, x)(a), dtype=float) * np.ones_like(a)

    def scale(self, k, a):
        return float(k) * a

    def zeros(self, n):
        return np.zeros(n)


class SympyBackend:
    """Scalar SymPy expressions; activations written through tanh."""
    dtype = object

    def act(self, fn, a):
        e = fn.in_tanh_form()
        return np.array([e.xreplace({activations.x: v}) for v in a], dtype=object)

    def map(self, expr, x, a):
        return np.array([expr.xreplace({x: v}) for v in a], dtype=object)

    def scale(self, k, a):
        return np.array([k * v for v in a], dtype=object)

    def zeros(self, n):
        return np.array([sympy.S.Zero] * n, dtype=object)


def evaluate(e, ctx):
    """Value of node e at step ctx.t."""
    t = ctx.t
    if isinstance(e, Var):
        return ctx.params[e.name] if e.time is None else ctx.env[e.name, t + e.time]
    if isinstance(e, Delta):
        return ctx.deltas[e.name, e.gate, t + e.time]
    if isinstance(e, Direct):
        return ctx.direct[t + e.time]
    if isinstance(e, Next):
        if t == ctx.T:
            return ctx.final.get(e.name, ctx.zero)
        return ctx.carry.get((e.name, t + 1), ctx.zero)
    if isinstance(e, Add):
        out = evaluate(e.terms[0], ctx)
        for term in e.terms[1:]:
            out = out + evaluate(term, ctx)
        return out
    if isinstance(e, Had):
        out = evaluate(e.factors[0], ctx)
        for f in e.factors[1:]:
            out = out * evaluate(f, ctx)
        return out
    if isinstance(e, Neg):
        return -evaluate(e.a, ctx)
    if isinstance(e, OneMinus):
        return 1 - evaluate(e.a, ctx)
    if isinstance(e, MatVec):
        W = evaluate(e.W, ctx)
        return (W.T if e.transpose else W) @ evaluate(e.v, ctx)
    if isinstance(e, Outer):
        return np.multiply.outer(evaluate(e.a, ctx), evaluate(e.b, ctx))
    if isinstance(e, Act):
        return ctx.backend.act(e.fn, evaluate(e.a, ctx))
    if isinstance(e, Pow):
        return evaluate(e.a, ctx) ** e.n
    if isinstance(e, Scale):
        return ctx.backend.scale(e.k, evaluate(e.a, ctx))
    if isinstance(e, Map):
        return ctx.backend.map(e.expr, e.x, evaluate(e.a, ctx))
    raise TypeError(f"cannot evaluate {type(e).__name__}")


class Context:
    def __init__(self, backend, params, H):
        self.backend, self.params = backend, params
        self.env, self.deltas, self.carry, self.final, self.direct = {}, {}, {}, {}, {}
        self.zero = backend.zeros(H)
        self.t = 0


def run_forward(cell, params, xs, init, backend=None):
    """Run the cell over xs (a list of input vectors).  init: state -> vector.
    Returns the context holding every forward value by (name, t)."""
    backend = backend or FloatBackend()
    H = len(next(iter(init.values())))
    ctx = Context(backend, params, H)
    for s in cell.states:
        ctx.env[s, 0] = init[s]
    for t, x in enumerate(xs, start=1):
        ctx.t = t
        ctx.env[cell.x, t] = x
        for v, e in cell.equations:
            ctx.env[v.name, t] = evaluate(e, ctx)
    ctx.T = len(xs)
    return ctx


def run_backward(derivation, ctx, direct, final=None):
    """BPTT through the derivation.  direct[t-1] = ∂ℓ_t/∂h_t; final: state ->
    cotangent on the last state (e.g. c_T).  Returns gradients by name:
    every parameter, "x" (list over t) and "<state>0"."""
    ctx.final = dict(final or {})
    ctx.direct = {t: d for t, d in enumerate(direct, start=1)}
    grads = {p: None for p in derivation.param_grads}
    dx = [None] * ctx.T
    for t in range(ctx.T, 0, -1):
        ctx.t = t
        for d, e in derivation.delta_defs:
            ctx.deltas[d.name, d.gate, t] = evaluate(e, ctx)
        for s, e in derivation.carry.items():
            if e is not None:
                ctx.carry[s, t] = evaluate(e, ctx)
        if derivation.input_error is not None:
            dx[t - 1] = evaluate(derivation.input_error, ctx)
        for p, g in derivation.param_grads.items():
            if isinstance(g, TimeSum) and g.steps == "last" and t != ctx.T:
                continue
            term = evaluate(g.a if isinstance(g, TimeSum) else g, ctx)
            grads[p] = term if grads[p] is None else grads[p] + term
    grads["x"] = dx
    for s in derivation.cell.states:
        if (s, 1) in ctx.carry:
            grads[s + "0"] = ctx.carry[s, 1]
    return grads


def loss(cell, ctx, G, Gc=None):
    """L = Σ_t ⟨G_t, h_t⟩ (+ ⟨G_c, c_T⟩): the loss every check uses."""
    out = cell.states[0]
    total = sum((G[t - 1] * ctx.env[out, t]).sum() for t in range(1, ctx.T + 1))
    if Gc is not None:
        for s, g in Gc.items():
            total = total + (g * ctx.env[s, ctx.T]).sum()
    return total
