"""The training network (the generated network module: stacked layers, a
linear head, a loss) and `lstm-sym train`: gradients against central
differences of the loss, losses against torch's nn.MSELoss /
nn.CrossEntropyLoss, torch replays, and the command's bad input."""
import numpy as np
import pytest

from lstm_sym.commands import main
from lstm_sym.train.model import Network
from lstm_sym.train.run import Diverged, Settings, train


def central(net, params, x, y, name, idx, h=1e-6):
    p, m = {k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in params.items()}
    p[name][idx] += h
    m[name][idx] -= h
    return (net.loss_and_grads(p, x, y)[0] - net.loss_and_grads(m, x, y)[0]) / (2 * h)


@pytest.mark.parametrize("cell,loss,at,layers", [("lstm", "mse", "last", 1), ("gru", "mse", "all", 1),
                                                ("rnn", "xent", "last", 1), ("lstm", "xent", "all", 1),
                                                ("lstm", "mse", "last", 2), ("gru", "xent", "all", 2)])
def test_gradients_match_central_differences_of_the_loss(cell, loss, at, layers):
    rng = np.random.default_rng(3)
    T, B, D, H, K = 4, 3, 2, 5, 3
    net = Network(cell, D, H, K, loss=loss, loss_at=at, layers=layers)
    params = net.init_params(1)
    x = rng.normal(size=(T, B, D))
    shape = (B, K) if loss == "mse" else (B,)
    make = (lambda: rng.normal(size=shape)) if loss == "mse" else (lambda: rng.integers(0, K, size=B))
    y = np.stack([make() for _ in range(T)]) if at == "all" else make()
    _, grads = net.loss_and_grads(params, x, y)
    assert set(grads) == set(params)
    for name, g in grads.items():
        for idx in [tuple(rng.integers(0, s) for s in g.shape) for _ in range(3)]:
            np.testing.assert_allclose(g[idx], central(net, params, x, y, name, idx), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("cell,loss,at,layers", [("lstm", "mse", "last", 1), ("rnn", "xent", "all", 1),
                                                ("lstm", "xent", "last", 2), ("rnn", "mse", "all", 3)])
def test_losses_are_torchs(cell, loss, at, layers):
    # the generated module's summed ½‖a − y‖² / cross-entropy, scaled to torch's
    # nn.MSELoss / nn.CrossEntropyLoss means over the same weights
    pytest.importorskip("torch")
    from lstm_sym.train.run import torch_loss, torch_modules
    rng = np.random.default_rng(0)
    T, B, D, H, K = 5, 6, 2, 4, 3
    net = Network(cell, D, H, K, loss=loss, loss_at=at, layers=layers)
    params = net.init_params(2)
    x = rng.normal(size=(T, B, D))
    shape = (T, B) if at == "all" else (B,)
    y = rng.integers(0, K, size=shape) if loss == "xent" else rng.normal(size=shape + (K,))
    ref = torch_loss(net, *torch_modules(net, params), x, y).item()
    assert np.isclose(net.loss_and_grads(params, x, y)[0], ref, rtol=1e-13)


@pytest.mark.parametrize("y,match", [(np.zeros((3, 2)), "expected shape"),
                                    (np.array([0, 1, 5]), r"in \[0, 3\)"),
                                    (np.array([0.0, 1.0, 2.0]), "class indices")])
def test_bad_targets_name_the_array_and_shape(y, match):
    loss = "mse" if y.ndim == 2 else "xent"
    net = Network("rnn", 2, 4, K=3, loss=loss)
    with pytest.raises(ValueError, match=match):
        net.loss_and_grads(net.init_params(0), np.zeros((5, 3, 2)), y)


def test_nan_in_the_data_and_bad_heads_are_refused():
    with pytest.raises(ValueError, match="layers must be a whole number of at least 1, got 0"):
        Network("rnn", 2, 4, layers=0)
    with pytest.raises(ValueError, match="unknown loss position 'first'"):
        Network("rnn", 2, 4, loss_at="first")
    net = Network("rnn", 2, 4)
    x = np.zeros((5, 3, 2))
    x[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        net.loss_and_grads(net.init_params(0), x, np.zeros((3, 1)))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        Network("rnn", 2, 4, loss="hinge")
    with pytest.raises(ValueError, match="H must be a positive integer"):
        Network("rnn", 2, 0)


def test_a_diverging_run_stops_with_the_step_and_keeps_its_history():
    net = Network("rnn", 2, 8)
    with pytest.raises(Diverged, match=r"step \d+ \(last finite gradient norm") as e:
        train(net, Settings(T=10, steps=50, optimizer="sgd", lr=1e30))
    assert 0 < len(e.value.history.loss) < 50
    assert all(np.isfinite(e.value.history.loss))


def test_a_step_that_overflows_a_parameter_is_divergence(capsys):
    # SGD at lr 1.7e308 sends some weights to ±inf: a Diverged run (exit 1), not bad input
    net = Network("rnn", 2, 8)
    with pytest.raises(Diverged, match="step 2 "):
        train(net, Settings(T=10, steps=5, optimizer="sgd", lr=1.7e308))
    assert main(["train", "rnn", "--optimizer", "sgd", "--lr", "1.7e308", "--steps", "5", "--T", "10"]) == 1
    err = capsys.readouterr().err
    assert "the loss is not finite at step 2" in err and "Warning" not in err


def test_torch_replay_agrees_to_1e9_relative():
    pytest.importorskip("torch")
    from lstm_sym.train.run import torch_replay
    net = Network("lstm", 2, 8)
    s = Settings(T=12, steps=40, batch=8, clip=0.5)
    _, hist = train(net, s)
    th = torch_replay(net, s)
    rel = np.abs(np.array(hist.loss) - th.loss) / np.abs(th.loss)
    assert rel.max() <= 1e-9


def test_two_layer_torch_replay_agrees_to_1e9_relative():
    pytest.importorskip("torch")
    from lstm_sym.train.run import torch_replay
    for cell in ("lstm", "rnn"):
        net = Network(cell, 2, 6, layers=2)
        s = Settings(T=8, steps=30, batch=4, clip=0.5)
        _, hist = train(net, s)
        th = torch_replay(net, s)
        rel = np.abs(np.array(hist.loss) - th.loss) / np.abs(th.loss)
        assert rel.max() <= 1e-9, cell


def test_one_layer_weights_are_the_cells_kernel_draws():
    # the network module draws a single layer's weights as the cell's kernel does,
    # and the head's from default_rng([seed, 1]) within ±1/√H
    from lstm_sym import codegen
    net = Network("lstm", 2, 8)
    params = net.init_params(4)
    for name, w in codegen.compile("lstm").init_params(2, 8, seed=4).items():
        np.testing.assert_array_equal(params[name], w)
    rng = np.random.default_rng([4, 1])
    np.testing.assert_array_equal(params["V"], rng.uniform(-1 / np.sqrt(8), 1 / np.sqrt(8), (1, 8)))


def test_adam_reduces_the_adding_loss_below_the_baseline():
    # a short run on short sequences: well below predicting 1.0 (1/6)
    net = Network("lstm", 2, 16)
    _, hist = train(net, Settings(T=6, steps=400, batch=32, lr=1e-2))
    assert np.mean(hist.loss[-50:]) < 0.05 < np.mean(hist.loss[:20])


@pytest.mark.parametrize("argv,msg", [
    (["train", "lstm", "--steps", "0"], "--steps"),
    (["train", "lstm", "--task", "copy"], "invalid choice"),
    (["train", "lstm", "--plot", "curves.txt"], "ending in .png"),
    (["train", "lstm_nofg", "--torch", "--steps", "2"], "torch equivalence mode runs"),
    (["train", "lstm", "--torch", "--compare", "rnn"], "give one of them"),
    (["train", "lstm", "--layers", "0"], "--layers: '0' is not a positive integer"),
    (["train", "lstm", "--layers", "1.5"], "--layers: '1.5' is not a positive integer"),
])
def test_bad_train_invocations_are_one_line_exit_2(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_train_command_writes_the_plot_and_reports_progress(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curves.png"
    assert main(["train", "lstm", "--T", "6", "--steps", "20", "--every", "10", "--hidden", "4",
                 "--compare", "rnn", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "lstm  step 10/20" in out and "rnn  step 20/20" in out and "steps/s" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["train", "lstm", "--steps", "2", "--plot", str(png)]) == 2     # no --force


def test_train_command_replays_two_layers_in_torch(capsys):
    pytest.importorskip("torch")
    assert main(["train", "lstm", "--layers", "2", "--torch", "--T", "6", "--steps", "5",
                 "--hidden", "4", "--every", "5"]) == 0
    assert "torch replay: largest relative loss difference over 5 steps" in capsys.readouterr().out
