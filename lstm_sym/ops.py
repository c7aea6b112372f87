"""The op table: for each forward op, the rule that sends the cotangent g of
its result to each operand.  One line per op (HIPS autograd's style)."""
from __future__ import annotations

import sympy

from . import activations
from .ir import (Act, Add, Had, Map, MatVec, Neg, OneMinus, Outer, Pow, Scale,
                 had, neg)

# rule(g, node, out) -> [(operand, contribution)]; out is the node's own value
# as the derivation names it (the gate's output variable where there is one).
ADJOINT = {
    Add:      lambda g, n, out: [(t, g) for t in n.terms],
    Neg:      lambda g, n, out: [(n.a, neg(g))],
    OneMinus: lambda g, n, out: [(n.a, neg(g))],
    Scale:    lambda g, n, out: [(n.a, Scale(n.k, g))],
    Had:      lambda g, n, out: [(f, had(g, *n.factors[:k], *n.factors[k + 1:]))
                                 for k, f in enumerate(n.factors)],
    MatVec:   lambda g, n, out: [(n.W, Outer(g, n.v)), (n.v, MatVec(n.W, g, True))],
    Act:      lambda g, n, out: [(n.a, had(g, activation_derivative(n.fn, n.a, out)))],
}


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
    rule = ADJOINT.get(type(e))
    if rule is None:            # a leaf
        acc.setdefault(e, []).append(g)
        return
    for operand, contribution in rule(g, e, out):
        backprop(operand, contribution, operand, acc)
