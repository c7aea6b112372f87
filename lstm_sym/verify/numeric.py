"""Numeric checks of a module's backward pass, driven by its forward alone.

A module follows the kernel contract (generated kernels and users' own
implementations alike, the latter always behind sandbox.Guarded): PARAMS,
STATES, forward(params, x, h0, c0) -> (h, cache), backward(params, dh,
cache[, dcT]) -> dict of gradients.  The loss is L = Σ_t ⟨G_t, h_t⟩
(+ ⟨G_c, c_T⟩ when the module exposes c_T and takes dcT).  A cell's second
state s (c for the LSTM) is passed fourth; its gradient key is s + "0".

Methods: central differences, Richardson extrapolation, complex step (needs
a complex-safe forward), and a directional check vᵀJu per input."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .sandbox import during, final_keyword, final_state

# (method, dtype) -> (step, tolerance on the relative error).  float32 needs
# bigger steps and looser tolerances: its rounding error is ~1e-7 per op.
STEPS = {("central", "float64"): 1e-6, ("central", "float32"): 1e-2,
         ("richardson", "float64"): 1e-3, ("richardson", "float32"): 4e-2,
         ("complex", "float64"): 1e-20,
         ("directional", "float64"): 1e-5, ("directional", "float32"): 1e-2}
TOLERANCES = {("central", "float64"): 1e-7, ("central", "float32"): 2e-2,
              ("richardson", "float64"): 1e-9, ("richardson", "float32"): 2e-2,
              ("complex", "float64"): 1e-12,
              ("directional", "float64"): 1e-7, ("directional", "float32"): 2e-2}


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


def make_problem(module, D=3, H=4, T=5, B=2, seed=0, scale=0.5):
    """float64, nonzero initial states, weights of scale ~0.5, T ≥ 3 by default:
    a T = 2, h0 = 0 check is blind to wrong recurrences.  Beyond H = 4 the
    weights shrink by √(4/H), so that gates stay as far from saturation as
    at H = 4 (saturated gates hide errors behind zero derivatives)."""
    rng = np.random.default_rng(seed)
    scale = scale * min(1.0, math.sqrt(4 / max(H, D)))
    dims = {"D": D, "H": H}
    params = {p: scale * rng.standard_normal([dims[s] for s in shape])
              for p, shape in module.PARAMS.items()}
    states = tuple(getattr(module, "STATES", ("h",)))
    has_c = len(states) > 1
    c0 = rng.standard_normal((B, H)) if has_c else None
    Gc = rng.standard_normal((B, H)) if (has_c and takes_dcT(module)) else None
    return Problem(params, rng.standard_normal((T, B, D)), rng.standard_normal((B, H)), c0,
                   rng.standard_normal((T, B, H)), Gc, states[1] if has_c else "c", first=states[0])


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


SMALL = 20_000      # inputs with fewer entries in all get one direction each


def _directional_rows(module, prob, grads, dtype, rng, level):
    """One joint direction over every input (two forwards, one backward);
    then one direction per input when the problem is small or the joint
    check failed, to say which gradient is wrong."""
    tol, step = TOLERANCES["directional", dtype], STEPS["directional", dtype]
    inputs = prob.inputs()
    missing = [n for n in inputs if grads.get(n) is None or np.shape(grads[n]) != inputs[n].shape]
    rows = [Row(n, "directional", math.inf, math.inf, tol, "missing or misshapen in backward") for n in missing]
    names = [n for n in inputs if n not in missing]
    # a small gradient is judged on 1% of the whole gradient's scale (see compare)
    floor = 1e-2 * math.sqrt(sum(float(np.sum(np.asarray(grads[n], dtype=float) ** 2)) for n in names))
    floor = max(floor, roundoff(level, step, dtype) / tol)

    def row(label, group):
        m, p, scale = directional(module, prob, group, grads, step, rng)
        scale = max(scale, floor) if math.isfinite(floor) else scale
        err = abs(m - p) if math.isfinite(m) and math.isfinite(p) else math.nan if (m != m or p != p) else math.inf
        return Row(label, "directional", err, err / max(scale, 1e-300) if err else 0.0, tol)
    joint = row("all inputs", names)
    rows.append(joint)
    if not joint.ok or sum(inputs[n].size for n in names) < SMALL:
        rows += [row(n, [n]) for n in names]
    return rows


@dataclass
class Row:
    gradient: str
    method: str
    max_abs: float
    rel: float
    tol: float
    note: str = ""

    def __post_init__(self):
        if math.isnan(self.rel) and not self.note:
            self.note = "NaN"

    @property
    def ok(self):
        return math.isfinite(self.rel) and self.rel <= self.tol

    @property
    def proof(self):
        """A symbolic row proves the derivation, not the code that was run."""
        return self.method == "symbolic"


@dataclass
class CheckReport:
    """Rows of comparisons.  exit_code: 0 every compared row passed; 1 a
    gradient or the forward is wrong, or the module broke a rule (faults:
    it changed its inputs, returned the wrong dtype); 2 nothing compared the
    code that was checked (no referee, no pass)."""
    cell: str
    sizes: tuple
    dtype: str
    seed: int
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    faults: list = field(default_factory=list)      # one line each; every one is a failure
    verdicts: list = field(default_factory=list)    # the answers, printed first (forward:, backward:)
    subject: str = "the kernel"                     # what the non-symbolic rows check

    @property
    def compared(self):
        return [r for r in self.rows if not r.proof]

    @property
    def exit_code(self):
        if self.faults or any(not r.ok for r in self.rows):
            return 1
        if not self.compared and (self.subject != "the kernel" or not self.rows):
            return 2
        return 0

    @property
    def passed(self):
        return self.exit_code == 0

    def __str__(self):
        D, H, T, B = self.sizes
        head = [f"check {self.cell}: (D,H,T)=({D},{H},{T}), batch {B}, {self.dtype}, seed {self.seed}",
                *self.verdicts,
                f"{'gradient':<10} {'method':<12} {'max abs err':>12} {'rel err':>10} {'tol':>8}  verdict"]
        verdict = lambda r: ("proven" if r.proof else "ok") if r.ok else "FAIL"
        body = [f"{r.gradient:<10} {r.method:<12} {r.max_abs:>12.2e} {r.rel:>10.2e} {r.tol:>8.0e}  "
                + verdict(r) + (f"  {r.note}" if r.note else "") for r in self.rows]
        body += [f"FAIL  {line}" for line in self.faults]
        compared, proofs = self.compared, [r for r in self.rows if r.proof]
        fails = sum(not r.ok for r in compared) + len(self.faults)
        tail = f"{len(compared) - sum(not r.ok for r in compared)} passed, {fails} failed"
        if proofs:
            bad = sum(not r.ok for r in proofs)
            tail += f"; derivation: {len(proofs) - bad} identities proven" + (f", {bad} not" if bad else "")
        if self.exit_code == 2:
            tail += (f"; nothing compared {self.subject} against a referee (see the notes above), "
                     "so nothing passed")
        return "\n".join(head + body + self.notes + [tail])


def compare(got, ref, floor=0.0):
    """(max abs error, relative error) of got against ref: NaN when got (or
    ref) has a NaN, inf when it is infinite or misshapen.
    The error is relative to max|ref|, but never to less than `floor`: a
    gradient far smaller than the others is judged on their scale, where
    rounding in the loss (not the gradient) sets the finite-difference noise."""
    got = np.asarray(got, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if got.shape != ref.shape:
        return math.inf, math.inf
    if np.isnan(got).any() or np.isnan(ref).any():
        return math.nan, math.nan
    if not np.all(np.isfinite(got)):
        return math.inf, math.inf
    err = float(np.max(np.abs(got - ref))) if got.size else 0.0
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, floor)
    return err, err / max(scale, 1e-300) if err else 0.0


def gradient_floor(grads, share=1e-2):
    """1% of the largest finite gradient entry of the whole problem."""
    biggest = [float(np.max(np.abs(g))) for g in grads.values()
               if g is not None and np.size(g) and np.all(np.isfinite(g))]
    return share * max(biggest, default=0.0)


def check_numeric(module, prob, methods, dtype="float64", complex_module=None, seed=0, grads=None,
                  progress=None):
    """Rows comparing the module's backward with each numeric method.
    progress(what, done, total, unit), if given, hears each gradient begin."""
    rows = []
    work = prob.astype(np.float32) if dtype == "float32" else prob
    grads = gradients(module, work) if grads is None else grads
    floor = gradient_floor(grads)
    level = abs(float(loss(module, work)))
    rng = np.random.default_rng(seed + 1)
    if "directional" in methods:
        if progress is not None:
            progress("check: directional")
        rows += _directional_rows(module, work, grads, dtype, rng, level)
    per_entry = [m for m in methods if m != "directional"]
    names = list(work.inputs())
    for k, name in enumerate(names):
        if progress is not None and per_entry:
            progress(f"check: {', '.join(_NAMES.get(m, m) for m in per_entry)}", k + 1, len(names), "gradients")
        g = grads.get(name)
        for method in methods:
            if method == "directional":
                continue
            if method == "complex" and (complex_module is None or dtype != "float64"):
                continue
            tol = TOLERANCES[method, dtype]
            step = STEPS[method, dtype]
            noise = 0.0 if method == "complex" else roundoff(level, step, dtype, method)
            if g is None:
                rows.append(Row(name, method, math.inf, math.inf, tol, "missing from backward"))
                continue
            with during(module if method != "complex" else complex_module,
                        f"{'the complex step' if method == 'complex' else method + ' differences'} for {name}"):
                if method == "central":
                    ref = central(module, work, name, step)
                elif method == "richardson":
                    ref = richardson(module, work, name, step)
                else:
                    ref = complex_step(complex_module, prob, name, step)
            rows.append(Row(name, method, *compare(g, ref, max(floor, noise / tol)), tol))
    return rows


_NAMES = {"central": "central differences", "richardson": "richardson", "complex": "complex step"}


def roundoff(level, step, dtype, method="central"):
    """The error a difference quotient makes from rounding the loss alone:
    ~ε_mach·|L|/step (Richardson combines two quotients: ×3).  An error below
    it is not evidence against the gradient."""
    eps = float(np.finfo(np.float32 if dtype == "float32" else np.float64).eps)
    return (3 if method == "richardson" else 1) * 10 * eps * max(level, 1.0) / step
