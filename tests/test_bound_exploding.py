"""The exploding regime in `bound`: with W = (ρ/β_f)·Q, Q orthogonal, and
every pre-activation held where |f′| = β_f, each backward step is an
orthogonal map times ρ, so ‖δ_k‖/‖δ_t‖ = ρ^(t−k) exactly — a prediction
from linear algebra, not from the code.  Then clipping's effect."""
import numpy as np
import pytest

from lstm_sym.activations import BUILTIN
from lstm_sym.bound import experiments as ex
from lstm_sym.bound.clipping import exploding_blocks
from lstm_sym.bound.jacobian import rnn_cell
from lstm_sym.bound.report import render
from lstm_sym.derivation import derive


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu", "softsign"])
def test_the_ratio_is_rho_to_the_distance(act):
    d = derive(rnn_cell(BUILTIN[act]))
    T, rho = 25, 1.2
    inst, a = ex.exploding_instance(d.cell, BUILTIN[act], 6, 9, T, rho, seed=3)
    m = ex.measure(d, inst)
    for k in (1, 7, T):
        np.testing.assert_allclose(np.exp(m.log_ratio[k]), rho ** k, rtol=1e-10)
    assert m.violations(m.log_beta_bound) == 0


def test_clipping_caps_the_norm_and_only_per_entry_clipping_turns_it():
    d = derive("rnn")
    inst, _ = ex.exploding_instance(d.cell, BUILTIN["tanh"], 5, 8, 30, 1.3, seed=0)
    norm, glob, cos_g, elem, cos_e = ex.clipping_effect(d, inst, 1.0).T
    assert np.all(norm > 100)                       # exploded: ρ^30 ≈ 2.6e3 on δ
    np.testing.assert_allclose(glob, 1.0, rtol=1e-5)
    np.testing.assert_allclose(cos_g, 1.0, rtol=1e-12)
    assert np.all(cos_e < 0.99) and np.all(elem < norm)


def test_the_report_section_renders_in_every_format():
    d = derive("rnn")
    blocks = exploding_blocks(d, 4, 8, 20, 0)
    text = render(blocks, "text")
    assert "The exploding regime" in text and "clipped to norm 1" in text
    assert render(blocks, "latex").count("{") == render(blocks, "latex").count("}")
