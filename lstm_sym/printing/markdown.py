"""The Markdown renderer (GitHub's): # headings, one $$ block per equation
(LaTeX), formulas in prose as $…$, tables with | (cells in the text
printer's notation, | escaped)."""
from __future__ import annotations

from .document import Renderer, equation, register


@register("markdown")
class MarkdownRenderer(Renderer):
    def math(self, node):
        return f"${self.latex.doprint(node)}$"

    def cell_math(self, node):
        return self.text.doprint(node)

    def strong(self, s):
        return f"**{s}**"

    def _render_Heading(self, b):
        return f"{'#' * b.level} {b.text}"

    def _render_Paragraph(self, b):
        return self.inline(b.text)

    def _render_Items(self, b):
        return "\n".join("- " + self.inline(i) for i in b.items)

    def _render_Code(self, b):
        return f"```{b.lang}\n{b.text}\n```"

    def _render_Equations(self, b):
        out = [f"## {b.title}\n"] if b.title else []
        lead = " ".join([b.note, *b.where]).strip()
        if b.title or lead:
            out.append(lead + "\n")
        out += [f"$$\n{equation(self.latex, lhs, rels)}\n$$\n" for lhs, rels in b.rows]
        return "\n".join(out)[:-1]

    def _render_Table(self, b):
        row = lambda r: "| " + " | ".join(self.inline(c, cell=True).replace("|", r"\|") for c in r) + " |"
        return "\n".join([row(b.header), "|" + "---|" * len(b.header)] + [row(r) for r in b.rows])


def sections(parts, level=2):
    """Parts (printing.Part) as Markdown: a heading, the note, one $$ block per equation."""
    from .document import render
    return render([p.block() for p in parts], "markdown")
