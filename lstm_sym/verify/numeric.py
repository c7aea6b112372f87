"""Numeric checks of a module's backward pass, driven by its forward alone.

A module follows the kernel contract (generated kernels and users' own
implementations alike): PARAMS, STATES, forward(params, x, h0, c0) -> (h,
cache), backward(params, dh, cache[, dcT]) -> dict of gradients.  The loss is
L = Σ_t ⟨G_t, h_t⟩ (+ ⟨G_c, c_T⟩ when the module exposes c_T and takes dcT).

Methods: central differences, Richardson extrapolation, complex step (needs
a complex-safe forward), and a directional check vᵀJu per input."""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import numpy as np

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
    """One random instance: inputs of the module and the loss weights."""
    params: dict
    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray | None
    G: np.ndarray
    Gc: np.ndarray | None

    def inputs(self):
        """Every array a gradient is checked for, by its gradient key."""
        out = dict(self.params)
        out["x"], out["h0"] = self.x, self.h0
        if self.c0 is not None:
            out["c0"] = self.c0
        return out

    def astype(self, dtype):
        cast = lambda a: None if a is None else a.astype(dtype)
        return Problem({k: cast(v) for k, v in self.params.items()}, cast(self.x), cast(self.h0),
                       cast(self.c0), self.G, self.Gc)


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
    has_c = "c" in getattr(module, "STATES", ("h",))
    c0 = rng.standard_normal((B, H)) if has_c else None
    Gc = rng.standard_normal((B, H)) if (has_c and takes_dcT(module)) else None
    return Problem(params, rng.standard_normal((T, B, D)), rng.standard_normal((B, H)), c0,
                   rng.standard_normal((T, B, H)), Gc)


def takes_dcT(module):
    try:
        return "dcT" in inspect.signature(module.backward).parameters
    except (TypeError, ValueError):
        return False


def final_c(cache):
    """c_T from a generated kernel's cache (users' modules need not expose it)."""
    if isinstance(cache, dict):
        for key in ("c_seq", "c"):          # generated kernels keep c_0..c_T in c_seq
            if key in cache:
                return cache[key][-1]
    return None


def run_forward(module, prob, inputs=None):
    i = inputs or prob.inputs()
    params = {p: i[p] for p in prob.params}
    if prob.c0 is not None:
        return module.forward(params, i["x"], i["h0"], i["c0"])
    return module.forward(params, i["x"], i["h0"])


def loss(module, prob, inputs=None):
    h, cache = run_forward(module, prob, inputs)
    total = np.sum(prob.G * h)
    if prob.Gc is not None:
        total = total + np.sum(prob.Gc * final_c(cache))
    return total


def gradients(module, prob):
    """The module's own backward pass on prob."""
    h, cache = run_forward(module, prob)
    dh = prob.G.astype(h.dtype)
    if prob.Gc is not None:
        return module.backward(prob.params, dh, cache, dcT=prob.Gc.astype(h.dtype))
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
        err = abs(m - p) if math.isfinite(m) and math.isfinite(p) else math.inf
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

    @property
    def ok(self):
        return math.isfinite(self.rel) and self.rel <= self.tol


@dataclass
class CheckReport:
    cell: str
    sizes: tuple
    dtype: str
    seed: int
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def passed(self):
        return all(r.ok for r in self.rows)

    def __str__(self):
        D, H, T, B = self.sizes
        head = [f"check {self.cell}: (D,H,T)=({D},{H},{T}), batch {B}, {self.dtype}, seed {self.seed}",
                f"{'gradient':<10} {'method':<12} {'max abs err':>12} {'rel err':>10} {'tol':>8}  verdict"]
        body = [f"{r.gradient:<10} {r.method:<12} {r.max_abs:>12.2e} {r.rel:>10.2e} {r.tol:>8.0e}  "
                + ("ok" if r.ok else "FAIL") + (f"  {r.note}" if r.note else "") for r in self.rows]
        fails = sum(not r.ok for r in self.rows)
        tail = [f"{len(self.rows) - fails} passed, {fails} failed"]
        return "\n".join(head + body + self.notes + tail)


def compare(got, ref, floor=0.0):
    """(max abs error, relative error) of got against ref; NaN/Inf -> inf.
    The error is relative to max|ref|, but never to less than `floor`: a
    gradient far smaller than the others is judged on their scale, where
    rounding in the loss (not the gradient) sets the finite-difference noise."""
    got = np.asarray(got, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if got.shape != ref.shape:
        return math.inf, math.inf
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


def check_numeric(module, prob, methods, dtype="float64", complex_module=None, seed=0, grads=None):
    """Rows comparing the module's backward with each numeric method."""
    rows = []
    work = prob.astype(np.float32) if dtype == "float32" else prob
    grads = gradients(module, work) if grads is None else grads
    floor = gradient_floor(grads)
    level = abs(float(loss(module, work)))
    rng = np.random.default_rng(seed + 1)
    if "directional" in methods:
        rows += _directional_rows(module, work, grads, dtype, rng, level)
    for name in work.inputs():
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
            if method == "central":
                ref = central(module, work, name, step)
            elif method == "richardson":
                ref = richardson(module, work, name, step)
            else:
                ref = complex_step(complex_module, prob, name, step)
            rows.append(Row(name, method, *compare(g, ref, max(floor, noise / tol)), tol))
    return rows


def roundoff(level, step, dtype, method="central"):
    """The error a difference quotient makes from rounding the loss alone:
    ~ε_mach·|L|/step (Richardson combines two quotients: ×3).  An error below
    it is not evidence against the gradient."""
    eps = float(np.finfo(np.float32 if dtype == "float32" else np.float64).eps)
    return (3 if method == "richardson" else 1) * 10 * eps * max(level, 1.0) / step
