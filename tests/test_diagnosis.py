"""Where a wrong backward goes wrong: every row of the one diagnosis table
(impl.DIAGNOSES) is reached by a purpose-built wrong implementation, and no
message says something its probes contradict."""
import os

import numpy as np
import pytest

from lstm_sym import derive
from lstm_sym.verify.impl import (DIAGNOSES, NA, R, W, Z0, Cut, _Lab, carry_cut, diagnose, explain,
                                  load_impl, steps_independent)
from lstm_sym.verify.reference import reference_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
SIZES = (3, 4, 5, 2)

# fixture -> (cell, {gradient: the DIAGNOSES row that must explain it})
EXPECTED = {
    "diag_zero.py": ("lstm", {"W_ox": "zero"}),
    "diag_sigma_prime.py": ("lstm", {"W_ox": "step 1", "b_o": "step 1", "h0": "step 1"}),
    "diag_dh0.py": ("lstm", {"h0": "step 1"}),
    "diag_last_step_x.py": ("lstm", {g: "last only" for g in ("W_fx", "W_ix", "W_cx", "W_ox")}),
    "diag_x_index.py": ("lstm", {"W_ix": "a term", "W_cx": "a term"}),
    "diag_no_c_carry.py": ("lstm", {"W_ih": "c path", "b_c": "c path", "x": "c path", "h0": "c path, h0",
                                    "W_oh": "needs both"}),
    "diag_no_h_carry.py": ("lstm", {"W_ih": "h path", "W_oh": "h path", "h0": "h path, h0"}),
    "diag_no_carry.py": ("lstm", {"W_ih": "both paths", "b_c": "both paths"}),
    "diag_rnn_no_carry.py": ("rnn", {"W": "h path only", "U": "h path only", "h0": "later steps"}),
    "diag_gru_no_z_carry.py": ("gru", {"W_zx": "not h path", "W_nh": "not h path"}),
    "diag_fickle.py": ("lstm", {"W_ix": "probes disagree"}),
    "tutorial_lstm.py": ("lstm", {"W_fh": "c path", "b_f": "c path", "W_fx": "last only", "W_oh": "needs both"}),
}

_FOUND = {}


def findings(name):
    if name not in _FOUND:
        cell, _ = EXPECTED[name]
        d = derive(cell)
        module = load_impl(os.path.join(FIX, name), d.cell)
        _FOUND[name] = {f.gradient: f for f in diagnose(module, reference_module(d), d.cell, SIZES)}
    return _FOUND[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_slip_gets_its_row(name):
    found = findings(name)
    for gradient, row in EXPECTED[name][1].items():
        assert gradient in found, (gradient, sorted(found))
        assert found[gradient].row == row, (gradient, found[gradient].key, found[gradient].path)


def test_every_row_of_the_table_is_reached_by_a_fixture():
    reached = {row for _, rows in EXPECTED.values() for row in rows.values()}
    assert reached == {name for name, _, _ in DIAGNOSES} | {"probes disagree"}


def test_only_the_slipped_gradients_are_found():
    assert set(findings("diag_dh0.py")) == {"h0"}
    assert set(findings("diag_zero.py")) == {"W_ox"}
    assert set(findings("diag_last_step_x.py")) == {"W_fx", "W_ix", "W_cx", "W_ox"}


# claims a message makes -> what the probe outcomes (Finding.key) must then be
CLAIMS = [
    ("vanishes when h's recurrent weights are 0", lambda k, t: k[0] == R),
    ("stays when h's recurrent weights are 0", lambda k, t: k[0] == W),
    ("vanishes when the forget gate is saturated", lambda k, t: k[1] == R),
    ("stays when the forget gate is saturated", lambda k, t: k[1] == W),
    ("stays when either one is cut", lambda k, t: k[0] == W and k[1] == W),
    ("vanishes when either one is cut", lambda k, t: k[0] == R and k[1] == R),
    ("vanishes only when both are", lambda k, t: k[2] == R),
    ("still wrong with every recurrent path cut", lambda k, t: k[2] == W),
    ("equal to the last step's term alone", lambda k, t: k[5] is True),
    ("right at T = 1", lambda k, t: t > 1),
    ("wrong already at T = 1", lambda k, t: t == 1),
    ("identically zero", lambda k, t: k[4] is True),
    ("setting h's recurrent weights to 0 zeroes this gradient", lambda k, t: k[0] == Z0),
    ("no forget gate to saturate", lambda k, t: k[1] == NA),
]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_message_contradicts_its_probes(name):
    for f in findings(name).values():
        for words, holds in CLAIMS:
            if words in f.path:
                assert holds(f.key, f.first_T), (name, f.gradient, words, f.key, f.first_T)


@pytest.mark.parametrize("cell, path", [
    ("lstm", os.path.join(FIX, "diag_lstm.py")),
    ("lstm", os.path.join(ROOT, "numeric", "lstm.py")),
    ("rnn", os.path.join(FIX, "correct_rnn.py")),
    ("gru", os.path.join(ROOT, "numeric", "gru.py")),
    ("cifg", os.path.join(ROOT, "numeric", "cifg.py")),
    ("lstm_peephole", os.path.join(ROOT, "numeric", "lstm_peephole.py")),
])
def test_probes_never_accuse_correct_code(cell, path):
    """Saturating the forget gate keeps σ's relative accuracy in both ways of
    writing it (1/(1+e^−a) here, (1+tanh(a/2))/2 in the kernels): no probe of
    a correct module may come out wrong."""
    d = derive(cell)
    module = load_impl(path, d.cell)
    reference = reference_module(d)
    assert diagnose(module, reference, d.cell, SIZES) == []
    lab = _Lab(module, reference, d.cell, 3, 4, 2, 0, 1e-6)
    for name in lab.names():
        for kind in ("h", "c", "both"):
            assert lab.outcome(kind, 3, name) in (R, Z0), (kind, name)


def test_the_h_cut_zeroes_dh0_so_h0_is_probed_by_the_c_cut():
    f = findings("diag_no_c_carry.py")["h0"]
    assert f.key[0] == Z0 and f.key[1] == R


def test_carry_errors_need_a_second_step_and_both_paths_a_third():
    found = findings("diag_no_c_carry.py")
    assert found["W_ih"].first_T == 2
    assert found["W_oh"].first_T == 3      # c carry dropped at t+2, reaching δ_o through h at t


def test_the_forget_bias_comes_from_the_cells_roles():
    lstm = derive("lstm").cell
    assert carry_cut(lstm) == Cut("b_f", "f", "c")

    class Declared:                       # a cell that declares another gate as the one that forgets
        name, states, params, equations = lstm.name, lstm.states, lstm.params, lstm.equations
        roles = {"forget_bias": "b_i", "forget_gate": "i", "memory": "c"}
    assert carry_cut(Declared) == Cut("b_i", "i", "c")

    class Undeclared:                     # no roles at all: read off c_t = f ⊙ c_{t−1} + …
        name, states, params, equations = lstm.name, lstm.states, lstm.params, lstm.equations
    assert carry_cut(Undeclared) == Cut("b_f", "f", "c")


def test_cells_without_a_forget_gate_skip_that_probe_and_say_so():
    for cell in ("rnn", "gru"):
        assert carry_cut(derive(cell).cell) is None
    assert steps_independent(derive("rnn").cell, None)
    assert not steps_independent(derive("gru").cell, None)        # z ⊙ h_{t−1} is not a weight
    assert steps_independent(derive("lstm").cell, carry_cut(derive("lstm").cell))
    f = findings("diag_rnn_no_carry.py")["W"]
    assert f.key[1] == NA and "cell-state probe is skipped" in f.path


def test_the_fallback_lists_the_outcomes():
    row, text = explain((R, R, W, False, False, NA), {"ccut_short": "the forget gate saturated"})
    assert row == "probes disagree"
    assert "it is right" in text and "saturated: right" in text and "both cut: wrong" in text


@pytest.mark.parametrize("name, gradient, says, never", [
    ("diag_no_carry.py", "W_ih", "on both paths", "only when both paths are open"),
    ("diag_zero.py", "W_ox", "identically zero", "per-step formula"),
    ("diag_no_c_carry.py", "h0", "cell-state path", "needs both paths"),
    ("diag_no_h_carry.py", "h0", "path through h", "needs both paths"),
])
def test_the_report_says_what_the_probes_show(name, gradient, says, never):
    from lstm_sym.verify.check import run_check
    report = run_check("lstm", impl=os.path.join(FIX, name), methods=("fd",))
    lines = [n for n in report.notes if n.startswith("  ") and gradient in n.strip().split(":")[0].split(", ")]
    assert len(lines) == 1 and says in lines[0] and never not in lines[0], report.notes
