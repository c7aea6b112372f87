"""The op table: everything an op means, in one entry.

Each entry says, for one node class,

- forward:  its value from its operands' values on a backend (float,
            complex, sympy, field, batched); `on` overrides it for the
            backends where the generic form is not the meaning;
- adjoint:  the rule that sends the cotangent g of its result to each
            operand (HIPS autograd's style);
- text, latex: how the printers write it (Markdown reuses LaTeX), and
  prec: where it binds (printers parenthesize by it);
- numpy:    how an emitter spells it, given its operands already spelled.

The interpreter (evaluate.py), the batched evaluator of `bound`, the field
evaluation of the proof and the printers read this table.  The graph oracle
(graph.py, verify/graph_oracle.py) keeps semantics of its own on purpose.

Backends provide act(fn, a), map(expr, x, a), scale(k, a), zeros(n) and a
`kind`; an op whose meaning is a scalar function applied elementwise goes
through map, so every backend gets it at once.
"""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy

from . import activations
from .ir import (Act, Add, Expr, Had, Map, MatVec, Neg, OneMinus, Outer, Pow, Scale,
                 had, neg)

# precedence levels the printers parenthesize by (higher binds tighter)
SUM, NEG, PRODUCT, LINEAR, POWER, ATOM = 10, 15, 20, 30, 40, 50


@dataclass(frozen=True)
class Op:
    node: type
    forward: Callable           # (backend, node, *operand values) -> value
    adjoint: Callable           # (g, node, out) -> [(operand, contribution)]; out: the node's value as named
    text: Callable              # (printer, node) -> str
    latex: Callable
    prec: int | Callable = ATOM  # or (node) -> int
    numpy: Callable = None      # (node, *operand spellings) -> str
    on: dict = field(default_factory=dict)   # backend kind -> forward
    method: str = None          # a Python operator of Expr that builds it (e.g. "__abs__")

    def run(self, backend, node, values):
        fn = self.on.get(getattr(backend, "kind", None), self.forward)
        return fn(backend, node, *values)

    def precedence(self, node):
        return self.prec(node) if callable(self.prec) else self.prec

    def spelling(self, fmt):
        return {"text": self.text, "latex": self.latex}[fmt]


OPS = {}


def register(op):
    """Add an entry; with `method`, Expr gets that operator (abs(v) -> Abs(v))."""
    OPS[op.node] = op
    if op.method:
        setattr(Expr, op.method, lambda self: op.node(self))
    return op


def both(fn):
    """A spelling shared by the text and the LaTeX printer."""
    return {"text": fn, "latex": fn}


def scalar_prec(expr):
    """Where a scalar expression binds: a sum like ⊕, a product or quotient
    like ⊙, a leading minus like Neg; powers, functions and symbols are atoms."""
    if expr.is_Add:
        return SUM
    if expr.could_extract_minus_sign():
        return NEG
    if expr.is_Mul or (expr.is_Rational and not expr.is_Integer):
        return PRODUCT
    return ATOM


def batched_matvec(W, v, transpose=False):
    """W v (or Wᵀ v) for every trial and row: W (N, H, K), v (N, M, K)."""
    if v.shape[1] == 1:
        return np.einsum("nmh,nhk->nmk" if transpose else "nmk,nhk->nmh", v, W)
    return np.matmul(v, W if transpose else W.transpose(0, 2, 1))


# --- how the shared ops print ------------------------------------------------

def _print_add(p, e):
    out = p.paren(e.terms[0], SUM)
    for t in e.terms[1:]:
        if isinstance(t, Neg):
            out += f" {p.minus} " + p.paren(t.a, PRODUCT)
        else:
            out += " + " + p.paren(t, SUM)
    return out


def _print_had(p, e):
    # a matrix product inside ⊙ gets parentheses: (Wᵀ δ) ⊙ h, never Wᵀ δ ⊙ h
    return f" {p.odot} ".join(p.paren(f, LINEAR, strict=True) for f in e.factors)


def _print_map(p, e):
    # the node it is applied to, printed by this printer, stands in for x
    return p.scalar(e.expr, {e.x: (p._print(e.a), p.precedence(e.a) >= ATOM)})


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _sup(n):
    return str(n).translate(_SUPERSCRIPT)


def _elementwise(expr):
    """The forward of an op that applies the scalar function expr(x)."""
    return lambda bk, n, a: bk.map(expr, activations.x, a)


# --- the table -----------------------------------------------------------------

register(Op(Add, forward=lambda bk, n, *terms: functools.reduce(operator.add, terms),
            adjoint=lambda g, n, out: [(t, g) for t in n.terms],
            **both(_print_add), prec=SUM, numpy=lambda n, *terms: " + ".join(terms)))

register(Op(Neg, forward=lambda bk, n, a: -a,
            adjoint=lambda g, n, out: [(n.a, neg(g))],
            **both(lambda p, e: p.minus + p.paren(e.a, PRODUCT)), prec=NEG,
            numpy=lambda n, a: f"-{a}"))

register(Op(OneMinus, forward=lambda bk, n, a: 1 - a,
            adjoint=lambda g, n, out: [(n.a, neg(g))],
            **both(lambda p, e: f"1 {p.minus} " + p.paren(e.a, LINEAR)), prec=SUM,
            numpy=lambda n, a: f"1 - {a}"))

register(Op(Scale, forward=lambda bk, n, a: bk.scale(n.k, a),
            adjoint=lambda g, n, out: [(n.a, Scale(n.k, g))],
            **both(lambda p, e: f"{p.scalar(e.k)} " + p.paren(e.a, LINEAR)), prec=LINEAR,
            numpy=lambda n, a: f"{sympy.pycode(n.k)} * {a}"))

register(Op(Had, forward=lambda bk, n, *fs: functools.reduce(operator.mul, fs),
            adjoint=lambda g, n, out: [(f, had(g, *n.factors[:k], *n.factors[k + 1:]))
                                       for k, f in enumerate(n.factors)],
            **both(_print_had), prec=PRODUCT, numpy=lambda n, *fs: " * ".join(fs)))

register(Op(MatVec, forward=lambda bk, n, W, v: (W.T if n.transpose else W) @ v,
            on={"batched": lambda bk, n, W, v: batched_matvec(W, v, n.transpose)},
            adjoint=lambda g, n, out: [(n.W, Outer(g, n.v)), (n.v, MatVec(n.W, g, True))],
            text=lambda p, e: p._print(e.W) + ("ᵀ" if e.transpose else "") + " " + p.paren(e.v, LINEAR + 1),
            latex=lambda p, e: p._print(e.W) + (r"^{\top}" if e.transpose else "") + " "
            + p.paren(e.v, LINEAR + 1),
            prec=LINEAR, numpy=lambda n, W, v: f"{W}.T @ {v}" if n.transpose else f"{W} @ {v}"))

register(Op(Outer, forward=lambda bk, n, a, b: np.multiply.outer(a, b),
            on={"batched": lambda bk, n, a, b: np.einsum("nmi,nmk->nmik", a, b)},
            adjoint=None,          # only derivations produce it
            text=lambda p, e: p.paren(e.a, LINEAR + 1) + " " + p.paren(e.b, LINEAR + 1) + "ᵀ",
            latex=lambda p, e: p.paren(e.a, LINEAR + 1) + " " + p.paren(e.b, LINEAR + 1) + r"^{\top}",
            prec=LINEAR, numpy=lambda n, a, b: f"np.outer({a}, {b})"))

register(Op(Act, forward=lambda bk, n, a: bk.act(n.fn, a),
            adjoint=lambda g, n, out: [(n.a, had(g, activation_derivative(n.fn, n.a, out)))],
            text=lambda p, e: f"{e.fn.text}({p._print(e.a)})",
            latex=lambda p, e: rf"{e.fn.latex}\left({p._print(e.a)}\right)",
            numpy=lambda n, a: f"{n.fn.name}({a})"))

register(Op(Pow, forward=lambda bk, n, a: a ** n.n,
            adjoint=lambda g, n, out: [(n.a, had(g, Scale(sympy.Integer(n.n),
                                                          Pow(n.a, n.n - 1) if n.n > 2 else n.a)))],
            # tanh²(u) for a power of an activation, else u²
            text=lambda p, e: (f"{e.a.fn.text}{_sup(e.n)}({p._print(e.a.a)})" if isinstance(e.a, Act)
                               else p.paren(e.a, ATOM) + _sup(e.n)),
            latex=lambda p, e: (rf"{e.a.fn.latex}^{{{e.n}}}\left({p._print(e.a.a)}\right)"
                                if isinstance(e.a, Act) else p.paren(e.a, ATOM) + f"^{{{e.n}}}"),
            prec=POWER, numpy=lambda n, a: f"{a} ** {n.n}"))

register(Op(Map, forward=lambda bk, n, a: bk.map(n.expr, n.x, a),
            adjoint=lambda g, n, out: [(n.a, had(g, Map(sympy.diff(n.expr, n.x), n.x, n.a)))],
            **both(_print_map), prec=lambda n: scalar_prec(n.expr),
            numpy=lambda n, a: sympy.pycode(n.expr.xreplace({n.x: sympy.Symbol(a)}))))


# --- an op added as one entry: |a| elementwise ------------------------------------

@dataclass(frozen=True)
class Abs(Expr):
    """|a| elementwise (abs(v) in a cell)."""
    a: Expr


register(Op(Abs, forward=_elementwise(sympy.Abs(activations.x)),
            # complex step: a·sign(Re a) is |a| on the reals and analytic away from 0
            on={"complex": lambda bk, n, a: a * np.sign(a.real)},
            adjoint=lambda g, n, out: [(n.a, had(g, Map(sympy.sign(activations.x), activations.x, n.a)))],
            text=lambda p, e: f"|{p._print(e.a)}|",
            latex=lambda p, e: rf"\left|{p._print(e.a)}\right|",
            numpy=lambda n, a: f"np.abs({a})", method="__abs__"))


# --- the output head: softmax, and each loss as one op ------------------------------
# A loss op's value is a scalar ℓ; its rule sends ∂ℓ/∂a (g = None: ℓ is the root,
# ∂E/∂ℓ = 1).  The target y is data: it gets no cotangent.

@dataclass(frozen=True)
class Softmax(Expr):
    """softmax(a) = e^a / Σ_k e^{a_k}, over the vector (the head's ŷ)."""
    a: Expr


@dataclass(frozen=True)
class SoftmaxXent(Expr):
    """ℓ = −Σ_k y_k log softmax(a)_k for a target y that sums to 1: softmax and
    cross-entropy as one op, so that its rule is ŷ − y (no softmax Jacobian)."""
    a: Expr
    y: Expr


@dataclass(frozen=True)
class HalfSquaredError(Expr):
    """ℓ = ½‖a − y‖², whose rule is a − y."""
    a: Expr
    y: Expr


def _log_sum_exp(a):
    """log Σ_k e^{a_k}, shifted by max Re a (overflow-free, analytic for the complex step)."""
    m = np.max(np.real(a), axis=-1, keepdims=True)
    return (m + np.log(np.sum(np.exp(a - m), axis=-1, keepdims=True)))[..., 0]


def _sympy_log_sum_exp(a):
    return sympy.log(sum(sympy.exp(v) for v in a))


def _field_softmax(bk, n, a):
    e = bk.exp(a)        # the exact proof's uninterpreted exp (exp′ = exp): no shift by the max there
    return e / sum(e)


def _scaled(g, v):
    return v if g is None else had(g, v)


def _softmax_alone(g, n, out):
    raise ValueError("softmax has a rule here only inside softmax cross-entropy (its rule ŷ − y): "
                     "write the head's loss as SoftmaxXent(z, y)")


register(Op(Softmax, forward=lambda bk, n, a: np.exp(a - _log_sum_exp(a)[..., None]),
            on={"sympy": lambda bk, n, a: np.array([sympy.exp(v) for v in a], dtype=object)
                / sum(sympy.exp(v) for v in a),
                "field": _field_softmax},
            adjoint=_softmax_alone,
            text=lambda p, e: f"softmax({p._print(e.a)})",
            latex=lambda p, e: rf"\operatorname{{softmax}}\left({p._print(e.a)}\right)",
            numpy=lambda n, a: f"softmax({a})"))

register(Op(SoftmaxXent, forward=lambda bk, n, a, y: (_log_sum_exp(a) * np.sum(y, axis=-1)
                                                      - np.sum(y * a, axis=-1)),
            on={"sympy": lambda bk, n, a, y: _sympy_log_sum_exp(a) * sum(y) - sum(y * a),
                "field": lambda bk, n, a, y: bk.log(sum(bk.exp(a))) * sum(y) - sum(y * a)},
            adjoint=lambda g, n, out: [(n.a, _scaled(g, Add((Softmax(n.a), Neg(n.y)))))],
            text=lambda p, e: f"−⟨{p._print(e.y)}, log softmax({p._print(e.a)})⟩",
            latex=lambda p, e: rf"-\left\langle {p._print(e.y)}, \log\operatorname{{softmax}}"
                               rf"\left({p._print(e.a)}\right)\right\rangle",
            prec=NEG, numpy=lambda n, a, y: f"softmax_xent({a}, {y})"))

register(Op(HalfSquaredError, forward=lambda bk, n, a, y: 0.5 * np.sum((a - y) * (a - y), axis=-1),
            on={"sympy": lambda bk, n, a, y: sum((a - y) * (a - y)) / 2,
                "field": lambda bk, n, a, y: sum((a - y) * (a - y)) / 2},
            adjoint=lambda g, n, out: [(n.a, _scaled(g, Add((n.a, Neg(n.y)))))],
            text=lambda p, e: f"½‖{p._print(e.a)} − {p._print(e.y)}‖²",
            latex=lambda p, e: rf"\tfrac{{1}}{{2}}\left\lVert {p._print(e.a)} - {p._print(e.y)}\right\rVert^{{2}}",
            numpy=lambda n, a, y: f"0.5 * np.sum(({a} - {y}) ** 2, axis=0)"))


# --- reverse mode ------------------------------------------------------------------

def activation_derivative(fn, arg, out):
    """f′(arg) as a node: in the output `out` where SymPy can rewrite it so,
    else in the input `arg`."""
    d = fn.derivative_in_output
    if d is not None:
        return from_scalar(d, activations.y, out)
    return from_scalar(fn.derivative_simplified, activations.x, arg)


def from_scalar(e, s, node):
    """Turn a scalar SymPy expression in s into a vector node over `node`.

    Products become ⊙, 1 − u becomes OneMinus, integer powers stay powers;
    anything else stays a scalar map applied elementwise."""
    if e == s:
        return node
    if e.is_Mul:
        coeff, factors = e.as_coeff_mul()
        if coeff == -1 and any(f.is_Add for f in factors):
            # -y*(y - 1) reads better as y*(1 - y)
            k = next(i for i, f in enumerate(factors) if f.is_Add)
            factors = factors[:k] + (-factors[k],) + factors[k + 1:]
            coeff = sympy.S.One
        body = had(*[from_scalar(f, s, node) for f in factors])
        return body if coeff == 1 else Scale(coeff, body)
    if e.is_Add and e.is_polynomial(s):
        const, rest = e.as_coeff_Add()
        if const == 1 and (-rest).could_extract_minus_sign() is False:
            return OneMinus(from_scalar(-rest, s, node))
    if e.is_Pow and e.exp.is_Integer and e.exp > 1:
        return Pow(from_scalar(e.base, s, node), int(e.exp))
    return Map(e, s, node)


def backprop(e, g, out, acc):
    """Send cotangent g into expression e; add what reaches each leaf to acc."""
    op = OPS.get(type(e))
    if op is None or op.adjoint is None:            # a leaf
        acc.setdefault(e, []).append(g)
        return
    for operand, contribution in op.adjoint(g, e, out):
        backprop(operand, contribution, operand, acc)
