"""Exact proof of a derivation, independent of its adjoint rules.

The forward is expanded into scalar SymPy expressions (activations written
through tanh) and SymPy differentiates the loss directly, entry by entry.
The derivation is run by the interpreter at the same random point of
GF(2^61 − 1); every entry must agree exactly.

T = 1 is the one-step identity: with symbolic incoming cotangents
(δh_t = G_1 and δc_t = G_c) the deltas for h_{t−1}, c_{t−1}, x_t and every
parameter equal the direct derivative of ⟨δh_t, h_t⟩ + ⟨δc_t, c_t⟩; by the
chain rule that proves BPTT for any T.  T ≥ 2 checks the unrolled loss
L = Σ_t ⟨G_t, h_t⟩ + ⟨G_c, c_T⟩, i.e. the sums over time and the wiring."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np
import sympy

from ..evaluate import SympyBackend, loss, run_backward, run_forward
from .field import GF, P, FieldBackend, Oracle, to_field


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


def _symbols(name, shape):
    arr = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        arr[idx] = sympy.Symbol(f"{name}[{','.join(map(str, idx))}]", real=True)
    return arr


def default_backend():
    """symengine when the `fast` extra is installed (~100× faster), else SymPy."""
    try:
        import symengine  # noqa: F401
        return "symengine"
    except ImportError:
        return "sympy"


def prove(derivation, D, H, T=1, *, seed=0, points=2, backend=None):
    """Prove `derivation` exact at sizes (D, H, T).  Returns a ProofReport."""
    backend = backend or default_backend()
    for label, n in (("D", D), ("H", H), ("T", T)):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"{label} must be a positive integer, got {n!r}")
    t0 = time.perf_counter()
    cell = derivation.cell
    dims = {"H": H, "D": D}
    params = {p: _symbols(p, tuple(dims[s] for s in v.shape)) for p, v in cell.params.items()}
    xs = [_symbols(f"x_{t}", (D,)) for t in range(1, T + 1)]
    init = {s: _symbols(f"{s}_0", (H,)) for s in cell.states}
    G = [_symbols(f"G_{t}", (H,)) for t in range(1, T + 1)]
    Gc = {s: _symbols(f"G_{s}", (H,)) for s in cell.states[1:]}

    ctx = run_forward(cell, params, xs, init, SympyBackend())
    L = loss(cell, ctx, G, Gc)

    targets = [(p, a) for p, a in params.items()]
    targets += [(f"x_{t}", xs[t - 1]) for t in range(1, T + 1)]
    targets += [(f"{s}0", init[s]) for s in cell.states]
    t1 = time.perf_counter()
    direct = _differentiate(L, [s for _, a in targets for s in a.flat], backend)
    diff_seconds = time.perf_counter() - t1

    inputs = [a for a in params.values()] + xs + list(init.values()) + G + list(Gc.values())
    symbols = [s for a in inputs for s in a.flat]
    checks = {name: GradientCheck(name, a.size) for name, a in targets}
    rng = random.Random(seed)
    for _ in range(points):
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
    level = "one-step identity" if T == 1 else "unrolled BPTT"
    method = (f"exact: polynomial identity test over GF(2^61−1) at {points} random point(s), "
              f"σ written through tanh, tanh an uninterpreted function with tanh′ = 1 − tanh², seed {seed}")
    return ProofReport(cell.name, level, D, H, T, method, backend, seed,
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


def _differentiate(L, syms, backend):
    if backend == "sympy":
        return {s: L.diff(s) for s in syms}
    if backend == "symengine":
        try:
            import symengine
        except ImportError:
            raise ValueError("backend 'symengine' needs the optional extra: pip install 'lstm-sym[fast]'") from None
        Ls = symengine.sympify(L)        # the field evaluator reads symengine trees as they are
        return {s: Ls.diff(symengine.Symbol(s.name)) for s in syms}
    raise ValueError(f"unknown backend {backend!r}; choose sympy or symengine")


def prove_cell(derivation, one_step=(3, 3), unrolled=(2, 2, 2), **kw):
    """Both levels: the one-step identity and the unrolled loss."""
    D, H = one_step
    return [prove(derivation, D, H, 1, **kw), prove(derivation, *unrolled, **kw)]
