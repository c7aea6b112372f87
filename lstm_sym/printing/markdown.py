"""Markdown: headed sections, one $$ block per equation (GitHub renders it)."""
from __future__ import annotations

from .latex import LatexPrinter


def sections(parts, level=2):
    printer = LatexPrinter()
    out = []
    for p in parts:
        out.append(f"{'#' * level} {p.title}\n")
        out.append(" ".join([p.note, *p.legend()]).strip() + "\n")
        for lhs, rhs in p.equations:
            out.append(f"$$\n{printer.doprint(lhs)} = {printer.doprint(rhs)}\n$$\n")
    return "\n".join(out)
