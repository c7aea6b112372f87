"""Values as NumPy code: `NumpyPrinter` prints one IR value over the names the
generated code holds, one `_print_<Node>` method per node (the shape of SymPy's
printers); `CommentPrinter` prints the equation a statement implements."""
from __future__ import annotations

import sympy
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.printer import Printer

from ..ir import Add, Expr, Had, MatVec, Neg, OneMinus, Pow, Scale, transform
from ..printing.text import TextPrinter
from .plan import nodes, sigmoid_complement

# Python's precedence, loosest first
ADD, NEG, MUL, POW, ATOM = 10, 15, 20, 30, 50


class Ref(Expr):
    """A value the generated code already holds, by name or subscript."""

    def __init__(self, code):
        self.code = code

    def __eq__(self, other):
        return isinstance(other, Ref) and other.code == self.code

    def __hash__(self):
        return hash(("Ref", self.code))


class ScalarPrinter(NumPyPrinter):
    """SymPy's NumPy printer, writing np.* (and Heaviside(0) = 1/2, as SymPy has it)."""

    def _module_format(self, fqn, register=True):
        if fqn.startswith("numpy."):
            return "np." + fqn[len("numpy."):]
        return super()._module_format(fqn, register)

    def _print_Heaviside(self, e):
        return f"np.heaviside({self._print(e.args[0])}, 0.5)"


def scalar_code(expr):
    try:
        return ScalarPrinter().doprint(expr)
    except Exception as e:       # SymPy raises its own error types for functions NumPy lacks
        raise ValueError(f"codegen cannot write {expr} with NumPy functions ({type(e).__name__})") from None


class NotAnalytic(ValueError):
    """The complex-safe kernel cannot be written: check skips only the complex step."""


def not_analytic(expr):
    return expr.has(sympy.Piecewise, sympy.Heaviside, sympy.Abs, sympy.sign, sympy.Max, sympy.Min)


class NumpyPrinter(Printer):
    """One value as a NumPy expression over the names the generated code holds.
    Feature-major: a step's vector v is a block (H, B), a column per sequence,
    so W v is W @ v and Wᵀ v is W.T @ v, as printed."""
    printmethod = "_numpy_code"

    def __init__(self, emitter):
        super().__init__()
        self.em = emitter

    @staticmethod
    def prec(e):
        if isinstance(e, (Add, OneMinus)):
            return ADD
        if isinstance(e, Neg):
            return NEG
        if isinstance(e, (Had, Scale, MatVec)):
            return MUL
        return POW if isinstance(e, Pow) else ATOM

    def paren(self, e, level):
        s = self._print(e)
        return f"({s})" if self.prec(e) < level else s

    def _print_Ref(self, e):
        return e.code

    def _print_Var(self, e):
        return self.em.var(e)

    def _print_Delta(self, e):
        return self.em.plan.local[("delta", e.name, e.gate)]

    def _print_Direct(self, e):
        return "dh_cols[t]"

    def _print_Next(self, e):
        return self.em.plan.local[f"delta_{e.name}_carried"]

    def _print_Add(self, e):
        out = self.paren(e.terms[0], ADD)
        for t in e.terms[1:]:
            out += f" - {self.paren(t.a, MUL)}" if isinstance(t, Neg) else f" + {self.paren(t, ADD + 1)}"
        return out

    def _print_Neg(self, e):
        return "-" + self.paren(e.a, MUL + 1)

    def _print_Had(self, e):
        return " * ".join(self.paren(f, MUL + 1) for f in e.factors)

    def _print_OneMinus(self, e):
        if sigmoid_complement(e) and not self.em.complex_safe:
            # 1 − σ(u) = σ(−u): no digits lost where σ(u) ≈ 1
            return self.em.act(e.a.fn, "-" + self.paren(e.a.a, MUL + 1))
        return "1 - " + self.paren(e.a, MUL)

    def _print_Pow(self, e):
        return f"{self.paren(e.a, ATOM)} ** {e.n}"

    def _print_Scale(self, e):
        k = sympy.nsimplify(e.k)
        return f"{int(k) if k.is_Integer else repr(float(k))} * {self.paren(e.a, MUL + 1)}"

    def _print_MatVec(self, e):
        return f"{self._print(e.W)}{'.T' if e.transpose else ''} @ {self.paren(e.v, MUL + 1)}"

    def _print_Act(self, e):
        return self.em.act(e.fn, self._print(e.a))

    def _print_Map(self, e):
        arg = self._print(e.a)
        if self.em.complex_safe and not_analytic(e.expr):
            arg = f"np.real({arg})"      # piecewise constant near the real axis: the real part decides
        return f"{self.em.plan.maps[e.expr, e.x]}({arg})"


class CommentPrinter(TextPrinter):
    """The text printer, writing a gate's pre-activation net_g as net_{g,t}."""

    def __init__(self, gates=()):
        super().__init__()
        self.nets = {g.net: g.out for g in gates if g.net == "net_" + g.out}

    def _print_Var(self, e):
        if e.name in self.nets and e.time is not None:
            gate = self.indexed(self.nets[e.name], 0).rsplit("_", 1)[0]
            return f"net_{{{gate},{self.time(e.time)}}}"
        return super()._print_Var(e)


def factor_out(n):
    """a ⊙ b − a ⊙ c as a ⊙ (b − c): one multiplication fewer, the same value."""
    if not isinstance(n, Add) or len(n.terms) < 2:
        return None
    signs, bodies = [], []
    for t in n.terms:
        sign, body = (-1, t.a) if isinstance(t, Neg) else (1, t)
        if not isinstance(body, Had):
            return None
        signs.append(sign)
        bodies.append(list(body.factors))
    common = [f for f in bodies[0] if all(f in b for b in bodies[1:])]
    if not common:
        return None
    f = common[0]
    rest = []
    for sign, b in zip(signs, bodies):
        b = b.copy()
        b.remove(f)
        term = b[0] if len(b) == 1 else Had(tuple(b))
        rest.append(term if sign > 0 else Neg(term))
    return Had((f, Add(tuple(rest))))


def substitute(e, mapping):
    """e with every occurrence of a key of mapping (a node) replaced by its value."""
    # keys are rewritten with the smaller keys inside them first, so that the
    # bottom-up rebuild of e meets each in the form it builds
    inner = {}
    for key in sorted(mapping, key=lambda k: sum(1 for _ in nodes(k))):
        inner[transform(key, lambda n: inner.get(n))] = mapping[key]
    return transform(e, lambda n: inner.get(n))
