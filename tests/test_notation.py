"""derive --notation: the tutorial's output unchanged, d2l's rows, colah's
concatenation, the lecture notes' stacked z; which cells each can print,
and one line with exit 2 when it cannot."""
import os

import pytest

from lstm_sym.commands import main
from lstm_sym.derivation import derive
from lstm_sym.notation import NOTATIONS, fits, markdown_sections, parts, render
from lstm_sym.printing import FORMATS, PARTS, render as render_tutorial

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CELLS = os.path.join(ROOT, "tests", "fixtures", "cells")


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", FORMATS)
def test_tutorial_is_todays_output_byte_for_byte(capsys, fmt):
    d = derive("lstm")
    for part in PARTS:
        want = render_tutorial(d, part, fmt)
        assert cli(capsys, "derive", "lstm", "--part", part, "--format", fmt) == (0, want, "")
        assert cli(capsys, "derive", "lstm", "--notation", "tutorial", "--part", part, "--format", fmt) == (0, want, "")


def test_d2l_rows():
    text = render(derive("lstm"), "d2l")
    assert "F_t = σ(X_t W_xf + H_{t−1} W_hf + b_f)" in text
    assert "C_t = F_t ⊙ C_{t−1} + I_t ⊙ C̃_t" in text
    assert "H_t = O_t ⊙ tanh(C_t)" in text
    assert "∂L/∂W_xf = Σ_{t=1}^{T} X_tᵀ δF_t" in text
    assert "∂L/∂W_hf = Σ_{t=1}^{T} H_{t−1}ᵀ δF_t" in text
    assert "∂L/∂b_f = Σ_{t=1}^{T} 1ᵀ δF_t" in text
    assert "δH_{t−1} = ∂ℓ_{t−1}/∂H_{t−1} + δF_t W_hfᵀ + δI_t W_hiᵀ + δC̃_t W_hcᵀ + δO_t W_hoᵀ" in text
    assert "δX_t = δF_t W_xfᵀ" in text


def test_colah_concatenation():
    text = render(derive("lstm"), "colah")
    assert "f_t = σ(W_f [h_{t−1}, x_t] + b_f)" in text
    assert "C̃_t = tanh(W_C [h_{t−1}, x_t] + b_C)" in text
    assert "C_t = f_t ⊙ C_{t−1} + i_t ⊙ C̃_t" in text
    assert "∂E/∂W_f = Σ_{t=1}^{T} δ_{f,t} [h_{t−1}, x_t]ᵀ" in text
    assert "δh_{t−1} = ∂ℓ_{t−1}/∂h_{t−1} + [W_fᵀ δ_{f,t}]_h + [W_iᵀ δ_{i,t}]_h" in text
    assert "δx_t = [W_fᵀ δ_{f,t}]_x" in text
    assert "W_fh" not in text and "W_fx" not in text


def test_lecture_stacked_z():
    text = render(derive("lstm"), "lecture")
    assert "[z^f_t; z^i_t; z_t; z^o_t] = [W^f; W^i; W; W^o] [x^t; h^{t−1}] + [b^f; b^i; b; b^o]" in text
    for g, W in (("^f", "W^f"), ("^i", "W^i"), ("", "W"), ("^o", "W^o")):
        assert f"∂E/∂{W} = Σ_{{t=1}}^{{T}} δz{g}_t [x^t; h^{{t−1}}]ᵀ" in text
    assert "c^t = f^t ⊙ c^{t−1} + i^t ⊙ c̃^t" in text
    assert "δz_t = δc^t ⊙ i^t ⊙ (1 − (c̃^t)²)" in text
    assert "f^t = σ(z^f_t)" in text and "c̃^t = tanh(z_t)" in text
    # a peephole adds p^f ⊙ c^{t−1} to one gate only: a line per gate, the same stacked input
    peep = render(derive("lstm_peephole"), "lecture", "forward")
    assert "z^f_t = W^f [x^t; h^{t−1}] + p^f ⊙ c^{t−1} + b^f" in peep
    assert "z^t" not in render(derive("rnn"), "lecture") and "z^h_t = W^h [x^t; h^{t−1}] + b^h" in render(derive("rnn"), "lecture")


@pytest.mark.parametrize("notation", ["d2l", "colah", "lecture"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_and_part(capsys, notation, fmt):
    for part in PARTS:
        code, out, err = cli(capsys, "derive", "lstm", "--notation", notation, "--part", part, "--format", fmt)
        assert code == 0 and out.strip() and err == ""
        if fmt != "text":
            assert out.count("$$") % 2 == 0 and "^^" not in out and "}^{t}^" not in out
    assert "∘" not in render(derive("lstm"), notation)


@pytest.mark.parametrize("notation", ["d2l", "colah", "lecture"])
def test_jupyter(notation):
    d = derive("lstm")
    every = parts(d, notation)
    assert every._repr_latex_().startswith("$$") and every._repr_latex_().count("$$") == 2
    assert r"\begin{gathered}" in every._repr_latex_()
    one = parts(d, notation, "grads")
    assert one._repr_latex_().startswith(r"$$\begin{aligned}") and "∂" in str(one)


FITS = {   # cell: the notations that cannot print it
    "rnn": (), "lstm": (), "lstm_peephole": (), "cifg": (), "lstm_nofg": (),
    "gru": ("colah", "lecture"),          # r_t multiplies W_nh h_{t−1} + b_nh: no block of a product
    "gru_cho": ("lecture",),              # n reads r_t ⊙ h_{t−1}: colah's [r_t ⊙ h_{t−1}, x_t], but no one stacked input
    "mgu": ("lecture",),
}


@pytest.mark.parametrize("cell", sorted(FITS))
def test_which_builtin_cells_fit(cell):
    got = fits(cell)
    assert {n for n, why in got.items() if why} == set(FITS[cell])
    assert got["tutorial"] is None and got["d2l"] is None


@pytest.mark.parametrize("cell, notation, words", [
    ("gru", "colah", ["notation colah", "W_nh", "pre-activation of n"]),
    ("gru_cho", "lecture", ["notation lecture", "read different inputs", "r_t ⊙ h_{t−1}"]),
    (os.path.join(CELLS, "sru.cell"), "colah", ["notation colah", "W_cx", "equation of c"]),
    (os.path.join(CELLS, "mgu_user.py"), "lecture", ["notation lecture", "different inputs"]),
    ("lstm", "d2l2", ["unknown notation 'd2l2'", "tutorial, d2l, colah, lecture"]),
    ("lstm", "", ["unknown notation"]),
])
def test_a_notation_that_cannot_print_the_cell_is_one_line_and_exit_2(capsys, cell, notation, words):
    code, out, err = cli(capsys, "derive", cell, "--notation", notation)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("lstm-sym: error: "), err
    for w in words:
        assert w in err, (w, err)


@pytest.mark.parametrize("name", ["lstm.cell", "janet.cell", "relu_rnn.cell", "greff.cell", "mgu_user.py",
                                  "builtin_name.cell"])
def test_user_cells_print_in_every_notation_that_fits(capsys, name):
    path = os.path.join(CELLS, name)
    for notation in NOTATIONS:
        code, out, err = cli(capsys, "derive", path, "--notation", notation)
        assert (code, bool(out)) in ((0, True), (2, False)), err
        if code == 2:
            assert f"notation {notation} cannot print" in err


def test_markdown_sections_one_per_notation():
    md = markdown_sections("lstm")
    for title in ("d2l", "colah", "lecture notes"):
        assert title in md
    assert md.count("\n## ") + md.startswith("## ") == 3 and "\n### " not in md
    assert "X_{t}^{\\top} \\delta \\mathbf{F}_{t}".replace("X", "\\mathbf{X}") in md
    assert md.count("$$") % 2 == 0
    assert markdown_sections("lstm") == md        # stable: a drift test can compare it


def test_markdown_sections_say_which_notations_cannot_print_the_cell():
    md = markdown_sections("gru")
    assert "colah" in md and "cannot" in md


@pytest.mark.parametrize("cell", sorted(FITS))
def test_latex_compiles_in_every_notation(cell):
    from test_documents import latex_problems
    d = derive(cell)
    for notation in ("d2l", "colah", "lecture"):
        if notation in FITS[cell]:
            continue
        assert latex_problems(render(d, notation, "all", "latex")) == [], notation
        assert latex_problems(parts(d, notation)._repr_latex_()) == [], notation
    md = markdown_sections(cell)
    for block in md.split("$$")[1::2]:
        assert latex_problems(f"$${block}$$") == [], block
