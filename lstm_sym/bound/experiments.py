"""Measurements: ‖δ_k‖/‖δ_t‖ against the bounds over random instances,
Pascanu's regimes, the seeds' per-step weight-gradient picture (rnn against
lstm), and the LSTM cell-state path with the forget-gate bias high and low.

Random instances (the same for every cell given the same seed, size and T):
x_t ∈ ℝ^8 and the first two states (h_0, and c_0 or whatever the second is)
with standard normal entries (× 0.5), the cotangent g on h_T standard normal;
recurrent weights s·G/√H, input weights G/√8 (so each entry of U x_t has unit
variance), biases 0, diagonal weights (an (H,) parameter that multiplies a
vector elementwise: peepholes) s·G, so that p ⊙ c has the spread of W h.
G standard normal.

The cell-state experiments read the cell's roles (Cell.roles, declared or
inferred): the memory state, its forget gate and that gate's bias; nothing
here looks for the names c or b_f.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Add, Had, OneMinus, Var
from .batched import Backward, Forward, step_bound_logs
from .jacobian import Diag, beta_f, one_step_jacobian, rnn_factor

INPUT_SIZE = 8
TOL = 1e-9          # relative slack for float rounding when counting violations
FORGET_BIAS = {"high": 3.0, "low": -3.0}


@dataclass
class Instance:
    params: dict        # name -> (N, ...) arrays
    xs: np.ndarray      # (T, N, D)
    init: dict          # state -> (N, H)
    g: np.ndarray       # (N, H): the cotangent on h_T


def random_instance(cell, trials, H, T, scale=1.0, seed=0):
    data, weights = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    D = INPUT_SIZE
    xs = data.standard_normal((T, trials, D))
    g = data.standard_normal((trials, H))
    # two draws always (the same x, h_0 and g for every cell), more for cells with more states
    init0 = [0.5 * data.standard_normal((trials, H)) for _ in range(max(2, len(cell.states)))]
    init = {s: init0[k] for k, s in enumerate(cell.states)}
    diagonal = diagonal_params(cell)
    params = {}
    for p, v in cell.params.items():
        if v.shape == ("H", "H"):
            params[p] = scale * weights.standard_normal((trials, H, H)) / np.sqrt(H)
        elif v.shape == ("H", "D"):
            params[p] = weights.standard_normal((trials, H, D)) / np.sqrt(D)
        elif p in diagonal:
            params[p] = scale * weights.standard_normal((trials, H))
        else:
            params[p] = np.zeros((trials, H))
    return Instance(params, xs, init, g)


def diagonal_params(cell):
    """(H,) parameters that multiply a vector elementwise (peepholes p ⊙ c), not biases."""
    out = []
    for _, e in cell.equations:
        for n in _nodes(e):
            if isinstance(n, Had):
                out += [f.name for f in n.factors if isinstance(f, Var) and f.kind == "param"]
    return list(dict.fromkeys(out))


def _nodes(e):
    yield e
    for k in e.children():
        yield from _nodes(k)


def memory_roles(cell):
    """(memory state, forget gate, forget-gate bias) from the cell's roles
    (check() has run: derive() calls it); None for what the cell has not.

    The bias falls back to the one (H,) parameter *added* in the gate's
    pre-activation when the roles name none: Cell's inference counts every
    (H,) parameter of the pre-activation, so a peephole vector beside b_f
    (σ(… + p_f ⊙ c_{t−1} + b_f)) leaves the bias unnamed."""
    roles = cell.roles
    memory, gate, bias = roles.get("memory"), roles.get("forget_gate"), roles.get("forget_bias")
    if gate is not None and bias is None:
        net = dict((v.name, e) for v, e in cell.equations).get("net_" + gate)
        terms = net.terms if isinstance(net, Add) else (net,)
        added = [t.name for t in terms if isinstance(t, Var) and t.kind == "param" and t.shape == ("H",)]
        bias = added[0] if len(added) == 1 else None
    return memory, gate, bias


def direct_path(derivation, memory):
    """The terms of ∂m_t/∂m_{t−1} with no weight matrix: the memory's direct
    path (diag(f_t) for the lstm, I for an lstm without forget gate)."""
    return [t for t in one_step_jacobian(derivation)[memory, memory]
            if all(isinstance(f, Diag) for f in t.factors)]


def gate_like(v):
    """True when diag(v) is a gate alone: g_t or 1 − g_t for a named g."""
    v = v.a if isinstance(v, OneMinus) else v
    return isinstance(v, Var) and v.kind == "inter" and v.time == 0


def recurrent_params(cell):
    return [p for p, v in cell.params.items() if v.shape == ("H", "H")]


@dataclass
class Measurement:
    """Per distance d = t − k (rows 0..T) and trial (columns), all as logs."""
    log_ratio: np.ndarray        # log ‖δ_{T−d}‖/‖δ_T‖
    log_data_bound: np.ndarray   # log ∏_{i=k+1}^{T} (bound on ‖∂s_i/∂s_{i−1}‖)
    log_beta_bound: object       # log (β_f β_W)^d for an rnn-like cell, else None
    beta_product: object         # β_f β_W per trial (rnn-like), else None
    log_grad: np.ndarray         # log ‖∇_{W_k}E‖_F over the recurrent weights, k = T − d

    @property
    def T(self):
        return self.log_ratio.shape[0] - 1

    @property
    def trials(self):
        return self.log_ratio.shape[1]

    @property
    def overflowed(self):
        """Trials whose forward or backward pass left float64 (NaN or +inf):
        not counted as violations, reported apart."""
        bad = np.isnan(self.log_ratio) | (self.log_ratio == np.inf)
        if self.log_data_bound is not None:
            bad |= np.isnan(self.log_data_bound)
        return bad.any(axis=0)

    def violations(self, log_bound):
        ok = ~self.overflowed
        return int(np.count_nonzero(self.log_ratio[1:, ok] > log_bound[1:, ok] + TOL))


def measure(derivation, inst, bounds=True):
    """Run forward and backward for every trial at once; compare with the
    bounds (bounds=False: only the ratios and weight-gradient terms).
    Overflow is not an error here: such trials are counted (`overflowed`)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _measure(derivation, inst, bounds)


def _measure(derivation, inst, bounds):
    cell = derivation.cell
    fw = Forward(cell, inst.params, inst.xs, inst.init)
    T = fw.T
    seed = {cell.states[0]: inst.g[:, None, :]}
    rec = recurrent_params(cell)
    bw = Backward(derivation, fw, seed, grads=rec)
    log_norm = np.array([bw.log_norm[T - d][:, 0] for d in range(T + 1)])
    data = None
    if bounds:
        steps = step_bound_logs(derivation, fw)                             # (T, N), t = 1..T
        data = np.vstack([np.zeros(fw.trials), np.cumsum(steps[::-1], axis=0)])
    # no recurrent weight (a memory fed by x alone): no per-step weight-gradient terms to compare
    log_grad = (np.array([_log_sum_sq([bw.grad_log[p][T - d][:, 0] for p in rec]) for d in range(T)])
                if rec else None)
    beta_bound = product = None
    rnn = rnn_factor(derivation) if bounds else None
    if rnn is not None:
        act, _, W = rnn
        product = float(beta_f(act)[0]) * fw.sigma_max(W.name)
        with np.errstate(divide="ignore"):
            beta_bound = np.outer(np.arange(T + 1), np.log(product))
    return Measurement(log_norm - log_norm[0], data, beta_bound, product, log_grad)


def _log_sum_sq(logs):
    """log sqrt(Σ exp(2 l)) without overflow."""
    logs = np.array(logs)
    top = logs.max(axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + 0.5 * np.log(np.exp(2 * (logs - safe)).sum(axis=0))


def distances(T):
    """The rows a table shows: the first few steps, then every tenth, and T."""
    ds = [d for d in (1, 2, 3, 5, 10, 15, 20, 30, 40, 50) if d < T]
    ds += [d for d in range(60, T, 20)]
    return ds + [T]


def median_exp(logs):
    with np.errstate(over="ignore"):
        return float(np.exp(np.median(logs)))


def max_exp(logs):
    with np.errstate(over="ignore"):
        return float(np.exp(np.max(logs)))


def regimes(m):
    """Pascanu et al. 2013 on the measured trials (rnn-like cells only):
    {below, below_vanished, above, above_vanished, example (β_fβ_W, ratio)}.
    'Vanished': ‖δ_0‖ < ‖δ_T‖, i.e. the mean per-step factor is below 1."""
    if m.beta_product is None:
        return None
    last = m.log_ratio[m.T]
    below = m.beta_product < 1
    vanished = last < 0
    example = None
    candidates = np.flatnonzero(~below & vanished)
    if len(candidates):
        i = candidates[np.argmax(m.beta_product[candidates])]
        example = (float(m.beta_product[i]), float(np.exp(last[i])), int(i))
    return dict(below=int(below.sum()), below_vanished=int((below & vanished).sum()),
                above=int((~below).sum()), above_vanished=int((~below & vanished).sum()),
                example=example)


def cell_state_path(derivation, inst, bias, n=32):
    """‖∂m_T/∂m_k‖₂ (m the cell's memory, the lstm's c) for the first n
    trials, with the forget-gate bias set to `bias` (None: as drawn, and the
    only choice for a memory without a forget gate): (direct path
    ‖∏ diag(d_i)‖ = max_j ∏ |d_ij|, total Jacobian), each (T+1, n) logs."""
    cell = derivation.cell
    memory, _, forget_bias = memory_roles(cell)
    if memory is None:
        raise ValueError(f"cell {cell.name} has no memory state (no state carried by ⊙ a gate alone)")
    params = {p: a[:n] for p, a in inst.params.items()}
    if bias is not None:
        if forget_bias is None:
            raise ValueError(f"cell {cell.name} has no forget-gate bias to set")
        params[forget_bias] = np.full_like(params[forget_bias], bias)
    fw = Forward(cell, params, inst.xs[:, :n], {s: a[:n] for s, a in inst.init.items()})
    T, N, H = fw.T, fw.trials, fw.H
    direct = direct_path(derivation, memory)

    def diagonal(t):                    # the direct path's one-step factor at step t, (N, H)
        out = np.zeros((N, H))
        for term in direct:
            v = np.full((N, 1, H), float(term.coeff))
            for f in term.factors:
                v = v * fw.value(f.v, t)
            out += v[:, 0, :]
        return out
    with np.errstate(divide="ignore"):
        logs = np.array([np.log(np.abs(diagonal(t))) for t in range(T, 0, -1)])
    path = np.vstack([np.zeros((1, N)), np.cumsum(logs, axis=0).max(axis=2)])
    seed = {s: np.broadcast_to(np.eye(H), (N, H, H)) if s == memory else np.zeros((N, H, H))
            for s in cell.states}
    bw = Backward(derivation, fw, seed, keep=True)
    total = np.empty((T + 1, N))
    for d in range(T + 1):
        k = T - d
        sigma = np.linalg.svd(bw.unit[k][memory], compute_uv=False)[:, 0]
        with np.errstate(divide="ignore"):
            total[d] = bw.log_norm[k][:, 0] + np.log(sigma)
    return path, total


# --- fixed cases -------------------------------------------------------------

def rnn_names(cell):
    """(W, U, b, state) of a cell shaped like the rnn (one parameter of each
    shape, one state), whatever the names; None otherwise."""
    by_shape = {}
    for p, v in cell.params.items():
        by_shape.setdefault(v.shape, []).append(p)
    if len(cell.states) != 1 or sorted(by_shape) != [("H",), ("H", "D"), ("H", "H")] \
            or any(len(v) != 1 for v in by_shape.values()):
        return None
    return by_shape["H", "H"][0], by_shape["H", "D"][0], by_shape["H",][0], cell.states[0]


def rnn_case(derivation, W, b, h0, T, g=None):
    """One rnn instance with zero inputs: log ‖δ_{T−d}‖/‖δ_T‖, d = 0..T."""
    W = np.asarray(W, float)
    H = W.shape[0]
    w, u, bias, s = rnn_names(derivation.cell)
    inst = Instance({w: W[None], u: np.zeros((1, H, 1)), bias: np.asarray(b, float)[None]},
                    np.zeros((T, 1, 1)), {s: np.asarray(h0, float)[None]},
                    np.ones((1, H)) if g is None else np.asarray(g, float)[None])
    return measure(derivation, inst)


def spectral_instance(cell, act, trials, H, T, rho, seed):
    """rnn instance with ‖W‖₂ = ρ/β_f exactly, so β_f β_W = ρ (ρ: one value
    or one per trial)."""
    inst = random_instance(cell, trials, H, T, 1.0, seed)
    w = rnn_names(cell)[0]
    W = inst.params[w]
    rho = np.broadcast_to(np.asarray(rho, float), (trials,))[:, None, None]
    inst.params[w] = rho / float(beta_f(act)[0]) * W / np.linalg.svd(W, compute_uv=False)[:, :1, None]
    return inst


# --- the exploding regime, and clipping ----------------------------------------

def _argsup(act):
    """A point a where |f′(a)| reaches β_f (on a grid; exact for the built-ins:
    0 for tanh, σ and softsign, any a > 0 for relu)."""
    import sympy
    from ..activations import x
    df = sympy.lambdify(x, sympy.Abs(act.derivative), "numpy")
    grid = np.linspace(-4.0, 4.0, 8001)
    with np.errstate(all="ignore"):
        vals = np.nan_to_num(np.broadcast_to(df(grid), grid.shape).astype(float))
    return float(grid[np.argmax(vals)])


def exploding_instance(cell, act, trials, H, T, rho, seed):
    """W = (ρ/β_f)·Q with Q orthogonal, so β_f β_W = ρ; bias and h_0 put every
    pre-activation at a point a where |f′(a)| = β_f, and there it stays (no
    input): each step multiplies δ by f′(a) Wᵀ, whose norm is ρ, so
    ‖δ_k‖/‖δ_t‖ = ρ^(t−k) exactly — the bound attained."""
    inst = random_instance(cell, trials, H, T, 1.0, seed)
    w, u, b, s = rnn_names(cell)
    q, r = np.linalg.qr(inst.params[w])
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    W = rho / float(beta_f(act)[0]) * q
    a = _argsup(act)
    h_star = np.full((trials, H), float(act.numpy_fn(np.float64(a))))
    inst.params[w] = W
    inst.params[u] = np.zeros_like(inst.params[u])
    inst.params[b] = a - np.einsum("nij,nj->ni", W, h_star)
    inst.xs = np.zeros_like(inst.xs)
    inst.init = {s: h_star}
    return inst, a


def clipping_effect(derivation, inst, clip):
    """Per trial, the full parameter gradient of ⟨g, h_T⟩ (the generated
    kernel, one trial at a time): its global norm, and what global-norm and
    per-element clipping at `clip` leave of its norm and its direction."""
    from .. import codegen
    from ..train.optim import clip_by_global_norm, clip_by_value, global_norm
    kernel = codegen.compile(derivation.cell)
    s = derivation.cell.states[0]
    rows = []
    T, N, _ = inst.xs.shape
    for n in range(N):
        params = {p: v[n] for p, v in inst.params.items()}
        h, cache = kernel.forward(params, inst.xs[:, n:n + 1], inst.init[s][n:n + 1])
        dh = np.zeros_like(h)
        dh[-1, 0] = inst.g[n]
        grads = kernel.backward(params, dh, cache)
        g = {p: grads[p] for p in inst.params}
        flat = np.concatenate([v.ravel() for v in g.values()])
        glob = {p: v.copy() for p, v in g.items()}
        clip_by_global_norm(glob, clip)
        elem = {p: v.copy() for p, v in g.items()}
        clip_by_value(elem, clip)
        cos = lambda c: float(np.dot(flat, np.concatenate([v.ravel() for v in c.values()]))
                              / (np.linalg.norm(flat) * global_norm(c)))
        rows.append((global_norm(g), global_norm(glob), cos(glob), global_norm(elem), cos(elem)))
    return np.array(rows)
