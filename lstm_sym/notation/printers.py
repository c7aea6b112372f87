"""The text and LaTeX printers taught the notation nodes (a subclass each,
one _print_<Node> per node, as the printers are built), and the parts of a
derivation printed with them: text, LaTeX, Markdown, and LaTeX for Jupyter."""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import MatVec
from ..printing import Part, Parts
from ..printing.base import PREC, prec
from ..printing.latex import LatexPrinter
from ..printing.text import TextPrinter
from .nodes import BatchSum, RowMat, RowOuter, Sym

OWN_PREC = {RowMat: PREC[MatVec], RowOuter: PREC[MatVec], BatchSum: PREC[MatVec]}
TIGHT = PREC[MatVec] + 1
LATEX_BASE = {"δ": r"\delta", "ℓ": r"\ell"}


class NotationPrinting:
    """What the two printers share: where the time index goes (h_t or h^t)."""
    time_sup = False

    def paren(self, e, level, strict=False):
        s = self._print(e)
        p = OWN_PREC.get(type(e)) or prec(e)
        return self.wrap(s) if (p < level or (strict and p == level)) else s

    def _print_Pow(self, e):
        # h^t squared is (h^t)², never h^t² (nor a double superscript in LaTeX)
        if isinstance(e.a, Sym) and self.indices(e.a)[1]:
            return self.wrap(self._print(e.a)) + self.power(e.n)
        return super()._print_Pow(e)

    def indices(self, e):
        """(subscript, superscript) of a Sym, the time placed by the notation."""
        sub = self._print(e.sub) if isinstance(e.sub, Sym) else e.sub
        sup = e.sup
        if e.time is not None:
            t = self.time(e.time)
            if self.time_sup and not sup and not e.time_sub:
                sup = t
            else:
                sub = ",".join(filter(None, [sub, t]))
        return sub, sup


class NotationText(NotationPrinting, TextPrinter):
    def power(self, n):
        from ..printing.text import SUPERSCRIPT
        return str(n).translate(SUPERSCRIPT)

    def _print_Sym(self, e):
        sub, sup = self.indices(e)
        out = ("δ" if e.delta else "") + e.base + ("\u0303" if e.tilde else "")
        if sup:
            out += f"^{sup}" if len(sup) == 1 else f"^{{{sup}}}"
        if sub:
            out += f"_{sub}" if len(sub) == 1 or e.time is None else f"_{{{sub}}}"
        return out

    def _print_Partial(self, e):
        return f"∂{self._print(e.num)}/∂{self._print(e.den)}"

    def _print_Concat(self, e):
        return "[" + e.sep.join(self._print(k) for k in e.items) + "]"

    def _print_Block(self, e):
        return f"[{self._print(e.a)}]_{self._print(e.label)}"

    def _print_RowMat(self, e):
        return self.paren(e.A, TIGHT) + " " + self._print(e.W) + ("ᵀ" if e.transpose else "")

    def _print_RowOuter(self, e):
        return self.paren(e.A, TIGHT) + "ᵀ " + self.paren(e.B, TIGHT)

    def _print_BatchSum(self, e):
        return "1ᵀ " + self.paren(e.a, TIGHT)


class NotationLatex(NotationPrinting, LatexPrinter):
    def power(self, n):
        return f"^{{{n}}}"

    def _print_Sym(self, e):
        sub, sup = self.indices(e)
        base = LATEX_BASE.get(e.base, e.base)
        if len(e.base) > 1 and e.base not in LATEX_BASE:
            base = rf"\mathrm{{{base}}}"
        if e.vector:
            base = rf"\mathbf{{{base}}}"
        if e.tilde:
            base = rf"\tilde{{{base}}}"
        out = (r"\delta " if e.delta else "") + base
        if sup:
            out += f"^{{{sup}}}"
        if sub:
            out += f"_{{{sub}}}"
        return out

    def _print_Partial(self, e):
        return rf"\frac{{\partial {self._print(e.num)}}}{{\partial {self._print(e.den)}}}"

    def _print_Concat(self, e):
        return r"\left[" + e.sep.join(self._print(k) for k in e.items) + r"\right]"

    def _print_Block(self, e):
        return rf"\left[{self._print(e.a)}\right]_{{{self._print(e.label)}}}"

    def _print_RowMat(self, e):
        return self.paren(e.A, TIGHT) + " " + self._print(e.W) + (r"^{\top}" if e.transpose else "")

    def _print_RowOuter(self, e):
        return self.paren(e.A, TIGHT) + r"^{\top} " + self.paren(e.B, TIGHT)

    def _print_BatchSum(self, e):
        return r"\mathbf{1}^{\top} " + self.paren(e.a, TIGHT)


def printers(notation):
    """A text and a LaTeX printer for this notation."""
    text, latex = NotationText(), NotationLatex()
    text.time_sup = latex.time_sup = notation.time == "sup"
    return text, latex


@dataclass
class NotationPart(Part):
    """A Part printed in a notation (str: text; latex(), _repr_latex_: LaTeX)."""
    notation: object = None

    def __str__(self):
        from ..printing import render_document
        text, latex = printers(self.notation)
        return render_document([self.block()], "text", text=text, latex=latex)[:-1]

    def latex(self):
        """The equations as one aligned block (math mode), as Part.latex."""
        from ..printing import aligned
        return aligned(printers(self.notation)[1], self.block().rows)


class NotationParts(Parts):
    """All parts in a notation: text when printed, LaTeX stacked in Jupyter."""
