"""The network's exact proof (verify.network_proof) and the scalar-graph referee
(verify.graph_oracle.network_graph_gradients): they pass the derivation as it is,
and each fails, naming the right gradients, when the derivation is broken."""
import dataclasses
import sys

import numpy as np
import pytest

from lstm_sym import network as network_module
from lstm_sym.ir import Add, Scale
from lstm_sym.network import Y, Z, check_targets, network
from lstm_sym.verify.field import P, Oracle
from lstm_sym.verify.network_check import check_network

pytest.importorskip("symengine")
from lstm_sym.verify.network_proof import prove_network  # noqa: E402

CASES = [("rnn", "xent", "all", 2), ("lstm", "xent", "last", 2), ("gru", "mse", "all", 2),
         ("lstm_peephole", "mse", "last", 1), ("mgu", "xent", "all", 3)]


@pytest.mark.parametrize("cell, loss, at, layers", CASES)
def test_the_derivation_of_every_network_is_exact(cell, loss, at, layers):
    verdict = prove_network(network(cell, layers=layers, loss=loss, loss_at=at))
    assert verdict and all(v is None for v in verdict.values()), verdict
    assert {"V", "b_y", "x_1", f"layer {layers} h0", "layer 1 h0"} <= set(verdict)


def _broken(monkeypatch, change):
    """run_network with the head's derivation changed by change(HeadDerivation)."""
    real = network_module.head_derivation
    monkeypatch.setattr(network_module, "head_derivation", lambda net: change(real(net)))


@pytest.mark.parametrize("loss", ["xent", "mse"])
def test_an_output_error_with_the_wrong_sign_fails_the_proof_everywhere(monkeypatch, loss):
    _broken(monkeypatch, lambda hd: dataclasses.replace(hd, output_delta=Scale(-1, hd.output_delta)))
    verdict = prove_network(network("rnn", layers=2, loss=loss))
    assert all(v is not None for v in verdict.values()), verdict


def test_a_target_added_instead_of_subtracted_fails_the_proof(monkeypatch):
    # ½‖a − y‖² has the rule a − y; a + y is wrong wherever y ≠ 0
    _broken(monkeypatch, lambda hd: dataclasses.replace(hd, output_delta=Add((Z, Y))))
    verdict = prove_network(network("gru", loss="mse", loss_at="last"))
    assert verdict["V"] is not None and verdict["b_y"] is not None and verdict["layer 1 W_rh"] is not None


def test_a_wrong_error_into_the_top_layer_fails_only_the_layers(monkeypatch):
    # the head's own gradients do not read ∂ℓ/∂h_t: V and b_y stay right, every layer goes wrong
    _broken(monkeypatch, lambda hd: dataclasses.replace(hd, into_top=Scale(2, hd.into_top)))
    verdict = prove_network(network("lstm", layers=2, loss="xent"))
    assert verdict["V"] is None and verdict["b_y"] is None
    wrong = {name for name, v in verdict.items() if v is not None}
    assert {"layer 1 W_fh", "layer 2 W_fh", "layer 1 h0", "x_1"} <= wrong


def test_the_field_exp_keeps_the_identities_sympy_uses():
    o = Oracle(7)
    assert o.exp(0) == 1 and o.log(1) == 0
    for v in (1, 5, 12345, P // 3):
        assert o.exp(v) * o.exp(P - v) % P == 1          # exp(−u) = 1/exp(u)
        assert o.exp(v) != 0


def test_without_symengine_the_network_proof_is_skipped_with_its_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "symengine", None)
    report = check_network(network("rnn", layers=2, loss="xent"), ("derivation", "symbolic"), sizes=(2, 2, 2))
    assert report.exit_code == 0
    assert any(m == "symbolic" and "lstm-sym[fast]" in why for m, why in report.skipped)


def test_the_scalar_graph_sees_a_wrong_loss_definition(monkeypatch):
    """The graph referee's ℓ is the loss's definition: ½‖a − y‖² written as ‖a − y‖²
    doubles every gradient, which the generated module must then disagree with."""
    from lstm_sym.codegen.network import compile_network
    from lstm_sym.verify import graph_oracle
    net = network("rnn", layers=2, loss="mse")
    mod = compile_network(net)
    rng = np.random.default_rng(0)
    p = mod.init_network(2, 3, 2, seed=0)
    x, y = rng.normal(size=(3, 2, 2)), rng.normal(size=(3, 2, 2))
    E, cache = mod.loss(p, x, y)
    g = mod.backward(p, cache)
    targets = check_targets(net, y, 3, 2, 2)
    E2, g2 = graph_oracle.network_graph_gradients(net, p, x, targets)
    np.testing.assert_allclose(E2, E, rtol=1e-12)
    np.testing.assert_allclose(g2["V"], g["V"], rtol=1e-10)
    np.testing.assert_allclose(g2["layers"][0]["W"], g["layers"][0]["W"], rtol=1e-10)
    real = graph_oracle._loss_expr
    monkeypatch.setattr(graph_oracle, "_loss_expr", lambda loss, K: 2 * real(loss, K))
    E3, g3 = graph_oracle.network_graph_gradients(net, p, x, targets)
    np.testing.assert_allclose(E3, 2 * E, rtol=1e-12)
    np.testing.assert_allclose(g3["layers"][0]["W"], 2 * g["layers"][0]["W"], rtol=1e-10)


def test_prove_takes_a_network(capsys):
    from lstm_sym.commands import main
    code = main(["prove", "gru", "--layers", "2", "--loss", "xent", "--loss-at", "last"])
    out = capsys.readouterr().out
    assert code == 0 and "layer 2 W_rh" in out and out.strip().endswith("the network's derivation is exact")


def test_prove_of_a_broken_network_derivation_exits_1(capsys, monkeypatch):
    from lstm_sym.commands import main
    _broken(monkeypatch, lambda hd: dataclasses.replace(hd, into_top=Scale(2, hd.into_top)))
    code = main(["prove", "rnn", "--layers", "2", "--sizes", "2,3,2,2"])
    out = capsys.readouterr().out
    assert code == 1 and "V                ok" in out and "layer 1 W        WRONG at layer 1 W[" in out


@pytest.mark.parametrize("argv, says", [
    (["--sizes", "9,9,9,9", "--layers", "3"], "would take"),
    (["--sizes", "2,2,2"], "--sizes takes 4"),
    (["--backend", "sympy", "--layers", "2"], "runs on symengine"),
])
def test_prove_refuses_what_a_network_proof_cannot_do(capsys, argv, says):
    from lstm_sym.commands import main
    code = main(["prove", "gru", "--loss", "mse", *argv])
    err = capsys.readouterr().err
    assert code == 2 and says in err and err.count("\n") == 1


def test_a_cell_the_field_cannot_evaluate_is_a_skip_not_a_verdict(tmp_path):
    cell = tmp_path / "relu.cell"
    cell.write_text("states: h\nh = relu(W @ h + U @ x + b)\n")
    from lstm_sym.cells import load_cell
    report = check_network(network(load_cell(str(cell)), layers=2, loss="xent"), ("derivation", "symbolic"),
                           sizes=(2, 2, 2))
    assert report.exit_code == 0 and any(m == "symbolic" and "Max" in why for m, why in report.skipped)
