"""A one-layer network for training: the generated kernel of a cell, a
linear output head y_t = V h_t + b_y and a loss (MSE, or softmax
cross-entropy) at the last step or at every step.

The head and loss rules are the textbook ones the seeds derive, written once
here: MSE L = mean_b ‖ŷ − y‖² / K gives ∂L/∂ŷ = 2(ŷ − y)/(B K); softmax with
cross-entropy gives ∂L/∂z = (softmax(z) − onehot(y))/B.  ∂E/∂V = Σ_t δz_t h_tᵀ,
∂E/∂b_y = Σ_t δz_t, and δh_t = Vᵀ δz_t enters the kernel's backward."""
from __future__ import annotations

import numpy as np

from .. import codegen
from ..cells import load_cell

HEAD = ("V", "b_y")


def _mse(z, y):
    if y.shape != z.shape:
        raise ValueError(f"targets: expected shape {z.shape}, got {y.shape}")
    r = z - y
    return float(np.mean(r * r)), 2.0 * r / r.size


def _xent(z, y):
    B, K = z.shape
    if y.shape != (B,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"targets: expected class indices of shape ({B},), got {y.dtype} {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= K):
        raise ValueError(f"targets: class indices must be in [0, {K}), got {y.min()}..{y.max()}")
    s = z - z.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    p = np.exp(logp)
    p[np.arange(B), y] -= 1.0
    return float(-logp[np.arange(B), y].mean()), p / B


LOSSES = {"mse": _mse, "xent": _xent}
LOSS_AT = ("last", "all")


class Network:
    """cell → head → loss.  params holds the cell's parameters and V, b_y."""

    def __init__(self, cell, D, H, K=1, loss="mse", loss_at="last"):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
        if loss_at not in LOSS_AT:
            raise ValueError(f"unknown --loss-at {loss_at!r}; choose last or all")
        for name, v in (("D", D), ("H", H), ("K", K)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.cell = load_cell(cell) if isinstance(cell, str) else cell
        self.kernel = codegen.compile(self.cell)
        self.D, self.H, self.K, self.loss, self.loss_at = D, H, K, loss, loss_at

    def init_params(self, seed=0):
        params = {k: v.astype(np.float64) for k, v in self.kernel.init_params(self.D, self.H, seed=seed).items()}
        rng = np.random.default_rng([seed, 1])
        bound = 1.0 / np.sqrt(self.H)                # torch.nn.Linear's range
        params["V"] = rng.uniform(-bound, bound, (self.K, self.H))
        params["b_y"] = rng.uniform(-bound, bound, self.K)
        return params

    def loss_and_grads(self, params, x, y):
        """(L, grads) for inputs x (T, B, D) and targets y: (B, K) for MSE,
        (B,) class indices for cross-entropy; with loss_at="all" one more
        leading T axis."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[2] != self.D:
            raise ValueError(f"x: expected shape (T, B, {self.D}), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinity")
        cellp = {k: v for k, v in params.items() if k not in HEAD}
        h, cache = self.kernel.forward(cellp, x)
        V, b_y = params["V"], params["b_y"]
        steps = range(h.shape[0]) if self.loss_at == "all" else [h.shape[0] - 1]
        ys = y if self.loss_at == "all" else [y]
        if self.loss_at == "all" and len(y) != h.shape[0]:
            raise ValueError(f"targets: expected {h.shape[0]} steps (one per step), got {len(y)}")
        total, dh = 0.0, np.zeros_like(h)
        gV, gb = np.zeros_like(V), np.zeros_like(b_y)
        for t, yt in zip(steps, ys):
            z = h[t] @ V.T + b_y
            L, dz = LOSSES[self.loss](z, np.asarray(yt))
            scale = 1.0 / len(steps)                 # mean over the scored steps
            total += scale * L
            dz = scale * dz
            gV += dz.T @ h[t]
            gb += dz.sum(axis=0)
            dh[t] = dz @ V
        grads = self.kernel.backward(cellp, dh, cache)
        grads = {k: grads[k] for k in cellp}
        grads["V"], grads["b_y"] = gV, gb
        return total, grads
