"""Exact proof of a derivation, independent of its adjoint rules.

The forward is expanded into scalar SymPy expressions (activations written
through tanh) and SymPy differentiates the loss directly, entry by entry.
The derivation is run by the interpreter at the same random point of
GF(2^61 − 1); every entry must agree exactly.

T = 1 is the one-step identity: with symbolic incoming cotangents
(δh_t = G_1 and δc_t = G_c) the deltas for h_{t−1}, c_{t−1}, x_t and every
parameter equal the direct derivative of ⟨δh_t, h_t⟩ + ⟨δc_t, c_t⟩; by the
chain rule that proves BPTT for any T.  T ≥ 2 checks the unrolled loss
L = Σ_t ⟨G_t, h_t⟩ + ⟨G_c, c_T⟩, i.e. the sums over time and the wiring.

With symengine the forward is built in symengine directly (SymPy's tanh asks
assumption questions of its whole nested argument at every step, which costs
T² and recursion depth); with either backend the proof runs in a worker thread
with a large stack and a raised recursion limit, so that long sequences
(T = 150 and more: the expression nests one tanh per step) work instead of
raising RecursionError.  What they cost is estimated up front by
lstm_sym.cost.prove_cost."""
from __future__ import annotations

import random
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import sympy

from .. import activations
from ..evaluate import SympyBackend, loss, run_backward, run_forward
from .field import GF, P, FieldBackend, Oracle, to_field

METHOD = ("exact: polynomial identity test over GF(2^61−1) at {points} random point(s), σ written through "
          "tanh, tanh an uninterpreted odd function with tanh′ = 1 − tanh², seed {seed}")


@dataclass
class GradientCheck:
    name: str
    entries: int
    mismatch: str | None = None      # first wrong entry, e.g. "W_fx[1,0]"

    @property
    def ok(self):
        return self.mismatch is None


@dataclass
class ProofReport:
    cell: str
    level: str
    D: int
    H: int
    T: int
    method: str
    backend: str
    seed: int
    checks: list = field(default_factory=list)
    seconds: float = 0.0
    diff_seconds: float = 0.0

    @property
    def passed(self):
        return all(c.ok for c in self.checks)

    @property
    def failures(self):
        return [c for c in self.checks if not c.ok]

    def __str__(self):
        head = (f"{self.cell}: {self.level} at (D,H,T)=({self.D},{self.H},{self.T}) — "
                f"{'PROVEN' if self.passed else 'FAILED'} in {self.seconds:.2f} s "
                f"(differentiation {self.diff_seconds:.2f} s, {self.backend})\n"
                f"  method: {self.method}")
        rows = [f"  {c.name:<8} {c.entries:>4} {'entry  ' if c.entries == 1 else 'entries'}  "
                + ("exact" if c.ok else f"WRONG (first at {c.mismatch})") for c in self.checks]
        return "\n".join([head] + rows)


def _symbols(name, shape, make=None):
    make = make or (lambda n: sympy.Symbol(n, real=True))
    arr = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        arr[idx] = make(f"{name}[{','.join(map(str, idx))}]")
    return arr


class SymengineBuild:
    """The forward built in symengine: the interpreter's backend protocol
    (act, map, scale, zeros) over object arrays of symengine expressions.
    Activations and maps are converted once and substituted per entry; what
    the field cannot evaluate (relu's Max, softsign's Abs) is refused here,
    with the field's message."""
    dtype = object

    def __init__(self, se):
        self.se = se
        self._templates = {}

    def _template(self, expr, x):
        got = self._templates.get((expr, x))
        if got is None:
            to_field(expr, {x.name: 1}, Oracle(0), {})
            got = self._templates[expr, x] = (self.se.sympify(expr), self.se.Symbol(x.name))
        return got

    def act(self, fn, a):
        return self.map(fn.in_tanh_form(), activations.x, a)

    def map(self, expr, x, a):
        e, sx = self._template(expr, x)
        return np.array([e.subs({sx: v}) for v in a], dtype=object)

    def scale(self, k, a):
        k = self.se.sympify(sympy.Rational(k))
        return np.array([k * v for v in a], dtype=object)

    def zeros(self, n):
        return np.array([self.se.Integer(0)] * n, dtype=object)


def default_backend():
    """symengine when the `fast` extra is installed (~100× faster), else SymPy."""
    try:
        import symengine  # noqa: F401
        return "symengine"
    except ImportError:
        return "sympy"


def prove(derivation, D, H, T=1, *, seed=0, points=2, backend=None, progress=None):
    """Prove `derivation` exact at sizes (D, H, T).  Returns a ProofReport.
    progress(what, done, total) is called as the proof goes (from a worker
    thread; see deep)."""
    backend = backend or default_backend()
    for label, n in (("D", D), ("H", H), ("T", T)):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{label} must be a positive integer, got {n!r}")
    if backend not in ("sympy", "symengine"):
        raise ValueError(f"unknown backend {backend!r}; choose sympy or symengine")
    if backend == "symengine":
        try:
            import symengine  # noqa: F401
        except ImportError:
            raise ValueError("backend 'symengine' needs the optional extra: pip install 'lstm-sym[fast]'") from None
    return deep(_prove, derivation, D, H, T, seed, points, backend, progress)


class _Stopped(BaseException):
    """The caller was interrupted: the worker stops at its next progress point."""


# The worker's stack and recursion limit.  SymPy differentiates and builds
# recursively (about 3 Python frames per step of the unrolled forward);
# 512 MB of stack (reserved, touched only as it is used) holds 200 000 frames
# with room to spare.
STACK_BYTES = 512 << 20
RECURSION_LIMIT = 200_000


def deep(fn, *args):
    """fn(*args, stop) in a thread with a STACK_BYTES stack and the recursion
    limit raised to RECURSION_LIMIT meanwhile.  The calling thread waits in
    short joins, so Ctrl-C and SIGTERM are raised there at once; the worker
    (a daemon) is told to stop at its next progress point.  Exceptions of fn
    are re-raised in the caller."""
    box, stop = {}, threading.Event()

    def work():
        try:
            box["value"] = fn(*args, stop)
        except _Stopped:
            pass
        except BaseException as e:       # re-raised in the caller
            box["error"] = e

    old_size, old_limit = threading.stack_size(), sys.getrecursionlimit()
    worker = None
    for size in (STACK_BYTES, 64 << 20, 0):      # a smaller stack where the system refuses a large one
        try:
            threading.stack_size(size)
            worker = threading.Thread(target=work, name="lstm-sym-prove", daemon=True)
            worker.start()
            break
        except (ValueError, RuntimeError, MemoryError):
            worker = None
        finally:
            threading.stack_size(old_size)
    if worker is None:
        raise ValueError("cannot start the proof's worker thread (the system refused its stack)")
    limit = RECURSION_LIMIT if size else old_limit
    sys.setrecursionlimit(max(old_limit, limit))
    try:
        while worker.is_alive():
            worker.join(0.05)
    except BaseException:
        stop.set()
        raise
    finally:
        sys.setrecursionlimit(old_limit)
    error = box.get("error")
    if isinstance(error, RecursionError):
        D, H, T = args[1:4]
        raise ValueError(f"the unrolled expression at (D,H,T) = ({D},{H},{T}) is nested too deeply for the "
                         "exact proof; try a smaller T") from None
    if error is not None:
        raise error
    return box["value"]


def _prove(derivation, D, H, T, seed, points, backend, progress, stop):
    def tick(what, done=None, total=None, unit=""):
        if stop.is_set():
            raise _Stopped()
        if progress is not None:
            progress(what, done, total, unit)

    t0 = time.perf_counter()
    cell = derivation.cell
    level = "one-step identity" if T == 1 else "unrolled BPTT"
    where = f"prove {cell.name}: {level} at ({D},{H},{T})"
    tick(f"{where}: building the forward")
    if backend == "symengine":
        import symengine
        make, fwd = symengine.Symbol, SymengineBuild(symengine)
    else:
        make, fwd = None, SympyBackend()
    dims = {"H": H, "D": D}
    params = {p: _symbols(p, tuple(dims[s] for s in v.shape), make) for p, v in cell.params.items()}
    xs = [_symbols(f"x_{t}", (D,), make) for t in range(1, T + 1)]
    init = {s: _symbols(f"{s}_0", (H,), make) for s in cell.states}
    G = [_symbols(f"G_{t}", (H,), make) for t in range(1, T + 1)]
    Gc = {s: _symbols(f"G_{s}", (H,), make) for s in cell.states[1:]}

    ctx = run_forward(cell, params, xs, init, fwd)
    L = loss(cell, ctx, G, Gc)

    targets = [(p, a) for p, a in params.items()]
    targets += [(f"x_{t}", xs[t - 1]) for t in range(1, T + 1)]
    targets += [(f"{s}0", init[s]) for s in cell.states]
    t1 = time.perf_counter()
    direct = _differentiate(L, [s for _, a in targets for s in a.flat], backend,
                            lambda k, n: tick(f"{where}: differentiating", k, n, "symbols"))
    diff_seconds = time.perf_counter() - t1

    inputs = [a for a in params.values()] + xs + list(init.values()) + G + list(Gc.values())
    symbols = [s for a in inputs for s in a.flat]
    checks = {name: GradientCheck(name, a.size) for name, a in targets}
    rng = random.Random(seed)
    for point in range(points):
        tick(f"{where}: evaluating at random points", point, points)
        values = {s.name: rng.randrange(P) for s in symbols}
        oracle = Oracle(rng.randrange(P))
        gf = lambda a: np.vectorize(lambda s: GF(values[s.name]), otypes=[object])(a)
        fctx = run_forward(cell, {p: gf(a) for p, a in params.items()}, [gf(x) for x in xs],
                           {s: gf(a) for s, a in init.items()}, FieldBackend(oracle))
        derived = run_backward(derivation, fctx, [gf(g) for g in G], {s: gf(a) for s, a in Gc.items()})
        memo = {}
        for name, a in targets:
            check = checks[name]
            if check.mismatch:
                continue
            mine = _derived_value(derived, name, cell, H)
            for idx in np.ndindex(*a.shape):
                want = to_field(direct[a[idx]], values, oracle, memo) if not _is_int(direct[a[idx]]) \
                    else int(direct[a[idx]]) % P
                got = mine[idx]
                got = got.v if isinstance(got, GF) else int(got) % P
                if want != got:
                    check.mismatch = f"{name}[{','.join(map(str, idx))}]"
                    break
            tick(f"{where}: evaluating at random points", point, points)
        tick(f"{where}: evaluating at random points", point + 1, points)
    return ProofReport(cell.name, level, D, H, T, METHOD.format(points=points, seed=seed), backend, seed,
                       list(checks.values()), time.perf_counter() - t0, diff_seconds)


def _is_int(e):
    return isinstance(e, int) or getattr(e, "is_Integer", False)


def _derived_value(derived, name, cell, H):
    if name.startswith("x_") and name not in cell.params:
        return derived["x"][int(name[2:]) - 1]
    v = derived.get(name)
    if v is None:                     # no path: the gradient is zero
        return np.array([GF(0)] * H, dtype=object)
    return v


def _differentiate(L, syms, backend, tick=None):
    """∂L/∂s for every symbol s (SymPy's or symengine's own differentiation)."""
    out = {}
    every = max(1, len(syms) // 200)
    for k, s in enumerate(syms, 1):
        out[s] = L.diff(s)
        if tick is not None and (k % every == 0 or k == len(syms)):
            tick(k, len(syms))
    return out


def prove_cell(derivation, one_step=(3, 3), unrolled=(2, 2, 2), **kw):
    """Both levels: the one-step identity and the unrolled loss."""
    D, H = one_step
    return [prove(derivation, D, H, 1, **kw), prove(derivation, *unrolled, **kw)]
