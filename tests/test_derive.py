"""The derivation: its printed shape, and its numbers against finite
differences of the forward pass (which never sees the derivation)."""
import numpy as np
import pytest
import sympy

from conftest import central_difference, random_instance
from lstm_sym import Cell, activation, derive, relu, sigmoid, tanh
from lstm_sym.evaluate import run_backward, run_forward
from lstm_sym.printing import render


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_gradients_match_central_differences(name):
    d = derive(name)
    cell = d.cell
    params, xs, init, G, Gc = random_instance(cell, D=3, H=4, T=4, seed=1)
    got = run_backward(d, run_forward(cell, params, xs, init), G, Gc)
    for p, value in params.items():
        fd = central_difference(cell, params, xs, init, G, Gc, value)
        np.testing.assert_allclose(got[p], fd, rtol=1e-6, atol=1e-8, err_msg=p)
    for s in cell.states:
        fd = central_difference(cell, params, xs, init, G, Gc, init[s])
        np.testing.assert_allclose(got[s + "0"], fd, rtol=1e-6, atol=1e-8, err_msg=s + "0")
    for t, x in enumerate(xs):
        fd = central_difference(cell, params, xs, init, G, Gc, x)
        np.testing.assert_allclose(got["x"][t], fd, rtol=1e-6, atol=1e-8, err_msg=f"x_{t + 1}")


def test_lstm_text_reads_like_the_textbook():
    text = render(derive("lstm"))
    # the seeds' forward equations
    assert "f_t = σ(W_fh h_{t−1} + W_fx x_t + b_f)" in text
    assert "c_t = f_t ⊙ c_{t−1} + i_t ⊙ c̃_t" in text
    # σ′ and tanh′ written in the gate's own output
    assert "δ_{o,t} = δh_t ⊙ tanh(c_t) ⊙ o_t ⊙ (1 − o_t)" in text
    assert "δ_{c̃,t} = δc_t ⊙ i_t ⊙ (1 − c̃_t²)" in text
    # the cell-state carry the tutorial drops, and sums over time for x-weights
    assert "δc_{t−1} = δh_{t−1} ⊙ o_{t−1} ⊙ (1 − tanh²(c_{t−1})) + δc_t ⊙ f_t" in text
    assert "∂E/∂W_fx = Σ_{t=1}^{T} δ_{f,t} x_tᵀ" in text
    assert "∂E/∂c_0 = δc_1 ⊙ f_1" in text
    assert "∘" not in text


def test_every_part_and_format_renders():
    d = derive("gru")
    for part in ("forward", "deltas", "bptt", "grads"):
        assert render(d, part, "text").strip()
        assert r"\odot" in render(d, "deltas", "latex")
        md = render(d, part, "markdown")
        assert md.count("$$") % 2 == 0 and "$$" in md
    assert "W_nhᵀ (δ_{n,t} ⊙ r_t)" in render(d, "bptt")


def test_jupyter_latex():
    d = derive("lstm")
    latex = d.deltas._repr_latex_()
    assert latex.startswith("$$") and r"\delta_{f,t}" in latex
    assert d._repr_latex_().startswith("$$")
    assert "δ_{f,t}" in str(d.deltas)


def test_activation_derivatives_in_output_or_input():
    assert sympy.expand(sigmoid.derivative_in_output - sympy.Symbol("y", real=True) * (1 - sympy.Symbol("y", real=True))) == 0
    assert tanh.derivative_in_output == 1 - sympy.Symbol("y", real=True) ** 2
    assert relu.derivative_in_output is None          # piecewise: stays in the input
    assert sigmoid.sup_derivative == sympy.Rational(1, 4)
    assert tanh.sup_derivative == 1


def user_cell(act):
    cell = Cell("mine", states=("h",))
    W, U, b = cell.param("W", "H", "H"), cell.param("U", "H", "D"), cell.param("b", "H")
    h, x = cell.prev("h"), cell.input("x")
    g = cell.let("g", act(W @ h + U @ x + b))
    cell.let("h", (1 - g) * h + g * tanh(U @ x))
    return cell


@pytest.mark.parametrize("act", [relu, activation("softplus", sympy.log(1 + sympy.exp(activation.__globals__["x"])))])
def test_user_cell_with_other_activations(act):
    d = derive(user_cell(act))
    cell = d.cell
    params, xs, init, G, Gc = random_instance(cell, D=2, H=3, T=3, seed=4)
    got = run_backward(d, run_forward(cell, params, xs, init), G, Gc)
    for p, value in params.items():
        fd = central_difference(cell, params, xs, init, G, Gc, value)
        np.testing.assert_allclose(got[p], fd, rtol=1e-5, atol=1e-7, err_msg=p)


def test_bad_cells_are_refused():
    cell = Cell("bad", states=("h", "c"))
    W = cell.param("W", "H", "H")
    cell.let("h", tanh(W @ cell.prev("h")))
    with pytest.raises(ValueError, match="never assigned"):
        derive(cell)
    with pytest.raises(ValueError, match="rnn, lstm, gru"):
        derive("lsmt")
