"""The printed formulas, evaluated as printed: an interpreter over a
notation's equations (the nodes the printers print) in that notation's own
layout: one column vector per sample for the tutorial, colah and the
lecture notes, a minibatch of rows for d2l; concatenated or stacked
matrices where the notation has them.  It owes nothing to the generated
kernels nor to lstm_sym.evaluate, so the two can referee each other.

    values(derivation, notation, params)   the tutorial's parameters (or
                                            gradients) in the notation's layout
    run(parts, params, xs, init, G, Gc)    forward and backward as printed:
                                            {ref: gradient}, δx per step
"""
from __future__ import annotations

import functools

import numpy as np
import sympy

from ..ir import Act, AtTime
from .nodes import Concat, Partial, Sym


def values(derivation, notation, params):
    """{("param", name): array}: the tutorial's arrays (named as the cell
    names them) in the notation's layout: a gate's matrices side by side in
    its block order, transposed for rows."""
    from .tables import get_notation
    from .transform import Rewriter
    n = get_notation(notation)
    r = Rewriter(derivation, n)
    out = {}
    merged = {p for s in r.sites for p, _ in s.weights}
    for s in r.sites:
        out[("param", "@" + s.owner)] = np.hstack([params[p] for p, _ in s.weights])
    for p, a in params.items():
        if p not in merged:
            out[("param", p)] = a.T if n.rows and a.ndim == 2 else a
    return out


@functools.lru_cache(maxsize=None)
def _scalar_fn(expr, x):
    return sympy.lambdify(x, expr, "numpy")


class Interpreter:
    """Evaluates notation nodes at a step t over an environment of arrays."""

    def __init__(self, params, dims, T):
        self.params, self.dims, self.T = params, dims, T
        self.env = {}

    def get(self, ref, t):
        if (ref, t) in self.env:
            return self.env[(ref, t)]
        if ref[0] == "direct":
            return 0.0                       # no loss reads this state at this step
        raise KeyError(f"{ref} at step {t} is used before it is computed")

    def ev(self, e, t):
        if isinstance(e, Sym):
            if e.ref[0] == "param":
                return self.params[e.ref]
            return self.get(e.ref, t + e.time)
        if isinstance(e, Partial):
            return self.get(e.den.ref[:1] and ("direct", e.den.ref[1]), t + e.den.time)
        method = getattr(self, "ev_" + type(e).__name__, None)
        if method is None:
            raise TypeError(f"cannot evaluate a {type(e).__name__}")
        return method(e, t)

    def ev_Add(self, e, t):
        return sum(self.ev(k, t) for k in e.terms)

    def ev_Neg(self, e, t):
        return -self.ev(e.a, t)

    def ev_Had(self, e, t):
        return functools.reduce(np.multiply, [self.ev(k, t) for k in e.factors])

    def ev_OneMinus(self, e, t):
        return 1 - self.ev(e.a, t)

    def ev_Act(self, e, t):
        return np.asarray(e.fn.numpy_fn(self.ev(e.a, t)), dtype=float)

    def ev_Pow(self, e, t):
        return self.ev(e.a, t) ** e.n

    def ev_Scale(self, e, t):
        return float(e.k) * self.ev(e.a, t)

    def ev_Map(self, e, t):
        return np.asarray(_scalar_fn(e.expr, e.x)(self.ev(e.a, t)), dtype=float) * np.ones_like(self.ev(e.a, t))

    def ev_MatVec(self, e, t):                 # a column: W v or Wᵀ v
        W, v = self.ev(e.W, t), self.ev(e.v, t)
        return (W.T if e.transpose else W) @ v

    def ev_Outer(self, e, t):
        return np.outer(self.ev(e.a, t), self.ev(e.b, t))

    def ev_Concat(self, e, t):
        """[h_{t−1}, x_t] end to end; matrices [W^f; W^i; …] one above the other."""
        items = [self.ev(k, t) for k in e.items]
        return np.concatenate(items, axis=0 if all(np.ndim(a) == 2 for a in items) else -1)

    def ev_Block(self, e, t):
        start = sum(self.dims[s] for s in e.sizes[:e.index])
        return self.ev(e.a, t)[..., start:start + self.dims[e.sizes[e.index]]]

    def ev_RowMat(self, e, t):                 # rows: A W or A Wᵀ
        A, W = self.ev(e.A, t), self.ev(e.W, t)
        return A @ (W.T if e.transpose else W)

    def ev_RowOuter(self, e, t):
        return self.ev(e.A, t).T @ self.ev(e.B, t)

    def ev_BatchSum(self, e, t):
        return self.ev(e.a, t).sum(axis=0)

    def ev_TimeSum(self, e, t):
        steps = [self.T] if e.steps == "last" else range(1, self.T + 1)
        return sum(self.ev(e.a, s) for s in steps)

    def ev_AtTime(self, e, t):
        return self.ev(e.a, self.T if e.step == "T" else e.step)


def _target(lhs):
    """The Sym a left-hand side defines, and the step offset it is written at."""
    if isinstance(lhs, AtTime):
        lhs = lhs.a
    if isinstance(lhs, Partial):
        lhs = lhs.den
    if isinstance(lhs, AtTime):
        lhs = lhs.a
    return lhs


def run(parts, params, xs, init, G, Gc=None, x="x"):
    """Forward and backward by the printed equations.  parts: {name:
    NotationPart} with forward, deltas, bptt, grads and terminal; params
    in the notation's layout (values()); xs[t−1] the input at step t;
    init {state: array}; G[t−1] = ∂ℓ_t/∂(output state at t); Gc {state:
    cotangent on its last value}.  Returns ({ref: gradient}, [δx_t])."""
    T = len(xs)
    out_state = next(iter(init))
    dims = {"D": xs[0].shape[-1], "H": init[out_state].shape[-1]}
    ip = Interpreter(params, dims, T)
    for s, v in init.items():
        ip.env[(("var", s), 0)] = v
    for t in range(1, T + 1):
        ip.env[(("var", x), t)] = xs[t - 1]
        ip.env[(("direct", out_state), t)] = G[t - 1]
        for lhs, rhs in parts["forward"].equations:
            value = ip.ev(rhs, t)
            if isinstance(lhs, Concat):      # [z^f_t; z^i_t; z_t; z^o_t]: the stacked z, split
                for k, item in enumerate(lhs.items):
                    ip.env[(item.ref, t)] = value[..., k * dims["H"]:(k + 1) * dims["H"]]
            else:
                ip.env[(lhs.ref, t)] = value
            if isinstance(rhs, Act) and isinstance(lhs, Sym):   # net_{g,t}: the argument of g_t's activation
                ip.env[(("net", lhs.ref[1]), t)] = ip.ev(rhs.a, t)
    for s, g in (Gc or {}).items():
        ip.env[(("direct", s), T)] = g
    # every backward equation at every step, each evaluated once what it reads is known:
    # a peephole makes δc_t read δ_{o,t}, so the order is the equations', not a fixed one
    tasks = [(_target(lhs).ref, T, rhs, T) for lhs, rhs in parts["terminal"].equations]
    for t in range(T, 0, -1):
        tasks += [(lhs.ref, t + lhs.time, rhs, t) for lhs, rhs in parts["deltas"].equations + parts["bptt"].equations
                  if t + lhs.time > 0]          # δs_0 is the printed ∂E/∂s_0 (there is no o_0)
    _solve(ip, tasks)
    dx = [ip.env[(("delta", x, False), t)] for t in range(1, T + 1)]
    grads = {_target(lhs).ref: ip.ev(rhs, 1) for lhs, rhs in parts["grads"].equations}
    return grads, dx


def _solve(ip, tasks):
    while tasks:
        left = []
        for key, at, rhs, t in tasks:
            try:
                ip.env[(key, at)] = ip.ev(rhs, t)
            except KeyError:
                left.append((key, at, rhs, t))
        if len(left) == len(tasks):
            raise ValueError(f"the printed equations never define {left[0][0]} at step {left[0][1]}")
        tasks = left
