"""Exact arithmetic in GF(p), p = 2^61 − 1, for polynomial identity testing.

tanh is an uninterpreted function here: its value at a field point is a
pseudo-random field element (keyed by the point and the seed).  Both sides of
an identity use tanh only through that oracle, and SymPy differentiates tanh
as 1 − tanh², so two expressions that agree for every function tanh with that
derivative rule agree here, and different ones disagree except with
probability ≈ degree / p (Schwartz–Zippel)."""
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
    """tanh over GF(p): a fixed pseudo-random function chosen by the seed."""

    def __init__(self, seed):
        self.seed = seed

    def tanh(self, v):
        h = hashlib.blake2b(f"{self.seed}:{v}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "big") % P


def to_field(e, values, oracle, memo):
    """Exact value mod p of a SymPy (or symengine) expression built from +, ×,
    integer powers, rationals, symbols (values[name]) and tanh."""
    got = memo.get(e)
    if got is not None:
        return got
    if e.is_Symbol:
        r = values[e.name]
    elif e.is_Integer:
        r = int(e) % P
    elif e.is_Rational:
        q = Fraction(str(e))
        r = q.numerator * pow(q.denominator, -1, P) % P
    elif e.is_Add:
        r = sum(to_field(a, values, oracle, memo) for a in e.args) % P
    elif e.is_Mul:
        r = 1
        for a in e.args:
            r = r * to_field(a, values, oracle, memo) % P
    elif e.is_Pow and e.exp.is_Integer:
        r = pow(to_field(e.base, values, oracle, memo), int(e.exp), P)
    elif type(e).__name__ == "tanh":
        r = oracle.tanh(to_field(e.args[0], values, oracle, memo))
    else:
        raise ValueError(f"the exact proof cannot evaluate {type(e).__name__} "
                         f"({e}); only activations written through tanh are supported")
    memo[e] = r
    return r


class FieldBackend:
    """Runs the interpreter over GF(p); activations use their tanh form."""
    dtype = object

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
