"""The gradient-flow bound: the symbolic one-step Jacobian against finite
differences, the vectorised measurement against the reference interpreter and
finite differences, the theorem on 100,000 random draws, the exact cases,
the generated document, and the command line."""
import math
import os
import sys

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_sym import commands
from lstm_sym.activations import BUILTIN, activation, sigmoid, tanh, x
from lstm_sym.bound import bound_markdown
from lstm_sym.bound import experiments as ex
from lstm_sym.bound.batched import Backward, Forward, jacobian_matrix, step_bound_logs
from lstm_sym.bound.document import seed_slip
from lstm_sym.bound.jacobian import Diag, Mat, beta_f, one_step_jacobian, rnn_cell, rnn_factor
from lstm_sym.cells import NAMES
from lstm_sym.derivation import derive
from lstm_sym.evaluate import run_backward, run_forward
from lstm_sym.ir import Var

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DERIVED = {}


def derived(name, act=None):
    key = (name, act.name if act else None)
    if key not in DERIVED:
        DERIVED[key] = derive(rnn_cell(act) if act else name)
    return DERIVED[key]


def trial(inst, n):
    """Trial n of a batched instance, as the reference interpreter takes it."""
    params = {p: a[n] for p, a in inst.params.items()}
    xs = [inst.xs[t, n] for t in range(inst.xs.shape[0])]
    init = {s: a[n] for s, a in inst.init.items()}
    return params, xs, init


def measured_deltas(d, inst):
    """δ_k per trial from the vectorised backward pass: {k: {state: (N, H)}}."""
    fw = Forward(d.cell, inst.params, inst.xs, inst.init)
    bw = Backward(d, fw, {d.cell.states[0]: inst.g[:, None, :]}, keep=True)
    return {k: {s: u[:, 0, :] * np.exp(bw.log_norm[k])[:, :1] for s, u in bw.unit[k].items()}
            for k in bw.unit}


# --- β_f -------------------------------------------------------------------------

def test_beta_f_is_the_known_sup_of_each_derivative():
    # tanh′ = 1 − tanh² peaks at 1, σ′ = σ(1 − σ) at 1/4, relu′ and softsign′ = 1/(1+|x|)² at 1
    assert beta_f(tanh) == (1, "SymPy maximum")
    assert beta_f(sigmoid) == (sympy.Rational(1, 4), "SymPy maximum")
    assert float(beta_f(BUILTIN["relu"])[0]) == pytest.approx(1)
    assert float(beta_f(BUILTIN["softsign"])[0]) == pytest.approx(1)


def test_beta_f_of_a_user_activation():
    scaled = activation("scaled_tanh", 3 * sympy.tanh(x / 2))      # f′ = (3/2)(1 − tanh²(x/2)) ≤ 3/2
    assert beta_f(scaled)[0] == sympy.Rational(3, 2)
    d = derive(rnn_cell(scaled))
    assert rnn_factor(d)[0] is scaled


# --- the symbolic one-step Jacobian ---------------------------------------------------

@pytest.mark.parametrize("act", list(BUILTIN.values()), ids=lambda a: a.name)
def test_rnn_factor_is_diag_fprime_times_W_in_that_order(act):
    d = derived("rnn", act)
    ((term),) = one_step_jacobian(d)["h", "h"]
    assert [type(f) for f in term.factors] == [Diag, Mat] and term.factors[1] == Mat(d.cell.params["W"], False)
    # the diagonal is f′(net_t), checked against central differences of f itself
    inst = ex.random_instance(d.cell, 5, 4, 3, 1.5, seed=1)
    fw = Forward(d.cell, inst.params, inst.xs, inst.init)
    for t in (1, 3):
        net = fw.env["net", t]
        eps = 1e-6
        numeric = (act.numpy_fn(net + eps) - act.numpy_fn(net - eps)) / (2 * eps)
        np.testing.assert_allclose(fw.value(term.factors[0].v, t), numeric, atol=1e-6)


def test_lstm_direct_cell_state_block_is_diag_f():
    d = derived("lstm")
    ((term),) = one_step_jacobian(d)["c", "c"]
    assert term.coeff == 1 and term.factors == (Diag(Var("f", "inter", ("H",), 0)),)     # diag(f_t)


def fd_one_step(cell, params, x_t, prev, eps=1e-6):
    """∂(s_t)/∂(s_{t−1}) by central differences of one forward step."""
    states, H = cell.states, len(prev[cell.states[0]])
    flat = np.concatenate([prev[s] for s in states])

    def step(v):
        ctx = run_forward(cell, params, [x_t], {s: v[i * H:(i + 1) * H] for i, s in enumerate(states)})
        return np.concatenate([ctx.env[s, 1] for s in states])
    J = np.zeros((len(flat), len(flat)))
    for j in range(len(flat)):
        e = np.zeros(len(flat))
        e[j] = eps
        J[:, j] = (step(flat + e) - step(flat - e)) / (2 * eps)
    return J


@pytest.mark.parametrize("name", NAMES)
def test_one_step_jacobian_matches_finite_differences(name):
    d = derived(name)
    inst = ex.random_instance(d.cell, 3, 3, 2, 1.2, seed=2)
    for p in inst.params:                    # nonzero biases so that no term hides behind a zero
        if inst.params[p].ndim == 2:
            inst.params[p] = 0.3 * np.random.default_rng(3).standard_normal(inst.params[p].shape)
    fw = Forward(d.cell, inst.params, inst.xs, inst.init)
    J = jacobian_matrix(d, fw, 2)
    for n in range(3):
        params, xs, _ = trial(inst, n)
        prev = {s: fw.env[s, 1][n, 0] for s in d.cell.states}
        np.testing.assert_allclose(J[n], fd_one_step(d.cell, params, xs[1], prev), atol=1e-8)


def test_step_bound_is_max_fprime_times_spectral_norm_for_the_rnn():
    d = derived("rnn")
    inst = ex.random_instance(d.cell, 4, 5, 3, 2.0, seed=4)
    fw = Forward(d.cell, inst.params, inst.xs, inst.init)
    logs = step_bound_logs(d, fw)
    for n in range(4):
        W = inst.params["W"][n]
        for t in range(1, 4):
            net = fw.env["net", t][n, 0]
            expected = np.max(1 - np.tanh(net) ** 2) * np.linalg.norm(W, 2)
            assert math.exp(logs[t - 1, n]) == pytest.approx(expected, rel=1e-12)


# --- the measurement is what BPTT and finite differences say ----------------------------

@pytest.mark.parametrize("name", NAMES)
def test_measured_deltas_equal_the_reference_interpreter(name):
    d = derived(name)
    T, H = 5, 3
    inst = ex.random_instance(d.cell, 3, H, T, 1.3, seed=5)
    got = measured_deltas(d, inst)
    for n in range(3):
        params, xs, init = trial(inst, n)
        ctx = run_forward(d.cell, params, xs, init)
        run_backward(d, ctx, [np.zeros(H)] * (T - 1) + [inst.g[n]])
        for k in range(T):
            for s in d.cell.states:
                np.testing.assert_allclose(got[k][s][n], ctx.carry[s, k + 1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["rnn", "lstm"])
def test_measured_deltas_equal_finite_differences(name):
    """δ_k = ∂⟨g, h_T⟩/∂s_k, by rerunning the forward pass from step k."""
    d = derived(name)
    T, H, eps = 4, 2, 1e-6
    inst = ex.random_instance(d.cell, 2, H, T, 1.0, seed=6)
    got = measured_deltas(d, inst)
    for n in range(2):
        params, xs, init = trial(inst, n)
        ctx = run_forward(d.cell, params, xs, init)
        for k in range(T):
            state = {s: ctx.env[s, k].copy() for s in d.cell.states}
            for s in d.cell.states:
                for j in range(H):
                    vals = []
                    for sign in (1, -1):
                        pert = {q: v.copy() for q, v in state.items()}
                        pert[s][j] += sign * eps
                        end = run_forward(d.cell, params, xs[k:], pert)
                        vals.append(inst.g[n] @ end.env[d.cell.states[0], T - k])
                    assert got[k][s][n, j] == pytest.approx((vals[0] - vals[1]) / (2 * eps), abs=1e-7)


def test_weight_gradient_terms_equal_the_reference_interpreter():
    d = derived("rnn")
    T, H = 4, 3
    inst = ex.random_instance(d.cell, 2, H, T, 1.0, seed=7)
    m = ex.measure(d, inst)
    for n in range(2):
        params, xs, init = trial(inst, n)
        ctx = run_forward(d.cell, params, xs, init)
        run_backward(d, ctx, [np.zeros(H)] * (T - 1) + [inst.g[n]])
        for dist in range(T):
            k = T - dist
            term = np.outer(ctx.deltas["net", False, k], ctx.env["h", k - 1])     # δnet_k h_{k−1}ᵀ
            assert math.exp(m.log_grad[dist, n]) == pytest.approx(np.linalg.norm(term), rel=1e-10)


def test_cell_state_jacobian_equals_finite_differences():
    d = derived("lstm")
    T, H, eps = 3, 2, 1e-6
    inst = ex.random_instance(d.cell, 2, H, T, 1.0, seed=8)
    direct, total = ex.cell_state_path(d, inst, 1.0, n=2)
    for n in range(2):
        params, xs, init = trial(inst, n)
        params["b_f"] = np.full(H, 1.0)
        ctx = run_forward(d.cell, params, xs, init)
        for k in range(T):
            J = np.zeros((H, H))
            for j in range(H):
                ends = []
                for sign in (1, -1):
                    pert = {s: ctx.env[s, k].copy() for s in d.cell.states}
                    pert["c"][j] += sign * eps
                    ends.append(run_forward(d.cell, params, xs[k:], pert).env["c", T - k])
                J[:, j] = (ends[0] - ends[1]) / (2 * eps)
            assert math.exp(total[T - k, n]) == pytest.approx(np.linalg.norm(J, 2), rel=1e-6)
        f = [ctx.env["f", t] for t in range(1, T + 1)]
        assert math.exp(direct[1, n]) == pytest.approx(f[-1].max())            # one step: diag(f_T)
        assert math.exp(direct[T, n]) == pytest.approx(np.prod(f, axis=0).max())
    assert np.allclose(direct[1], total[1])          # c_T meets c_{T−1} only through f_T ⊙ c_{T−1}


@pytest.mark.parametrize("name, bias", [("lstm_peephole", 1.0), ("cifg", -1.0), ("lstm_nofg", None)])
def test_memory_path_of_any_cell_equals_finite_differences(name, bias):
    """The same experiment read off the roles: the memory, its forget-gate bias
    (b_f, not the peephole p_f beside it), or none at all."""
    d = derived(name)
    memory, _, forget_bias = ex.memory_roles(d.cell)
    T, H, eps = 3, 2, 1e-6
    inst = ex.random_instance(d.cell, 2, H, T, 1.0, seed=11)
    direct, total = ex.cell_state_path(d, inst, bias, n=2)
    for n in range(2):
        params, xs, init = trial(inst, n)
        if bias is not None:
            params[forget_bias] = np.full(H, bias)
        ctx = run_forward(d.cell, params, xs, init)
        for k in range(T):
            J = np.zeros((H, H))
            for j in range(H):
                ends = []
                for sign in (1, -1):
                    pert = {s: ctx.env[s, k].copy() for s in d.cell.states}
                    pert[memory][j] += sign * eps
                    ends.append(run_forward(d.cell, params, xs[k:], pert).env[memory, T - k])
                J[:, j] = (ends[0] - ends[1]) / (2 * eps)
            assert math.exp(total[T - k, n]) == pytest.approx(np.linalg.norm(J, 2), rel=1e-6)
    assert np.allclose(direct[1], total[1])          # one step back, only the direct path reaches m_T


def test_a_memory_without_forget_gate_never_decays_on_its_own_path():
    d = derived("lstm_nofg")
    assert one_step_jacobian(d)["c", "c"] == [ex.direct_path(d, "c")[0]] and not ex.direct_path(d, "c")[0].factors
    inst = ex.random_instance(d.cell, 8, 4, 30, 1.0, seed=12)
    direct, total = ex.cell_state_path(d, inst, None, n=8)
    assert np.all(direct == 0.0)                        # ‖∏ I‖ = 1 at every distance, exactly
    assert np.all(total[1] == pytest.approx(0.0, abs=1e-12))
    with pytest.raises(ValueError, match="no forget-gate bias"):
        ex.cell_state_path(d, inst, 3.0)
    lstm = derived("lstm")
    low, _ = ex.cell_state_path(lstm, ex.random_instance(lstm.cell, 8, 4, 30, 1.0, seed=12), -3.0, n=8)
    assert np.all(low[30] < -30)                         # a closed forget gate: the lstm's path is gone


def test_peephole_instances_draw_the_peepholes():
    d = derived("lstm_peephole")
    assert ex.diagonal_params(d.cell) == ["p_f", "p_i", "p_o"] and ex.diagonal_params(derived("lstm").cell) == []
    inst = ex.random_instance(d.cell, 3, 4, 2, 1.0, seed=13)
    assert all(np.abs(inst.params[p]).min() > 0 for p in ("p_f", "p_i", "p_o"))
    assert all(np.all(inst.params[b] == 0) for b in ("b_f", "b_i", "b_c", "b_o"))


# --- the theorem, on 100,000 random draws ----------------------------------------------

DRAWS = []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(act=st.sampled_from(sorted(BUILTIN)), H=st.integers(1, 6), T=st.integers(1, 8),
       seed=st.integers(0, 2 ** 32 - 1), input_scale=st.floats(0, 3), bias_scale=st.floats(0, 3))
def check_rnn_bound(act, H, T, seed, input_scale, bias_scale):
    """Half the draws below β_f β_W = 1, half above, every draw its own W, x, h_0."""
    trials = 1000
    rng = np.random.default_rng(seed)
    rho = np.concatenate([rng.uniform(0.05, 1.0, trials // 2), rng.uniform(1.0, 6.0, trials - trials // 2)])
    d = derived("rnn", BUILTIN[act])
    inst = ex.spectral_instance(d.cell, BUILTIN[act], trials, H, T, rho, seed)
    inst.params["U"] *= input_scale
    inst.params["b"] = bias_scale * rng.standard_normal((trials, H))
    m = ex.measure(d, inst)
    assert (m.beta_product < 1).sum() == trials // 2          # both of Pascanu's regimes
    assert m.violations(m.log_data_bound) == 0
    assert m.violations(m.log_beta_bound) == 0
    below = m.beta_product < 1          # σ_max(W) < 1/γ: every δ_k shrinks at least like (β_f β_W)^(t−k)
    assert np.all(m.log_ratio[T, below] <= T * np.log(m.beta_product[below]) + ex.TOL)
    DRAWS.append(trials)


def test_bound_holds_on_100000_random_draws():
    DRAWS.clear()
    check_rnn_bound()
    assert sum(DRAWS) >= 100_000


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(name=st.sampled_from(["lstm", "gru"]), H=st.integers(1, 5), T=st.integers(1, 6),
       scale=st.floats(0.1, 5), seed=st.integers(0, 2 ** 32 - 1))
def test_block_bound_holds_for_gated_cells(name, H, T, scale, seed):
    d = derived(name)
    m = ex.measure(d, ex.random_instance(d.cell, 300, H, T, scale, seed))
    assert m.violations(m.log_data_bound) == 0


def test_a_violation_would_be_counted():
    d = derived("rnn")
    m = ex.measure(d, ex.random_instance(d.cell, 10, 3, 4, 1.0, seed=9))
    assert m.violations(m.log_data_bound - 1.0) > 0


# --- exact cases ---------------------------------------------------------------------------

def test_at_the_origin_the_bound_is_attained_and_explodes():
    m = ex.rnn_case(derived("rnn"), 3 * np.eye(2), np.zeros(2), np.zeros(2), 10)
    assert np.exp(m.log_ratio[:, 0]) == pytest.approx(3.0 ** np.arange(11), rel=1e-12)   # tanh′(0) = 1


def test_saturated_units_vanish_above_the_threshold():
    m = ex.rnn_case(derived("rnn"), 3 * np.eye(2), np.full(2, 4.0), np.zeros(2), 10)
    h, factors = 0.0, []
    for _ in range(10):                      # both units equal: h_i = tanh(3 h_{i−1} + 4)
        h = math.tanh(3 * h + 4)
        factors.append(3 * (1 - h * h))
    assert math.exp(m.log_ratio[10, 0]) == pytest.approx(math.prod(factors), rel=1e-9)
    assert m.beta_product[0] == pytest.approx(3) and math.exp(m.log_ratio[10, 0]) < 1e-40


@pytest.mark.parametrize("act", list(BUILTIN.values()), ids=lambda a: a.name)
def test_nilpotent_W_vanishes_exactly_above_the_threshold(act):
    a = 2 / float(beta_f(act)[0])
    m = ex.rnn_case(derived("rnn", act), [[0, a], [0, 0]], [0.3, -0.2], [0.5, -0.5], 4)
    assert m.beta_product[0] == pytest.approx(2)
    assert np.all(np.exp(m.log_ratio[2:, 0]) == 0)                       # W² = 0


def test_the_seed_order_is_wrong_and_the_right_order_is_right():
    for k, ref, right, seed, bound in seed_slip():
        np.testing.assert_allclose(right, ref, rtol=1e-12)
        assert np.linalg.norm(seed - ref) > 0.1 * np.linalg.norm(ref)
        assert np.linalg.norm(seed) <= bound and np.linalg.norm(right) <= bound


def test_open_forget_gate_keeps_the_cell_state_path():
    d = derived("lstm")
    inst = ex.random_instance(d.cell, 8, 4, 20, 1.0, seed=10)
    high, _ = ex.cell_state_path(d, inst, 3.0, n=8)
    low, _ = ex.cell_state_path(d, inst, -3.0, n=8)
    assert np.all(high[20] > low[20] + 10)


# --- the generated document ------------------------------------------------------------------

def test_bound_document_has_not_drifted():
    text = bound_markdown()
    with open(os.path.join(ROOT, "derivations", "bound.md"), encoding="utf-8") as f:
        assert f.read() == text, "derivations/bound.md drifted: run `lstm-sym docs`"
    tables = [block.splitlines() for block in text.split("\n\n") if block.startswith("|")]
    assert len(tables) >= 6
    for rows in tables:                                  # a stray | would break a Markdown table
        assert len({row.count("|") for row in rows}) == 1, rows[0]


# --- the command line -------------------------------------------------------------------------

@pytest.fixture
def main():
    return commands.main


SMALL = ["--T", "4", "--trials", "6", "--hidden", "3"]


def test_command_prints_derivation_table_and_violations(main, capsys):
    assert main(["bound", "rnn", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "∂h_t/∂h_{t−1} = diag(1 − h_t²) W" in out
    assert "Bound violations: 0 of 24 (trial, distance) pairs" in out
    assert main(["bound", "lstm", *SMALL, "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert r"\operatorname{diag}\left(\mathbf{f}_{t}\right)" in out and r"\begin{tabular}" in out
    assert main(["bound", "rnn", *SMALL, "--activation", "sigmoid"]) == 0
    assert "β_f = 1/4" in capsys.readouterr().out


@pytest.mark.parametrize("args", [
    ["--T", "0"], ["--T", "2.5"], ["--trials", "-3"], ["--hidden", "x"], ["--scale", "0"],
    ["--scale", "-1"], ["--scale", "nan"], ["--scale", "inf"], ["--seed", "-2"], ["--plot", "out.jpg"],
])
def test_bad_input_is_one_line_and_exit_2(main, capsys, args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["bound", "rnn", *SMALL, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstm-sym: error:") and err.count("\n") == 1
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", list(NAMES) + ["tests/fixtures/cells/mgu_user.py", "tests/fixtures/cells/lstm.cell"])
def test_bound_runs_for_every_built_in_cell_and_a_users(main, capsys, name, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["bound", name, *SMALL]) == 0
    out = capsys.readouterr().out
    assert "Bound violations: 0 of" in out
    memory = name in ("lstm", "lstm_peephole", "cifg", "lstm_nofg") or name.endswith("lstm.cell")
    assert ("cell-state path" in out) == memory
    assert ("with the forget-gate bias high and low" in out) == (memory and name != "lstm_nofg")
    if name == "lstm_nofg":
        assert "with no forget gate" in out and "∂c_t/∂c_k = I + (paths through h_i)" in out
        assert "never decays" in out


def test_activation_is_for_the_rnn_only(main, capsys):
    assert main(["bound", "lstm", *SMALL, "--activation", "relu"]) == 2
    assert "rnn only" in capsys.readouterr().err


def test_plot_without_matplotlib_is_a_usage_error(main, capsys, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)          # as if it were not installed
    assert main(["bound", "rnn", *SMALL, "--plot", str(tmp_path / "p.png")]) == 2
    assert "matplotlib" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_plot_to_an_unwritable_path_is_a_usage_error(main, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    assert main(["bound", "rnn", *SMALL, "--plot", str(tmp_path / "no" / "p.png")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    if os.geteuid() != 0:                   # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["bound", "rnn", *SMALL, "--plot", str(locked / "p.png")]) == 2
        assert os.listdir(locked) == []


def test_plot_writes_a_png_atomically_and_will_not_overwrite(main, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "p.png"
    assert main(["bound", "lstm", *SMALL, "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["p.png"]
    before = path.read_bytes()
    assert main(["bound", "rnn", *SMALL, "--plot", str(path)]) == 2
    assert path.read_bytes() == before
    assert main(["bound", "rnn", *SMALL, "--plot", str(path), "--force"]) == 0
    assert path.read_bytes() != before
