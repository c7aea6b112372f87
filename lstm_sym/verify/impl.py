"""Checking a user's own forward/backward module, and saying where it is wrong.

The module follows the kernel contract (PARAMS, forward, backward).  A wrong
gradient is located by targeted probes against the derivation:
  - the shortest sequence length T at which it first goes wrong;
  - whether the error survives cutting the cell-state path (forget gate
    saturated, f ≈ 0) and/or the path through h (recurrent weights set to 0);
  - with both cut, the steps are independent: an error that equals the last
    step's term alone is a sum over time that keeps only t = T."""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass

import numpy as np

from ..ir import Had, Var, leaves
from .numeric import Problem, gradients, make_problem, run_forward


class ContractError(ValueError):
    """The file does not follow the kernel contract (one line, exit 2)."""


def load_impl(path, cell):
    """Import FILE.py and check it follows the contract for `cell`."""
    if os.path.isdir(path):
        raise ContractError(f"--impl {path}: is a folder; give the .py file of your module")
    if not os.path.isfile(path):
        raise ContractError(f"--impl {path}: no such file")
    name = "lstm_sym_user_impl_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ContractError(f"--impl {path}: not a Python module (expected a .py file)")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)       # the module may import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as e:          # the user's code: any error means "not importable"
        raise ContractError(f"--impl {path}: importing it failed: {type(e).__name__}: {e}") from None
    finally:
        sys.path.remove(folder)
    for attr in ("PARAMS", "forward", "backward"):
        if not hasattr(module, attr):
            raise ContractError(f"--impl {path}: missing {attr} (the contract needs PARAMS, forward, backward)")
    want = {p: tuple(v.shape) for p, v in cell.params.items()}
    got = {p: tuple(s) for p, s in dict(module.PARAMS).items()}
    if set(got) != set(want):
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        raise ContractError(f"--impl {path}: PARAMS does not match cell {cell.name}: "
                            f"missing {missing}, unexpected {extra}")
    for p, s in want.items():
        if got[p] != s:
            raise ContractError(f"--impl {path}: PARAMS[{p!r}] is {got[p]}, cell {cell.name} has {s}")
    if not hasattr(module, "STATES"):
        module.STATES = tuple(cell.states)
    return module


def check_outputs(module, prob, path="module"):
    """Run forward and backward once; complain (one line) about shapes and keys."""
    try:
        h, _ = run_forward(module, prob)
    except Exception as e:
        raise ContractError(f"--impl {path}: forward raised {_where(e, path)}") from None
    T, B, _ = prob.x.shape
    H = prob.h0.shape[1]
    if not isinstance(h, np.ndarray) or h.shape != (T, B, H):
        raise ContractError(f"--impl {path}: forward must return (h, cache) with h an array of shape "
                            f"(T, B, H) = {(T, B, H)}; got {type(h).__name__} {getattr(h, 'shape', '')}")
    try:
        grads = gradients(module, prob)
    except Exception as e:
        raise ContractError(f"--impl {path}: backward raised {_where(e, path)}") from None
    if not isinstance(grads, dict):
        raise ContractError(f"--impl {path}: backward must return a dict of gradients, got {type(grads).__name__}")
    for name, a in prob.inputs().items():
        if name not in grads:
            raise ContractError(f"--impl {path}: backward returned no gradient for {name!r}")
        if np.shape(grads[name]) != a.shape:
            raise ContractError(f"--impl {path}: gradient {name!r} has shape {np.shape(grads[name])}, "
                                f"expected {a.shape}")
    return grads


def _where(e, path):
    """'NameError: ... (at my_lstm.py:42)': the innermost frame in the user's file."""
    import traceback
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if os.path.abspath(f.filename) == os.path.abspath(path)]
    at = f" (at {os.path.basename(path)}:{frames[-1].lineno})" if frames else ""
    return f"{type(e).__name__}: {e}{at}"


@dataclass
class Finding:
    gradient: str
    first_T: int | None
    path: str

    def __str__(self):
        when = f"wrong from T = {self.first_T}" if self.first_T else "wrong"
        return f"{self.gradient}: {when}; {self.path}"


def _rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return np.inf
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def forget_bias(cell):
    """The bias of the gate that multiplies c_{t−1} (None for cells without c)."""
    if len(cell.states) < 2:
        return None
    c = cell.states[1]
    eqs = dict((v.name, e) for v, e in cell.equations)
    stack = [eqs[c]]
    while stack:
        e = stack.pop()
        if isinstance(e, Had) and any(isinstance(f, Var) and f.name == c and f.time == -1 for f in e.factors):
            gate = next(f.name for f in e.factors if isinstance(f, Var) and f.time == 0)
            net = eqs.get("net_" + gate)
            for leaf in leaves(net) if net is not None else ():
                if isinstance(leaf, Var) and leaf.kind == "param" and leaf.shape == ("H",):
                    return leaf.name
        stack.extend(e.children())
    return None


def _probe(prob, cut_h, cut_c, cell, last_only=False):
    params = {k: v.copy() for k, v in prob.params.items()}
    if cut_h:
        for p, v in cell.params.items():
            if v.shape == ("H", "H"):
                params[p][:] = 0.0
    if cut_c:
        params[forget_bias(cell)][:] = -40.0       # σ(−40) ≈ 4e-18: no carry through c
    G = prob.G.copy()
    if last_only:
        G[:-1] = 0.0
    return Problem(params, prob.x, prob.h0, prob.c0, G, prob.Gc)


def diagnose(module, reference, cell, sizes, seed=0, tol=1e-6):
    """A Finding for every gradient the module gets wrong against the derivation."""
    D, H, T, B = sizes
    first = {}
    for t in range(1, max(T, 3) + 1):
        prob = make_problem(reference, D, H, t, B, seed)
        prob.Gc = None
        mine, ref = gradients(module, prob), gradients(reference, prob)
        for name in prob.inputs():
            if name not in first and _rel(mine.get(name), ref[name]) > tol:
                first[name] = t
    findings = []
    for name, t in first.items():
        findings.append(Finding(name, t, _locate(module, reference, cell, name, t, D, H, B, seed, tol)))
    return findings


def _locate(module, reference, cell, name, t, D, H, B, seed, tol):
    if t == 1 and name[:-1] in cell.states and name.endswith("0"):
        s = name[:-1]
        return (f"wrong already at T = 1, where it is exactly what step 1 hands back to {s}_0: "
                f"the carry formula δ{s}_{{t−1}} (or what feeds it) is wrong")
    if t == 1:
        return "wrong within a single step (a per-step formula, not the recurrence)"
    base = make_problem(reference, D, H, t, B, seed)
    base.Gc = None
    wrong = lambda p: _rel(gradients(module, p).get(name), gradients(reference, p)[name]) > tol
    has_c = forget_bias(cell) is not None
    h_cut = wrong(_probe(base, True, False, cell))
    c_cut = wrong(_probe(base, False, True, cell)) if has_c else True
    if has_c and not c_cut and h_cut:
        return ("the error is on the cell-state path: it vanishes when the forget gate is saturated "
                "(f ≈ 0) and stays when h's recurrent weights are 0 (δc_{t+1} ⊙ f_{t+1} missing or wrong)")
    if not h_cut and c_cut:
        return ("the error is on the path through h: it vanishes when the recurrent weights are 0 "
                "(W_·hᵀ δ_{·,t+1} missing or wrong)")
    if not h_cut and not c_cut:
        return "the error needs both paths (through h and through the cell state) to show"
    both = _probe(base, True, True, cell) if has_c else _probe(base, True, False, cell)
    if not wrong(both):
        return "the error shows only when both paths are open"
    last = _probe(both, False, False, cell, last_only=True)
    if _rel(gradients(module, both).get(name), gradients(reference, last)[name]) <= tol:
        return ("still wrong with every recurrent path cut, and equal to the last step's term alone: "
                "the sum over time keeps only t = T")
    # with every path cut the steps are independent: the loss at step k alone
    # isolates step k's term of the sum
    bad = [k for k in range(1, t + 1)
           if wrong(_only_step(both, k)) and name not in ("h0", "c0", "x")]
    steps = f" (wrong terms: t = {', '.join(map(str, bad))} of 1..{t})" if bad else ""
    return f"still wrong with every recurrent path cut: a per-step term of the sum over time is wrong{steps}"


def _only_step(prob, k):
    G = np.zeros_like(prob.G)
    G[k - 1] = prob.G[k - 1]
    return Problem(prob.params, prob.x, prob.h0, prob.c0, G, prob.Gc)


def summarize(findings):
    """Findings with the same explanation, grouped: one line each."""
    groups = {}
    for f in findings:
        groups.setdefault((f.first_T, f.path), []).append(f.gradient)
    lines = []
    for (t, path), names in sorted(groups.items(), key=lambda kv: (kv[0][0] or 0, -len(kv[1]))):
        when = f"wrong from T = {t}" if t else "wrong"
        lines.append(f"{', '.join(names)}: {when}; {path}")
    return lines
