"""The one-step state Jacobian ∂s_t/∂s_{t−1}, read off a derivation.

A derivation's carry expressions are linear in the cotangents that reach the
states s_t from outside the step (Next(s): what step t+1 hands back).  The
carry of s_{t−1} is therefore Σ_s (∂s_t/∂s_{t−1})ᵀ Next(s).  Expanding the
named deltas and splitting each expression into chains of diag(v) and
weight-matrix factors gives those transposed blocks; transposing a chain
reverses it.  Nothing here differentiates the cell again.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..activations import tanh
from ..cells import get_cell
from ..ir import (Add, Cell, Delta, Direct, Expr, Had, MatVec, Neg, Next, Scale,
                  Var, add, had, leaves, neg)


@dataclass(frozen=True)
class Diag(Expr):
    """diag(v): an elementwise factor."""
    v: Expr

    def children(self):
        return (self.v,)


@dataclass(frozen=True)
class Mat:
    """A weight matrix, or its transpose."""
    W: Var
    transpose: bool = False

    def T(self):
        return Mat(self.W, not self.transpose)


@dataclass(frozen=True)
class Term:
    """coeff · F_1 F_2 ⋯ F_n (factors applied right to left)."""
    coeff: object
    factors: tuple


def _has_cotangent(e):
    return any(isinstance(leaf, (Delta, Next, Direct)) for leaf in leaves(e))


def linear_terms(e, defs):
    """e (linear in the Next(s) cotangents) as {Next(s): [Term]}.

    defs: the derivation's named deltas, expanded where they occur.  Direct
    (the loss's own term at step t) is not part of the state map: dropped."""
    if isinstance(e, Next):
        return {e: [Term(sympy.S.One, ())]}
    if isinstance(e, Direct):
        return {}
    if isinstance(e, Delta):
        return linear_terms(defs[e], defs)
    if isinstance(e, Add):
        out = {}
        for t in e.terms:
            for seed, terms in linear_terms(t, defs).items():
                out.setdefault(seed, []).extend(terms)
        return out
    if isinstance(e, (Neg, Scale)):
        k = -1 if isinstance(e, Neg) else e.k
        return {s: [Term(k * t.coeff, t.factors) for t in ts] for s, ts in linear_terms(e.a, defs).items()}
    if isinstance(e, Had):
        linear = [f for f in e.factors if _has_cotangent(f)]
        if len(linear) != 1:
            raise ValueError("the carry is not linear in the incoming cotangents")
        rest = had(*[f for f in e.factors if f is not linear[0]])
        return _prefix(Diag(rest), linear_terms(linear[0], defs))
    if isinstance(e, MatVec):
        return _prefix(Mat(e.W, e.transpose), linear_terms(e.v, defs))
    raise ValueError(f"cannot split {type(e).__name__} into linear factors")


def _prefix(factor, terms):
    return {s: [Term(t.coeff, (factor,) + t.factors) for t in ts] for s, ts in terms.items()}


def transpose(term):
    """(F_1 ⋯ F_n)ᵀ = F_nᵀ ⋯ F_1ᵀ, adjacent diagonals merged into one."""
    out = []
    for f in reversed(term.factors):
        f = f.T() if isinstance(f, Mat) else f
        if isinstance(f, Diag) and out and isinstance(out[-1], Diag):
            f = Diag(had(out.pop().v, f.v))
        out.append(f)
    return Term(term.coeff, tuple(out))


def merge(terms):
    """k₁ diag(a) R + k₂ diag(b) R = diag(k₁a + k₂b) R: one term per chain R."""
    out = {}
    for t in terms:
        if not t.factors or not isinstance(t.factors[0], Diag):
            out[id(t)] = t
            continue
        v = t.factors[0].v
        v = v if t.coeff == 1 else neg(v) if t.coeff == -1 else Scale(t.coeff, v)
        key = t.factors[1:]
        if key in out:
            v = add(out[key].factors[0].v, v)
        out[key] = Term(sympy.S.One, (Diag(v),) + key)
    return list(out.values())


def one_step_jacobian(derivation):
    """{(s_out, s_in): [Term]}: ∂s_out,t/∂s_in,t−1 as a sum of chains."""
    defs = dict(derivation.delta_defs)
    blocks = {}
    for s_in, carry in derivation.carry.items():
        if carry is None:
            continue
        for seed, terms in linear_terms(carry, defs).items():
            blocks[seed.name, s_in] = merge([transpose(t) for t in terms])
    states = derivation.cell.states
    return {(a, b): blocks.get((a, b), []) for a in states for b in states}


def rnn_cell(act=tanh):
    """The vanilla RNN h_t = f(W h_{t−1} + U x_t + b) with any scalar activation
    (the built-in rnn is this with f = tanh)."""
    if act is tanh:
        return get_cell("rnn")
    cell = Cell("rnn", states=("h",), title=f"Vanilla RNN, f = {act.text}")
    W, U, b = cell.param("W", "H", "H"), cell.param("U", "H", "D"), cell.param("b", "H")
    h, x = cell.prev("h"), cell.input("x")
    net = cell.let("net", W @ h + U @ x + b)
    cell.let("h", act(net))
    return cell


def rnn_factor(derivation):
    """(activation, diag vector v, W) when ∂h_t/∂h_{t−1} is the single chain
    diag(v) W of an rnn-like cell h_t = f(net_t); else None."""
    cell = derivation.cell
    if len(cell.states) != 1:
        return None
    terms = one_step_jacobian(derivation)[cell.states[0], cell.states[0]]
    if len(terms) != 1 or terms[0].coeff != 1:
        return None
    factors = terms[0].factors
    if len(factors) != 2 or not isinstance(factors[0], Diag) or not isinstance(factors[1], Mat) \
            or factors[1].transpose:
        return None
    out = dict(cell.equations)[Var(cell.states[0], "state", ("H",), 0)]
    act = getattr(out, "fn", None)
    if act is None:
        return None
    return act, factors[0].v, factors[1].W


def beta_f(act):
    """(β_f = sup|f′|, how it was found)."""
    value = act.sup_derivative
    how = "numeric search" if isinstance(value, sympy.Float) else "SymPy maximum"
    return value, how
