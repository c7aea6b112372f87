"""The cell's equations and its derivation evaluated over a leading trials axis.

Every trial has its own weights.  Vectors are arrays of shape (N, M, H): N
trials, M stacked row vectors (M = 1 for the forward pass and for one
cotangent; M = H to carry a whole Jacobian backward).  W v for a stack of
rows is v Wᵀ, Wᵀ v is v W: one batched product per matrix and step.

Backward runs from a cotangent on the states at step T with no loss terms
before T, so the cotangent at step k is δ_k = ∂(⟨g, s_T⟩)/∂s_k.  It is
renormalised at every step (its log-norm kept apart) so that 50 steps of
vanishing or exploding stay inside float64.
"""
from __future__ import annotations

import numpy as np

from ..evaluate import BatchedBackend, evaluate
from ..ir import Add, Delta, Direct, Next, Outer, Var
from ..ops import batched_matvec as matvec  # noqa: F401  (the trials-axis W v, in the op table)
from .jacobian import Diag, Mat, one_step_jacobian

BACKEND = BatchedBackend()


class _Step:
    """The interpreter's context at step t of a Forward: leaves read off its
    arrays, the backward values of this step from adj."""
    backend = BACKEND

    def __init__(self, fw, t, adj):
        self.fw, self.t, self.adj = fw, t, adj

    def leaf(self, e):
        if isinstance(e, Var):
            if e.time is None:
                return self.fw.mats[e.name] if e.name in self.fw.mats else self.fw.vecs[e.name]
            return self.fw.env[e.name, self.t + e.time]
        if isinstance(e, Delta):
            return self.adj["delta", e.name, e.gate]
        if isinstance(e, Next):
            return self.adj["next", e.name]
        if isinstance(e, Direct):
            return 0.0                      # no loss term before T: δ_k is ∂(loss at T)/∂s_k
        raise TypeError(f"cannot evaluate {type(e).__name__}")


class Forward:
    """The forward pass of `cell` for N trials at once.

    params: name -> (N, H, H) / (N, H, D) / (N, H); xs: (T, N, D);
    init: state -> (N, H).  env[name, t] holds (N, 1, H)."""

    def __init__(self, cell, params, xs, init):
        self.cell = cell
        self.mats = {p: np.asarray(a, float) for p, a in params.items() if np.ndim(a) == 3}
        self.vecs = {p: np.asarray(a, float)[:, None, :] for p, a in params.items() if np.ndim(a) == 2}
        self.T = len(xs)
        self.env = {(s, 0): np.asarray(init[s], float)[:, None, :] for s in cell.states}
        self.trials, self.H = self.env[cell.states[0], 0].shape[::2]
        self._sigma = {}
        for t in range(1, self.T + 1):
            self.env[cell.x, t] = np.asarray(xs[t - 1], float)[:, None, :]
            for v, e in cell.equations:
                self.env[v.name, t] = self.value(e, t)

    def sigma_max(self, name):
        """‖W‖₂ of every trial's W (N,)."""
        if name not in self._sigma:
            self._sigma[name] = np.linalg.svd(self.mats[name], compute_uv=False)[:, 0]
        return self._sigma[name]

    def value(self, e, t, adj=None):
        """Value of node e at step t; adj holds the backward values
        (("delta", name, gate) and ("next", state)) of this step."""
        return evaluate(e, _Step(self, t, adj))

    def outer_norm(self, e, t, adj):
        """Frobenius norm per (trial, row) of a weight gradient's step term."""
        if isinstance(e, Outer):
            a, b = self.value(e.a, t, adj), self.value(e.b, t, adj)
            return np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
        if isinstance(e, Add) and all(isinstance(o, Outer) for o in e.terms):
            return np.sqrt((self.value(e, t, adj) ** 2).sum(axis=(-1, -2)))
        raise TypeError(f"not a weight-gradient term: {type(e).__name__}")


class Backward:
    """The derivation run backward from a cotangent on the states at T.

    log_norm[k]: log ‖δ_k‖ per (trial, row), k = T..0, the norm taken over
    every state together; unit[k]: δ_k / ‖δ_k‖ per state (shape (N, M, H)),
    kept only when keep=True; grad_log[p][k]: log ‖∂E/∂p‖_F's step-k term."""

    def __init__(self, derivation, fw, seed, grads=(), keep=False):
        states = derivation.cell.states
        defs = derivation.delta_defs
        T = fw.T
        shape = np.shape(next(iter(seed.values())))
        cot = {s: np.broadcast_to(np.asarray(seed.get(s, 0.0), float), shape) for s in states}
        scale = _log_norm(cot)
        cot = {s: v / _safe(np.exp(scale))[..., None] for s, v in cot.items()}
        self.log_norm = {T: scale}
        self.unit = {T: cot} if keep else {}
        self.grad_log = {p: {} for p in grads}
        for t in range(T, 0, -1):
            adj = {("next", s): cot[s] for s in states}
            for d, e in defs:
                adj["delta", d.name, d.gate] = fw.value(e, t, adj)
            for p in grads:
                with np.errstate(divide="ignore"):
                    self.grad_log[p][t] = np.log(fw.outer_norm(derivation.param_grads[p].a, t, adj)) + scale
            carry = {s: fw.value(derivation.carry[s], t, adj) if derivation.carry.get(s) is not None
                     else 0.0 * cot[s] for s in states}
            step = _log_norm(carry)
            cot = {s: v / _safe(np.exp(step))[..., None] for s, v in carry.items()}
            scale = scale + step
            self.log_norm[t - 1] = scale
            if keep:
                self.unit[t - 1] = cot


def _log_norm(vectors):
    """log of the norm over every state and component, per (trial, row);
    rows are taken together when M > 1 (a Jacobian: the Frobenius norm)."""
    sq = sum(np.asarray(v) ** 2 for v in vectors.values())
    M = next(iter(vectors.values())).shape[1]
    total = sq.sum(axis=-1) if M == 1 else np.broadcast_to(sq.sum(axis=(-1, -2))[:, None], sq.shape[:2])
    with np.errstate(divide="ignore"):
        return 0.5 * np.log(total)


def _safe(norm):
    """Divide by the norm, but leave an exact zero at zero."""
    return np.where(norm > 0, norm, 1.0)


def step_bound_logs(derivation, fw, blocks=None):
    """log of a bound on ‖∂s_t/∂s_{t−1}‖₂ for t = 1..T, shape (T, N).

    Each block's norm is at most Σ |coeff| ∏ ‖factor‖ (‖diag v‖ = max|v|,
    ‖W‖ = σ_max(W)); the whole Jacobian's norm is at most the spectral norm of
    the matrix of block bounds (‖J v‖ ≤ ‖N (‖v_s‖)_s‖).  For the rnn this is
    exactly max|f′(net_t)| ‖W‖₂."""
    blocks = blocks or one_step_jacobian(derivation)
    states = derivation.cell.states
    S, N = len(states), fw.trials
    out = np.empty((fw.T, N))
    for t in range(1, fw.T + 1):
        Nmat = np.zeros((N, S, S))
        for (a, b), terms in blocks.items():
            for term in terms:
                bound = np.full(N, float(abs(term.coeff)))
                for f in term.factors:
                    if isinstance(f, Diag):
                        v = np.broadcast_to(fw.value(f.v, t), (N, 1, fw.H))
                        bound = bound * np.abs(v).max(axis=(1, 2))
                    else:
                        bound = bound * fw.sigma_max(f.W.name)
                Nmat[:, states.index(a), states.index(b)] += bound
        with np.errstate(divide="ignore"):
            out[t - 1] = np.log(Nmat[:, 0, 0] if S == 1 else np.linalg.norm(Nmat, 2, axis=(1, 2)))
    return out


def jacobian_matrix(derivation, fw, t, blocks=None):
    """The one-step Jacobian ∂(s_t)/∂(s_{t−1}) assembled from the symbolic
    blocks, per trial: (N, S·H, S·H), states in the cell's order."""
    blocks = blocks or one_step_jacobian(derivation)
    states = derivation.cell.states
    N, H = fw.trials, fw.H
    J = np.zeros((N, len(states) * H, len(states) * H))
    for (a, b), terms in blocks.items():
        i, j = states.index(a) * H, states.index(b) * H
        for term in terms:
            M = np.broadcast_to(np.eye(H), (N, H, H)).copy()
            for f in reversed(term.factors):            # the rightmost factor acts first
                if isinstance(f, Diag):
                    M = np.broadcast_to(fw.value(f.v, t), (N, 1, H))[:, 0, :, None] * M
                elif isinstance(f, Mat):
                    W = fw.mats[f.W.name]
                    M = np.matmul(W.transpose(0, 2, 1) if f.transpose else W, M)
            J[:, i:i + H, j:j + H] += float(term.coeff) * M
    return J
