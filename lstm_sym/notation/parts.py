"""The derivation's parts in a notation: rewritten, rendered, checked for fit."""
from __future__ import annotations

from .layout import NotationMismatch
from .tables import NOTATIONS, get_notation


def rewritten(derivation, notation, names=None):
    """{part: NotationPart} for the parts named (forward, deltas, bptt, grads, terminal)."""
    from ..printing import PARTS, TITLES, TERMINAL_TITLE, terminal_part
    from .printers import NotationPart
    from .transform import Rewriter
    n = get_notation(notation)
    r = Rewriter(derivation, n)
    names = names or PARTS[:-1]
    build = {
        "forward": r.forward,
        "deltas": lambda: r.equations(derivation.gate_deltas()),
        "bptt": lambda: r.equations(derivation.recurrences() + [_input_error(derivation)]),
        "grads": r.gradients,
        "terminal": lambda: r.equations(terminal_part(derivation).equations),
    }
    titles = dict(TITLES, terminal=TERMINAL_TITLE)
    return {p: NotationPart(p, titles[p], build[p](), _note(derivation, n, p), notation=n) for p in names}


def _input_error(derivation):
    from ..ir import Delta
    return (Delta(derivation.cell.x, 0), derivation.input_error)


def _note(derivation, n, part):
    from ..printing import note
    if part == "forward":
        return " ".join(filter(None, [note(derivation, part), n.note]))
    if part == "deltas":
        return (f"δ of a name is ∂{n.loss}/∂(that name at step t), all paths included; a gate's δ is "
                "taken at its pre-activation, the argument of its activation.")
    if part == "terminal":
        return "The recurrences above start from these at t = T and run down to t = 1."
    return note(derivation, part)


def parts(derivation, notation="tutorial", part="all"):
    """One part (or all, as Parts) in the notation."""
    from ..printing import PARTS, Part
    from .printers import NotationParts
    n = get_notation(notation)
    if n.name == "tutorial":
        return Part.of(derivation, part)
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; choose one of: {', '.join(PARTS)}")
    if part != "all":
        return rewritten(derivation, n, [part])[part]
    return NotationParts(rewritten(derivation, n).values())


def render(derivation, notation="tutorial", part="all", fmt="text"):
    """As printing.render, in the notation (the same document renderers, this
    notation's printers); the tutorial's is printing.render itself."""
    from ..printing import FORMATS, render as render_tutorial, render_document
    from .printers import printers
    n = get_notation(notation)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if n.name == "tutorial":
        return render_tutorial(derivation, part, fmt)
    got = parts(derivation, n, part)
    got = list(got) if isinstance(got, list) else [got]
    text, latex = printers(n)
    return render_document([p.block() for p in got], fmt, text=text, latex=latex)


def fits(cell):
    """{notation: None if it can print the cell, else the reason it cannot}."""
    from ..derivation import derive
    d = derive(cell)
    out = {}
    for name in NOTATIONS:
        try:
            rewritten(d, name)
            out[name] = None
        except NotationMismatch as e:
            out[name] = str(e)
    return out
