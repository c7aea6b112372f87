"""The derivation in the reader's own notation: the tutorial's separate
matrices (the default), d2l's minibatch rows, colah's one matrix per gate
over [h_{t−1}, x_t], the lecture notes' stacked z.  The notations are data
(tables.py); one rewrite (transform.py) takes the derived equations into
any of them, and the printers print what it gives.

    parts(derivation, notation, part)        Part / Parts (str, latex(), Jupyter)
    render(derivation, notation, part, fmt)  text, LaTeX or Markdown
    markdown_sections(cell)                  a section per notation, for derivations/
    fits(cell)                               {notation: None or the reason it cannot}
    numeric.run(rewritten(...), ...)         the printed equations evaluated as printed
"""
from __future__ import annotations

from .docs import markdown_sections
from .layout import NotationMismatch
from .parts import fits, parts, render, rewritten
from .tables import NOTATIONS, Notation, get_notation

__all__ = ["NOTATIONS", "Notation", "NotationMismatch", "get_notation", "parts", "render",
           "markdown_sections", "fits", "rewritten"]
