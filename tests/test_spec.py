"""`.cell` text specs: the cells they build, their errors, and that the text
is never executed."""
import ast
import builtins
import pathlib
import re
import sys

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lstm_sym
from lstm_sym import Cell, derive, sigmoid, tanh
from lstm_sym.cells import get_cell
from lstm_sym.codegen import emit
from lstm_sym.spec import SpecError, load_spec, parse_spec

CELLS = pathlib.Path(__file__).parent / "fixtures" / "cells"
SPEC_PY = pathlib.Path(lstm_sym.__file__).parent / "spec.py"


def error(text, filename="t.cell"):
    with pytest.raises(SpecError) as e:
        parse_spec(text, filename)
    return e.value


# --- cells built --------------------------------------------------------------

def test_janet_parses_and_derives():
    cell = load_spec(CELLS / "janet.cell")
    assert (cell.name, cell.title, cell.states) == ("janet", "JANET (forget gate only)", ("h",))
    assert list(cell.params) == ["W_fh", "W_fx", "b_f", "W_ch", "W_cx", "b_c"]
    assert [cell.params[p].shape for p in ("W_fh", "W_fx", "b_f")] == [("H", "H"), ("H", "D"), ("H",)]
    text = str(derive(cell))
    assert "f_t = σ(W_fh h_{t−1} + W_fx x_t + b_f)" in text
    assert "h_t = f_t ⊙ h_{t−1} + (1 − f_t) ⊙ c̃_t" in text
    assert "∂E/∂W_cx = Σ_{t=1}^{T} δ_{c̃,t} x_tᵀ" in text


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_spec_builds_the_builtin_cell(name):
    spec, builtin = load_spec(CELLS / f"{name}.cell"), get_cell(name)
    assert spec == builtin                      # same params (order, shapes), equations, gates
    assert list(spec.params) == list(builtin.params)
    assert str(derive(spec)) == str(derive(name))
    assert emit(spec) == emit(name)


def test_spec_builds_the_readme_mgu():
    cell = Cell("mgu", states=("h",))
    W_fh, W_fx, b_f = cell.param("W_fh", "H", "H"), cell.param("W_fx", "H", "D"), cell.param("b_f", "H")
    W_nh, W_nx, b_n = cell.param("W_nh", "H", "H"), cell.param("W_nx", "H", "D"), cell.param("b_n", "H")
    h, x = cell.prev("h"), cell.input("x")
    f = cell.let("f", sigmoid(W_fh @ h + W_fx @ x + b_f))
    n = cell.let("n", tanh(W_nh @ (f * h) + W_nx @ x + b_n))
    cell.let("h", (1 - f) * h + f * n)
    spec = load_spec(CELLS / "mgu.cell")      # no name: line: the file's stem
    assert spec == cell
    assert emit(spec) == emit(cell)


def test_state_means_previous_value_until_assigned():
    cell = parse_spec("states: h, c\nc = tanh(W @ h) + c\nh = c * h\n")
    (c, c_expr), (h, h_expr) = cell.equations[-2:]
    assert c_expr.terms[1].time == -1                                 # c on its own line: c_{t-1}
    assert [f.time for f in h_expr.factors] == [0, -1]               # c_t, h_{t-1}


def test_param_order_is_first_mention():
    cell = parse_spec("states: h\nh = tanh(b + W @ h + U @ x)\n")
    assert list(cell.params) == ["b", "W", "U"]
    cell = parse_spec("states: h\nparam b: (H,)\nh = tanh(W @ h + U @ x + b)\nparam U: (H, D)\n")
    assert list(cell.params) == ["b", "W", "U"]     # a declaration counts where it stands


def test_names_constants_and_defaults():
    cell = parse_spec("states: h   # the output\n\nh = tanh(-(W @ h) - (1.0 - U @ x))\n", "my-cell.v2.cell")
    assert cell.name == "my_cell_v2" and cell.title == ""
    assert parse_spec("states: h\nh = tanh(W @ h)\n").name == "spec"
    assert parse_spec("states: h\nh = tanh(W @ h)\n", "2x.cell").name == "cell_2x"
    assert parse_spec("\ufeffstates: h\r\nh = tanh(W @ h)\r\n").states == ("h",)   # BOM, CRLF


# --- errors: FILE:LINE:COL: message -------------------------------------------

ERRORS = [
    # (spec, line, col, words the message must contain)
    ("states: h\nh = tanh(W @ h +)\n", 2, 17, "syntax error"),
    ("states: h\nh = tanh(W @ h + foo(x))\n", 2, 18, "unknown function `foo`"),
    ("states: h\nh = tanh(W @ x.T)\n", 2, 16, "attribute access `.T`"),
    ("states: h\nh = tanh(W[0] @ h)\n", 2, 10, "subscript `W[0]`"),
    ("states: h\nh = lambda: 1\n", 2, 5, "lambda"),
    ("states: h, c\nh = tanh(W @ h)\n", 1, 12, "state c is never assigned"),
    ("states: h\nh = tanh(W @ h)\nh = tanh(U @ h)\n", 3, 1, "h is assigned twice (first on line 2)"),
    ("states: h\nh = tanh(W @ a)\na = U @ x\n", 2, 14, "a is used before it is assigned (on line 3)"),
    ("states: h\na = b + h\nb = a * h\nh = tanh(a)\n", 2, 5, "cycle: a -> b -> a"),
    ("states: h\na = h + b\nb = c * h\nc = tanh(a)\nh = c\n", 2, 9, "cycle: a -> b -> c -> a"),
    ("states: h, c\nc = g * c\ng = tanh(c)\nh = c\n", 2, 5, "cycle: c -> g -> c"),
    ("states: h\na = tanh(a + h)\nh = a\n", 2, 10, "a is used in its own definition"),
    ("states: h\nh = tanh(W @ h + W @ x)\n", 2, 18, "parameter W is used as (H, D) here (`W @ x`) but as (H, H)"),
    ("states: h\nh = tanh(W @ h) + W\n", 2, 19, "parameter W is used as (H,)"),
    ("states: h\nparam W: (H, H)\nh = tanh(W @ x)\n", 3, 10, "W is declared (H, H) on line 2, but `W @ x` needs (H, D)"),
    ("states: h\na = x * b\nh = tanh(W @ a)\n", 2, 7, "b would need shape (D,)"),
    ("states: h\nh = tanh(x)\n", 2, 5, "state h must have length H"),
    ("states: h\nh = tanh(h @ W)\n", 2, 10, "left side of @ must be a parameter"),
    ("states: h\nh = tanh((W + U) @ h)\n", 2, 11, "left side of @ must be a parameter"),
    ("h = tanh(W @ h)\n", 1, 1, "no `states:` line"),
    ("", 1, 1, "empty spec"),
    ("# only a comment\n\n   \n", 1, 1, "empty spec"),
    ("title: t\nstates: h, q\nh = tanh(W @ h)\n", 2, 12, "state q is never assigned"),
    ("states: h\n@decorator\nh = tanh(W @ h)\n", 2, 1, "cannot read the line"),
    ("states: h\n  h + 1\n", 2, 3, "cannot read the line"),
    ("states: h\nparam V: (H, H)\nh = tanh(W @ h)\n", 2, 7, "parameter V is declared but never used"),
    ("states: h\nparam W: (H, N)\nh = tanh(W @ h)\n", 2, 14, "unknown dim `N`"),
    ("states: h\nparam W: (D,)\nh = W @ h\n", 2, 10, "shape (D,) is not supported"),
    ("states: h\nparam W: H, H\nh = W @ h\n", 2, 1, "cannot read a `param` line"),
    ("states: h\nparam W: (H, H)\nparam W: (H, H)\nh = W @ h\n", 3, 7, "declared twice"),
    ("states: h\nh = tanh(W @ h) ** 2\n", 2, 17, "`**`"),
    ("states: h\nh = tanh(W @ h) / 2\n", 2, 17, "`/`"),
    ("states: h\nh = 2 * tanh(W @ h)\n", 2, 5, "the number 2"),
    ("states: h\nh = h - 1\n", 2, 9, "the number 1"),
    ("states: h\nh = True - h\n", 2, 5, "True"),
    ("states: h\nh = +h\n", 2, 5, "unary +"),
    ("states: h\nh = tanh(h, x)\n", 2, 5, "tanh takes exactly one argument, got 2"),
    ("states: h\nh = tanh(W @ h, y=1)\n", 2, 17, "keyword argument `y=1`"),
    ("states: h\nh = tanh + h\n", 2, 5, "tanh is an activation"),
    ("states: h\nnet_h = W @ h\nh = tanh(U @ h + net_h)\n", 2, 1, "net_h is the name lstm-sym gives"),
    ("states: h\nx = h\nh = x\n", 2, 1, "x is the input"),
    ("states: h\nlambda = h\nh = h\n", 2, 1, "Python keyword"),
    ("states: h\nh = tanh(W @ h + __class__)\n", 2, 18, "names starting with __ are reserved"),
    ("states: h\nstates: h\nh = h\n", 2, 1, "`states:` given twice"),
    ("states: h\nfoo: bar\nh = h\n", 2, 1, "unknown key `foo:`"),
    ("name: 1abc\nstates: h\nh = h\n", 1, 7, "cell name `1abc`"),
    ("states: h\nh = tanh(σ @ h)\n", 2, 10, "non-ASCII"),
    ("states: h\nh =\n", 2, 4, "nothing after `h =`"),
    ("states: h\nh = h\x00 + h\n", 2, 6, "control character"),
    ("states: h\nh = (a := h)\n", 2, 6, "`:=`"),
]


@pytest.mark.parametrize("text,line,col,words", ERRORS)
def test_error_location_and_message(text, line, col, words):
    e = error(text)
    assert (e.filename, e.line, e.col) == ("t.cell", line, col), str(e)
    assert words in e.msg
    assert str(e).startswith(f"t.cell:{line}:{col}: ") and len(str(e).splitlines()) == 1


@pytest.mark.parametrize("path", sorted(CELLS.glob("bad_*.cell")), ids=lambda p: p.stem)
def test_malformed_fixtures(path):
    """Each bad_*.cell says on its first line: `# expect: LINE:COL: words`."""
    line, col, words = re.match(r"# expect: (\d+):(\d+): (.*)", path.read_text()).groups()
    with pytest.raises(SpecError) as e:
        load_spec(path)
    assert str(e.value).startswith(f"{path}:{line}:{col}: "), str(e.value)
    assert words in e.value.msg


def test_unreadable_and_non_utf8_files(tmp_path):
    missing = tmp_path / "nope.cell"
    with pytest.raises(SpecError, match=re.escape(f"{missing}:1:1: cannot read")):
        load_spec(missing)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path)                     # a directory
    bad = tmp_path / "latin1.cell"
    bad.write_bytes("states: h\nh = tanh(W @ h) # Grüße\n".encode("latin-1"))
    with pytest.raises(SpecError, match=re.escape(f"{bad}:2:21: byte 0xfc is not UTF-8")):
        load_spec(bad)


HOSTILE = [
    "__import__('os').system('x')", "open('f')", "x.T", "W[0]", "lambda: 1", "f(x, y=1)",
    "tanh(x, y=1)", '"s"', "b'x'", "a ** 2", "a / 2", "a // 2", "a % 2", "a if b else c", "[a]",
    "(a, b)", "{a}", "{a: b}", "a < b", "a and b", "not a", "~a", "f'{a}'", "@decorator",
    "h @", "@ h", "import os", "h; h", "(yield h)", "*h", "tanh(*h)", "tanh(**h)", "...",
    "None", "1j", "1", "1 - 1", "[a for a in h]", "globals()['x']", "__builtins__",
    "tanh(h).__class__", "h\\", "'''", "# just a comment", "tanh(" * 300 + "h" + ")" * 300,
    "-" * 1500 + "h", "+".join(["h"] * 900), "h" * 10_000_000, "h\x00", "h\x00 + h",
]


@pytest.mark.parametrize("rhs", HOSTILE, ids=lambda s: repr(s[:30]))
def test_hostile_right_hand_sides_are_refused(rhs):
    e = error(f"states: h\nh = {rhs}\n")
    assert e.line == 2 and len(str(e).splitlines()) == 1


def test_hostile_whole_lines(tmp_path):
    for text in ["@decorator\ndef f(): pass\n", "import os\n", "states: h\nh = h\nexec('x')\n",
                 "\x00\x01\x02", "states: h\n" + "h = h " * 2_000_000]:
        error(text)
    junk = tmp_path / "junk.cell"
    junk.write_bytes(b"states: h\nh = \xff\xfe tanh(h)\n")
    with pytest.raises(SpecError, match=":2:5: byte 0xff"):
        load_spec(junk)


def test_the_text_is_never_executed(monkeypatch):
    """eval/exec/sympify are never called, and compile only ever makes an AST
    (ast.parse is compile(..., PyCF_ONLY_AST); it builds no code object)."""
    real_compile, calls = builtins.compile, []

    def forbidden(*a, **k):
        raise AssertionError("the spec text was executed")

    def ast_only(source, filename, mode, flags=0, *a, **k):
        if not flags & ast.PyCF_ONLY_AST:
            raise AssertionError(f"compile() to bytecode: {source!r}")
        calls.append(source)
        return real_compile(source, filename, mode, flags, *a, **k)

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", ast_only)
    monkeypatch.setattr(sympy, "sympify", forbidden)
    monkeypatch.setattr(sys.modules["sympy.core.sympify"], "sympify", forbidden)
    cell = load_spec(CELLS / "lstm.cell")
    assert len(cell.equations) == 10 and len(calls) == 6
    with pytest.raises(SpecError, match="attribute access"):
        parse_spec("states: h\nh = __import__('os').system('touch /tmp/pwned')\n")


def test_spec_module_names_no_evaluator():
    """The module cannot reach eval and friends: none of their names occurs in it."""
    names = {n.id for n in ast.walk(ast.parse(SPEC_PY.read_text())) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(ast.parse(SPEC_PY.read_text())) if isinstance(n, ast.Attribute)}
    assert not names & {"eval", "exec", "compile", "sympify", "parse_expr", "__import__",
                        "import_module", "getattr", "literal_eval"}


# --- fuzz ------------------------------------------------------------------------

ATOMS = ["h", "c", "x", "W", "b", "a", "1", "2", "0.5", "tanh", "sigmoid", "relu", "foo", " ", "(", ")",
         "+", "-", "*", "@", "/", "**", ".", ",", "[", "]", ":", "=", "#", "'", '"', "\n", "\t",
         "\x00", "é", "lambda", "net_h", "param", "states:"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=30), st.lists(st.sampled_from(ATOMS), max_size=20).map("".join)))
def test_fuzz_right_hand_side_raises_only_spec_error(rhs):
    try:
        cell = parse_spec(f"states: h\na = tanh(W @ h)\nh = {rhs}\n")
    except SpecError as e:
        assert len(str(e).splitlines()) == 1 and e.line >= 1 and e.col >= 1
    else:
        assert isinstance(cell, Cell)
        derive(cell)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(ATOMS + ["h = ", "a = ", "states: h\n", "param W: (H, H)\n"]),
                max_size=30).map("".join))
def test_fuzz_whole_spec_raises_only_spec_error(text):
    try:
        parse_spec(text)
    except SpecError as e:
        assert len(str(e).splitlines()) == 1
