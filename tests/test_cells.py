"""The five cells beyond rnn/lstm/gru: lstm_peephole, cifg, gru_cho, mgu, lstm_nofg.

Each one derives and proves exactly; its generated kernel agrees with the
scalar graph's reverse accumulation and with the complex step to rounding;
its forward pass is the paper's (a NumPy transcription written here, from
the papers' own equations, owing nothing to the cell file); the torch oracle
runs the ones torch.nn can express; `lstm-sym check NAME` passes; and the
roles the tools read are the ones the cell has."""
import math

import numpy as np
import pytest

from lstm_sym import commands, derive
from lstm_sym.cells import NAMES, get_cell
from lstm_sym.codegen import compile as compile_kernel
from lstm_sym.errata import ERRATA
from lstm_sym.verify import prove
from lstm_sym.verify.numeric import complex_step, gradients, make_problem

NEW = ("lstm_peephole", "cifg", "gru_cho", "mgu", "lstm_nofg")
TORCH = {"lstm_nofg", "cifg"}           # torch.nn.LSTM with a gate held open or tied
TOL = 1e-12


def rel(got, want):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-300))


def kernel_problem(name, D=3, H=4, T=5, B=2, seed=0):
    """The generated kernel and a float64 problem: weights of scale 0.5 (peepholes
    included), nonzero initial states, random G and (cells with c) G_c."""
    kernel = compile_kernel(name)
    return kernel, make_problem(kernel, D, H, T, B, seed)


def run(kernel, params, prob):
    """The kernel's forward on prob's inputs with other params: (h, cache)."""
    return kernel.forward(params, prob.x, prob.h0, *([prob.c0] if prob.c0 is not None else []))


def test_the_five_cells_are_built_in():
    assert NAMES[:3] == ("rnn", "lstm", "gru") and set(NEW) <= set(NAMES) and len(NAMES) == 8


# --- derivation and exact proof -------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_derives_and_proves_exactly(name):
    d = derive(name)
    assert d.cell.name == name and d.param_grads.keys() == d.cell.params.keys()
    one, unrolled = prove(d, 3, 3, 1), prove(d, 2, 2, 2)
    assert one.passed and unrolled.passed, str(one) + str(unrolled)
    assert one.level == "one-step identity" and unrolled.level == "unrolled BPTT"
    assert set(d.cell.params) <= {c.name for c in unrolled.checks}


@pytest.mark.parametrize("name", NEW)
def test_the_prover_rejects_each_errata_slip(name):
    # the errata's wrong formulas are wrong: the same prover that passes the
    # derivation fails them (so the proof above can fail)
    d = derive(name)
    for erratum in ERRATA[name]:
        report = prove(erratum.edit(d), 2, 2, 2)
        assert not report.passed and report.failures, erratum.title


# --- the generated kernel against two referees -------------------------------------------

def graph_reference(cell, prob):
    """The scalar graph's gradients, one sequence at a time, summed over the batch."""
    from lstm_sym.verify.check import _graph_gradients
    return _graph_gradients(cell, prob)


@pytest.mark.parametrize("name", NEW)
def test_kernel_equals_the_graph_oracle(name):
    kernel, prob = kernel_problem(name)
    mine = gradients(kernel, prob)
    ref = graph_reference(get_cell(name), prob)
    assert sorted(ref) == sorted(set(prob.inputs()))
    for k, want in ref.items():
        assert rel(mine[k], want) <= TOL, k


@pytest.mark.parametrize("name", NEW)
def test_kernel_equals_the_complex_step(name):
    kernel, prob = kernel_problem(name, seed=1)
    safe = compile_kernel(name, complex_safe=True)
    mine = gradients(kernel, prob)
    for k in prob.inputs():
        assert rel(mine[k], complex_step(safe, prob, k, 1e-20)) <= TOL, k


@pytest.mark.parametrize("name", sorted(TORCH))
def test_kernel_equals_torch(name):
    pytest.importorskip("torch", reason="torch is not installed: the PyTorch oracle is optional")
    from lstm_sym.verify.torch_oracle import torch_gradients
    kernel, prob = kernel_problem(name, D=3, H=5, T=6, B=3, seed=2)
    h, cache = kernel.forward(prob.params, prob.x, prob.h0, prob.c0)
    mine = kernel.backward(prob.params, prob.G, cache, dcT=prob.Gc)
    h_torch, ref = torch_gradients(name, prob.params, prob.x, prob.h0, prob.c0, prob.G, prob.Gc)
    assert rel(h, h_torch) <= TOL
    assert sorted(ref) == sorted(mine)
    for k, want in ref.items():
        assert rel(mine[k], want) <= TOL, k


# --- the forward pass is the paper's ---------------------------------------------------------

def sigma(a):
    return 1 / (1 + np.exp(-a))


def paper_lstm_peephole(p, x, h, c):
    """Gers & Schmidhuber (2000), diagonal peepholes; Greff et al. (2017) eqs. for the
    vanilla LSTM: the input and forget gates look at c_{t−1}, the output gate at c_t."""
    hs = []
    for x_t in x:
        i = sigma(x_t @ p["W_ix"].T + h @ p["W_ih"].T + p["p_i"] * c + p["b_i"])
        f = sigma(x_t @ p["W_fx"].T + h @ p["W_fh"].T + p["p_f"] * c + p["b_f"])
        z = np.tanh(x_t @ p["W_cx"].T + h @ p["W_ch"].T + p["b_c"])
        c = z * i + c * f
        o = sigma(x_t @ p["W_ox"].T + h @ p["W_oh"].T + p["p_o"] * c + p["b_o"])
        h = np.tanh(c) * o
        hs.append(h)
    return np.array(hs), c


def paper_cifg(p, x, h, c):
    """Greff et al. (2017), CIFG: i_t = 1 − f_t in the vanilla LSTM (no peepholes here)."""
    hs = []
    for x_t in x:
        f = sigma(x_t @ p["W_fx"].T + h @ p["W_fh"].T + p["b_f"])
        z = np.tanh(x_t @ p["W_cx"].T + h @ p["W_ch"].T + p["b_c"])
        c = z * (1 - f) + c * f
        o = sigma(x_t @ p["W_ox"].T + h @ p["W_oh"].T + p["b_o"])
        hs.append(np.tanh(c) * o)
        h = hs[-1]
    return np.array(hs), c


def paper_gru_cho(p, x, h, c=None):
    """d2l.ai's GRU (Cho et al. 2014), rows: R = σ(X W_xr + H W_hr + b_r),
    Z likewise, H̃ = tanh(X W_xh + (R ⊙ H) W_hh + b_h), H = Z ⊙ H + (1 − Z) ⊙ H̃."""
    hs = []
    for X in x:
        R = sigma(X @ p["W_rx"].T + h @ p["W_rh"].T + p["b_r"])
        Z = sigma(X @ p["W_zx"].T + h @ p["W_zh"].T + p["b_z"])
        H_tilde = np.tanh(X @ p["W_nx"].T + (R * h) @ p["W_nh"].T + p["b_n"])
        h = Z * h + (1 - Z) * H_tilde
        hs.append(h)
    return np.array(hs), None


def paper_mgu(p, x, h, c=None):
    """Zhou et al. (2016), with one weight matrix per gate on [h_{t−1}, x_t]:
    f = σ(W_f [h, x] + b_f), h̃ = tanh(W_h [f ⊙ h, x] + b_h), h = (1 − f) ⊙ h + f ⊙ h̃."""
    W_f = np.concatenate([p["W_fh"], p["W_fx"]], axis=1)
    W_h = np.concatenate([p["W_nh"], p["W_nx"]], axis=1)
    hs = []
    for x_t in x:
        f = sigma(np.concatenate([h, x_t], axis=1) @ W_f.T + p["b_f"])
        h_tilde = np.tanh(np.concatenate([f * h, x_t], axis=1) @ W_h.T + p["b_n"])
        h = (1 - f) * h + f * h_tilde
        hs.append(h)
    return np.array(hs), None


def paper_lstm_nofg(p, x, h, c):
    """Hochreiter & Schmidhuber (1997) as Gers et al. (2000) restate it before adding
    the forget gate: the constant error carousel c_t = c_{t−1} + i_t ⊙ g_t."""
    hs = []
    for x_t in x:
        i = sigma(x_t @ p["W_ix"].T + h @ p["W_ih"].T + p["b_i"])
        g = np.tanh(x_t @ p["W_cx"].T + h @ p["W_ch"].T + p["b_c"])
        o = sigma(x_t @ p["W_ox"].T + h @ p["W_oh"].T + p["b_o"])
        c = c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.array(hs), c


PAPER = {"lstm_peephole": paper_lstm_peephole, "cifg": paper_cifg, "gru_cho": paper_gru_cho,
         "mgu": paper_mgu, "lstm_nofg": paper_lstm_nofg}


@pytest.mark.parametrize("name", NEW)
def test_forward_is_the_papers(name):
    kernel, prob = kernel_problem(name, D=3, H=4, T=6, B=3, seed=3)
    h, cache = run(kernel, prob.params, prob)
    want_h, want_c = PAPER[name](prob.params, prob.x, prob.h0, prob.c0)
    assert rel(h, want_h) <= TOL
    if want_c is not None:
        assert rel(cache["c_seq"][-1], want_c) <= TOL


# a neighbouring built-in cell, and the cell's parameters mapped onto it: exactly (the
# neighbour then computes the paper's cell) or with one thing missing (it must not)
NEIGHBOURS = {
    "lstm_peephole": ("lstm",
                      None,
                      lambda p: {k: v for k, v in p.items() if not k.startswith("p_")}),        # no peepholes
    "cifg": ("lstm",
             lambda p: {**p, "W_ih": -p["W_fh"], "W_ix": -p["W_fx"], "b_i": -p["b_f"]},         # σ(−a) = 1 − σ(a)
             lambda p: {**p, "W_ih": p["W_fh"], "W_ix": p["W_fx"], "b_i": p["b_f"]}),           # i = f
    "lstm_nofg": ("lstm",
                  lambda p: {**p, "W_fh": 0 * p["W_ih"], "W_fx": 0 * p["W_ix"], "b_f": 0 * p["b_i"] + 40.0},
                  lambda p: {**p, "W_fh": 0 * p["W_ih"], "W_fx": 0 * p["W_ix"], "b_f": 0 * p["b_i"] + 3.0}),
    "gru_cho": ("gru",
                None,
                lambda p: {**{k: v for k, v in p.items() if k != "b_n"}, "b_nx": p["b_n"], "b_nh": 0 * p["b_n"]}),
    "mgu": ("gru_cho",
            lambda p: {"W_rh": p["W_fh"], "W_rx": p["W_fx"], "b_r": p["b_f"],                      # r = f
                       "W_zh": -p["W_fh"], "W_zx": -p["W_fx"], "b_z": -p["b_f"],                   # z = 1 − f
                       "W_nh": p["W_nh"], "W_nx": p["W_nx"], "b_n": p["b_n"]},
            lambda p: {"W_rh": p["W_fh"], "W_rx": p["W_fx"], "b_r": p["b_f"],
                       "W_zh": p["W_fh"], "W_zx": p["W_fx"], "b_z": p["b_f"],                      # z = f
                       "W_nh": p["W_nh"], "W_nx": p["W_nx"], "b_n": p["b_n"]}),
}


@pytest.mark.parametrize("name", NEW)
def test_the_transcriptions_tell_the_cells_apart(name):
    # the paper tests can fail: a neighbouring cell missing one feature does not pass
    # them; tied so that it is the paper's cell, it does
    other, tie, slip = NEIGHBOURS[name]
    _, prob = kernel_problem(name, seed=4)
    want, _ = PAPER[name](prob.params, prob.x, prob.h0, prob.c0)
    kernel = compile_kernel(other)
    assert rel(run(kernel, slip(prob.params), prob)[0], want) > 1e-3
    if tie is not None:
        assert rel(run(kernel, tie(prob.params), prob)[0], want) <= TOL


def test_gru_and_gru_cho_differ_only_where_the_reset_gate_acts():
    # r ≡ 1 exactly (σ(40) = 1.0): W_nh (r ⊙ h) = r ⊙ (W_nh h), and the two conventions agree
    _, prob = kernel_problem("gru_cho", seed=5)
    p = dict(prob.params)
    p.update(W_rh=np.zeros_like(p["W_rh"]), W_rx=np.zeros_like(p["W_rx"]), b_r=np.full_like(p["b_r"], 40.0))
    torch_style = {**{k: v for k, v in p.items() if k != "b_n"}, "b_nx": p["b_n"], "b_nh": np.zeros_like(p["b_n"])}
    h_cho, _ = compile_kernel("gru_cho").forward(p, prob.x, prob.h0)
    h_gru, _ = compile_kernel("gru").forward(torch_style, prob.x, prob.h0)
    assert rel(h_gru, h_cho) <= TOL
    h_cho2, _ = compile_kernel("gru_cho").forward(prob.params, prob.x, prob.h0)
    torch_style.update(W_rh=prob.params["W_rh"], W_rx=prob.params["W_rx"], b_r=prob.params["b_r"])
    h_gru2, _ = compile_kernel("gru").forward(torch_style, prob.x, prob.h0)
    assert rel(h_gru2, h_cho2) > 1e-3


# --- roles ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, memory, gate", [("lstm_peephole", "c", "f"), ("cifg", "c", "f"),
                                                ("lstm_nofg", "c", None), ("gru_cho", None, None),
                                                ("mgu", None, None)])
def test_roles(name, memory, gate):
    from lstm_sym.bound.experiments import memory_roles
    roles = get_cell(name).check().roles
    assert roles.get("memory") == memory and roles.get("forget_gate") == gate
    # the forget gate's bias: b_f, never the peephole vector p_f beside it
    assert memory_roles(get_cell(name)) == (memory, gate, "b_f" if gate else None)


# --- the command ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_check_command_passes(name, capsys):
    assert commands.main(["check", name]) == 0
    out = capsys.readouterr().out
    assert " 0 failed" in out
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "torch: skipped (torch is not installed" in out
        return
    if name in TORCH:
        assert "torch: skipped" not in out and "torch " in out
    else:
        line = next(s for s in out.splitlines() if s.startswith("torch: skipped ("))
        assert "torch.nn" in line and "has no" in line, line
