"""Plain-text printer (Unicode): ⊙, ᵀ, Σ, subscripts as in the seeds."""
from __future__ import annotations

import unicodedata

import sympy
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .base import PREC, NodePrinter, ScalarPrinting
from ..ir import Act, MatVec

SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
MINUS = str.maketrans({"-": "−"})
SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


class ScalarText(ScalarPrinting, StrPrinter):
    """SymPy's StrPrinter in the project's notation: 1[u > 0], |u|,
    (1 + |u|)⁻², tanh²(u), ⊙ for products, − for minus (never **, Abs,
    Heaviside or an ASCII minus)."""
    odot = "⊙"
    step = "1[{} > 0]"
    abs_ = "|{}|"

    def wrap(self, s):
        return f"({s})"

    def doprint(self, expr):
        return super().doprint(expr).translate(MINUS)

    def coefficient(self, k):
        return self._print(k) if k.is_Integer else self.wrap(self._print(k))

    def frac(self, num, den):
        return f"{self._paren(num, PRECEDENCE['Mul'])}/{self._paren(den, PRECEDENCE['Pow'])}"

    def _print_Rational(self, e):
        return f"{e.p}/{e.q}" if e.q != 1 else str(e.p)

    def int_power(self, base, n):
        sup = str(n).translate(SUPERSCRIPT)
        if n > 0 and base.is_Function and not isinstance(base, (sympy.Abs, sympy.Heaviside)):
            return f"{self._print_Function_name(base)}{sup}({', '.join(self._print(a) for a in base.args)})"
        return self._paren(base, PRECEDENCE["Pow"], strict=True) + sup

    def _print_Function_name(self, f):
        return type(f).__name__

    def _print_Pow(self, e, *args, **kwargs):
        base, n = e.as_base_exp()
        if n == sympy.S.Half:
            return "√" + self.wrap(self._print(base)) if self._prec(base) < PRECEDENCE["Atom"] else "√" + self._print(base)
        if not n.is_Integer:
            return self._paren(base, PRECEDENCE["Pow"], strict=True) + "^" + self.wrap(self._print(n))
        return super()._print_Pow(e, *args, **kwargs)


def scalar_text(expr, names=None):
    """A scalar SymPy expression as text (names: {Symbol: (text, atomic)})."""
    return ScalarText(names).doprint(expr)


class TextPrinter(NodePrinter):
    op_format = "text"      # which spelling of the op table (ops.py) it prints
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
        # ŷ precomposed where Unicode has it (what a reader types); c̃ stays combining
        base = unicodedata.normalize("NFC", base.replace("~", "\u0303").replace("^", "\u0302"))
        idx = ",".join(filter(None, [sub, self.time(offset)]))
        return f"{base}_{idx}" if len(idx) == 1 else f"{base}_{{{idx}}}"

    def scalar(self, e, names=None):
        return scalar_text(e, names)

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

    # --- the document nodes (printing/nodes.py) and the bound's Diag ---------------
    def _print_Name(self, e):
        if not e.sub:
            return e.base
        return f"{e.base}_{e.sub}" if e.sub.isalnum() else f"{e.base}_{{{e.sub}}}"

    def _print_Words(self, e):
        return "".join(s if isinstance(s, str) else self._print(s) for s in e.items)

    def _print_Transpose(self, e):
        return self._print(e.a) + "ᵀ"

    def _print_Layer(self, e):
        return f"{self._print(e.a)}^({e.layer})"

    def _print_Diag(self, e):
        return f"diag({self._print(e.v)})"

    def _print_Norm(self, e):
        return f"‖{self._print(e.a)}‖" + ("" if e.p is None else str(e.p).translate(SUBSCRIPT))

    def _print_AbsValue(self, e):
        return f"|{self._print(e.a)}|"

    def _print_Partial(self, e):
        return f"∂{self._print(e.num)}/∂{self._print(e.den)}"

    def _print_Over(self, e):
        sub = "" if not e.sub else f"_{e.sub}" if len(e.sub) == 1 else f"_{{{e.sub}}}"
        return e.op + sub + (f"^{{{e.sup}}}" if e.sup else "") + " " + self._print(e.body)

    def _print_Power(self, e):
        base = self._print(e.base)
        base = base if type(e.base).__name__ == "Name" else self.wrap(base)
        exp = self._print(e.exp)
        return f"{base}^{exp}" if len(exp) == 1 else f"{base}^({exp})"


def text(e):
    return TextPrinter().doprint(e)
