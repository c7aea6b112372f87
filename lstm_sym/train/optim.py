"""Plain NumPy optimizers and gradient clipping over dicts of arrays.

The update rules are the ones PyTorch documents for torch.optim.SGD and
torch.optim.Adam (bias-corrected moments, ε added to √v̂ after the bias
correction) and for torch.nn.utils.clip_grad_norm_ (scale by
max_norm / (‖g‖ + 1e-6) when that is below 1), so a run can be replayed in
torch step by step."""
from __future__ import annotations

import math

import numpy as np


def global_norm(grads):
    """‖g‖₂ over every array of the dict, as one vector."""
    return math.sqrt(sum(float(np.vdot(g, g).real) for g in grads.values()))


def clip_by_global_norm(grads, max_norm):
    """Scale every gradient by min(1, max_norm / (‖g‖ + 1e-6)); in place.
    Returns the norm before clipping."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    norm = global_norm(grads)
    scale = max_norm / (norm + 1e-6)
    if scale < 1.0:
        for g in grads.values():
            g *= scale
    return norm


def clip_by_value(grads, limit):
    """Clip each entry to [−limit, limit]; in place."""
    if not limit > 0:
        raise ValueError(f"clip value must be > 0, got {limit}")
    for g in grads.values():
        np.clip(g, -limit, limit, out=g)


class SGD:
    def __init__(self, params, lr=0.01, momentum=0.0):
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.params, self.lr, self.momentum = params, lr, momentum
        self.buf = {}

    def step(self, grads):
        for k, p in self.params.items():
            g = grads[k]
            if self.momentum:
                b = self.buf.get(k)
                b = g.copy() if b is None else self.momentum * b + g
                self.buf[k] = b
                g = b
            p -= self.lr * g


class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for k, p in self.params.items():
            g = grads[k]
            m, v = self.m[k], self.v[k]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= (self.lr / c1) * m / (np.sqrt(v) / math.sqrt(c2) + self.eps)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
