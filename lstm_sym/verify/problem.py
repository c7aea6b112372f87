"""One random problem for every check: the inputs of a module and the loss weights.

A module follows the kernel contract (generated kernels and users' own
implementations alike, the latter always behind sandbox.Guarded): PARAMS,
STATES, forward(params, x, h0, c0) -> (h, cache), backward(params, dh,
cache[, dcT]) -> dict of gradients.  The loss is L = Σ_t ⟨G_t, h_t⟩
(+ ⟨G_c, c_T⟩ when the module exposes c_T and takes dcT).  A cell's second
state s (c for the LSTM) is passed fourth; its gradient key is s + "0"."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .sandbox import final_keyword, final_state


@dataclass
class Problem:
    """One random instance: inputs of the module and the loss weights.
    c0 is the second state's initial value (named `second`); `fixed` holds
    the gradient keys of initial states kept at 0 and not checked (a module
    whose forward takes no c0, or whose backward returns no gradient for it)."""
    params: dict
    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray | None
    G: np.ndarray
    Gc: np.ndarray | None
    second: str = "c"
    fixed: frozenset = frozenset()
    first: str = "h"            # the output state's name: its gradient key is first + "0"

    def state_keys(self):
        return [self.first + "0"] + ([self.second + "0"] if self.c0 is not None else [])

    def inputs(self):
        """Every array a gradient is checked for, by its gradient key."""
        out = dict(self.params)
        out["x"] = self.x
        for key, a in zip(self.state_keys(), (self.h0, self.c0)):
            if key not in self.fixed:
                out[key] = a
        return out

    def hold_at_zero(self, keys):
        """Initial states `keys` start at 0 and their gradients are not checked."""
        keys = [k for k in keys if k in self.state_keys()]
        if self.first + "0" in keys:
            self.h0 = np.zeros_like(self.h0)
        if self.c0 is not None and self.second + "0" in keys:
            self.c0 = np.zeros_like(self.c0)
        self.fixed = frozenset(self.fixed | set(keys))

    def astype(self, dtype):
        cast = lambda a: None if a is None else a.astype(dtype)
        return Problem({k: cast(v) for k, v in self.params.items()}, cast(self.x), cast(self.h0),
                       cast(self.c0), self.G, self.Gc, self.second, self.fixed, self.first)


def make_problem(module, D=3, H=4, T=5, B=2, seed=0, scale=0.5, zero_init=False):
    """The one random-problem maker.  `module` is a module of the kernel
    contract (PARAMS, STATES, backward: its loss reads c_T when backward
    takes dcT) or a cell (a Cell, a Derivation or a built-in name).
    float64, nonzero initial states (zero_init: zero), weights of scale ~0.5,
    T ≥ 3 by default: a T = 2, h0 = 0 check is blind to wrong recurrences.
    Beyond H = 4 the weights shrink by √(4/H), so that gates stay as far from
    saturation as at H = 4 (saturated gates hide errors behind zero
    derivatives)."""
    shapes, states, reads_cT = _contract(module)
    rng = np.random.default_rng(seed)
    scale = scale * min(1.0, math.sqrt(4 / max(H, D)))
    dims = {"D": D, "H": H}
    params = {p: scale * rng.standard_normal([dims[s] for s in shape]) for p, shape in shapes.items()}
    has_c = len(states) > 1
    c0 = rng.standard_normal((B, H)) if has_c else None
    Gc = rng.standard_normal((B, H)) if (has_c and reads_cT) else None
    prob = Problem(params, rng.standard_normal((T, B, D)), rng.standard_normal((B, H)), c0,
                   rng.standard_normal((T, B, H)), Gc, states[1] if has_c else "c", first=states[0])
    if zero_init:
        prob.h0, prob.c0 = np.zeros_like(prob.h0), None if c0 is None else np.zeros_like(c0)
    return prob


def _contract(spec):
    """(PARAMS, STATES, whether the loss reads c_T) of a module or a cell."""
    if hasattr(spec, "PARAMS"):
        return spec.PARAMS, tuple(getattr(spec, "STATES", ("h",))), takes_dcT(spec)
    if isinstance(spec, str) or hasattr(spec, "delta_defs"):
        from ..derivation import derive
        spec = derive(spec).cell
    return {p: v.shape for p, v in spec.params.items()}, tuple(spec.states), False


def takes_dcT(module):
    states = tuple(getattr(module, "STATES", ("h", "c")))
    return len(states) > 1 and final_keyword(module.backward, states[1]) is not None


def final_c(cache, state="c"):
    """c_T from a module's cache: cache["c_seq"][-1] (generated kernels keep
    c_0..c_T there) or cache["c"][-1]; None when the cache does not expose it
    (a Guarded module's cache carries it, read and checked once)."""
    return final_state(cache, state)


def run_forward(module, prob, inputs=None):
    i = inputs or prob.inputs()
    params = {p: i[p] for p in prob.params}
    h0 = i.get(prob.first + "0", prob.h0)
    if prob.c0 is not None:
        return module.forward(params, i["x"], h0, i.get(prob.second + "0", prob.c0))
    return module.forward(params, i["x"], h0)


def loss(module, prob, inputs=None):
    h, cache = run_forward(module, prob, inputs)
    total = np.sum(prob.G * h)
    if prob.Gc is not None:
        total = total + np.sum(prob.Gc * final_c(cache, prob.second))
    return total


def gradients(module, prob):
    """The module's own backward pass on prob."""
    h, cache = run_forward(module, prob)
    dh = prob.G.astype(h.dtype)
    if prob.Gc is not None:
        key = final_keyword(module.backward, prob.second)
        return module.backward(prob.params, dh, cache, **{key: prob.Gc.astype(h.dtype)})
    return module.backward(prob.params, dh, cache)
