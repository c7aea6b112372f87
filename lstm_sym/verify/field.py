"""Exact arithmetic in GF(p), p = 2^61 − 1, for polynomial identity testing.

tanh is an uninterpreted odd function here: its value at a field point is a
pseudo-random field element (keyed by the point and the seed), and its value at
−v is minus its value at v, as for the real tanh.  Odd because SymPy and
symengine both rewrite tanh(−u) as −tanh(u) when u's leading sign is negative:
a function that is not odd would make a correct derivation of such a cell
fail.  Both sides of an identity use tanh only through that oracle, and SymPy
differentiates tanh as 1 − tanh² (even, as the derivative of an odd function
must be), so two expressions that agree for every odd function tanh with that
derivative rule agree here, and different ones disagree except with
probability ≈ degree / p (Schwartz–Zippel).

to_field walks an expression with an explicit stack, not by recursion: the
unrolled forward nests one tanh per step, and T = 150 nested steps are deeper
than Python's recursion limit."""
from __future__ import annotations

import hashlib
from fractions import Fraction

import numpy as np
import sympy

P = 2**61 - 1


class GF:
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v % P

    @staticmethod
    def _v(o):
        if isinstance(o, GF):
            return o.v
        if isinstance(o, int):
            return o
        raise TypeError(f"cannot mix GF with {type(o).__name__}")

    def __add__(self, o): return GF(self.v + self._v(o))
    __radd__ = __add__
    def __sub__(self, o): return GF(self.v - self._v(o))
    def __rsub__(self, o): return GF(self._v(o) - self.v)
    def __mul__(self, o): return GF(self.v * self._v(o))
    __rmul__ = __mul__
    def __neg__(self): return GF(-self.v)
    def __pow__(self, n): return GF(pow(self.v, n, P))
    def __truediv__(self, o): return GF(self.v * pow(self._v(o), -1, P))
    def __eq__(self, o): return isinstance(o, (GF, int)) and self.v == self._v(o) % P
    def __hash__(self): return hash(self.v)
    def __repr__(self): return f"GF({self.v})"


class Oracle:
    """tanh over GF(p): a fixed pseudo-random odd function chosen by the seed."""

    def __init__(self, seed):
        self.seed = seed

    def _raw(self, v):
        h = hashlib.blake2b(f"{self.seed}:{v}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "big") % P

    def exp(self, v):
        """exp over GF(p): pseudo-random and nonzero (it is divided by), with exp(0) = 1 and
        exp(−u) = 1/exp(u) as SymPy has them."""
        v %= P
        if v == 0:
            return 1
        if v > P // 2:                   # SymPy writes 1/exp(u) as exp(−u): keep exp(−u) = 1/exp(u)
            return pow(self.exp(P - v), -1, P)
        return int.from_bytes(hashlib.blake2b(f"{self.seed}:exp:{v}".encode(), digest_size=8).digest(),
                              "big") % (P - 1) + 1

    def log(self, v):
        """log over GF(p): pseudo-random, log(1) = 0.  Only E holds it: its derivatives are 1/u."""
        v %= P
        return 0 if v == 1 else int.from_bytes(hashlib.blake2b(f"{self.seed}:log:{v}".encode(),
                                                               digest_size=8).digest(), "big") % P

    def tanh(self, v):
        v %= P
        if v == 0:
            return 0
        if v > P // 2:                   # −v is the field element P − v: tanh(−u) = −tanh(u)
            return (P - self._raw(P - v)) % P
        return self._raw(v)


def to_field(e, values, oracle, memo):
    """Exact value mod p of a SymPy (or symengine) expression built from +, ×,
    integer powers, rationals, symbols (values[name]) and tanh.  memo maps
    sub-expressions to their values (shared by the expressions of one point)."""
    got = memo.get(e)
    if got is not None:
        return got
    stack = [(e, None)]
    while stack:
        node, kids = stack[-1]
        if node in memo:
            stack.pop()
            continue
        if kids is None:
            kids = _operands(node)
            stack[-1] = (node, kids)
            pending = [k for k in kids if k not in memo]
            if pending:
                stack.extend((k, None) for k in pending)
                continue
        stack.pop()
        memo[node] = _combine(node, [memo[k] for k in kids], values, oracle)
    return memo[e]


def _operands(e):
    """The sub-expressions whose values e's value needs."""
    if e.is_Symbol or e.is_Rational:         # integers are rationals
        return ()
    if e.is_Add or e.is_Mul:
        return tuple(e.args)
    if e.is_Pow and _is_e(e.base):            # symengine writes exp(u) as E**u
        return (e.exp,)
    if e.is_Pow and e.exp.is_Integer:
        return (e.base,)
    if type(e).__name__ in ("tanh", "exp", "log"):
        return (e.args[0],)
    raise ValueError(f"the exact proof cannot evaluate {type(e).__name__} "
                     f"({e}); only activations written through tanh are supported")


def _is_e(base):
    return not base.free_symbols and str(base) == "E"


def _combine(e, vals, values, oracle):
    if e.is_Symbol:
        return values[e.name]
    if e.is_Integer:
        return int(e) % P
    if e.is_Rational:
        q = Fraction(str(e))
        return q.numerator * pow(q.denominator, -1, P) % P
    if e.is_Add:
        return sum(vals) % P
    if e.is_Mul:
        r = 1
        for v in vals:
            r = r * v % P
        return r
    if e.is_Pow and _is_e(e.base):
        return oracle.exp(vals[0])
    if e.is_Pow:
        return pow(vals[0], int(e.exp), P)           # a negative power: the field's inverse
    return getattr(oracle, type(e).__name__)(vals[0])       # tanh, exp or log: the oracle's


class FieldBackend:
    """Runs the interpreter over GF(p); activations use their tanh form.  The
    ops themselves are their op-table entries (ops.py): +, ⊙, W v and 1 − v
    are the field's own, scalar maps go through to_field (which refuses what
    it cannot evaluate, e.g. |u|)."""
    dtype = object
    kind = "field"

    def __init__(self, oracle):
        self.oracle = oracle
        from .. import activations
        self.x = activations.x

    def act(self, fn, a):
        e = fn.in_tanh_form()
        return np.array([GF(to_field(e, {self.x.name: v.v}, self.oracle, {})) for v in a], dtype=object)

    def map(self, expr, x, a):
        return np.array([GF(to_field(expr, {x.name: v.v}, self.oracle, {})) for v in a], dtype=object)

    def scale(self, k, a):
        k = sympy.Rational(k)
        kv = int(k.p) * pow(int(k.q), -1, P) % P
        return np.array([v * kv for v in a], dtype=object)

    def zeros(self, n):
        return np.array([GF(0)] * n, dtype=object)

    def exp(self, a):
        return np.array([GF(self.oracle.exp(v.v)) for v in a], dtype=object)

    def log(self, v):
        return GF(self.oracle.log(v.v))
