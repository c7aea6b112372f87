"""The exact proof: passes on the derivation, fails on each known slip."""
import pytest

from lstm_sym import derive
from lstm_sym.ir import MatVec, Next, OneMinus, TimeSum, Var, add, had, transform
from lstm_sym.verify import prove


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_derivations_are_exact(name):
    d = derive(name)
    one = prove(d, 2, 2, 1)
    unrolled = prove(d, 1, 2, 2)
    assert one.passed and unrolled.passed, str(one) + str(unrolled)
    assert one.level == "one-step identity" and unrolled.level == "unrolled BPTT"
    assert "GF(2^61−1)" in one.method and "seed 0" in one.method
    names = {c.name for c in unrolled.checks}
    assert set(d.cell.params) <= names and {"x_1", "x_2", "h0"} <= names


def _mutants():
    d = derive("lstm")
    c_tilde = Var("c_tilde", "inter", ("H",))
    sigma_prime = had(c_tilde, OneMinus(c_tilde))
    return {
        "cell-state carry dropped":
            d.with_delta("c", add(*[t for t in d.delta_of("c").terms if not isinstance(t, Next)])),
        "input weight from the last step only":
            d.with_grad("W_fx", TimeSum(d.param_grads["W_fx"].a, "last")),
        "σ′ where tanh′ belongs":
            d.with_delta("c_tilde", transform(d.delta_of("c_tilde", gate=True),
                                              lambda n: sigma_prime if isinstance(n, OneMinus) else None), gate=True),
        "transposed weight":
            d.with_carry("h", transform(d.carry["h"], lambda n: MatVec(n.W, n.v, False)
                                        if isinstance(n, MatVec) and n.W.name == "W_ih" else None)),
        "bias gradient from another gate's delta":
            d.with_grad("b_f", d.param_grads["b_i"]),
    }


@pytest.mark.parametrize("slip", list(_mutants()))
def test_each_slip_is_caught(slip):
    wrong = _mutants()[slip]
    report = prove(wrong, 1, 2, 2)        # unrolled: sees wiring and sums over time
    assert not report.passed, slip
    assert report.failures


def test_one_step_identity_names_the_wrong_gradient():
    d = derive("lstm")
    report = prove(d.with_grad("b_f", d.param_grads["b_i"]), 2, 2, 1)
    assert [c.name for c in report.failures] == ["b_f"]


def test_non_tanh_activations_are_refused_clearly():
    from lstm_sym import Cell, relu
    cell = Cell("r", states=("h",))
    W, U = cell.param("W", "H", "H"), cell.param("U", "H", "D")
    cell.let("h", relu(W @ cell.prev("h") + U @ cell.input()))
    with pytest.raises(ValueError, match="through tanh"):
        prove(derive(cell), 1, 1, 1)


def test_bad_sizes():
    with pytest.raises(ValueError, match="positive integer"):
        prove(derive("rnn"), 0, 1, 1)


def test_symengine_backend_agrees_and_still_catches_slips():
    pytest.importorskip("symengine", reason="symengine is the optional 'fast' extra")
    d = derive("gru")
    assert prove(d, 2, 2, 2, backend="symengine").passed
    wrong = d.with_grad("b_r", d.param_grads["b_z"])
    report = prove(wrong, 2, 2, 2, backend="symengine")
    assert [c.name for c in report.failures] == ["b_r"]
