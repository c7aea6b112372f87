"""A network's derivation, printed and evaluated: `lstm-sym derive CELL --layers
--head --loss --loss-at`, and its gradients, composed as printed (the head's
δ_{y,t}, Vᵀ δ_{y,t} into the top layer, δx_t of layer l+1 into layer l), against
central differences of a two-layer network written here in NumPy."""
import numpy as np
import pytest

from lstm_sym.commands import main
from lstm_sym.network import network, run_network
from lstm_sym.network_document import render_network
from test_network_head import central       # central differences of a function written in a test

D, H1, H2, K, T = 3, 4, 3, 5, 4


def rnn_layer(W, U, b, xs):
    h, out = np.zeros(len(b)), []
    for x in xs:
        h = np.tanh(W @ h + U @ x + b)
        out.append(h)
    return out


def hand_loss(theta, xs, ys, loss, last):
    """Two tanh-RNN layers, a linear head and the loss, summed over the steps that have one."""
    (W1, U1, b1), (W2, U2, b2), (V, by) = theta
    hs = rnn_layer(W2, U2, b2, rnn_layer(W1, U1, b1, xs))
    steps = [len(xs) - 1] if last else range(len(xs))
    total = 0.0
    for k, t in enumerate(steps):
        z, y = V @ hs[t] + by, ys[k]
        if loss == "xent":
            total -= y @ (z - z.max() - np.log(np.exp(z - z.max()).sum()))
        else:
            total += 0.5 * np.sum((z - y) ** 2)
    return total


def problem(loss, last, seed=0):
    rng = np.random.default_rng(seed)
    theta = [tuple(rng.normal(scale=0.7, size=s) for s in ((H1, H1), (H1, D), (H1,))),
             tuple(rng.normal(scale=0.7, size=s) for s in ((H2, H2), (H2, H1), (H2,))),
             tuple(rng.normal(size=s) for s in ((K, H2), (K,)))]
    xs = list(rng.normal(size=(T, D)))
    n = 1 if last else T
    ys = list(rng.dirichlet(np.ones(K), size=n) if loss == "xent" else rng.normal(size=(n, K)))
    return theta, xs, ys


@pytest.mark.parametrize("loss, last", [("xent", False), ("xent", True), ("mse", False), ("mse", True)])
def test_the_composed_network_gradients_match_a_hand_written_network(loss, last):
    net = network("rnn", layers=2, loss=loss, loss_at="last" if last else "all")
    theta, xs, ys = problem(loss, last)
    layers = [dict(zip(("W", "U", "b"), p)) for p in theta[:2]]
    E, grads = run_network(net, layers, {"V": theta[2][0], "b_y": theta[2][1]}, xs, ys)
    assert E == pytest.approx(hand_loss(theta, xs, ys, loss, last), rel=1e-12)
    for l, names in enumerate([("W", "U", "b"), ("W", "U", "b"), ("V", "b_y")]):
        for k, name in enumerate(names):
            def f(v, l=l, k=k):
                th = [list(p) for p in theta]
                th[l][k] = v
                return hand_loss(th, xs, ys, loss, last)
            got = grads[name] if l == 2 else grads["layers"][l][name]
            np.testing.assert_allclose(got, central(f, theta[l][k]), rtol=1e-6, atol=1e-8,
                                       err_msg=f"layer {l + 1} {name}")
    dx = central(lambda v: hand_loss(theta, list(v), ys, loss, last), np.array(xs))
    np.testing.assert_allclose(np.array(grads["x"]), dx, rtol=1e-6, atol=1e-8)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_derive_prints_the_network_as_the_seeds_teach_it(capsys):
    code, out, err = run(capsys, "derive", "lstm", "--layers", "2", "--head", "softmax", "--loss", "xent")
    assert code == 0 and err == ""
    for line in ["a_t = V h_t^(2) + b_y", "ŷ_t = softmax(a_t)", "δ_{y,t} = ∂ℓ_t/∂a_t = ŷ_t − y_t",
                 "∂ℓ_t/∂h_t^(2) = Vᵀ δ_{y,t}", "∂E/∂h_t^(1) through layer 2's input = δx_t^(2)",
                 "∂E/∂V = Σ_{t=1}^{T} δ_{y,t} h_t^(2)ᵀ", "∂E/∂b_y = Σ_{t=1}^{T} δ_{y,t}",
                 "δx_t = W_fxᵀ δ_{f,t}"]:
        assert line in out, line


def test_many_to_one_has_an_output_error_at_step_T_only(capsys):
    code, out, _ = run(capsys, "derive", "lstm", "--loss", "mse", "--loss-at", "last")
    assert code == 0
    assert "E = ℓ_T" in out and "δ_{y,t} = ∂ℓ_t/∂a_t = a_t − y_t" in out
    assert "∂E/∂V = δ_{y,T} h_T^(1)ᵀ" in out and "only step T has a loss" in out
    assert "through layer 2" not in out          # one layer: nothing between layers


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown", "jupyter"])
def test_every_format_prints_a_network(fmt):
    out = render_network(network("gru", layers=3, loss="xent"), fmt)
    assert "softmax" in out and len(out) > 1000


@pytest.mark.parametrize("argv, says", [
    (["--layers", "0"], "--layers: '0' is not a positive integer"),
    (["--head", "relu"], "unknown head 'relu'"),
    (["--loss", "hinge"], "unknown loss 'hinge'"),
    (["--head", "softmax", "--loss", "mse"], "loss mse needs head linear"),
    (["--loss-at", "first"], "unknown loss position 'first'"),
    (["--layers", "2", "--part", "bptt"], "a network prints whole"),
    (["--loss", "xent", "--notation", "d2l"], "a network prints in the tutorial's notation only"),
])
def test_bad_network_flags_are_one_line_and_exit_2(capsys, argv, says):
    code, out, err = run(capsys, "derive", "lstm", *argv)
    assert code == 2 and out == "" and says in err and err.count("\n") == 1


def test_latex_has_no_unicode_minus_and_many_layers_print_once(capsys):
    from lstm_sym.commands import main
    assert main(["derive", "lstm", "--layers", "5", "--loss", "xent", "--format", "latex"]) == 0
    out = capsys.readouterr().out
    math = [line for line in out.splitlines() if not line.startswith("%")]
    assert "(l-1)" in out and not any("−" in line for line in math)
    assert main(["derive", "rnn", "--layers", "100000"]) == 0
    out = capsys.readouterr().out
    assert "for l = 99999, …, 1" in out and len(out.splitlines()) < 100


@pytest.mark.parametrize("spec, name", [("h = tanh(V @ h + U @ x + b)", "'V'"),
                                        ("h = tanh(W @ h + U @ x + b_y)", "'b_y'"),
                                        ("a = W @ h + U @ x + b\nh = tanh(a)", "'a'")])
def test_a_cell_name_the_head_uses_is_refused(tmp_path, spec, name):
    from lstm_sym.cells import load_cell
    path = tmp_path / "clash.cell"
    path.write_text("states: h\n" + spec + "\n")
    with pytest.raises(ValueError, match=f"cell clash names {name}, which in a network is"):
        network(load_cell(str(path)), layers=2)
