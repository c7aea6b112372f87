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


# --- refusals: every one a ValueError in one line, naming the argument (and the layer) ---

@pytest.fixture(scope="module")
def rnn2():
    return compile_network(network("rnn", layers=2, loss="xent"))

@pytest.fixture(scope="module")
def lstm2():
    return compile_network(network("lstm", layers=2, loss="xent"))

def problem(mod, dtype=np.float64):
    rng = np.random.default_rng(0)
    params = mod.init_network(D, SIZES, K, dtype=dtype)
    return params, rng.normal(size=(T, B, D)).astype(dtype), rng.integers(0, K, size=(T, B))

def replaced(params, layer=None, **arrays):
    """A copy of params with some arrays replaced: a layer's (layer 1-based) or the head's."""
    out = {"layers": [dict(p) for p in params["layers"]], "V": params["V"], "b_y": params["b_y"]}
    (out if layer is None else out["layers"][layer - 1]).update(arrays)
    return out

def refused(call, *words):
    """call() raises one ValueError whose one-line message holds every word."""
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message
    return message

@pytest.mark.parametrize("name", ["V", "b_y"])
@pytest.mark.parametrize("layers, head", [(np.float64, np.float32), (np.float32, np.float64)])
def test_a_head_of_another_dtype_than_the_layers_is_refused_by_loss(rnn2, name, layers, head):
    params, x, y = problem(rnn2, layers)
    bad = replaced(params, **{name: params[name].astype(head)})
    refused(lambda: rnn2.loss(bad, x, y), f"{name} has dtype {np.dtype(head)}", f"expected {np.dtype(layers)}")

def test_an_integer_or_complex_head_is_refused_where_the_module_is_not_complex_safe(rnn2):
    params, x, y = problem(rnn2)
    refused(lambda: rnn2.loss(replaced(params, V=np.ones((K, SIZES[-1]), int)), x, y), "V has dtype int64")
    refused(lambda: rnn2.loss(replaced(params, b_y=params["b_y"] + 0j), x, y), "b_y has dtype complex128")
    refused(lambda: rnn2.loss(params, x + 0j, y), "x has dtype complex128", "float32 or float64")

def test_a_refusal_from_a_layers_kernel_names_the_layer(lstm2):
    params, x, y = problem(lstm2)
    refused(lambda: lstm2.loss(replaced(params, 2, W_fh=np.zeros((3, 5))), x, y), "layer 2: W_fh has shape (3, 5)")
    h0s = [np.zeros((B, SIZES[0])), np.zeros((B, SIZES[0]))]
    refused(lambda: lstm2.loss(params, x, y, h0s), "layer 2: h0 has shape (2, 5)", "(B, H) = (2, 3)")
    refused(lambda: lstm2.loss(replaced(params, 1, b_f=np.zeros(4)), x, y), "layer 1: b_f has shape (4,)")
    _, cache = lstm2.loss(params, x, y)
    refused(lambda: lstm2.backward(replaced(params, 2, W_ox=np.zeros((3, 3))), cache), "layer 2: W_ox has shape")
    refused(lambda: lstm2.loss(replaced(params, 2, W_fh=params["layers"][1]["W_fh"].astype(np.float32)), x, y),
            "layer 2: W_fh has dtype float32")

@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_c0s_is_refused_for_a_cell_without_a_c_state(cell):
    mod = compile_network(network(cell, layers=2, loss="xent"))
    params, x, y = problem(mod)
    c0s = [np.zeros((B, H)) for H in SIZES]
    refused(lambda: mod.loss(params, x, y, c0s=c0s), "c0s given", f"the {cell} cell has no c state")
    assert np.isfinite(mod.loss(params, x, y, h0s=c0s)[0])           # h0s still taken

@pytest.mark.parametrize("where, name, value", [
    (2, "W_fh", np.nan), (1, "b_o", np.inf), (None, "V", -np.inf), (None, "b_y", np.nan),
    ("h0s", 1, np.nan), ("c0s", 2, np.inf)])
def test_nan_or_infinity_in_a_parameter_or_an_initial_state_is_refused(lstm2, where, name, value):
    params, x, y = problem(lstm2)
    if where in ("h0s", "c0s"):
        states = [np.zeros((B, H)) for H in SIZES]
        states[name - 1][0, 0] = value
        says = f"layer {name} {where[0]}0 holds NaN or infinity"
        refused(lambda: lstm2.loss(params, x, y, **{where: states}), says)
        return
    a = (params if where is None else params["layers"][where - 1])[name].copy()
    a.flat[-1] = value
    says = f"{name} holds NaN or infinity" if where is None else f"layer {where} {name} holds NaN or infinity"
    refused(lambda: lstm2.loss(replaced(params, where, **{name: a}), x, y), says)

def test_nan_in_a_parameter_is_refused_by_backward_too(rnn2):
    params, x, y = problem(rnn2)
    _, cache = rnn2.loss(params, x, y)
    refused(lambda: rnn2.backward(replaced(params, 2, U=np.full((3, 3), np.nan)), cache), "layer 2 U holds NaN")

@pytest.mark.parametrize("call, words", [
    (lambda m, p, x, y: m.init_network(D, 3.0, K), ["sizes must be a positive integer", "3.0"]),
    (lambda m, p, x, y: m.init_network(D, True, K), ["sizes must be", "True"]),
    (lambda m, p, x, y: m.init_network(D, None, K), ["sizes must be", "None"]),
    (lambda m, p, x, y: m.init_network(D, np.array(4), K), ["sizes must be", "array(4)"]),
    (lambda m, p, x, y: m.init_network(D, [4, 4.0], K), ["sizes[1] must be a positive integer"]),
    (lambda m, p, x, y: m.init_network(2.5, 4, K), ["D must be a positive integer"]),
    (lambda m, p, x, y: m.init_network(D, 4, False), ["K must be a positive integer"]),
    (lambda m, p, x, y: m.init_network(D, 4, K, seed="a"), ["seed must be a non-negative integer"]),
    (lambda m, p, x, y: m.init_network(D, 4, K, dtype="no such"), ["dtype must be float32 or float64"]),
    (lambda m, p, x, y: m.init_network(D, 4, 10 ** 15), ["K = 1000000000000000", "too large"]),
    (lambda m, p, x, y: m.init_network(D, 4, 2 ** 70), ["K = 1180591620717411303424", "too large"]),
    (lambda m, p, x, y: m.loss(p, x, y, h0s=3), ["h0s must be a list", "got int"]),
    (lambda m, p, x, y: m.loss(p, x, y, h0s=[None]), ["h0s has 1 entries", "one per layer (2)"]),
    (lambda m, p, x, y: m.loss(p, x, y, h0s=[np.zeros((B, 5)).tolist(), None]), ["layer 1: h0 is a list"]),
    (lambda m, p, x, y: m.loss({**p, "layers": [p["layers"][0], 3]}, x, y),
     ["layer 2", 'params["layers"][1] is of type int', "W_fh"]),
    (lambda m, p, x, y: m.loss({**p, "layers": [p["layers"][0], {**p["layers"][1], "W_fh": None}]}, x, y),
     ["layer 2: W_fh is a NoneType"]),
    (lambda m, p, x, y: m.loss({**p, "layers": [p["layers"][0], {k: v for k, v in p["layers"][1].items()
                                                                 if k != "b_o"}]}, x, y), ["layer 2: params has no b_o"]),
    (lambda m, p, x, y: m.loss({**p, "V": p["V"].tolist()}, x, y), ["V is of type list"]),
    (lambda m, p, x, y: m.loss({**p, "V": p["V"].astype(object)}, x, y), ["V has dtype object"]),
    (lambda m, p, x, y: m.loss(3, x, y), ['params must be a dict with keys "layers", "V", "b_y"']),
    (lambda m, p, x, y: m.loss(p, np.float64(1.0), y), ["x has shape ()", "(T, B, D)"]),
    (lambda m, p, x, y: m.loss(p, x[:, :0], y[:, :0]), ["x has shape (4, 0, 3)", "at least 1"]),
    (lambda m, p, x, y: m.loss(p, x[:0], y[:0]), ["x has shape (0, 2, 3)", "at least 1"]),
    (lambda m, p, x, y: m.loss(p, x > 0, y), ["x has dtype bool", "float32 or float64"]),
    (lambda m, p, x, y: m.loss(p, x.astype(object), y), ["x has dtype object"]),
    (lambda m, p, x, y: m.loss(p, [[[1.0, 2.0, 3.0]], [[1.0]]], y), ["x is not an array"]),
    (lambda m, p, x, y: m.loss(p, x, [["a", "b"]] * T), ["targets has dtype <U1"]),
    (lambda m, p, x, y: m.loss(p, x, y > 0), ["targets has dtype bool"]),
    (lambda m, p, x, y: m.loss(p, x, y.astype(object)), ["targets has dtype object"]),
    (lambda m, p, x, y: m.loss(p, x, [[0, 1], [1]]), ["targets is not an array"]),
    (lambda m, p, x, y: m.loss(p, x, np.int64(1)), ["targets has shape ()", "class indices (T, B)"]),
])
def test_odd_arguments_are_one_value_error_naming_them(lstm2, call, words):
    params, x, y = problem(lstm2)
    refused(lambda: call(lstm2, params, x, y), *words)

def test_backward_refuses_what_loss_did_not_return(lstm2, rnn2):
    params, x, y = problem(lstm2)
    _, cache = lstm2.loss(params, x, y)
    grads = lstm2.backward(params, cache)
    refused(lambda: lstm2.backward(params, grads), "cache is not what loss() returned")
    refused(lambda: lstm2.backward(params, None), "cache is not what loss() returned")
    refused(lambda: lstm2.backward(params, {**cache, "caches": cache["caches"][:1]}), "cache is not what this network")
    refused(lambda: lstm2.backward(params, {**cache, "h_shape": None}), "cache is not what this network")
    refused(lambda: lstm2.backward(None, cache), "params must be a dict")
    refused(lambda: lstm2.backward(lstm2.init_network(D, SIZES, K + 1), cache), "V has shape (5, 3)",
            "K = 4 outputs")
    rnn_params = rnn2.init_network(D, SIZES, K)
    refused(lambda: lstm2.backward(params, rnn2.loss(rnn_params, x, y)[1]), "layer 2: cache is not what")
    last = compile_network(network("lstm", layers=2, loss="xent", loss_at="last"))
    refused(lambda: lstm2.backward(params, last.loss(params, x, y[-1])[1]), "cache is not what this network")

def test_the_clipping_helpers_refuse_odd_limits_and_grads_before_changing_any(lstm2):
    params, x, y = problem(lstm2)
    grads = lstm2.backward(params, lstm2.loss(params, x, y)[1])
    for bad in (None, "a", True, 0, -1.0, float("nan"), np.array(0.5)):
        refused(lambda: lstm2.clip_by_global_norm(grads, bad), "max_norm must be > 0")
        refused(lambda: lstm2.clip_by_value(grads, bad), "limit must be > 0")
    refused(lambda: lstm2.clip_by_global_norm(None, 1.0), "grads must be what backward() returned")
    refused(lambda: lstm2.clip_by_global_norm({"layers": grads["layers"]}, 1.0), "grads has no V")
    before = grads["layers"][0]["W_fh"].copy()
    refused(lambda: lstm2.clip_by_global_norm({**grads, "b_y": grads["b_y"].astype(int)}, 1e-9),
            "grads' b_y has dtype int64")
    assert np.array_equal(grads["layers"][0]["W_fh"], before)        # nothing clipped before the refusal
    refused(lambda: lstm2.clip_by_value({**grads, "V": grads["V"] + 0j}, 1e-9), "grads' V has dtype complex128")
    assert lstm2.clip_by_global_norm(grads, 10 ** 400) == lstm2.clip_by_global_norm(grads, np.float32(1e30))

@pytest.mark.parametrize("rows, words", [
    ([1.5, -0.5, 0, 0], ["probability rows", "entries in [0, 1]", "-0.5"]),
    ([-0.25, 0.25, 0.5, 0.5], ["probability rows", "-0.25"]),
    ([0.5, 0.25, 0, 0], ["probability rows", "sum to 1"]),
])
def test_xent_rows_must_be_probabilities(rnn2, rows, words):
    params, x, _ = problem(rnn2)
    refused(lambda: rnn2.loss(params, x, np.tile(rows, (T, B, 1))), *words)

def test_xent_takes_class_indices_and_probability_rows_alike(rnn2):
    params, x, y = problem(rnn2)
    E = rnn2.loss(params, x, y)[0]
    assert rnn2.loss(params, x, np.eye(K)[y])[0] == pytest.approx(E, rel=1e-14)
    assert rnn2.loss(params, x, y.astype(np.uint8))[0] == pytest.approx(E, rel=1e-14)
    soft = np.full((T, B, K), 1 / K)
    assert np.isfinite(rnn2.loss(params, x, soft)[0])

def test_class_indices_are_one_hot_without_a_K_by_K_matrix(rnn2):
    """np.eye(K)[y] held K² entries: 72 MB at K = 3000 for targets of T·B·K = 24000."""
    import tracemalloc
    params = rnn2.init_network(D, SIZES, 3000)
    x, y = np.random.default_rng(0).normal(size=(T, B, D)), np.full((T, B), 2999)
    tracemalloc.start()
    try:
        E, cache = rnn2.loss(params, x, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5e6, peak
    assert cache["y"].shape == (T, B, 3000) and cache["y"].sum() == T * B and np.all(cache["y"][..., 2999] == 1)

def test_float32_and_complex_safe_runs_still_work(lstm2):
    params, x, y = problem(lstm2)
    E, cache = lstm2.loss(params, x, y)
    grads = lstm2.backward(params, cache)
    p32 = lstm2.init_network(D, SIZES, K, dtype=np.float32)
    E32, cache32 = lstm2.loss(p32, x.astype(np.float32), y)
    g32 = lstm2.backward(p32, cache32)
    assert E32 == pytest.approx(E, rel=1e-5)
    assert g32["V"].dtype == g32["layers"][1]["W_fh"].dtype == g32["x"].dtype == np.float32
    np.testing.assert_allclose(g32["V"], grads["V"], rtol=1e-3, atol=1e-6)
    safe = compile_network(network("lstm", layers=2, loss="xent"), complex_safe=True)
    complex_params = {"layers": [{k: v.astype(complex) for k, v in p.items()} for p in params["layers"]],
                      "V": params["V"].astype(complex), "b_y": params["b_y"].astype(complex)}
    h = 1e-30
    for name, a, idx in [("V", complex_params["V"], (1, 2)), ("b_y", complex_params["b_y"], (3,)),
                         ("W_ix", complex_params["layers"][0]["W_ix"], (0, 1))]:
        a[idx] += 1j * h
        step = safe.loss(complex_params, x.astype(complex), y)[0].imag / h
        a[idx] -= 1j * h
        want = grads[name][idx] if name in ("V", "b_y") else grads["layers"][0][name][idx]
        assert step == pytest.approx(want, rel=1e-10)
    # complex V alone (real layers, real x): the complex-safe module takes the mixture
    assert safe.loss({**params, "V": params["V"] + 0j}, x, y)[0] == pytest.approx(E, rel=1e-12)
    refused(lambda: safe.loss({**params, "V": np.ones((K, SIZES[-1]), int)}, x, y), "V has dtype int64",
            "complex128")

def test_initial_states_may_come_stacked_as_one_array_when_the_layers_are_one_size(lstm2):
    params = lstm2.init_network(D, 4, K)
    x, y = np.random.default_rng(1).normal(size=(T, B, D)), np.zeros((T, B), int)
    h0s = np.random.default_rng(2).normal(size=(2, B, 4))
    assert lstm2.loss(params, x, y, h0s)[0] == pytest.approx(lstm2.loss(params, x, y, list(h0s))[0], rel=1e-15)
    assert lstm2.loss(params, x, y, h0s)[0] != pytest.approx(lstm2.loss(params, x, y)[0], rel=1e-6)


def test_a_cell_whose_memory_is_not_c_takes_its_own_initial_state(tmp_path):
    # states h, m: m0s sets layer l's m_0 (and its gradient is backward()'s "m0"); c0s is refused
    spec = tmp_path / "mstate.cell"
    spec.write_text("states: h, m\nf = sigmoid(W_fh @ h + W_fx @ x + b_f)\n"
                    "m = f * m + (1 - f) * tanh(W_mx @ x + W_mh @ h + b_m)\nh = tanh(m)\n")
    from lstm_sym.cells import load_cell
    mod = compile_network(network(load_cell(str(spec)), layers=2, loss="mse"))
    rng = np.random.default_rng(0)
    p = mod.init_network(2, 3, 2)
    x, y = rng.normal(size=(3, 2, 2)), rng.normal(size=(3, 2, 2))
    m0s = [rng.normal(size=(2, 3)) for _ in range(2)]
    E, cache = mod.loss(p, x, y, m0s=m0s)
    g = mod.backward(p, cache)["layers"][1]["m0"]
    eps = 1e-6
    up, down = [a.copy() for a in m0s], [a.copy() for a in m0s]
    up[1][0, 2] += eps
    down[1][0, 2] -= eps
    fd = (mod.loss(p, x, y, m0s=up)[0] - mod.loss(p, x, y, m0s=down)[0]) / (2 * eps)
    assert abs(fd - g[0, 2]) < 1e-7 * max(1, abs(fd)) and abs(fd) > 1e-6
    with pytest.raises(ValueError, match="c0s given, but the mstate cell has no c state"):
        mod.loss(p, x, y, c0s=m0s)


def test_the_cache_does_not_see_x_change_after_loss():
    mod = compile_network(network("lstm", layers=1, loss="mse"))
    rng = np.random.default_rng(1)
    p = mod.init_network(2, 3, 2)
    x, y = rng.normal(size=(3, 2, 2)), rng.normal(size=(3, 2, 2))
    _, cache = mod.loss(p, x, y)
    want = mod.backward(p, cache)["layers"][0]["W_fx"]
    x[:] = 0.0
    np.testing.assert_array_equal(mod.backward(p, cache)["layers"][0]["W_fx"], want)
