"""What the text and LaTeX printers share: precedence, names, time indices.

Each printer is a SymPy Printer with one _print_<Node> method per node."""
from __future__ import annotations

from sympy.printing.printer import Printer

from ..ir import (Act, Add, AtTime, Had, MatVec, Map, Neg, OneMinus, Outer, Pow,
                  Scale, TimeSum)

PREC = {Add: 10, OneMinus: 10, TimeSum: 5, Neg: 15, Had: 20, MatVec: 30, Outer: 30,
        Scale: 30, AtTime: 5, Pow: 40, Map: 10}


def prec(e):
    return PREC.get(type(e), 50)


class NodePrinter(Printer):
    printmethod = "_lstm_sym_print"
    minus = "-"

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
        """'W_fh' -> ('W', 'fh'); 'c_tilde' -> ('c~', ''); 'h' -> ('h', '')."""
        if name.endswith("_tilde"):
            return name[:-6] + "~", ""
        base, _, sub = name.partition("_")
        return base, sub

    def at_base(self, base, e):
        old, self.base = self.base, base
        try:
            return self._print(e)
        finally:
            self.base = old

    def _print_Add(self, e):
        out = self.paren(e.terms[0], PREC[Add])
        for t in e.terms[1:]:
            if isinstance(t, Neg):
                out += f" {self.minus} " + self.paren(t.a, PREC[Had])
            else:
                out += " + " + self.paren(t, PREC[Add])
        return out

    def _print_Neg(self, e):
        return self.minus + self.paren(e.a, PREC[Had])

    def _print_Had(self, e):
        # a matrix product inside ⊙ gets parentheses: (Wᵀ δ) ⊙ h, never Wᵀ δ ⊙ h
        return f" {self.odot} ".join(self.paren(f, PREC[MatVec], strict=True) for f in e.factors)

    def _print_OneMinus(self, e):
        return f"1 {self.minus} " + self.paren(e.a, PREC[MatVec])

    def _print_AtTime(self, e):
        return self.at_base(e.step, e.a)

    def _print_TimeSum(self, e):
        if e.steps == "last":
            return self.at_base("T", e.a)
        return self.sum_over_t + " " + self.paren(e.a, PREC[Had])

    def _print_Scale(self, e):
        return f"{self.scalar(e.k)} " + self.paren(e.a, PREC[MatVec])

    def _print_Map(self, e):
        import sympy
        arg = sympy.Symbol(self._print(e.a))
        return self.scalar(e.expr.subs(e.x, arg))
