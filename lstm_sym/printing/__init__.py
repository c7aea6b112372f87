"""Printers: text, LaTeX, Markdown.  A Part is a titled list of equations
that prints as text and shows as LaTeX in Jupyter; as a document block it is
an Equations display (printing.document), rendered like every other document.

    Part.of(derivation, name)   a part (or, for "all", Parts)
    part.block()                the part as a document.Equations block
    render(derivation, part, fmt)   text, LaTeX or Markdown
    render_document(blocks, fmt)    any document (printing.document.render)
"""
from __future__ import annotations

from dataclasses import dataclass

from . import latex_document, markdown  # noqa: F401  (they register their renderers)
from .base import legend, scalar_exprs
from .document import Equations
from .document import render as render_document
from .latex import LatexPrinter, latex
from .latex_document import aligned, gathered
from .text import TextPrinter, text

PARTS = ("forward", "deltas", "bptt", "grads", "all")
FORMATS = ("text", "latex", "markdown")

TITLES = {
    "forward": "Forward pass",
    "deltas": "Per-step deltas",
    "bptt": "Backpropagation through time",
    "grads": "Gradients (sums over time)",
}

TERMINAL_TITLE = "Terminal conditions (t = T)"


def _states_0(cell):
    names = [f"{s}_0" for s in cell.states]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _state_deltas(cell):
    names = [f"δ{s}_t" for s in cell.states]
    return (f"{names[0]} is the state's delta" if len(names) == 1
            else f"{', '.join(names)} are the states' deltas")


def _gate_activations(cell):
    """How the activations that make the cell's gates print: σ(…), tanh(…), …"""
    from .nodes import Name
    out = []
    for _, e in cell.equations:
        fn = getattr(e, "fn", None)
        shown = fn is not None and TextPrinter().doprint(fn(Name("…")))
        if fn is not None and getattr(e.a, "name", None) in cell.gates and shown not in out:
            out.append(shown)
    return " or ".join(out) or "the activation"


def note(derivation, name):
    """The sentence under a part's title, written for this cell."""
    cell = derivation.cell
    if name == "forward":
        return (f"Each step t = 1..T; the state{'s start' if len(cell.states) > 1 else ' starts'} "
                f"from {_states_0(cell)}.")
    if name == "deltas":
        text = "δ of a name is ∂E/∂(that name at step t), all paths included."
        if cell.gates:
            text += (" δ_{g,t} is taken at the argument of the activation that makes g_t (net_{g,t}, the "
                     f"pre-activation inside {_gate_activations(cell)} in the forward pass); "
                     f"{_state_deltas(cell)}.")
        return text
    return {
        "bptt": "Each recurrence collects every path from step t back to step t−1.",
        "grads": "Parameters are shared by all steps, so their gradients sum over t = 1..T.",
    }[name]


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
        return cls(name, TITLES[name], [e for e in eqs if e[1] is not None], note(derivation, name))

    def lines(self, printer):
        return [f"{printer.doprint(l)} = {printer.doprint(r)}" for l, r in self.equations]

    def legend(self):
        """Sentences defining the special notation these equations use (1[u > 0], …)."""
        return legend([x for eq in self.equations for side in eq for x in scalar_exprs(side)])

    def block(self):
        """The part as a document block: a titled display of its equations."""
        return Equations(self.equations, title=self.title, note=self.note, where=tuple(self.legend()))

    def __str__(self):
        return render_document([self.block()], "text")[:-1]

    def latex(self):
        """The equations as one aligned block (math mode: put it inside \\[ \\] or $$ $$)."""
        return aligned(LatexPrinter(), self.block().rows)

    def _repr_latex_(self):
        return f"$${self.latex()}$$"


class Parts(list):
    """All parts: prints as text, shows as LaTeX (the parts stacked, each under its title)."""

    def __str__(self):
        return "\n\n".join(str(p) for p in self)

    def latex(self):
        return gathered([(p.title, p.latex()) for p in self])

    def _repr_latex_(self):
        return f"$${self.latex()}$$"


def terminal_part(derivation):
    """δs_T for every state: the state's delta at t = T, read off the
    derivation.  There is no step T + 1: the engine evaluates each carry
    Next(s) at t = T as the cotangent given on s_T itself (run_backward's
    `final`, the kernels' dcT), 0 when none is given.  For the output state
    that is part of ∂ℓ_T/∂h_T already (dropped here); any other state's is
    written ∂ℓ_T/∂s_T."""
    from ..ir import Add, AtTime, Delta, Direct, Next, add, transform
    cell = derivation.cell
    out, others = cell.states[0], []
    eqs = []
    for s, e in ((d.name, e) for d, e in derivation.delta_defs if d.name in cell.states and not d.gate):
        if s == out:
            drop = lambda n, s=s: add(*[t for t in n.terms if t != Next(s)]) if isinstance(n, Add) else None
            e = transform(e, drop)
        else:
            e = transform(e, lambda n, s=s: Direct(s) if n == Next(s) else None)
            others.append(s)
        eqs.append((AtTime(Delta(s, 0), "T"), AtTime(e, "T")))
    eqs.sort(key=lambda eq: cell.states.index(eq[0].a.name))
    text = ("The recurrences above start from these and run down to t = 1. There is no step T + 1: at "
            "t = T the engine takes what that step would carry back to be the cotangent given on the last "
            "state itself (`final` of `lstm_sym.evaluate.run_backward`), 0 when none is given. "
            f"For {out}_T that is part of ∂ℓ_T/∂{out}_T already")
    for s in others:
        text += (f"; ∂ℓ_T/∂{s}_T is the part of the loss that reads {s}_T directly: 0 for E = Σ_t ℓ_t with "
                 f"each ℓ_t reading {out}_t alone, G_{s} for a loss with the term ⟨G_{s}, {s}_T⟩")
    return Part("terminal", TERMINAL_TITLE, eqs, text + ".")


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
    return render_document([p.block() for p in parts], fmt)
