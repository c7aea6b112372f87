"""Gradients from the forward alone: central differences, Richardson
extrapolation, the complex step (needs a complex-safe forward) and a
directional derivative vᵀJu; and the rounding noise a difference quotient
cannot see below."""
from __future__ import annotations

import numpy as np

from .problem import loss
from .sandbox import during


def _perturbed(prob, name, idx, delta, dtype=None):
    i = prob.inputs()
    a = i[name].astype(dtype or np.result_type(i[name], delta), copy=True)
    a[idx] = a[idx] + delta
    i[name] = a
    return i


def central(module, prob, name, eps):
    ref = prob.inputs()[name]
    out = np.zeros(ref.shape)
    for idx in np.ndindex(ref.shape):
        up = loss(module, prob, _perturbed(prob, name, idx, eps))
        down = loss(module, prob, _perturbed(prob, name, idx, -eps))
        out[idx] = (float(up) - float(down)) / (2 * eps)
    return out


def richardson(module, prob, name, eps):
    """(4 D(ε/2) − D(ε)) / 3: cancels the ε² term of central differences."""
    return (4 * central(module, prob, name, eps / 2) - central(module, prob, name, eps)) / 3


def complex_step(module, prob, name, h):
    """Im L(θ + i h e_k) / h: no subtraction, so no cancellation error."""
    ref = prob.inputs()[name]
    out = np.zeros(ref.shape)
    for idx in np.ndindex(ref.shape):
        i = {k: v.astype(complex) for k, v in prob.inputs().items()}
        i[name][idx] += 1j * h
        out[idx] = np.imag(loss(module, prob, i)) / h
    return out


def directional(module, prob, names, grads, eps, rng):
    """vᵀJu along one random unit direction u spanning the inputs `names`:
    two forwards and one backward (the backward's gradients are given).
    Returns (measured, predicted, ‖g‖ restricted to names)."""
    i = prob.inputs()
    u = {n: rng.standard_normal(i[n].shape) for n in names}
    norm = np.sqrt(sum(np.sum(v * v) for v in u.values()))
    up, down = dict(i), dict(i)
    for n in names:
        up[n] = (i[n] + eps * u[n] / norm).astype(i[n].dtype)
        down[n] = (i[n] - eps * u[n] / norm).astype(i[n].dtype)
    with during(module, "the directional check"):
        measured = (float(loss(module, prob, up)) - float(loss(module, prob, down))) / (2 * eps)
    g = {n: np.asarray(grads[n], dtype=float) for n in names}
    predicted = sum(float(np.sum(g[n] * u[n])) for n in names) / norm
    return measured, predicted, float(np.sqrt(sum(np.sum(v * v) for v in g.values())))


def roundoff(level, step, dtype, quotients=1):
    """The error a difference quotient makes from rounding the loss alone:
    ~ε_mach·|L|/step (Richardson combines two quotients: quotients = 3).  An
    error below it is not evidence against the gradient."""
    eps = float(np.finfo(np.float32 if dtype == "float32" else np.float64).eps)
    return quotients * 10 * eps * max(level, 1.0) / step
