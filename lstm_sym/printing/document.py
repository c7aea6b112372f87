"""The document model: every document the project prints (`derive`,
`bound`, `docs`, `bench`) is a list of blocks, and one renderer per format
writes it.

Blocks (prose is Unicode text, `code` in backticks; formulas are nodes, the
IR's or printing.nodes', printed by the format's printer):

    Heading(text, level=2)
    Paragraph(text)                    text: a str, or a list of inline items
    Equations(rows, title="", note="", where=())
        rows: [(lhs, rhs)] or [(lhs, [(relation, rhs), ...])], relation "=", "≤", …;
        title, note and where (legend sentences) head a titled display (a
        derivation's part): every format writes the title and the legend, only
        Markdown the note.
    Table(header, rows)                cells: str or inline items
    Items(items)                       a bulleted list; each item inline
    Code(text, lang="")

Inline items: str, Math(node), Strong(text).  A formula inside prose
(Math) is LaTeX ($…$) in Markdown and LaTeX, the text printer's in text;
in a table cell it is the text printer's in Markdown too (GitHub tables and
math do not mix).

    render(blocks, fmt, text=None, latex=None) -> str
        fmt: one of RENDERERS ("text", "latex", "markdown", "jupyter");
        text / latex: printers to use instead of the defaults (TextPrinter,
        LatexPrinter), e.g. a notation's.
    Document(blocks): a list that prints as text, shows as Markdown in Jupyter.

A new format (e.g. Typst) is one printer module and one renderer:
printing/typst.py with a TypstPrinter(NodePrinter) holding a _print_<Node>
for the op table's ops (a printer's own method wins over the table's text
and LaTeX spellings), for Var, Delta, … and for printing.nodes, as text.py
and latex.py have them; and a Renderer subclass registered with
@register("typst"): one _render_<Block> per block type, math(node) for
formulas in prose; printing/__init__.py imports the module so that it
registers.
"""
from __future__ import annotations

from dataclasses import dataclass

from .latex import LatexPrinter
from .nodes import Name
from .text import TextPrinter

RENDERERS = {}


def register(fmt):
    def add(cls):
        RENDERERS[fmt] = cls
        cls.format = fmt
        return cls
    return add


# --- blocks and inline items ---------------------------------------------------------

@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: object            # str or [inline item]


@dataclass
class Equations:
    rows: list
    title: str = ""
    note: str = ""
    where: tuple = ()

    def __post_init__(self):
        self.rows = [(lhs, list(rhs) if isinstance(rhs, (list, tuple)) else [("=", rhs)])
                     for lhs, rhs in self.rows]


@dataclass
class Table:
    header: list
    rows: list


@dataclass
class Items:
    items: list


@dataclass
class Code:
    text: str
    lang: str = ""


@dataclass(frozen=True)
class Math:
    """A formula inside prose or a table cell."""
    node: object


@dataclass(frozen=True)
class Strong:
    text: str


def inline_items(x):
    return [x] if isinstance(x, (str, Math, Strong)) else list(x)


class Document(list):
    """Blocks: prints as text, shows as Markdown in Jupyter."""

    def render(self, fmt="text", **printers):
        return render(self, fmt, **printers)

    def __str__(self):
        return self.render("text")

    def _repr_markdown_(self):
        return self.render("markdown")


# --- renderers -----------------------------------------------------------------------------

class Renderer:
    """One format: _render_<Block> for each block, blocks joined by a blank line."""
    format = None

    def __init__(self, text=None, latex=None):
        self.text = text or TextPrinter()
        self.latex = latex or LatexPrinter()

    def render(self, blocks):
        return "\n".join(self.block(b) + "\n" for b in blocks)

    def block(self, b):
        method = getattr(self, f"_render_{type(b).__name__}", None)
        if method is None:
            raise TypeError(f"the {self.format} renderer has no rule for {type(b).__name__}")
        return method(b)

    def math(self, node):
        """A formula inside prose."""
        return self.text.doprint(node)

    def cell_math(self, node):
        """A formula inside a table cell."""
        return self.math(node)

    def prose(self, s):
        return s

    def strong(self, s):
        return s

    def inline(self, items, cell=False):
        out = []
        for x in inline_items(items):
            if isinstance(x, Math):
                out.append(self.cell_math(x.node) if cell else self.math(x.node))
            elif isinstance(x, Strong):
                out.append(self.strong(self.prose(x.text)))
            else:
                out.append(self.prose(x))
        return "".join(out)


def equation(printer, lhs, rels, align=""):
    """lhs = rhs ≤ rhs …: one row of an Equations block, align before its first relation."""
    return printer.doprint(lhs) + "".join(
        f" {align if i == 0 else ''}{printer.doprint(Name(r))} {printer.doprint(rhs)}"
        for i, (r, rhs) in enumerate(rels))


@register("text")
class TextRenderer(Renderer):
    """The terminal's: titles end in a colon, equations and tables indented by two."""

    def _render_Heading(self, b):
        return b.text

    def _render_Paragraph(self, b):
        return self.inline(b.text)

    def _render_Equations(self, b):
        lines = [f"{b.title}:"] if b.title else []
        lines += ["  " + equation(self.text, lhs, rels) for lhs, rels in b.rows]
        return "\n".join(lines + ["  where " + s for s in b.where])

    def _render_Table(self, b):
        cells = [[self.inline(c, cell=True) for c in b.header]]
        cells += [[self.inline(c, cell=True) for c in r] for r in b.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(b.header))]
        return "\n".join("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)

    def _render_Items(self, b):
        return "\n".join("- " + self.inline(i) for i in b.items)

    def _render_Code(self, b):
        return "\n".join("    " + line for line in b.text.split("\n"))


def render(blocks, fmt="text", text=None, latex=None):
    """The blocks in one format (RENDERERS); text, latex: printers to use instead of the defaults."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(RENDERERS)}")
    return RENDERERS[fmt](text=text, latex=latex).render(blocks)
