"""LaTeX printer: bold vectors, \\odot, ^\\top, \\sum_{t=1}^{T}."""
from __future__ import annotations

import sympy
from sympy.printing.latex import LatexPrinter as SympyLatexPrinter
from sympy.printing.precedence import PRECEDENCE

from .base import PREC, NodePrinter, ScalarPrinting
from ..ir import Act, MatVec


class ScalarLatex(ScalarPrinting, SympyLatexPrinter):
    """SymPy's LatexPrinter in the project's notation: \\mathbb{1}[u > 0],
    |u|, (1 + |u|)^{-2}, \\odot for products."""
    odot = r"\odot"
    step = r"\mathbb{{1}}\left[{} > 0\right]"
    abs_ = r"\left|{}\right|"

    def wrap(self, s):
        return rf"\left({s}\right)"

    def frac(self, num, den):
        return rf"\frac{{{self._print(num)}}}{{{self._print(den)}}}"

    def int_power(self, base, n):
        if n > 0:            # SymPy's own: \tanh^{2}{\left(x \right)}, u^{2}
            return SympyLatexPrinter._print_Pow(self, sympy.Pow(base, n, evaluate=False))
        return self._paren(base, PRECEDENCE["Pow"], strict=True) + f"^{{{n}}}"


def scalar_latex(expr, names=None):
    """A scalar SymPy expression as LaTeX (names: {Symbol: (LaTeX, atomic)})."""
    return ScalarLatex(names).doprint(expr)


class LatexPrinter(NodePrinter):
    op_format = "latex"      # which spelling of the op table (ops.py) it prints
    odot = r"\odot"
    sum_over_t = r"\sum_{t=1}^{T}"

    def wrap(self, s):
        return rf"\left({s}\right)"

    def symbol(self, name, vector):
        base, sub = self.split(name)
        tilde = base.endswith("~")
        base = base.rstrip("~")
        body = base if len(base) == 1 else rf"\mathrm{{{base}}}"
        if vector:
            body = rf"\mathbf{{{body}}}"
        if tilde:
            body = rf"\tilde{{{body}}}"
        return body, sub

    def _print_Var(self, e):
        vector = len(e.shape) == 1
        body, sub = self.symbol(e.name, vector)
        idx = ",".join(filter(None, [sub, None if e.time is None else self.time(e.time)]))
        return f"{body}_{{{idx}}}" if idx else body

    def _print_Delta(self, e):
        if e.gate:
            body, _ = self.symbol(e.name, False)
            return rf"\delta_{{{body},{self.time(e.time)}}}"
        body, sub = self.symbol(e.name, True)
        return rf"\delta {body}_{{{','.join(filter(None, [sub, self.time(e.time)]))}}}"

    def _print_Direct(self, e):
        body, _ = self.symbol(e.name, True)
        t = self.time(e.time)
        return rf"\frac{{\partial \ell_{{{t}}}}}{{\partial {body}_{{{t}}}}}"

    def _print_Next(self, e):
        return rf"\delta_{{\mathrm{{carry}}}}{e.name}_{{{self.time(1)}}}"

    def _print_GradOf(self, e):
        v = e.target
        body, sub = self.symbol(v.name, len(v.shape) == 1)
        idx = ",".join(filter(None, [sub, None if e.time is None else str(e.time)]))
        target = f"{body}_{{{idx}}}" if idx else body
        return rf"\frac{{\partial E}}{{\partial {target}}}"

    def scalar(self, e, names=None):
        return scalar_latex(e, names)


def latex(e):
    return LatexPrinter().doprint(e)
