"""Printers: text, LaTeX, Markdown.  A Part is a titled list of equations
that prints as text and shows as LaTeX in Jupyter."""
from __future__ import annotations

from dataclasses import dataclass

from .latex import LatexPrinter, latex
from .text import TextPrinter, text

PARTS = ("forward", "deltas", "bptt", "grads", "all")
FORMATS = ("text", "latex", "markdown")

TITLES = {
    "forward": "Forward pass",
    "deltas": "Per-step deltas",
    "bptt": "Backpropagation through time",
    "grads": "Gradients (sums over time)",
}

NOTES = {
    "forward": "Each step t = 1..T; the states start from h_0 (and c_0).",
    "deltas": ("δ of a name is ∂E/∂(that name at step t), all paths included. δ_{g,t} is taken at the "
               "argument of the activation that makes g_t (net_{g,t}, the pre-activation inside σ(…) or "
               "tanh(…) in the forward pass); δh_t, δc_t are the states' deltas."),
    "bptt": "Each recurrence collects every path from step t back to step t−1.",
    "grads": "Parameters are shared by all steps, so their gradients sum over t = 1..T.",
}


@dataclass
class Part:
    name: str
    title: str
    equations: list        # [(lhs node, rhs node)]
    note: str = ""

    @classmethod
    def of(cls, derivation, name):
        if name not in PARTS:
            raise ValueError(f"unknown part {name!r}; choose one of: {', '.join(PARTS)}")
        if name == "all":
            return Parts(cls.of(derivation, p) for p in PARTS[:-1])
        eqs = {
            "forward": derivation.forward_equations,
            "deltas": derivation.gate_deltas,
            "bptt": lambda: derivation.recurrences() + [_input_error(derivation)],
            "grads": derivation.gradient_equations,
        }[name]()
        note = NOTES[name]
        if name == "deltas" and not derivation.cell.gates:
            note = "δ of a name is ∂E/∂(that name at step t), all paths included."
        return cls(name, TITLES[name], [e for e in eqs if e[1] is not None], note)

    def lines(self, printer):
        return [f"{printer.doprint(l)} = {printer.doprint(r)}" for l, r in self.equations]

    def __str__(self):
        return "\n".join([f"{self.title}:"] + ["  " + s for s in self.lines(TextPrinter())])

    def latex(self):
        body = r" \\ ".join(s.replace(" = ", " &= ", 1) for s in self.lines(LatexPrinter()))
        return rf"\begin{{aligned}} {body} \end{{aligned}}"

    def _repr_latex_(self):
        return f"$${self.latex()}$$"


class Parts(list):
    """All parts: prints as text, shows as LaTeX."""

    def __str__(self):
        return "\n\n".join(str(p) for p in self)

    def _repr_latex_(self):
        return "$$" + r" \\ ".join(p.latex() for p in self) + "$$"


def _input_error(derivation):
    from ..ir import Delta
    x = derivation.cell.x
    return (Delta(x, 0), derivation.input_error)


def render(derivation, part="all", fmt="text"):
    """The derivation (or one part) as text, LaTeX or Markdown."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    parts = Part.of(derivation, part)
    parts = parts if isinstance(parts, list) else [parts]
    if fmt == "text":
        return "\n\n".join(str(p) for p in parts) + "\n"
    if fmt == "latex":
        return "\n\n".join(f"% {p.title}\n\\[\n{p.latex()}\n\\]" for p in parts) + "\n"
    from .markdown import sections
    return sections(parts)
