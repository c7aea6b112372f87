"""The training network (kernel + linear head + loss) and `lstm-sym train`:
gradients against central differences of the loss, losses against torch's
nn.MSELoss / nn.CrossEntropyLoss, and the command's bad input."""
import numpy as np
import pytest

from lstm_sym.commands import main
from lstm_sym.train import adding_batch
from lstm_sym.train.model import Network
from lstm_sym.train.run import Diverged, Settings, train


def central(net, params, x, y, name, idx, h=1e-6):
    p, m = {k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in params.items()}
    p[name][idx] += h
    m[name][idx] -= h
    return (net.loss_and_grads(p, x, y)[0] - net.loss_and_grads(m, x, y)[0]) / (2 * h)


@pytest.mark.parametrize("cell,loss,at", [("lstm", "mse", "last"), ("gru", "mse", "all"),
                                         ("rnn", "xent", "last"), ("lstm", "xent", "all")])
def test_gradients_match_central_differences_of_the_loss(cell, loss, at):
    rng = np.random.default_rng(3)
    T, B, D, H, K = 4, 3, 2, 5, 3
    net = Network(cell, D, H, K, loss=loss, loss_at=at)
    params = net.init_params(1)
    x = rng.normal(size=(T, B, D))
    shape = (B, K) if loss == "mse" else (B,)
    make = (lambda: rng.normal(size=shape)) if loss == "mse" else (lambda: rng.integers(0, K, size=B))
    y = np.stack([make() for _ in range(T)]) if at == "all" else make()
    _, grads = net.loss_and_grads(params, x, y)
    for name, g in grads.items():
        for idx in [tuple(rng.integers(0, s) for s in g.shape) for _ in range(3)]:
            np.testing.assert_allclose(g[idx], central(net, params, x, y, name, idx), rtol=1e-6, atol=1e-9)


def test_losses_are_torchs():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    from lstm_sym.train.model import _mse, _xent
    assert np.isclose(_mse(z, y)[0], torch.nn.MSELoss()(torch.tensor(z), torch.tensor(y)).item(), rtol=1e-14)
    c = rng.integers(0, 4, size=6)
    ref = torch.nn.CrossEntropyLoss()(torch.tensor(z), torch.tensor(c)).item()
    assert np.isclose(_xent(z, c)[0], ref, rtol=1e-14)


@pytest.mark.parametrize("y,match", [(np.zeros((3, 2)), "expected shape"),
                                    (np.array([0, 1, 5]), r"in \[0, 3\)"),
                                    (np.array([0.0, 1.0, 2.0]), "class indices")])
def test_bad_targets_name_the_array_and_shape(y, match):
    loss = "mse" if y.ndim == 2 else "xent"
    net = Network("rnn", 2, 4, K=3, loss=loss)
    with pytest.raises(ValueError, match=match):
        net.loss_and_grads(net.init_params(0), np.zeros((5, 3, 2)), y)


def test_nan_in_the_data_and_bad_heads_are_refused():
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


def test_torch_replay_agrees_to_1e9_relative():
    pytest.importorskip("torch")
    from lstm_sym.train.run import torch_replay
    net = Network("lstm", 2, 8)
    s = Settings(T=12, steps=40, batch=8, clip=0.5)
    _, hist = train(net, s)
    th = torch_replay(net, s)
    rel = np.abs(np.array(hist.loss) - th.loss) / np.abs(th.loss)
    assert rel.max() <= 1e-9


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
