"""An interpreter for cells and derivations, over one sequence (no batch).

The same code runs on float arrays, on complex arrays (the complex step), on
object arrays of SymPy expressions (the forward that the symbolic proof
differentiates), on object arrays of prime-field elements (the derived
gradients at a random point, verify/field.py) and, through a context of its
own, on the trials axis of bound/batched.py.  What each op means is its entry
in the op table (ops.py); a backend supplies act, map, scale, zeros and its
kind, and a context the values of the leaves."""
from __future__ import annotations

import functools

import numpy as np
import sympy

from . import activations
from .ir import Delta, Direct, Next, TimeSum, Var
from .ops import OPS


@functools.lru_cache(maxsize=None)
def _numpy_map(expr, x):
    """lambdify once per expression, not once per step."""
    return sympy.lambdify(x, expr, "numpy")


class FloatBackend:
    dtype = float

    @property
    def kind(self):
        return "complex" if self.dtype is complex else "float"

    def act(self, fn, a):
        with np.errstate(over="ignore"):
            return np.asarray(fn.numpy_fn(a), dtype=self.dtype)

    def map(self, expr, x, a):
        return np.asarray(_numpy_map(expr, x)(a), dtype=self.dtype) * np.ones_like(a)

    def scale(self, k, a):
        return float(k) * a

    def zeros(self, n):
        return np.zeros(n, dtype=self.dtype)


class ComplexBackend(FloatBackend):
    """complex128 arrays: the complex step differentiates the forward through
    it (ops whose float form is not analytic say their complex one in `on`)."""
    dtype = complex


class BatchedBackend(FloatBackend):
    """Float arrays with a leading trials axis (bound/batched.py): matrices
    (N, H, K), vectors (N, M, H); silent on overflow, as the bound's extreme
    instances need."""
    kind = "batched"

    def act(self, fn, a):
        with np.errstate(over="ignore"):
            return fn.numpy_fn(a)

    def map(self, expr, x, a):
        with np.errstate(all="ignore"):
            return super().map(expr, x, a)


class SympyBackend:
    """Scalar SymPy expressions; activations written through tanh."""
    dtype = object
    kind = "sympy"

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
    """Value of node e at step ctx.t: an op by its op-table entry, a leaf by ctx."""
    op = OPS.get(type(e))
    if op is None:
        return ctx.leaf(e)
    return op.run(ctx.backend, e, [evaluate(k, ctx) for k in e.children()])


class Context:
    def __init__(self, backend, params, H):
        self.backend, self.params = backend, params
        self.env, self.deltas, self.carry, self.final, self.direct = {}, {}, {}, {}, {}
        self.zero = backend.zeros(H)
        self.t = 0

    def leaf(self, e):
        t = self.t
        if isinstance(e, Var):
            return self.params[e.name] if e.time is None else self.env[e.name, t + e.time]
        if isinstance(e, Delta):
            return self.deltas[e.name, e.gate, t + e.time]
        if isinstance(e, Direct):
            return self.direct[t + e.time]
        if isinstance(e, Next):
            if t == self.T:
                return self.final.get(e.name, self.zero)
            return self.carry.get((e.name, t + 1), self.zero)
        raise TypeError(f"cannot evaluate {type(e).__name__}")


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
