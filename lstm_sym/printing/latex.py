"""LaTeX printer: bold vectors, \\odot, ^\\top, \\sum_{t=1}^{T}."""
from __future__ import annotations

import re

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
        tilde, hat = base.endswith("~"), base.endswith("^")
        base = base.rstrip("~^")
        body = base if len(base) == 1 else rf"\mathrm{{{base}}}"
        if vector:
            body = rf"\mathbf{{{body}}}"
        if tilde:
            body = rf"\tilde{{{body}}}"
        if hat:
            body = rf"\hat{{{body}}}"
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

    # --- the document nodes (printing/nodes.py) and the bound's Diag ---------------
    def _print_Layer(self, e):
        layer = str(e.layer).replace("−", "-")         # l−1: TeX's minus is ASCII
        return f"{{{{{self._print(e.a)}}}^{{({layer})}}}}"      # braced whole: a ᵀ after it is legal TeX

    def _print_Name(self, e):
        base = ""
        for c in e.base:            # a space where a command would run into a letter: \beta x
            piece = NAME_LATEX.get(c, c)
            base += (" " if re.search(r"\\[A-Za-z]+$", base) and piece[:1].isalpha() else "") + piece
        if not e.sub:
            return base
        sub = NAME_LATEX.get(e.sub, e.sub)
        return f"{base}_{sub}" if len(e.sub) == 1 else f"{base}_{{{sub}}}"

    def _print_Words(self, e):
        return "".join(rf"\text{{{latex_text(s)}}}" if isinstance(s, str) else self._print(s) for s in e.items)

    def _print_Transpose(self, e):
        return self._print(e.a) + r"^{\top}"

    def _print_Diag(self, e):
        return rf"\operatorname{{diag}}\left({self._print(e.v)}\right)"

    def _print_Norm(self, e):
        return rf"\left\lVert {self._print(e.a)} \right\rVert" + ("" if e.p is None else f"_{e.p}")

    def _print_AbsValue(self, e):
        return rf"\left|{self._print(e.a)}\right|"

    def _print_Partial(self, e):
        return rf"\frac{{\partial {self._print(e.num)}}}{{\partial {self._print(e.den)}}}"

    def _print_Over(self, e):
        sub = "" if not e.sub else f"_{e.sub}" if len(e.sub) == 1 else f"_{{{e.sub}}}"
        return NAME_LATEX[e.op] + sub + (f"^{{{e.sup}}}" if e.sup else "") + " " + self._print(e.body)

    def _print_Power(self, e):
        base = self._print(e.base)
        base = base if type(e.base).__name__ == "Name" else self.wrap(base)
        return f"{base}^{{{self._print(e.exp)}}}"


def latex(e):
    return LatexPrinter().doprint(e)


# how Name, Over and the relations of a document spell Unicode in LaTeX
NAME_LATEX = {"β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ρ": r"\rho", "σ": r"\sigma", "ℓ": r"\ell",
              "∇": r"\nabla", "′": "'", "−": "-", "⋯": r"\cdots", "∞": r"\infty", "≤": r"\le", "≥": r"\ge",
              "≈": r"\approx", "∏": r"\prod", "Σ": r"\sum", "sup": r"\sup", "max": r"\max", "min": r"\min"}
LATEX_TEXT = str.maketrans({"—": "--", "−": "-", "…": r"\ldots{}", "∞": r"$\infty$", "\\": r"\textbackslash{}",
                            **{c: "\\" + c for c in "_%&#$"}, "{": r"\{", "}": r"\}",
                            "^": r"\^{}", "~": r"\~{}"})


def latex_text(s):
    """Plain text as LaTeX text mode: its special characters escaped."""
    return s.translate(LATEX_TEXT)
