"""Checking a user's own forward/backward module, and saying where it is wrong.

The module follows the kernel contract (PARAMS, forward, backward) and is
only ever called through sandbox.Guarded.  A wrong gradient is located by
probes against the derivation, and the explanation is read off ONE table
(DIAGNOSES) keyed by the probe outcomes, so it cannot contradict them:
  - the shortest sequence length T at which it first goes wrong;
  - whether it stays wrong with the path through h cut (recurrent weights
    set to 0), with the cell-state path cut (forget gate saturated), and with
    both cut (then the steps are independent);
  - with both cut, whether it equals the last step's term alone (a sum over
    time that keeps only t = T)."""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass

import numpy as np

from ..ir import Act, Had, MatVec, Var, leaves
from .errors import relative_error
from .problem import Problem, final_c, gradients, make_problem
from .sandbox import ContractError, Guarded, call, during, where  # noqa: F401  (ContractError: re-exported)


def load_impl(path, cell, timeout=30.0):
    """Import FILE.py, check it follows the contract for `cell`, and return
    it Guarded.  Importing runs the user's code under the same guard as its
    forward and backward."""
    if os.path.isdir(path):
        raise ContractError(f"--impl {path}: is a folder; give the .py file of your module")
    if not os.path.isfile(path):
        raise ContractError(f"--impl {path}: no such file")
    name = "lstm_sym_user_impl_" + "".join(ch if ch.isalnum() else "_"
                                           for ch in os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ContractError(f"--impl {path}: not a Python module (expected a .py file)")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)       # the module may import its neighbours
    try:
        call(spec.loader.exec_module, (module,), what="importing it", path=path, timeout=timeout)
    except ContractError as e:
        raise ContractError(str(e).replace("importing it raised", "importing it failed:", 1)) from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    attrs = vars(module)             # never getattr: a module __getattr__ is user code
    if attrs.get("LAYOUT") is not None:
        module = _adapt(module, cell, path, timeout)
        attrs = vars(module)
    for attr in ("PARAMS", "forward", "backward"):
        if attr not in attrs:
            raise ContractError(f"--impl {path}: missing {attr} (the contract needs PARAMS, forward, backward)")
    for attr in ("forward", "backward"):
        if not callable(attrs[attr]):
            raise ContractError(f"--impl {path}: {attr} is a {type(attrs[attr]).__name__}, not a function")
    params = call(_read_params, (attrs["PARAMS"], path), what="reading PARAMS", path=path, timeout=timeout)
    want = {p: tuple(v.shape) for p, v in cell.params.items()}
    if set(params) != set(want):
        missing, extra = sorted(set(want) - set(params)), sorted(set(params) - set(want))
        raise ContractError(f"--impl {path}: PARAMS does not match cell {cell.name}: "
                            f"missing {missing}, unexpected {extra}")
    for p, s in want.items():
        if params[p] != s:
            raise ContractError(f"--impl {path}: PARAMS[{p!r}] is {params[p]}, cell {cell.name} has {s}")
    states = call(_read_states, (attrs.get("STATES"), cell, path), what="reading STATES", path=path,
                  timeout=timeout)
    safe = attrs.get("COMPLEX_SAFE", False)
    safe = isinstance(safe, (bool, np.bool_, int)) and bool(safe)
    return Guarded(module, cell, path, {p: params[p] for p in want}, states, timeout, safe)


def _adapt(module, cell, path, timeout):
    """LAYOUT = "...": the layouts module turns it into our contract."""
    layout = vars(module)["LAYOUT"]
    try:
        from .. import layouts
    except ImportError:
        raise ContractError(f"--impl {path}: LAYOUT = {layout!r} is not supported by this lstm-sym "
                            "(no layout adapters); write the module in the cell's own names") from None
    try:
        return call(layouts.adapt, (module, cell), what="adapting its LAYOUT", path=path, timeout=timeout)
    except ContractError as e:
        cause = getattr(e, "user_error", None)
        if isinstance(cause, ValueError) and not isinstance(cause, ContractError):
            raise ContractError(f"--impl {path}: {cause}") from None     # the adapter's own verdict
        raise


def _read_params(P, path):
    if not isinstance(P, dict):
        raise ContractError(f"--impl {path}: PARAMS must be a dict of name -> shape, e.g. "
                            f"{{'W': ('H', 'H'), 'b': ('H',)}}; got {type(P).__name__}")
    out = {}
    for k, v in dict.items(P):
        if not isinstance(k, str):
            raise ContractError(f"--impl {path}: PARAMS keys must be parameter names; got {type(k).__name__}")
        if not isinstance(v, (tuple, list)) or not all(isinstance(d, str) for d in v):
            shown = repr(v) if isinstance(v, (int, float, str, type(None))) else type(v).__name__
            raise ContractError(f"--impl {path}: PARAMS[{k!r}] must be a shape like ('H', 'D'); got {shown}")
        out[k] = tuple(str(d) for d in v)
    return out


def _read_states(S, cell, path):
    if S is None:
        return None
    if isinstance(S, str) or not isinstance(S, (tuple, list)) or not all(isinstance(s, str) for s in S):
        raise ContractError(f"--impl {path}: STATES must be a tuple of state names, e.g. {tuple(cell.states)}")
    unknown = [s for s in S if s not in cell.states]
    if unknown:
        raise ContractError(f"--impl {path}: STATES names {unknown}, which cell {cell.name} does not have "
                            f"(its states: {tuple(cell.states)})")
    return tuple(S)


def first_call(module, prob):
    """Run forward and backward once on prob; settle which initial states
    and which final-state gradient the check can use.  Returns notes (at
    most one line about initial states, one about dcT).  Changes prob."""
    notes = []
    untaken = [k for k in getattr(module, "UNTAKEN", ()) if k in prob.state_keys()]
    prob.hold_at_zero(untaken)
    h, cache = module.forward(*_args(prob))
    if prob.Gc is not None and final_c(cache, prob.second) is None:
        prob.Gc = None
        notes.append(f"note: backward takes d{prob.second}T, but the cache exposes no {prob.second}_T "
                     f"(cache[{prob.second + '_seq'!r}] or cache[{prob.second!r}], a dict entry): "
                     f"∂E/∂{prob.second}_T is not checked")
    grads = gradients(module, prob)
    unreturned = [k for k in prob.state_keys() if k not in grads and k not in prob.fixed]
    if untaken or unreturned:
        why = ([f"forward takes no {', '.join(untaken)}"] if untaken else []) + \
              ([f"backward returns no gradient for {', '.join(unreturned)}"] if unreturned else [])
        keys = untaken + unreturned
        prob.hold_at_zero(keys)
        notes.insert(0, f"note: {', '.join(keys)} held at 0 and not checked ({'; '.join(why)})")
    return notes


def _args(prob):
    return [prob.params, prob.x, prob.h0] + ([prob.c0] if prob.c0 is not None else [])


# --- where it goes wrong ---------------------------------------------------------

@dataclass
class Finding:
    gradient: str
    first_T: int | None
    path: str
    key: tuple = ()          # the probe outcomes (see DIAGNOSES)
    row: str = ""            # the DIAGNOSES row that explains them

    def __str__(self):
        when = f"wrong from T = {self.first_T}" if self.first_T else "wrong"
        return f"{self.gradient}: {when}; {self.path}"


W, R, Z0, NA = "wrong", "right", "zeroes it", "no probe"   # probe outcomes
ANY = None
# One table: the probe outcomes -> the explanation.  Columns: wrong with h's
# recurrent weights at 0 | with the forget gate saturated | with both |
# wrong already at T = 1 | identically zero (derivation's is not) | with both
# cut, equal to the last step's term alone.  Probe outcomes are W, R, Z0 (the
# probe zeroes this gradient in the derivation too: no evidence) or NA (the
# probe does not exist for this cell, or was not run).  First match wins;
# ANY matches anything, a set any of its members.
NOT_W = {R, Z0, NA}
DIAGNOSES = (
    # name          h-cut    c-cut        both   T = 1  zero   last
    ("zero",        (ANY,    ANY,         ANY,   ANY,   True,  ANY),
     "identically zero while the derivation's is not: not computed?"),
    ("step 1",      (ANY,    ANY,         ANY,   True,  False, ANY),
     "wrong already at T = 1, {at_T1}"),
    ("last only",   ({W, Z0}, {W, Z0, NA}, W,    False, False, True),
     "still wrong with every recurrent path cut, and equal to the last step's term alone: "
     "the sum over time keeps only t = T"),
    ("a term",      ({W, Z0}, {W, Z0, NA}, W,    False, False, ANY),
     "still wrong with every recurrent path cut, yet right at T = 1: a step's term is wrong or missing{terms}"),
    ("c path",      (W,      R,           NOT_W, False, False, ANY),
     "the error is on the cell-state path: it vanishes when {ccut} and stays when {hcut} "
     "({carry} missing or wrong)"),
    ("c path, h0",  (Z0,     R,           NOT_W, False, False, ANY),
     "the error is on the cell-state path: it vanishes when {ccut} ({carry} missing or wrong); "
     "{hzero} zeroes this gradient, so that probe is not used"),
    ("h path",      (R,      W,           NOT_W, False, False, ANY),
     "the error is on the path through h: it vanishes when {hcut} and stays when {ccut} "
     "(W_·hᵀ δ_{{·,t+1}} missing or wrong)"),
    ("h path, h0",  (Z0,     W,           NOT_W, False, False, ANY),
     "the error is on the path through h: it stays when {ccut} ({hzero} zeroes this gradient, so whether "
     "the cell-state path is wrong too is not tested)"),
    ("needs both",  (R,      R,           NOT_W, False, False, ANY),
     "the error needs both paths (through h and through the cell state) to show: it vanishes when either "
     "one is cut"),
    ("both paths",  (W,      W,           R,     False, False, ANY),
     "the error is on both paths: it stays when either one is cut and vanishes only when both are"),
    ("h path only", (R,      NA,          NOT_W, False, False, ANY),
     "the error is on the path through h: it vanishes when {hcut} (W_·hᵀ δ_{{·,t+1}} missing or wrong); "
     "{no_c}"),
    ("not h path",  (W,      NA,          NA,    False, False, ANY),
     "it stays when {hcut}, so it is not on the path through those weights: it is on a path they do not "
     "carry, or in a term of the sum over time; {no_c}, so the probes cannot say which"),
    ("later steps", (Z0,     NA,          ANY,   False, False, ANY),
     "right at T = 1, so the error comes from later steps; {hzero} zeroes this gradient and {no_c}, "
     "so no probe can place it"),
)
FALLBACK = ("the probes do not point to one path: with h's recurrent weights at 0 it is {h}; with "
            "{ccut_short}: {c}; with both cut: {both}")


def explain(key, words):
    """(row name, message) of the first DIAGNOSES row matching key; the
    fallback ("probes disagree") lists the outcomes themselves."""
    for name, pattern, text in DIAGNOSES:
        if all(p is ANY or (k in p if isinstance(p, set) else k == p) for p, k in zip(pattern, key)):
            return name, text.format(**words)
    h, c, both = key[:3]
    return "probes disagree", FALLBACK.format(h=h, c=c, both=both, **words)


def forget_bias(cell):
    """The bias of the gate that multiplies c_{t−1} (None for cells without c):
    cell.roles["forget_bias"] when the cell declares it, else read off the
    second state's equation."""
    roles = getattr(cell, "roles", None) or {}
    if roles.get("forget_bias"):
        return roles["forget_bias"]
    if len(cell.states) < 2:
        return None
    c = cell.states[1]
    eqs = dict((v.name, e) for v, e in cell.equations)
    stack = [eqs[c]]
    while stack:
        e = stack.pop()
        if isinstance(e, Had) and any(isinstance(f, Var) and f.name == c and f.time == -1 for f in e.factors):
            gate = next((f.name for f in e.factors if isinstance(f, Var) and f.time == 0), None)
            net = eqs.get("net_" + gate) if gate else None
            for leaf in leaves(net) if net is not None else ():
                if isinstance(leaf, Var) and leaf.kind == "param" and leaf.shape == ("H",):
                    return leaf.name
        stack.extend(e.children())
    return None


@dataclass(frozen=True)
class Cut:
    """How to cut the cell-state path: saturate `gate` (σ → 0) through its bias."""
    bias: str
    gate: str
    memory: str


SATURATE = -18.0     # σ(−18) ≈ 1.5e-8: the carry is gone (≪ tol), yet σ keeps its relative accuracy


def carry_cut(cell):
    bias = forget_bias(cell)
    if bias is None:
        return None
    roles = getattr(cell, "roles", None) or {}
    eqs = {v.name: e for v, e in cell.equations}
    gate = roles.get("forget_gate") or next(
        (g for g, e in eqs.items() if f"net_{g}" in eqs and any(
            isinstance(leaf, Var) and leaf.name == bias for leaf in leaves(eqs[f"net_{g}"]))), None)
    memory = roles.get("memory") or (cell.states[1] if len(cell.states) > 1 else None)
    gate_eq = eqs.get(gate)
    if memory is None or not (isinstance(gate_eq, Act) and gate_eq.fn.name == "sigmoid"):
        return None          # saturating only cuts the path through a sigmoid gate
    return Cut(bias, gate, memory)


def steps_independent(cell, cut):
    """With every (H, H) weight at 0 (and the forget gate saturated, if cut),
    does no step read a state of the step before?"""
    hh = {p for p, v in cell.params.items() if v.shape == ("H", "H")}

    def reads_prev(e):
        if isinstance(e, Var):
            return e.kind == "state" and e.time == -1
        if isinstance(e, MatVec) and isinstance(e.W, Var) and e.W.name in hh:
            return False
        if cut and isinstance(e, Had) and any(isinstance(f, Var) and f.name == cut.gate and f.time == 0
                                              for f in e.factors):
            return False
        return any(reads_prev(k) for k in e.children())
    return not any(reads_prev(e) for _, e in cell.equations)


class _Lab:
    """Probe problems against the derivation, each run once for all gradients."""

    def __init__(self, module, reference, cell, D, H, B, seed, tol, fixed=frozenset()):
        self.module, self.reference, self.cell = module, reference, cell
        self.D, self.H, self.B, self.seed, self.tol, self.fixed = D, H, B, seed, tol, frozenset(fixed)
        self.cut = carry_cut(cell)
        self.independent = steps_independent(cell, self.cut)
        self.cache = {}

    def problem(self, kind, t, k=None):
        prob = make_problem(self.reference, self.D, self.H, t, self.B, self.seed)
        prob.Gc = None
        prob.hold_at_zero(self.fixed)
        params = {p: v.copy() for p, v in prob.params.items()}
        if kind in ("h", "both", "last", "only"):
            for p, v in self.cell.params.items():
                if v.shape == ("H", "H"):
                    params[p][:] = 0.0
        if kind in ("c", "both", "last", "only") and self.cut:
            params[self.cut.bias][:] = SATURATE
        G = prob.G.copy()
        if kind == "last":
            G[:-1] = 0.0
        if kind == "only":
            G = np.zeros_like(prob.G)
            G[k - 1] = prob.G[k - 1]
        prob.params, prob.G = params, G
        return prob

    def run(self, kind, t, k=None):
        if (kind, t, k) not in self.cache:
            prob = self.problem(kind, t, k)
            label = f"diagnosis at T = {t}" + ("" if kind == "base" else f", probe {kind}")
            with during(self.module, label):
                mine = gradients(self.module, prob)
            self.cache[kind, t, k] = (mine, gradients(self.reference, prob))
        return self.cache[kind, t, k]

    def names(self, t=1):
        return list(self.problem("base", t).inputs())

    def wrong(self, kind, t, name, k=None):
        mine, ref = self.run(kind, t, k)
        return not relative_error(mine.get(name), ref[name]) <= self.tol

    def outcome(self, kind, t, name):
        mine, ref = self.run(kind, t)
        if not relative_error(mine.get(name), ref[name]) <= self.tol:
            return W
        base = np.max(np.abs(self.run("base", t)[1][name]), initial=0.0)
        return Z0 if np.max(np.abs(ref[name]), initial=0.0) <= 1e-12 * base else R

    def key(self, name, t):
        mine, ref = self.run("base", t)
        zero = bool(np.all(np.asarray(mine[name]) == 0) and np.any(np.asarray(ref[name]) != 0))
        if zero or t == 1:
            return (NA, NA, NA, t == 1, zero, NA)
        h = self.outcome("h", t, name)
        c = self.outcome("c", t, name) if self.cut else NA
        both = self.outcome("both", t, name) if self.independent else NA
        last = NA
        if both == W and name in self.cell.params:
            Ts = max(t, 3)              # at T = 2 "keeps only t = T" and "drops t = 1" look alike
            last = relative_error(self.run("both", Ts)[0][name], self.run("last", Ts)[1][name]) <= self.tol
        return (h, c, both, False, zero, last)

    def words(self, name, key, t):
        s = name[:-1] if name.endswith("0") and name[:-1] in self.cell.states else None
        cut = self.cut
        words = {
            "at_T1": (f"where it is exactly what step 1 hands back to {s}_0: the carry formula "
                      f"δ{s}_{{t−1}} (or what feeds it) is wrong" if s else
                      "within a single step, where there is no recurrence: a per-step formula is wrong"),
            "hcut": "h's recurrent weights are 0",
            "hzero": "setting h's recurrent weights to 0",
            "ccut": f"the forget gate is saturated ({cut.gate} ≈ 0)" if cut else "the forget gate is saturated",
            "ccut_short": "the forget gate saturated",
            "carry": (f"δ{cut.memory}_{{t+1}} ⊙ {cut.gate}_{{t+1}}" if cut else "the carry"),
            "no_c": ("the cell has no forget gate to saturate (the cell-state probe is skipped)" if not cut else
                     "saturating the forget gate zeroes this gradient"),
            "terms": "",
        }
        if key[2] == W and key[5] is not True:
            Ts = max(t, 3)
            bad = [k for k in range(1, Ts + 1) if self.wrong("only", Ts, name, k)]
            if bad:
                words["terms"] = f" (wrong with the loss on step k alone: k = {', '.join(map(str, bad))} of 1..{Ts})"
        return words


def diagnose(module, reference, cell, sizes, seed=0, tol=1e-6, fixed=frozenset()):
    """A Finding for every gradient the module gets wrong against the
    derivation: the shortest T where it goes wrong and the DIAGNOSES row
    its probe outcomes select."""
    D, H, T, B = sizes
    lab = _Lab(module, reference, cell, D, H, B, seed, tol, fixed)
    first = {}
    names = lab.names()
    for t in range(1, max(T, 3) + 1):
        for name in names:
            if name not in first and lab.wrong("base", t, name):
                first[name] = t
    findings = []
    for name, t in first.items():
        key = lab.key(name, t)
        row, text = explain(key, lab.words(name, key, t))
        findings.append(Finding(name, t, text, key, row))
    return findings


def _locate(module, reference, cell, name, t, D, H, B, seed, tol):
    """The explanation for one gradient that first goes wrong at T = t."""
    lab = _Lab(module, reference, cell, D, H, B, seed, tol)
    key = lab.key(name, t)
    return explain(key, lab.words(name, key, t))[1]


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
