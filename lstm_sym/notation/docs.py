"""derivations/<cell>.md's sections in the other notations: each the same
derivation, rewritten, with the command that prints it and what it changes."""
from __future__ import annotations

from .layout import NotationMismatch
from .tables import NOTATIONS

INTRO = ("{source}. The same derivation as above, every equation rewritten by `lstm_sym.notation` (nothing is "
         "derived again); `lstm-sym derive {cell} --notation {name}` prints it. {note} "
         "`tests/test_notation_numeric.py` evaluates these formulas as printed, in this layout, and "
         "compares them with the generated kernel's gradients.")


def markdown_sections(cell, level=2):
    """One section per notation other than the tutorial's, for derivations/<cell>.md."""
    from ..cells import load_cell
    from ..derivation import derive
    from .parts import rewritten
    cell = load_cell(cell) if isinstance(cell, str) else cell
    d = derive(cell)
    out = []
    for n in NOTATIONS.values():
        if n.name == "tutorial":
            continue
        head = f"{'#' * level} In {n.title} notation\n"
        try:
            got = rewritten(d, n)
        except NotationMismatch as e:
            reason = str(e).split(": ", 1)[1]
            out.append(head + f"\nThis layout cannot print the {cell.name} cell: {reason}.\n")
            continue
        source = n.source[0].upper() + n.source[1:]
        body = [head, INTRO.format(source=source, cell=cell.name, name=n.name, note=n.note) + "\n"]
        for p in got.values():
            body.append(f"**{p.title}**\n")
            body.append(f"$$\n{p.latex()}\n$$\n")
        out.append("\n".join(body))
    return "\n".join(out)
