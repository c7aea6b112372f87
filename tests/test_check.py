"""`lstm-sym check --impl`: right code passes, wrong code is located."""
import os
import subprocess
import sys

import pytest

from lstm_sym.verify.check import run_check

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")


def fixture(name):
    return os.path.join(FIX, name)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "lstm_sym.cli", *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_tutorial_lstm_is_diagnosed():
    report = run_check("lstm", impl=fixture("tutorial_lstm.py"), methods=("fd",))
    assert not report.passed
    text = "\n".join(report.notes)
    lines = {name.strip(): l for l in report.notes if l.startswith("  ")
             for name in l.strip().split(":")[0].split(",")}
    # the dropped carry: recurrent weights and biases go wrong at T = 2, on the cell-state path
    for g in ("W_fh", "W_ih", "W_ch", "b_f", "b_c"):
        assert "wrong from T = 2" in lines[g] and "cell-state path" in lines[g], lines[g]
    # the last-step-only input weights
    for g in ("W_fx", "W_ix", "W_cx", "W_ox"):
        assert "wrong from T = 2" in lines[g] and "keeps only t = T" in lines[g], lines[g]
    assert "where it goes wrong" in text


def test_off_by_one_and_carry_messages():
    from lstm_sym import derive
    from lstm_sym.verify.impl import _locate
    from lstm_sym.verify.reference import reference_module
    d = derive("lstm")
    ref = reference_module(d)
    # c0 wrong at T = 1 is the carry handed back by step 1, not "a per-step formula"
    assert "hands back to c_0" in _locate(ref, ref, d.cell, "c0", 1, 2, 3, 1, 0, 1e-6)


def test_correct_hand_written_rnn_passes():
    report = run_check("rnn", impl=fixture("correct_rnn.py"), methods=("fd", "directional", "graph"))
    assert report.passed, str(report)
    assert {r.method for r in report.rows} >= {"central", "richardson", "directional", "graph", "derivation"}


def test_nan_gradient_is_a_failure_not_a_crash():
    report = run_check("rnn", impl=fixture("nan_rnn.py"), methods=("fd",))
    bad = {r.gradient for r in report.rows if not r.ok}
    assert bad == {"b"}


@pytest.mark.parametrize("name, words", [
    ("missing.py", "no such file"),
    ("bad_syntax.py", "importing it failed"),
    ("no_backward.py", "missing backward"),
    ("tutorial_lstm.py", "PARAMS does not match cell rnn"),
    ("", "is a folder"),
    ("wrong_shape_rnn.py", "gradient 'U' has shape"),
])
def test_contract_errors_are_one_line_exit_2(name, words):
    r = cli("check", "rnn", "--impl", fixture(name), "--method", "fd")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.stderr


def test_cli_exit_codes():
    assert cli("check", "rnn", "--impl", fixture("correct_rnn.py"), "--method", "fd").returncode == 0
    r = cli("check", "lstm", "--impl", fixture("tutorial_lstm.py"), "--method", "fd")
    assert r.returncode == 1 and "FAIL" in r.stdout
    assert cli("check", "rnn", "--method", "magic").returncode == 2
    assert cli("check", "rnn", "--sizes", "3,4").returncode == 2


def test_an_activation_that_is_not_analytic_skips_only_the_complex_step(capsys):
    from lstm_sym.commands import main
    code = main(["check", fixture("cells/abs_rnn.py")])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "complex step skipped: activation absval = Abs(x) is not complex-analytic" in out
    for method in ("directional", "central", "richardson", "graph"):
        assert f" {method} " in out
    assert " complex " not in out and err == ""
