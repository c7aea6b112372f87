"""PyTorch autograd against the reference interpreter, in float64."""
import sys

import numpy as np
import pytest

from lstm_sym.cells import get_cell
from lstm_sym.derivation import derive
from lstm_sym.evaluate import run_backward, run_forward
from lstm_sym.verify import torch_oracle
from lstm_sym.verify.torch_oracle import torch_gradients, torch_run

torch = pytest.importorskip(
    "torch", reason="torch is not installed: the PyTorch oracle is optional (pip install 'lstm-sym[oracle]')")

CELLS = ("rnn", "lstm", "gru", "lstm_nofg", "cifg")      # the last two: torch.nn.LSTM, one gate fixed or tied


def problem(name, D=3, H=4, T=4, B=3, seed=0):
    """Weights of scale 0.5, non-zero h0 and c0, random G and G_c; D ≠ H so a
    transposed weight cannot pass."""
    cell = get_cell(name)
    rng = np.random.default_rng(seed)
    dims = {"H": H, "D": D}
    params = {p: 0.5 * rng.standard_normal(tuple(dims[s] for s in v.shape)) for p, v in cell.params.items()}
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((B, H))
    c0 = rng.standard_normal((B, H)) if "c" in cell.states else None
    G = rng.standard_normal((T, B, H))
    Gc = rng.standard_normal((B, H)) if "c" in cell.states else None
    return cell, params, x, h0, c0, G, Gc


def interpreter(cell, params, x, h0, c0, G, Gc):
    """The reference interpreter, one sequence at a time, gradients summed over the batch."""
    d = derive(cell)
    T, B, _ = x.shape
    hs, grads = [], {p: 0.0 for p in params}
    per_row = {"x": [], "h0": [], "c0": []}
    for b in range(B):
        init = {"h": h0[b]} if c0 is None else {"h": h0[b], "c": c0[b]}
        ctx = run_forward(cell, params, list(x[:, b]), init)
        hs.append([ctx.env["h", t] for t in range(1, T + 1)])
        g = run_backward(d, ctx, list(G[:, b]), None if Gc is None else {"c": Gc[b]})
        for p in params:
            grads[p] = grads[p] + g[p]
        per_row["x"].append(np.array(g["x"]))
        per_row["h0"].append(g["h0"])
        if c0 is not None:
            per_row["c0"].append(g["c0"])
    grads["x"] = np.stack(per_row["x"], axis=1)
    grads["h0"] = np.array(per_row["h0"])
    if c0 is not None:
        grads["c0"] = np.array(per_row["c0"])
    return np.array(hs).transpose(1, 0, 2), grads


def assert_close(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        assert np.shape(got[k]) == np.shape(want[k]), k
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("name", CELLS)
def test_torch_equals_the_interpreter(name):
    cell, params, x, h0, c0, G, Gc = problem(name)
    h, grads = torch_gradients(name, params, x, h0, c0, G, Gc)
    want_h, want = interpreter(cell, params, x, h0, c0, G, Gc)
    np.testing.assert_allclose(h, want_h, rtol=1e-10, atol=1e-12)
    assert_close(grads, want)
    assert all(g.dtype == np.float64 for g in grads.values())


def test_lstm_without_cell_cotangent():
    cell, params, x, h0, c0, G, _ = problem("lstm", D=2, H=3, T=3, B=2, seed=1)
    _, grads = torch_gradients("lstm", params, x, h0, c0, G)
    assert_close(grads, interpreter(cell, params, x, h0, c0, G, None)[1])


def test_G_defaults_to_ones():
    _, params, x, h0, _, G, _ = problem("gru", seed=2)
    assert_close(torch_gradients("gru", params, x, h0)[1],
                 torch_gradients("gru", params, x, h0, G=np.ones_like(G))[1])


@pytest.mark.parametrize("name, biases", [("rnn", ["b"]), ("lstm", ["b_i", "b_f", "b_c", "b_o"]),
                                          ("gru", ["b_r", "b_z"])])
def test_any_split_of_an_added_bias_is_the_same_parameter(name, biases):
    # b = bias_ih + bias_hh: outputs do not move, and both halves get ∂E/∂b
    _, params, x, h0, c0, G, Gc = problem(name, seed=3)
    rng = np.random.default_rng(4)
    split = {b: rng.standard_normal(params[b].shape) for b in biases}
    h, grads = torch_gradients(name, params, x, h0, c0, G, Gc)
    h2, grads2 = torch_gradients(name, params, x, h0, c0, G, Gc, bias_hh=split)
    np.testing.assert_allclose(h2, h, rtol=1e-12, atol=1e-13)
    assert_close(grads2, grads)
    _, module, _ = torch_run(name, params, x, h0, c0, G, Gc, bias_hh=split)
    H = h0.shape[1]
    n = len(biases)
    np.testing.assert_allclose(module.bias_hh_l0.grad[:n * H].numpy(), module.bias_ih_l0.grad[:n * H].numpy(),
                               rtol=1e-12, atol=1e-13)
    assert module.bias_hh_l0.detach()[:H].abs().sum() > 0         # the split really happened


def test_gru_candidate_biases_are_not_interchangeable():
    # r multiplies (W_hn h + b_hn) only: b_nh and b_nx have different gradients
    _, params, x, h0, _, G, _ = problem("gru", seed=5)
    _, grads = torch_gradients("gru", params, x, h0, G=G)
    assert not np.allclose(grads["b_nh"], grads["b_nx"], rtol=1e-3)
    with pytest.raises(ValueError, match="cannot split"):
        torch_gradients("gru", params, x, h0, G=G, bias_hh={"b_nx": np.zeros(4)})


def test_a_wrong_gate_order_is_caught(monkeypatch):
    cell, params, x, h0, c0, G, Gc = problem("lstm", seed=6)
    i, f, c, o = torch_oracle.GATES["lstm"]
    monkeypatch.setitem(torch_oracle.GATES, "lstm", [f, i, c, o])
    h, _ = torch_gradients("lstm", params, x, h0, c0, G, Gc)
    assert not np.allclose(h, interpreter(cell, params, x, h0, c0, G, Gc)[0], rtol=1e-3)


def test_bad_input_is_named():
    _, params, x, h0, c0, G, Gc = problem("lstm", seed=7)
    with pytest.raises(ValueError, match="W_fx: expected shape"):
        torch_gradients("lstm", {**params, "W_fx": params["W_fx"].T}, x, h0, c0)
    with pytest.raises(ValueError, match="c0 is required"):
        torch_gradients("lstm", params, x, h0)
    with pytest.raises(ValueError, match="G must have shape"):
        torch_gradients("lstm", params, x, h0, c0, G=G[:, :1])
    with pytest.raises(ValueError, match="runs rnn, lstm, gru, lstm_nofg, cifg, not 'mgu': torch.nn.GRU"):
        torch_gradients("mgu", params, x, h0)


def test_missing_torch_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)       # makes `import torch` raise ImportError
    _, params, x, h0, _, _, _ = problem("rnn")
    with pytest.raises(ImportError, match="lstm-sym\\[oracle\\]"):
        torch_gradients("rnn", params, x, h0)


# --- cells that are torch.nn.LSTM with a gate fixed or tied ------------------------------

def test_the_open_forget_gate_is_exactly_one_and_passes_no_gradient():
    # σ(b) == 1.0 from b = 53 ln 2 ≈ 36.74 on; OPEN sits above that edge, and below it torch's
    # σ is not 1 (so a smaller OPEN would leak a forget gate < 1 into c_t)
    t = torch.tensor([torch_oracle.OPEN, 36.75, 36.5], dtype=torch.float64)
    assert torch.sigmoid(t).tolist()[:2] == [1.0, 1.0] and torch.sigmoid(t)[2].item() < 1.0
    cell, params, x, h0, c0, G, Gc = problem("lstm_nofg", seed=8)
    _, module, _ = torch_run("lstm_nofg", params, x, h0, c0, G, Gc)
    H = h0.shape[1]
    for buf in (module.weight_hh_l0, module.weight_ih_l0, module.bias_ih_l0, module.bias_hh_l0):
        assert buf.grad[H:2 * H].abs().max().item() == 0.0          # forget rows: σ′ = 0 exactly
        assert buf.grad[:H].abs().max().item() > 0.0


def test_lstm_nofg_equals_the_generated_kernel_to_rounding():
    from lstm_sym.codegen import compile as compile_kernel
    cell, params, x, h0, c0, G, Gc = problem("lstm_nofg", D=3, H=5, T=6, B=2, seed=9)
    kernel = compile_kernel("lstm_nofg")
    h, cache = kernel.forward(params, x, h0, c0)
    mine = kernel.backward(params, G, cache, dcT=Gc)
    h_t, theirs = torch_gradients("lstm_nofg", params, x, h0, c0, G, Gc)
    assert np.max(np.abs(h - h_t)) <= 1e-12 * np.max(np.abs(h_t))
    assert sorted(mine) == sorted(theirs)
    for k in theirs:
        assert np.max(np.abs(mine[k] - theirs[k])) <= 1e-12 * np.max(np.abs(theirs[k])), k


def test_a_torch_forget_gate_not_quite_open_is_caught(monkeypatch):
    # the lstm_nofg check can fail: σ(5) ≈ 0.9933 leaks into every c_t
    cell, params, x, h0, c0, G, Gc = problem("lstm_nofg", seed=10)
    monkeypatch.setattr(torch_oracle, "OPEN", 5.0)
    h, grads = torch_gradients("lstm_nofg", params, x, h0, c0, G, Gc)
    want_h, want = interpreter(cell, params, x, h0, c0, G, Gc)
    assert not np.allclose(grads["c0"], want["c0"], rtol=1e-3)


def test_cifg_reads_its_forget_weights_back_from_both_slots(monkeypatch):
    # the input slot holds −W_f: dropping its gradient (not subtracting it) is caught
    cell, params, x, h0, c0, G, Gc = problem("cifg", seed=11)
    _, want = interpreter(cell, params, x, h0, c0, G, Gc)
    _, module, _ = torch_run("cifg", params, x, h0, c0, G, Gc)
    H = h0.shape[1]
    forget_only = module.weight_hh_l0.grad[H:2 * H].numpy()
    assert not np.allclose(forget_only, want["W_fh"], rtol=1e-3)
    np.testing.assert_allclose(forget_only - module.weight_hh_l0.grad[:H].numpy(), want["W_fh"],
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, lacks", [
    ("lstm_peephole", "torch.nn.LSTM has no peepholes"),
    ("gru_cho", "torch.nn.GRU applies its reset after W_hn"),
    ("mgu", "torch.nn.GRU has no single-gate form"),
])
def test_unsupported_says_what_torch_lacks(name, lacks):
    why = torch_oracle.unsupported(get_cell(name))
    assert why.startswith(lacks) and "\n" not in why
    for ok in CELLS:
        assert torch_oracle.unsupported(get_cell(ok)) is None


def test_a_user_cell_is_judged_by_its_equations_not_its_name():
    import copy
    import os

    from lstm_sym.cells import load_cell
    assert torch_oracle.unsupported(copy.deepcopy(get_cell("lstm_nofg"))) is None
    user = load_cell(os.path.join(os.path.dirname(__file__), "fixtures", "cells", "mgu_user.py"))
    why = torch_oracle.unsupported(user)
    assert "maps only the built-in cells" in why and "mgu_user is not one of them" in why
    renamed = copy.deepcopy(get_cell("rnn"))
    renamed.equations = renamed.equations[:1] + [(v, e.a) for v, e in renamed.equations[1:]]   # h = net: no tanh
    assert "not the built-in rnn cell equation for equation" in torch_oracle.unsupported(renamed)
