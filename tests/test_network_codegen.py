"""The generated network module (codegen.network): its loss and every gradient
against the IR interpreter's composition (lstm_sym.network.run_network, itself
checked against a network written in NumPy), one sequence at a time, and
against central differences of its own loss; its refusals."""

import numpy as np
import pytest

from lstm_sym.network import network, run_network
from lstm_sym.codegen.network import compile_network

D, K, T, B = 3, 4, 4, 2
SIZES = [5, 3]

def targets(net, rng):
    steps = T if net.loss_at == "all" else 1
    if net.loss == "xent":
        y = rng.integers(0, K, size=(steps, B))
    else:
        y = rng.normal(size=(steps, B, K))
    return y if net.loss_at == "all" else y[0]

@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("loss, loss_at", [("xent", "all"), ("xent", "last"), ("mse", "all"), ("mse", "last")])
def test_the_generated_network_matches_the_interpreter(cell, loss, loss_at):
    net = network(cell, layers=2, loss=loss, loss_at=loss_at)
    mod = compile_network(net)
    rng = np.random.default_rng(0)
    params = mod.init_network(D, SIZES, K, seed=1)
    x = rng.normal(size=(T, B, D))
    y = targets(net, rng)
    E, cache = mod.loss(params, x, y)
    grads = mod.backward(params, cache)
    onehot = np.eye(K)[y] if loss == "xent" else y
    want_E, want = 0.0, None
    for b in range(B):
        ys = list(onehot[:, b]) if loss_at == "all" else [onehot[b]]
        e, g = run_network(net, params["layers"], {"V": params["V"], "b_y": params["b_y"]}, list(x[:, b]), ys)
        want_E += e
        if want is None:
            want = {"V": g["V"], "b_y": g["b_y"], "layers": [dict(l) for l in g["layers"]]}
        else:
            want["V"] = want["V"] + g["V"]
            want["b_y"] = want["b_y"] + g["b_y"]
            for l, lg in enumerate(g["layers"]):
                for p in params["layers"][l]:
                    want["layers"][l][p] = want["layers"][l][p] + lg[p]
        np.testing.assert_allclose(grads["x"][:, b], np.array(g["x"]), rtol=1e-10, atol=1e-12)
    assert E == pytest.approx(want_E, rel=1e-12)
    np.testing.assert_allclose(grads["V"], want["V"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["b_y"], want["b_y"], rtol=1e-10, atol=1e-12)
    for l in range(2):
        for p in params["layers"][l]:
            np.testing.assert_allclose(grads["layers"][l][p], want["layers"][l][p], rtol=1e-10, atol=1e-12,
                                       err_msg=f"layer {l + 1} {p}")

def test_the_generated_network_against_central_differences_of_its_own_loss():
    net = network("lstm", layers=2, loss="xent")
    mod = compile_network(net)
    rng = np.random.default_rng(2)
    params = mod.init_network(D, SIZES, K, seed=3)
    x, y = rng.normal(size=(T, B, D)), rng.integers(0, K, size=(T, B))
    h0s = [rng.normal(size=(B, H)) for H in SIZES]
    c0s = [rng.normal(size=(B, H)) for H in SIZES]
    E, cache = mod.loss(params, x, y, h0s, c0s)
    g = mod.backward(params, cache)
    eps = 1e-6
    for where, name in [(0, "W_fh"), (1, "W_ox"), (1, "b_c")]:
        a = params["layers"][where][name]
        for idx in [(0,) * a.ndim, tuple(s - 1 for s in a.shape)]:
            a[idx] += eps
            up = mod.loss(params, x, y, h0s, c0s)[0]
            a[idx] -= 2 * eps
            down = mod.loss(params, x, y, h0s, c0s)[0]
            a[idx] += eps
            assert g["layers"][where][name][idx] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)
    assert "h0" in g["layers"][0] and g["layers"][1]["c0"].shape == (B, SIZES[1])

@pytest.mark.parametrize("bad, says", [
    (lambda p, x, y: (p, x, np.full((T, B), K)), "targets holds class 4, outside 0..3"),
    (lambda p, x, y: (p, x, np.zeros((T, B + 1), int)), r"expected class indices \(T, B\) = \(4, 2\)"),
    (lambda p, x, y: ({**p, "V": p["V"][:, :2]}, x, y), r"V has shape \(4, 2\)"),
    (lambda p, x, y: ({**p, "layers": p["layers"][:1]}, x, y), "one dict per layer"),
    (lambda p, x, y: (p, np.full_like(x, np.nan), y), "x holds NaN"),
])
def test_bad_input_is_one_value_error(bad, says):
    mod = compile_network(network("rnn", layers=2, loss="xent"))
    rng = np.random.default_rng(0)
    params = mod.init_network(D, SIZES, K)
    args = bad(params, rng.normal(size=(T, B, D)), rng.integers(0, K, size=(T, B)))
    with pytest.raises(ValueError, match=says):
        mod.loss(*args)

@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("loss, loss_at", [("xent", "all"), ("xent", "last"), ("mse", "all"), ("mse", "last")])
def test_the_generated_network_matches_torch_stacked_layers_linear_and_loss(cell, loss, loss_at):
    """torch.nn.LSTM/GRU/RNN(num_layers=3) + nn.Linear + nn.CrossEntropyLoss (or the squared error)."""
    pytest.importorskip("torch")
    from lstm_sym.verify.torch_network import torch_network_gradients
    net = network(cell, layers=3, loss=loss, loss_at=loss_at)
    mod = compile_network(net)
    rng = np.random.default_rng(5)
    params = mod.init_network(D, 4, K, seed=2)
    x, y = rng.normal(size=(T, B, D)), targets(net, rng)
    h0s = [rng.normal(size=(B, 4)) for _ in range(3)]
    c0s = [rng.normal(size=(B, 4)) for _ in range(3)] if cell == "lstm" else None
    E, cache = mod.loss(params, x, y, h0s, c0s)
    ours = mod.backward(params, cache)
    want_E, theirs = torch_network_gradients(net, params, x, y, h0s, c0s)
    assert E == pytest.approx(want_E, rel=1e-12)
    for key in ("V", "b_y", "x"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-10, atol=1e-12, err_msg=key)
    for l in range(3):
        assert set(ours["layers"][l]) == set(theirs["layers"][l])
        for p, g in theirs["layers"][l].items():
            np.testing.assert_allclose(ours["layers"][l][p], g, rtol=1e-10, atol=1e-12, err_msg=f"layer {l + 1} {p}")

def test_torch_refuses_layers_of_different_sizes():
    pytest.importorskip("torch")
    from lstm_sym.verify.torch_network import torch_network_gradients
    net = network("lstm", layers=2, loss="xent")
    mod = compile_network(net)
    params = mod.init_network(D, [5, 3], K)
    with pytest.raises(ValueError, match=r"one hidden size; the layers have \[3, 5\]"):
        torch_network_gradients(net, params, np.zeros((T, B, D)), np.zeros((T, B), int))

def test_the_generated_clipping_helpers_do_what_torch_does():
    torch = pytest.importorskip("torch")
    mod = compile_network(network("lstm", layers=2, loss="xent"))
    rng = np.random.default_rng(4)
    params = mod.init_network(D, SIZES, K)
    E, cache = mod.loss(params, 10 * rng.normal(size=(T, B, D)), rng.integers(0, K, size=(T, B)))
    grads = mod.backward(params, cache)
    arrays = [g[n] for g in grads["layers"] for n in mod.PARAMS] + [grads["V"], grads["b_y"]]
    tensors = [torch.nn.Parameter(torch.zeros(a.shape, dtype=torch.float64)) for a in arrays]
    for t, a in zip(tensors, arrays):
        t.grad = torch.tensor(a.copy())
    want_norm = float(torch.nn.utils.clip_grad_norm_(tensors, 0.5))
    x_before = grads["x"].copy()
    norm = mod.clip_by_global_norm(grads, 0.5)
    assert norm == pytest.approx(want_norm, rel=1e-12) and norm > 0.5
    for t, a in zip(tensors, arrays):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-12)
    assert np.array_equal(grads["x"], x_before)            # δx is not a parameter's
    mod.clip_by_value(grads, 1e-3)
    assert max(np.abs(a).max() for a in arrays) <= 1e-3
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        mod.clip_by_global_norm(grads, 0)
