"""`lstm-sym check CELL --layers … --loss …`: bugs put into a generated network
module are caught by every referee that runs, and the module as generated passes."""
import pytest

from lstm_sym.codegen.network import emit_network
from lstm_sym.commands import main
from lstm_sym.network import network
from lstm_sym.verify.network_check import METHODS, check_network

# (what the bug is, a line of the generated network module, what it becomes)
BUGS = [
    ("no error into the top layer", "dh[T - delta_y.shape[0]:] = delta_y @ V",
     "dh[T - delta_y.shape[0]:] = 0 * (delta_y @ V)"),
    ("layers not linked", 'dh = layers[l].pop("x")', 'layers[l].pop("x")'),
    ("output error with the wrong sign", 'delta_y = cache["out"] - cache["y"]', 'delta_y = cache["y"] - cache["out"]'),
    ("bias gradient of the head from one step", '"b_y": rows.sum(axis=0)', '"b_y": delta_y[-1].sum(axis=0)'),
    # invisible from h_0 = 0: the check starts every layer from random states
    ("the first step's recurrence dropped", "    h_rows = h_seq[:T].transpose(0, 2, 1).reshape(T * B, H)",
     "    h_rows = np.concatenate([0 * h_seq[:1], h_seq[1:T]]).transpose(0, 2, 1).reshape(T * B, H)"),
]


@pytest.mark.parametrize("what, old, new", BUGS, ids=[b[0] for b in BUGS])
def test_a_bug_in_the_network_module_is_caught(what, old, new):
    net = network("lstm", layers=2, loss="xent")
    source = emit_network(net)
    assert source.count(old) == 1, old
    report = check_network(net, ("derivation", "central", "directional", "graph"), sizes=(2, 3, 3),
                           source=source.replace(old, new))
    assert report.exit_code == 1 and "WRONG" in str(report)
    # every referee that compares the broken gradient sees it
    broken = {m for m, _, rel, tol in report.rows if not rel <= tol}
    assert broken == {"derivation", "central", "directional", "graph"}, what


def test_the_generated_network_passes_every_referee():
    pytest.importorskip("torch")
    report = check_network(network("gru", layers=2, loss="mse", loss_at="last"), METHODS, sizes=(2, 3, 3))
    assert report.exit_code == 0
    pytest.importorskip("symengine")
    assert {m for m, _, _, _ in report.rows} == {"derivation", "symbolic", "central", "complex", "directional",
                                                "graph", "torch"}
    assert "richardson: skipped" in str(report) and "symbolic: the derivation proved exactly" in str(report)


@pytest.mark.parametrize("argv, says", [
    (["--impl", "x.py"], "--impl checks a cell's module"),
    (["--method", "bogus"], "unknown method 'bogus' for a network"),
])
def test_check_refuses_what_a_network_check_cannot_do(capsys, argv, says):
    code = main(["check", "lstm", "--layers", "2", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and says in err and err.count("\n") == 1


def test_check_of_a_network_from_the_command_line(capsys):
    code = main(["check", "rnn", "--loss", "mse", "--method", "derivation,central", "--sizes", "2,3,3"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.strip().endswith("verdict: every gradient agrees with every referee")


def test_a_network_check_with_nothing_to_compare_exits_2_with_its_line(capsys):
    code = main(["check", "lstm_peephole", "--layers", "2", "--method", "torch"])
    out, err = capsys.readouterr()
    assert code == 2 and "torch: skipped (" in out and err.startswith("lstm-sym: error: nothing compared")


@pytest.mark.parametrize("what, old, new", BUGS[:2], ids=[b[0] for b in BUGS[:2]])
def test_a_bug_in_a_float32_network_module_is_caught(what, old, new):
    net = network("gru", layers=2, loss="mse")
    source = emit_network(net, dtype="float32")
    report = check_network(net, ("derivation", "central", "directional", "graph"), sizes=(2, 3, 3),
                           source=source.replace(old, new), dtype="float32")
    assert {m for m, _, rel, tol in report.rows if not rel <= tol} == {"derivation", "central", "directional",
                                                                        "graph"}, what


def test_the_float32_network_passes_with_float32_tolerances(capsys):
    code = main(["check", "lstm", "--layers", "2", "--loss", "xent", "--dtype", "float32",
                 "--method", "derivation,central,complex,directional"])
    out = capsys.readouterr().out
    assert code == 0 and "; float32" in out.splitlines()[0]
    tols = {line.split()[0]: line.split()[-2] for line in out.splitlines() if line.endswith(" ok")}
    # exact referees at float32's 1e-3 (the complex step too: it runs in complex128), differences at 2e-2
    assert tols == {"derivation": "1e-03", "complex": "1e-03", "central": "2e-02", "directional": "2e-02"}


def test_the_proof_alone_compares_nothing_the_module_computed(capsys):
    code = main(["check", "mgu", "--layers", "2", "--method", "symbolic"])
    out, err = capsys.readouterr()
    assert code == 2 and "verdict: nothing compared the module" in out and "nothing ran the module" in out


def test_method_choices_on_a_network(capsys):
    code = main(["check", "rnn", "--layers", "2", "--method", "fd"])
    out, _ = capsys.readouterr()
    assert code == 0 and "central " in out and "richardson: skipped (" in out
    code = main(["check", "rnn", "--layers", "2", "--method", ","])
    assert code == 2 and "--method: no method given" in capsys.readouterr().err
    code = main(["check", "rnn", "--layers", "2", "--seed", "7", "--method", "derivation"])
    assert code == 0 and "; seed 7" in capsys.readouterr().out.splitlines()[0]


def test_past_the_limits_the_directional_check_stands_in_and_step_by_step_referees_step_aside():
    report = check_network(network("mgu", layers=30, loss="mse"), ("central",), sizes=(3, 8, 4))
    assert report.exit_code == 0 and [m for m, *_ in report.rows] == ["directional"]
    report = check_network(network("rnn", layers=2, loss="mse"), ("derivation", "directional"), sizes=(2, 2, 6000),
                           batch=2)
    assert [m for m, _ in report.skipped] == ["derivation"] and "--no-limit" in report.skipped[0][1]
    assert report.exit_code == 0 and [m for m, *_ in report.rows] == ["directional"]


def test_every_referee_compares_the_initial_states_gradients():
    pytest.importorskip("torch")
    report = check_network(network("lstm", layers=2, loss="xent"), sizes=(2, 3, 3))
    named = {(m, name) for m, name, _, _ in report.rows}
    for method in ("derivation", "central", "complex", "graph", "torch"):
        assert {(method, "layer 1 h0"), (method, "layer 2 c0")} <= named, method


def test_a_network_check_reports_progress(capsys):
    code = main(["check", "rnn", "--layers", "2", "--progress", "--method", "derivation,central"])
    err = capsys.readouterr().err
    assert code == 0 and "check: derivation" in err and "check: central" in err
    assert any(line.startswith("check: central") and "entries" in line for line in err.splitlines())
