"""The document model (lstm_sym.printing.document): one small document in
every format, checked for structure; the document nodes printed by both
printers; Markdown tables that parse; LaTeX that balances."""
import re

import pytest
import sympy

from lstm_sym import derive
from lstm_sym.bound.jacobian import Diag
from lstm_sym.ir import AtTime, Delta, Var
from lstm_sym.printing import Part, Parts
from lstm_sym.printing.document import (RENDERERS, Code, Document, Equations, Heading, Items, Math, Paragraph,
                                        Renderer, Strong, Table, register, render)
from lstm_sym.printing.latex import LatexPrinter
from lstm_sym.printing.nodes import (AbsValue, Chain, Name, Norm, Over, Paren, Partial, Power, Scalar, Transpose,
                                     Words, call)
from lstm_sym.printing.text import TextPrinter
from test_documents import latex_problems

h = Var("h", "state", ("H",), 0)
W = Var("W", "param", ("H", "H"), None)
b_f = Var("b_f", "param", ("H",), None)
NORM = Norm(AtTime(Delta("h", 0), "k"))


def small_document():
    return [
        Heading("A small document", 1),
        Paragraph(["Prose with a formula ", Math(Partial(h, h.at(-1))), " and ", Strong("strong"), " words."]),
        Equations([(NORM, [("≤", Chain(Norm(AtTime(Delta("h", 0), "t")), Power(Chain(Name("β", "f"), Name("β", "W")),
                                                                               Name("t−k"))))]),
                   (Name("β", "W"), [("=", Norm(W, 2)), ("=", call(Name("σ", "max"), W))])],
                  title="Titled equations", note="A note.", where=("x is a name.",)),
        Table([Math(Name("t−k")), [Math(AbsValue(Name("x"))), " median"], [Math(b_f), " = 1"]],
              [["1", "0.5", "a|b"], ["2", "0.25", "_%&"]]),
        Items(["first", ["second with ", Math(Scalar(sympy.Rational(1, 4)))]]),
        Code("x = 1\ny = 2", "python"),
    ]


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_every_format_renders_every_block(fmt):
    out = render(small_document(), fmt)
    assert out.strip()
    if fmt != "jupyter":
        assert "Titled equations" in out and "A small document" in out


def test_text():
    out = render(small_document(), "text")
    assert "Titled equations:\n  ‖δh_k‖ ≤ ‖δh_t‖ (β_f β_W)^(t−k)\n  β_W = ‖W‖₂ = σ_max(W)\n  where x is a name." in out
    assert "A note." not in out                       # the terminal form leaves a display's note out
    assert "Prose with a formula ∂h_t/∂h_{t−1} and strong words." in out
    table = [line for line in out.splitlines() if line.startswith("  ") and "median" in line or "0.25" in line]
    assert len({len(line) for line in table}) == 1    # columns aligned
    assert "- second with 1/4" in out and "    x = 1" in out


def markdown_tables(md):
    return [block.splitlines() for block in md.split("\n\n") if block.startswith("|")]


def cells(row):
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def test_markdown():
    md = render(small_document(), "markdown")
    assert md.startswith("# A small document\n\n")
    assert "## Titled equations\n\nA note. x is a name.\n\n$$\n" in md
    assert r"\left\lVert \delta \mathbf{h}_{k} \right\rVert \le " in md
    assert r"$\frac{\partial \mathbf{h}_{t}}{\partial \mathbf{h}_{t-1}}$" in md and "**strong**" in md
    (table,) = markdown_tables(md)
    assert table[1] == "|---|---|---|"
    assert [len(cells(r)) for r in table] == [3, 3, 3, 3]     # a | in a cell is escaped
    assert cells(table[0]) == ["t−k", "|x| median".replace("|", r"\|"), "b_f = 1"]
    assert "```python\nx = 1\ny = 2\n```" in md
    # every $$ block balances
    assert latex_problems("\n".join("$$" + m + "$$" for m in md.split("$$")[1::2])) == []


def test_latex_is_a_valid_fragment():
    tex = render(small_document(), "latex")
    assert latex_problems(tex) == []
    assert r"\begin{tabular}{rrr}" in tex and r"a\textbar{}b" not in tex
    assert r"\_\%\&" in tex and r"$\mathbf{b}_{f}$ = 1" in tex
    assert "% Titled equations\n\\[\n\\begin{aligned} " in tex and "% x is a name." in tex


def test_jupyter_is_one_display():
    one = render([Equations([(h, W)])], "jupyter")
    assert one.startswith("$$\\begin{aligned}") and one.endswith("$$") and latex_problems(one) == []
    two = render([Equations([(h, W)], title="A"), Equations([(W, h)], title="B")], "jupyter")
    assert two.count(r"\begin{aligned}") == 2 and r"\text{A}" in two and latex_problems(two) == []


def test_a_block_without_a_rule_is_refused():
    class Unknown:
        pass
    with pytest.raises(TypeError, match="no rule for Unknown"):
        render([Unknown()], "markdown")
    with pytest.raises(ValueError, match="unknown format"):
        render([], "typst")


def test_a_new_format_is_one_renderer():
    @register("shout")
    class Shout(Renderer):
        def _render_Heading(self, b):
            return b.text.upper()
    try:
        assert render([Heading("hi")], "shout") == "HI\n"
    finally:
        del RENDERERS["shout"]


def test_document_nodes_in_both_printers():
    t, l = TextPrinter(), LatexPrinter()
    cases = [
        (Diag(h), "diag(h_t)", r"\operatorname{diag}\left(\mathbf{h}_{t}\right)"),
        (Norm(W, 2), "‖W‖₂", r"\left\lVert W \right\rVert_2"),
        (Partial(h, h.at(-1)), "∂h_t/∂h_{t−1}", r"\frac{\partial \mathbf{h}_{t}}{\partial \mathbf{h}_{t-1}}"),
        (Over("∏", Diag(h), "i=k+1", "t"), "∏_{i=k+1}^{t} diag(h_t)",
         r"\prod_{i=k+1}^{t} \operatorname{diag}\left(\mathbf{h}_{t}\right)"),
        (Over("sup", AbsValue(call(Name("f′"), Name("x"))), "x"), "sup_x |f′(x)|",
         r"\sup_x \left|f'\left(x\right)\right|"),
        (Transpose(Paren(Chain(W, Name("⋯"), W))), "(W ⋯ W)ᵀ", r"\left(W \cdots W\right)^{\top}"),
        (Power(Chain(Name("β", "f"), Name("β", "W")), Name("T")), "(β_f β_W)^T", r"\left(\beta_f \beta_W\right)^{T}"),
        (Name("βx"), "βx", r"\beta x"),
        (Words("through ", h), "through h_t", r"\text{through }\mathbf{h}_{t}"),
        (Name("f", "i,j"), "f_{i,j}", "f_{i,j}"),
    ]
    for node, text, latex in cases:
        assert t.doprint(node) == text
        assert l.doprint(node) == latex
        assert latex_problems(f"\\[{latex}\\]") == []


def test_parts_are_equations_blocks():
    d = derive("gru")
    part = Part.of(d, "deltas")
    block = part.block()
    assert isinstance(block, Equations) and block.title == part.title and block.note == part.note
    assert str(part) == render([block], "text")[:-1]
    assert part._repr_latex_() == render([block], "jupyter")
    parts = Part.of(d, "all")
    assert isinstance(parts, Parts)
    assert parts._repr_latex_() == render([p.block() for p in parts], "jupyter")


def test_document_prints_and_shows():
    doc = Document(small_document())
    assert str(doc) == render(doc, "text") and doc._repr_markdown_() == render(doc, "markdown")
