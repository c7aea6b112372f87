"""Plain-text printer (Unicode): ⊙, ᵀ, Σ, subscripts as in the seeds."""
from __future__ import annotations

import sympy

from .base import PREC, NodePrinter
from ..ir import Act, MatVec

SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


class TextPrinter(NodePrinter):
    minus = "−"
    odot = "⊙"
    sum_over_t = "Σ_{t=1}^{T}"

    def wrap(self, s):
        return f"({s})"

    def name(self, name):
        base, sub = self.split(name)
        return base.replace("~", "\u0303") + (f"_{sub}" if sub else "")

    def indexed(self, name, offset):
        base, sub = self.split(name)
        base = base.replace("~", "\u0303")
        idx = ",".join(filter(None, [sub, self.time(offset)]))
        return f"{base}_{idx}" if len(idx) == 1 else f"{base}_{{{idx}}}"

    def scalar(self, e):
        return sympy.sstr(e).replace("**", "^").replace("*", "⋅")

    def _print_Var(self, e):
        return self.name(e.name) if e.time is None else self.indexed(e.name, e.time)

    def _print_Delta(self, e):
        if e.gate:
            base, _ = self.split(e.name)
            return f"δ_{{{base.replace('~', chr(0x303))},{self.time(e.time)}}}"
        return "δ" + self.indexed(e.name, e.time)

    def _print_Direct(self, e):
        return f"∂ℓ_{self.time(e.time) if e.time == 0 else '{' + self.time(e.time) + '}'}/∂{self.indexed(e.name, e.time)}"

    def _print_Next(self, e):
        return f"(δ{e.name} carried from step {self.time(1)})"

    def _print_GradOf(self, e):
        if e.time is not None:
            return f"∂E/∂{self.name(e.target.name)}_{e.time}"
        return f"∂E/∂{self.name(e.target.name)}"

    def _print_MatVec(self, e):
        return self._print(e.W) + ("ᵀ" if e.transpose else "") + " " + self.paren(e.v, PREC[MatVec] + 1)

    def _print_Outer(self, e):
        return self.paren(e.a, PREC[MatVec] + 1) + " " + self.paren(e.b, PREC[MatVec] + 1) + "ᵀ"

    def _print_Act(self, e):
        return f"{e.fn.text}({self._print(e.a)})"

    def _print_Pow(self, e):
        sup = str(e.n).translate(SUPERSCRIPT)
        if isinstance(e.a, Act):
            return f"{e.a.fn.text}{sup}({self._print(e.a.a)})"
        return self.paren(e.a, 50) + sup


def text(e):
    return TextPrinter().doprint(e)
