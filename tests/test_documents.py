"""What the printers and documents write: LaTeX that compiles (checked
structurally, and by pdflatex when it is installed), the Jupyter view stacked,
the terminal conditions and cell-aware sentences in derivations/*.md, every
activation in the project's notation in every format, and numbers the bound
prints at any T."""
import math
import re
import shutil
import subprocess

import pytest
import sympy

from lstm_sym import Cell, commands, derive
from lstm_sym.activations import BUILTIN, x
from lstm_sym.bound.jacobian import rnn_cell
from lstm_sym.bound import report as rp
from lstm_sym.cells import NAMES
from lstm_sym.errata import ERRATA
from lstm_sym.printing import Parts, render, terminal_part
from lstm_sym.printing.latex import scalar_latex
from lstm_sym.printing.text import scalar_text


# --- a structural LaTeX check, so that the tests can fail without TeX ----------------------------

TOKEN = re.compile(r"\\[A-Za-z]+\*?|\\\\|\\.|\$\$|[${}&_^]|[^\\${}&_^]+", re.S)
MATH_ENVS = {"aligned", "gathered", "array", "matrix", "pmatrix", "cases", "split"}
DISPLAY = {"equation", "equation*", "align", "align*", "gather", "gather*"}
MATH_ONLY = {r"\frac", r"\mathbf", r"\mathrm", r"\mathbb", r"\odot", r"\delta", r"\left", r"\right", r"\sum",
             r"\prod", r"\partial", r"\top", r"\operatorname", r"\tilde", r"\sigma", r"\tanh", r"\cdots",
             r"\le", r"\beta", r"\sup", r"\ell", r"\lVert", r"\rVert", r"\infty", r"\sqrt"}
ALIGNING = MATH_ENVS | {"tabular", "align", "align*"}


def strip_comments(src):
    return "\n".join(re.sub(r"(?<!\\)%.*", "", line) for line in src.split("\n"))


def latex_problems(src):
    """What would stop a LaTeX fragment from compiling, found without TeX:
    unbalanced braces, environments, \\left/\\right and math shifts; aligned
    (or gathered, array) outside math mode; math-only commands, _ or ^ in text
    mode; & outside an aligning environment; non-ASCII outside comments."""
    body = strip_comments(src)
    problems = [f"non-ASCII {c!r} outside a comment" for c in sorted(set(re.findall(r"[^\x00-\x7f]", body)))]
    stack = []                      # "{", "left", "\\[", "$$", "$", or an environment name
    tokens = TOKEN.findall(body)
    i = 0

    def in_math():
        return any(s in ("\\[", "$$", "$") or s in MATH_ENVS or s in DISPLAY for s in stack)

    def env_name(k):
        m = re.match(r"\{([A-Za-z*]+)\}", "".join(tokens[k:k + 3]))
        return m.group(1) if m else None

    while i < len(tokens):
        tok = tokens[i]
        if tok == "{":
            stack.append("{")
        elif tok == "}":
            if not stack or stack[-1] != "{":
                problems.append(f"unbalanced }} (open: {stack[-1] if stack else 'nothing'})")
            else:
                stack.pop()
        elif tok in (r"\begin", r"\end"):
            name = env_name(i + 1)
            if name is None:
                problems.append(f"{tok} without an environment name")
            else:
                i += 4
                if tok == r"\begin":
                    if (name in MATH_ENVS) and not in_math():
                        problems.append(f"\\begin{{{name}}} outside math mode")
                    if name in DISPLAY and in_math():
                        problems.append(f"\\begin{{{name}}} inside math mode")
                    stack.append(name)
                elif not stack or stack[-1] != name:
                    problems.append(f"\\end{{{name}}} closes {stack[-1] if stack else 'nothing'}")
                else:
                    stack.pop()
                continue
        elif tok == r"\[":
            if in_math():
                problems.append(r"\[ inside math mode")
            stack.append("\\[")
        elif tok == r"\]":
            if not stack or stack[-1] != "\\[":
                problems.append(r"\] without \[")
            else:
                stack.pop()
        elif tok in ("$$", "$"):
            if stack and stack[-1] == tok:
                stack.pop()
            elif in_math():
                problems.append(f"{tok} inside math mode")
            else:
                stack.append(tok)
        elif tok == r"\left":
            stack.append("left")
        elif tok == r"\right":
            if not stack or stack[-1] != "left":
                problems.append(r"\right without \left")
            else:
                stack.pop()
        elif tok in ("_", "^") or tok in MATH_ONLY:
            if not in_math():
                problems.append(f"{tok} in text mode")
        elif tok == "&":
            envs = [s for s in stack if s not in ("{", "left")]
            if not envs or envs[-1] not in ALIGNING:
                problems.append("& outside an aligning environment")
        i += 1
    problems += [f"{s!r} never closed" for s in stack]
    return problems


def pdflatex_log(fragment, tmp_path):
    """None when pdflatex compiles the fragment, else the end of its log."""
    doc = ("\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n"
           + fragment + "\n\\end{document}\n")
    (tmp_path / "doc.tex").write_text(doc, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    return None if run.returncode == 0 else run.stdout[-3000:]


TEX = shutil.which("pdflatex")


def test_the_structural_check_catches_what_pdflatex_refuses():
    assert latex_problems(r"\begin{aligned} a &= b \end{aligned}") == [r"\begin{aligned} outside math mode"]
    assert latex_problems(r"\[ \begin{aligned} a &= b \end{aligned} \]") == []
    assert latex_problems(r"$$\frac{1}{2}$$ x_1") == ["_ in text mode"]
    assert latex_problems(r"\[ \left( a \]") != []
    assert latex_problems(r"\[ {a \]") != []
    assert latex_problems("% δ is fine in a comment\n\\[ a \\]") == []
    assert latex_problems("\\[ δ \\]") == ["non-ASCII 'δ' outside a comment"]
    assert latex_problems(r"\begin{tabular}{r} lstm_nofg \\ \end{tabular}") == ["_ in text mode"]


def bound_latex(args, capsys):
    assert commands.main(["bound", *args, "--format", "latex"]) == 0
    return capsys.readouterr().out


BOUND_ARGS = [["rnn", "--activation", a] for a in BUILTIN] + [[name] for name in NAMES if name != "rnn"]


@pytest.mark.parametrize("args", BOUND_ARGS, ids=lambda a: "-".join(a))
def test_bound_latex_is_a_valid_fragment(args, tmp_path, capsys):
    src = bound_latex([*args, "--T", "4", "--trials", "3", "--hidden", "2"], capsys)
    assert latex_problems(src) == []
    assert r"\[" in src and r"\begin{tabular}" in src
    if TEX:
        assert pdflatex_log(src, tmp_path) is None


@pytest.mark.parametrize("name", NAMES)
def test_derive_latex_is_a_valid_fragment(name, tmp_path):
    src = render(derive(name), "all", "latex")
    assert latex_problems(src) == []
    if TEX:
        assert pdflatex_log(src, tmp_path) is None


@pytest.mark.skipif(TEX is None, reason="pdflatex is not installed (the structural checks still run)")
def test_activations_in_latex_compile(tmp_path):
    src = "\n".join(render(derive(user_cell(a)), "all", "latex") for a in BUILTIN.values())
    assert pdflatex_log(src, tmp_path) is None


# --- the Jupyter view ----------------------------------------------------------------------------

def top_level(src):
    """The outermost constructs of a LaTeX string: environments by name and
    the tokens \\\\ and & that sit outside every group and environment."""
    out, depth, envs = [], 0, []
    tokens = TOKEN.findall(src)
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t in (r"\begin", r"\end"):
            name = re.match(r"\{([A-Za-z*]+)\}", "".join(tokens[i + 1:i + 4])).group(1)
            if t == r"\begin":
                if not envs and depth == 0:
                    out.append(name)
                envs.append(name)
            else:
                envs.pop()
            i += 4
            continue
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
        elif t in ("\\\\", "&") and not envs and depth == 0:
            out.append(t)
        i += 1
    return out


def children(src, env):
    """The environments directly inside the first `env`, and the row breaks between them."""
    inner = src[src.index(rf"\begin{{{env}}}") + len(env) + 8:src.rindex(rf"\end{{{env}}}")]
    return top_level(inner)


def test_jupyter_shows_the_whole_derivation_stacked():
    d = derive("lstm")
    src = d._repr_latex_()
    assert src.startswith("$$") and src.endswith("$$") and src.count("$$") == 2
    assert latex_problems(src) == []
    # one environment that stacks rows; no row break, alignment or side-by-side blocks at the top
    assert top_level(src[2:-2]) == ["gathered"]
    rows = children(src, "gathered")
    # title \\ aligned \\ title \\ aligned ...: each part's block on a row of its own
    assert rows.count("aligned") == 4
    assert all(a != b or a == "\\\\" for a, b in zip(rows, rows[1:])), rows
    assert rows == ["\\\\", "aligned", "\\\\", "\\\\", "aligned", "\\\\", "\\\\", "aligned", "\\\\", "\\\\",
                    "aligned"]
    for title in ("Forward pass", "Per-step deltas", "Backpropagation through time", "Gradients"):
        assert rf"\text{{{title}" in src
    assert isinstance(d.part("all"), Parts)
    # one part alone: one aligned in $$
    one = d.deltas._repr_latex_()
    assert top_level(one[2:-2]) == ["aligned"] and latex_problems(one) == []


# --- derivations/*.md: terminal conditions and cell-aware sentences --------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_documents_state_the_terminal_conditions(name):
    from lstm_sym.docs import cell_markdown
    d = derive(name)
    md = cell_markdown(name)
    assert "## Terminal conditions (t = T)" in md
    assert md.index("## Backpropagation through time") < md.index("## Terminal conditions") \
        < md.index("## Gradients")
    assert r"\delta \mathbf{h}_{T} = \frac{\partial \ell_{T}}{\partial \mathbf{h}_{T}}" in md
    text = str(terminal_part(d))
    assert "δh_T = ∂ℓ_T/∂h_T" in text
    assert ("δc_T = " in text) == ("c" in d.cell.states)
    if "c" in d.cell.states:
        # the derivation's δc_t at t = T, the carry from step T + 1 replaced by the loss's own read of c_T
        assert "δh_T ⊙ o_T ⊙ (1 − tanh²(c_T))" in text and text.rstrip().endswith("+ ∂ℓ_T/∂c_T")
        assert "∂ℓ_T/∂c_T is the part of the loss that reads c_T directly: 0 for" in md
    assert "There is no step T + 1" in md


def test_terminal_conditions_are_what_the_engine_computes():
    """δs_T from the reference interpreter equals the printed terminal condition:
    δh_T = ∂ℓ_T/∂h_T, and δc_T's last term is the cotangent given on c_T (0 without one)."""
    import numpy as np
    from lstm_sym.errata import example
    from lstm_sym.evaluate import run_backward, run_forward
    d = derive("lstm")
    params, xs, init, G = example(D=2, H=3, T=3)
    T = len(xs)
    for final in ({}, {"c": np.arange(3.0)}):
        ctx = run_forward(d.cell, params, xs, init)
        run_backward(d, ctx, G, final)
        np.testing.assert_allclose(ctx.deltas["h", False, T], G[-1])
        tanh_c = np.tanh(ctx.env["c", T])
        want = G[-1] * ctx.env["o", T] * (1 - tanh_c ** 2) + final.get("c", 0)
        np.testing.assert_allclose(ctx.deltas["c", False, T], want)


@pytest.mark.parametrize("name", NAMES)
def test_document_sentences_depend_on_the_cell(name):
    from lstm_sym.docs import cell_markdown
    d = derive(name)
    md = cell_markdown(name)
    has_c = "c" in d.cell.states
    assert "(and c_0)" not in md
    assert ("c_0" in md.split("## Per-step deltas")[0]) == has_c
    assert ("δc_t" in md.split("## Per-step deltas")[1].split("$$")[0]) == has_c
    assert ("quoted in the errata" in " ".join(md.split())) == (name == "lstm" or name in ERRATA)
    assert ("## Errata" in md) == (name == "lstm" or name in ERRATA)
    assert "four sections" not in md


def test_forward_note_names_the_cells_own_initial_states():
    assert derive("gru").forward.note == "Each step t = 1..T; the state starts from h_0."
    assert derive("lstm").forward.note == "Each step t = 1..T; the states start from h_0 and c_0."


def test_bound_document_describes_the_search_the_code_runs():
    from lstm_sym import activations as A
    from lstm_sym.bound.document import activations_blocks
    text = rp.render(activations_blocks(rp.plain), "markdown")
    assert "[−50, 50]" not in text
    assert f"[−{A.SUP_DENSE}, {A.SUP_DENSE}]" in text and "±10⁶" in text and "±10⁻⁸" in text
    assert A.SUP_DENSE == 20 and A.SUP_LOG == (-8, 6)     # what the text says, from the code's constants


def test_bound_instances_say_c_0_only_for_cells_with_c():
    from lstm_sym.bound.analysis import analyse
    rnn, _ = analyse("rnn", T=3, trials=2, hidden=2)
    lstm, _ = analyse("lstm", T=3, trials=2, hidden=2)
    para = lambda blocks: next(b.text for b in blocks if isinstance(b, rp.Para) and b.text.startswith("Random"))
    assert "h_0 = 0.5·G" in para(rnn) and "c_0" not in para(rnn)
    assert "h_0 and c_0 = 0.5·G" in para(lstm)


# --- activations in the project's notation -------------------------------------------------------

def user_cell(act):
    """h_t = act(W h_{t−1} + U x_t + b) interpolated with h_{t−1}: a named
    gate g whose derivative stays in the input form for relu and softsign."""
    cell = Cell(f"mine_{act.name}", states=("h",))
    W, U, b = cell.param("W", "H", "H"), cell.param("U", "H", "D"), cell.param("b", "H")
    h, xv = cell.prev("h"), cell.input("x")
    g = cell.let("g", act(W @ h + U @ xv + b))
    n = cell.let("n", act(U @ xv))
    cell.let("h", (1 - g) * h + g * n)
    return cell


LEAKS = ("Heaviside", "Abs", "**", "^(-", "∘", "⋅", r"\theta")
# how each activation's derivative must show, by format (relu and softsign keep the input form)
NOTATION = {"relu": {"text": "1[", "latex": r"\mathbb{1}\left["},
            "softsign": {"text": "|)⁻²", "latex": r"\right|\right)^{-2}"}}


def assert_no_leaks(text, fmt, act=None):
    for leak in LEAKS:
        assert leak not in text, (leak, fmt, text)
    want = NOTATION.get(act, {}).get("text" if fmt == "text" else "latex")
    assert want is None or want in text, (want, fmt, text)
    if fmt == "text":
        for line in text.splitlines():
            if line.startswith("  ") and " = " in line:       # an equation line
                assert "-" not in line, line


@pytest.mark.parametrize("act", list(BUILTIN), ids=str)
@pytest.mark.parametrize("fmt", ["text", "latex", "markdown"])
def test_every_activation_prints_in_the_projects_notation(act, fmt):
    a = BUILTIN[act]
    out = render(derive(user_cell(a)), "all", fmt)
    assert_no_leaks(out, fmt, act)
    out = render(derive(rnn_cell(a)), "all", fmt)
    assert_no_leaks(out, fmt, act)
    if fmt != "text":
        assert latex_problems(out if fmt == "latex" else "\n".join(
            "$$" + b + "$$" for b in out.split("$$")[1::2])) == []


@pytest.mark.parametrize("act", list(BUILTIN), ids=str)
@pytest.mark.parametrize("fmt", ["text", "latex"])
def test_bound_prints_every_activation_in_the_projects_notation(act, fmt, capsys):
    assert commands.main(["bound", "rnn", "--activation", act, "--T", "3", "--trials", "2", "--hidden", "2",
                          "--format", fmt]) == 0
    out = capsys.readouterr().out
    eqs = out.split("Read off the derivation")[0]
    assert_no_leaks(eqs, fmt, act)
    for leak in LEAKS[:4]:
        assert leak not in out


def test_bound_document_activations_in_the_projects_notation():
    from lstm_sym.bound.document import activations_blocks
    text = rp.render(activations_blocks(rp.plain), "markdown")
    for leak in LEAKS[1:]:
        assert leak not in text
    assert "Heaviside(x)" not in text and r"f'\left(x\right) = \mathbb{1}\left[x > 0\right]" in text
    assert r"f'\left(x\right) = \left(1 + \left|x\right|\right)^{-2}" in text
    assert "1[u > 0] is the unit step" in text


def test_relu_and_softsign_read_like_the_rest():
    relu, softsign = BUILTIN["relu"], BUILTIN["softsign"]
    text = render(derive(rnn_cell(relu)), "deltas")
    assert "δnet_t = δh_t ⊙ 1[net_t > 0]" in text
    assert text.count("1[u > 0] is the unit step") == 1              # the legend, once
    tex = render(derive(rnn_cell(relu)), "deltas", "latex")
    assert r"\delta \mathbf{\mathrm{net}}_{t} &= \delta \mathbf{h}_{t} \odot \mathbb{1}\left[\mathbf{\mathrm{net}}_{t} > 0\right]" in tex
    text = render(derive(rnn_cell(softsign)), "deltas")
    assert "δnet_t = δh_t ⊙ (1 + |net_t|)⁻²" in text
    tex = render(derive(rnn_cell(softsign)), "deltas", "latex")
    assert r"\odot \left(1 + \left|\mathbf{\mathrm{net}}_{t}\right|\right)^{-2}" in tex
    md = render(derive(user_cell(relu)), "deltas", "markdown")
    assert "1[u > 0] is the unit step" in md


def test_scalar_printers():
    u = sympy.Symbol("u", real=True)
    assert scalar_text(sympy.Heaviside(x)) == "1[x > 0]"
    assert scalar_text(1 / (1 + sympy.Abs(x)) ** 2) == "(1 + |x|)⁻²"
    assert scalar_text(1 - sympy.tanh(x) ** 2) == "1 − tanh²(x)"
    assert scalar_text(x * u) == "u ⊙ x" or scalar_text(x * u) == "x ⊙ u"
    assert scalar_text(x ** 2 - sympy.Rational(1, 2)) == "x² − 1/2"
    assert scalar_text(x / sympy.sqrt(1 + x ** 2)) == "x/√(1 + x²)"
    # a composite argument is parenthesized where precedence needs it
    names = {x: ("W h + b", False)}
    assert scalar_text(x ** 2, names) == "(W h + b)²" and scalar_text(sympy.Abs(x), names) == "|W h + b|"
    assert scalar_text(1 - x, names) == "1 − (W h + b)"
    assert scalar_latex(sympy.Heaviside(x)) == r"\mathbb{1}\left[x > 0\right]"
    assert scalar_latex(1 / (1 + sympy.Abs(x)) ** 2) == r"\left(1 + \left|x\right|\right)^{-2}"


# --- the bound's numbers at any T ----------------------------------------------------------------

def test_from_log_prints_any_magnitude():
    assert rp.from_log(5000 * math.log(3)) == "4.04e+2385"          # 3^5000
    assert rp.from_log(5000 * math.log(0.5)) == "7.08e-1506"        # 2^−5000
    assert rp.from_log(700 * math.log(3)) == "9.66e+333"
    assert rp.from_log(math.log(20.0855)) == "20.1"
    assert rp.from_log(-math.inf) == "0" and rp.from_log(math.inf) == "inf"
    assert rp.from_log(math.log(10) * 1000 - 1e-9) == "1e+1000"     # 9.99…: rounds up to the next power
    assert rp.from_log(5000 * math.log(3), rp.strict) == "4.04e+2385"


@pytest.mark.parametrize("T, power", [(700, "9.66e+333"), (5000, "4.04e+2385")])
def test_bound_runs_at_any_T(T, power, capsys):
    """rho ** T overflowed float64 from T = 647 on (3^647 > 1.8e308)."""
    assert commands.main(["bound", "rnn", "--T", str(T), "--trials", "2", "--hidden", "2"]) == 0
    out = capsys.readouterr().out
    table = out.split("Pascanu's regimes: W rescaled")[1]
    rho3 = next(line for line in table.splitlines() if line.split()[:2] == ["tanh", "3"])
    assert rho3.split()[-2] == power
    assert " inf " not in out and "nan" not in out


# --- README: the check's tolerances, float32 included ---------------------------------------------

def test_readme_states_every_numeric_tolerance():
    import os
    from lstm_sym.verify.numeric import TOLERANCES
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    check = " ".join(readme.split("## Check")[1].split("\n## ")[0].split())
    short = lambda v: re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{v:.0e}")
    labels = {"central": "central differences", "richardson": "Richardson", "complex": "complex step",
              "directional": "directional"}
    for method, label in labels.items():
        phrase = f"{label} {short(TOLERANCES[method, 'float64'])}"
        if (method, "float32") in TOLERANCES:
            phrase += f" (float32: {short(TOLERANCES[method, 'float32'])}"
        assert phrase in check, phrase
