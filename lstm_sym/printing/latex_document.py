"""The LaTeX renderers: a LaTeX fragment (text mode), and the LaTeX that
Jupyter shows (one $$ … $$ block).

In the fragment, headings and prose are comments (they are Unicode), each
display of equations is one aligned inside \\[ \\], tables are tabulars
whose cells are escaped text, a formula in a cell is $…$."""
from __future__ import annotations

from .document import Math, Renderer, Strong, equation, inline_items, register
from .latex import latex_text

PREAMBLE = r"% a LaTeX fragment (text mode); it needs \usepackage{amsmath,amssymb}"


def aligned(printer, rows):
    """Rows as one aligned environment (math mode), & before each first relation."""
    lines = [equation(printer, lhs, rels, align="&") for lhs, rels in rows]
    return r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}"


def gathered(titled):
    """[(title, math)] stacked: each title a row of text, its math a row below."""
    parts = [rf"\text{{{latex_text(t)}}} \\ {m}" if t else m for t, m in titled]
    return r"\begin{gathered} " + r" \\[2ex] ".join(parts) + r" \end{gathered}"


def comment(text):
    return "\n".join("% " + line if line else "%" for line in text.split("\n"))


@register("latex")
class LatexRenderer(Renderer):
    def render(self, blocks):
        return "\n\n".join([PREAMBLE] + [self.block(b) for b in blocks]) + "\n"

    def math(self, node):
        return f"${self.latex.doprint(node)}$"

    def _render_Heading(self, b):
        return comment(b.text)

    def _render_Paragraph(self, b):
        return comment(self.inline(b.text))

    def _render_Items(self, b):
        return comment("\n".join("- " + self.inline(i) for i in b.items))

    def _render_Code(self, b):
        return "\\begin{verbatim}\n" + b.text + "\n\\end{verbatim}"

    def _render_Equations(self, b):
        out = [comment(b.title)] if b.title else []
        out.append("\\[\n" + aligned(self.latex, b.rows) + "\n\\]")
        out += [comment(s) for s in b.where]
        return "\n".join(out)

    def _render_Table(self, b):
        rows = [" & ".join(self.cell(c) for c in r) for r in [b.header] + list(b.rows)]
        return (rf"\begin{{tabular}}{{{'r' * len(b.header)}}}" + "\n" + " \\\\\n".join(rows)
                + " \\\\\n\\end{tabular}")

    def cell(self, c):
        """A table cell: escaped text, formulas in $…$, Strong in \\textbf."""
        return "".join(self.math(x.node) if isinstance(x, Math) else
                       rf"\textbf{{{latex_text(x.text)}}}" if isinstance(x, Strong) else latex_text(x)
                       for x in inline_items(c))


@register("jupyter")
class JupyterRenderer(Renderer):
    """What Jupyter shows: one $$ … $$; a single display alone, several stacked under their titles."""

    def render(self, blocks):
        shown = [(getattr(b, "title", "") if len(blocks) > 1 else "", self.block(b)) for b in blocks]
        body = shown[0][1] if len(shown) == 1 else gathered(shown)
        return f"$${body}$$"

    def _render_Equations(self, b):
        return aligned(self.latex, b.rows)

    def _render_Heading(self, b):
        return rf"\textbf{{{latex_text(b.text)}}}"

    def _render_Paragraph(self, b):
        return r"\text{" + latex_text(self.inline(b.text)) + "}"

    def _render_Table(self, b):
        row = lambda r: " & ".join(r"\text{" + latex_text(self.inline(c, cell=True)) + "}" for c in r)
        return (rf"\begin{{array}}{{{'r' * len(b.header)}}} " + r" \\ ".join(row(r) for r in [b.header] + list(b.rows))
                + r" \end{array}")

    def _render_Items(self, b):
        return r" \\ ".join(r"\text{" + latex_text("• " + self.inline(i)) + "}" for i in b.items)

    def _render_Code(self, b):
        return r" \\ ".join(r"\texttt{" + latex_text(line) + "}" for line in b.text.split("\n"))
