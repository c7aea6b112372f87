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


@pytest.mark.parametrize("cell", ["gru", "lstm_nofg"])
def test_gru_and_lstm_nofg_replay_in_torch_with_their_fixed_slots_unmoved(cell):
    # gru: bias_hh's r and z rows hold none of ours (b_r, b_z live in bias_ih) and
    # must stay 0; lstm_nofg: the forget rows stay (weights 0, bias_ih OPEN).  The
    # gradient norms agree too: torch's trainable entries are exactly ours
    torch = pytest.importorskip("torch")
    from lstm_sym.train.run import torch_modules, torch_replay
    for layers, clip in ((1, None), (2, 0.5)):
        net = Network(cell, 2, 5, layers=layers)
        s = Settings(T=6, steps=20, batch=4, clip=clip)
        _, hist = train(net, s)
        rnn, head = torch_modules(net, net.init_params(s.seed))
        before = {k: v.detach().clone() for k, v in rnn.named_parameters()}
        th = torch_replay(net, s, (rnn, head))
        np.testing.assert_allclose(hist.loss, th.loss, rtol=1e-9, atol=0)
        np.testing.assert_allclose(hist.grad_norm, th.grad_norm, rtol=1e-9, atol=0)
        H = 5
        for l in range(layers):
            after = dict(rnn.named_parameters())
            if cell == "gru":
                fixed = {f"bias_hh_l{l}": slice(0, 2 * H)}
            else:
                fixed = {f"{part}_l{l}": slice(H, 2 * H) for part in ("weight_ih", "weight_hh", "bias_ih")}
            for part, rows in fixed.items():
                assert torch.equal(after[part][rows], before[part][rows]), (part, layers)
                assert not torch.equal(after[part], before[part]), part       # the rest trained


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
    (["train", "cifg", "--torch", "--steps", "2"], "torch equivalence mode runs rnn, lstm, gru, lstm_nofg; "
                                                   "cifg's input gate is its forget gate negated"),
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


def test_a_diverged_runs_plot_adds_no_warning(tmp_path, capsys):
    # losses near 1e308: matplotlib's log axis overflows in exp while drawing
    pytest.importorskip("matplotlib")
    import warnings
    png = tmp_path / "p.png"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["train", "rnn", "--steps", "50", "--lr", "50", "--optimizer", "sgd", "--plot", str(png)])
    err = capsys.readouterr().err
    assert code == 1 and "the loss is not finite" in err and png.exists()
    assert [str(w.message) for w in caught] == []


CHAOTIC = ["train", "rnn", "--T", "50", "--steps", "20", "--layers", "3", "--torch",
           "--clip-value", "0.001", "--lr", "0.1", "--every", "100"]


def test_a_chaotic_replay_is_judged_against_numpys_own_sensitivity(capsys):
    # torch differs by up to ~1e-5 here, and so does NumPy from itself after a
    # 1e-15 nudge of its initial weights: agreement, with the figures
    pytest.importorskip("torch")
    assert main(CHAOTIC) == 0
    out = capsys.readouterr().out
    assert "the run is chaotic from step" in out and "NumPy differs from itself by" in out


def test_a_real_disagreement_on_the_chaotic_run_exits_1(monkeypatch, capsys):
    # NumPy's Adam with its lr off by 1e-6 relative (torch's is right): the
    # sensitivity rule must not excuse it; it shows from step 2
    pytest.importorskip("torch")
    from lstm_sym.train import OPTIMIZERS, Adam
    monkeypatch.setitem(OPTIMIZERS, "adam", lambda params, lr: Adam(params, lr=lr * (1 + 1e-6)))
    assert main(CHAOTIC) == 1
    err = capsys.readouterr().err
    assert "lstm-sym train: torch disagrees from step 2:" in err and "nudge" in err


def test_train_command_replays_gru_in_torch(capsys):
    pytest.importorskip("torch")
    assert main(["train", "gru", "--layers", "2", "--torch", "--T", "6", "--steps", "5",
                 "--hidden", "4", "--every", "5"]) == 0
    assert "torch agrees: every step's loss within" in capsys.readouterr().out
