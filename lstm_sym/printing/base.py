"""What the text and LaTeX printers share: precedence, names, time indices,
and the scalar part (a Map node's SymPy expression, an activation's f′).

Each printer is a SymPy Printer with one _print_<Node> method per node; an
op's method is made from its op-table entry (ops.py: the spelling for the
printer's op_format, "text" or "latex"), the leaves' are the printers'.  The
scalar printers subclass SymPy's StrPrinter and LatexPrinter through
ScalarPrinting, so that the scalar part speaks the same notation as the rest
(⊙ for products, 1[u > 0] for the unit step, |u|, powers as powers)."""
from __future__ import annotations

import sympy
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.printer import Printer

from ..ir import AtTime, Had, Map, TimeSum
from ..ops import ATOM, OPS, scalar_prec  # noqa: F401  (scalar_prec: re-exported)

# the ops' precedences come from the op table; the structural nodes' are here
PREC = {**{n: op.prec for n, op in OPS.items() if not callable(op.prec)}, Map: 10,
        TimeSum: 5, AtTime: 5}


def prec(e):
    op = OPS.get(type(e))
    return op.precedence(e) if op is not None else PREC.get(type(e), ATOM)


# Functions the scalar printers write in a notation of their own, and the
# sentence that defines it (printed once where the notation appears).
LEGEND = {
    sympy.Heaviside: "1[u > 0] is the unit step: 1 for u > 0, 0 for u < 0 and ½ at u = 0, "
                     "as SymPy takes it and the generated kernels too.",
}


def legend(exprs):
    """The LEGEND sentences for the special functions in these scalar expressions."""
    found = [f for f in LEGEND if any(isinstance(e, sympy.Basic) and e.has(f) for e in exprs)]
    return [LEGEND[f] for f in found]


def scalar_exprs(e):
    """Every scalar SymPy expression inside a node tree (Map nodes)."""
    out = []
    stack = [e]
    while stack:
        n = stack.pop()
        if n is None:
            continue
        if isinstance(n, Map):
            out.append(n.expr)
        if hasattr(n, "children"):
            stack.extend(n.children())
    return out


class ScalarPrinting:
    """Mixin over a SymPy printer: the scalar part in the project's notation.

    names: {Symbol: (printed text, atomic)}: placeholders for the node a Map
    is applied to (already printed); a non-atomic one is parenthesized like a
    sum.  Subclasses set odot, step (the unit step's format), abs_ (|·|),
    wrap(s), frac(num, den) and int_power(base, n)."""

    def __init__(self, names=None, settings=None):
        super().__init__(settings)
        self.names = dict(names or {})

    def _prec(self, item):
        if item in self.names:
            return PRECEDENCE["Atom"] if self.names[item][1] else PRECEDENCE["Add"]
        return precedence(item)

    def _paren(self, item, level, strict=False):
        p = self._prec(item)
        s = self._print(item)
        return self.wrap(s) if (p < level or (strict and p == level)) else s

    def parenthesize(self, item, level, *args, **kwargs):
        if item in self.names and not self.names[item][1]:
            return self.wrap(self.names[item][0])
        return super().parenthesize(item, level, *args, **kwargs)

    def _print_Symbol(self, e, *args, **kwargs):
        if e in self.names:
            return self.names[e][0]
        return super()._print_Symbol(e, *args, **kwargs)

    def _print_Heaviside(self, e, *args, **kwargs):
        return self.step.format(self._print(e.args[0]))

    def _print_Abs(self, e, *args, **kwargs):
        return self.abs_.format(self._print(e.args[0]))

    def _print_Add(self, e, *args, **kwargs):
        terms = list(e.as_ordered_terms())
        # 1 − u and u − 1, as the node printers write them: a positive constant first, a negative one last
        const = [t for t in terms if t.is_Number]
        terms = ([t for t in const if t > 0] + [t for t in terms if not t.is_Number]
                 + [t for t in const if t < 0])
        out = ""
        for i, t in enumerate(terms):
            negative = t.could_extract_minus_sign()
            body = self._paren(-t if negative else t, PRECEDENCE["Add"], strict=negative)
            if i == 0:
                out = ("-" if negative else "") + body
            else:
                out += (" - " if negative else " + ") + body
        return out

    def _print_Mul(self, e, *args, **kwargs):
        if e.could_extract_minus_sign():
            return "-" + self._paren(-e, PRECEDENCE["Mul"])
        num, den = sympy.fraction(e, exact=True)
        if den != 1:
            return self.frac(num, den)
        coeff, factors = e.as_coeff_mul()
        body = f" {self.odot} ".join(self._paren(f, PRECEDENCE["Mul"], strict=True) for f in factors)
        if coeff == 1:
            return body
        return f"{self.coefficient(coeff)} {body}" if body else self._print(coeff)

    def coefficient(self, k):
        return self._print(k)

    def _print_Pow(self, e, *args, **kwargs):
        base, n = e.as_base_exp()
        if n.is_Integer and n != 1:
            return self.int_power(base, int(n))
        return super()._print_Pow(e, *args, **kwargs)


class NodePrinter(Printer):
    printmethod = "_lstm_sym_print"
    minus = "-"

    # document nodes spelled the same in every format
    def _print_Scalar(self, e):
        return self.scalar(e.expr)

    def _print_Chain(self, e):
        return e.sep.join(self._print(a) for a in e.items)

    def _print_Paren(self, e):
        return self.wrap(self._print(e.a))

    def __init__(self, settings=None):
        super().__init__(settings)
        self.base = "t"                 # what time 0 prints as: t, T or a step number

    def paren(self, e, level, strict=False):
        s = self._print(e)
        p = prec(e)
        return self.wrap(s) if (p < level or (strict and p == level)) else s

    def time(self, offset):
        if isinstance(self.base, int):
            return str(self.base + offset)
        if offset == 0:
            return self.base
        return f"{self.base}{self.minus if offset < 0 else '+'}{abs(offset)}"

    def split(self, name):
        """'W_fh' -> ('W', 'fh'); 'c_tilde' -> ('c~', ''); 'y_hat' -> ('y^', ''); 'h' -> ('h', '')."""
        if name.endswith("_tilde"):
            return name[:-6] + "~", ""
        if name.endswith("_hat"):
            return name[:-4] + "^", ""
        base, _, sub = name.partition("_")
        return base, sub

    def at_base(self, base, e):
        old, self.base = self.base, base
        try:
            return self._print(e)
        finally:
            self.base = old

    def precedence(self, e):
        return prec(e)

    def _print_Expr(self, e):
        """An op prints as its op-table entry says for this printer's format."""
        op = OPS.get(type(e))
        if op is None:
            raise TypeError(f"{type(self).__name__} cannot print {type(e).__name__}")
        return op.spelling(self.op_format)(self, e)

    def _print_AtTime(self, e):
        return self.at_base(e.step, e.a)

    def _print_TimeSum(self, e):
        if e.steps == "last":
            return self.at_base("T", e.a)
        return self.sum_over_t + " " + self.paren(e.a, PREC[Had])


def _op_method(node):
    # _print_<Op> for every op in the table, so that subclasses can extend
    # one (super()._print_Pow(e)) as they would a hand-written method
    def method(self, e):
        return OPS[node].spelling(self.op_format)(self, e)
    method.__name__ = f"_print_{node.__name__}"
    return method


for _node in OPS:
    setattr(NodePrinter, f"_print_{_node.__name__}", _op_method(_node))
