"""Elementwise activations.  Each is a scalar SymPy function of x; its
derivative is derived by SymPy and, where possible, rewritten in the
activation's own output y (σ′ = y(1 − y), tanh′ = 1 − y²)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy

x = sympy.Symbol("x", real=True)
y = sympy.Symbol("y", real=True)


@dataclass(frozen=True, eq=False)
class Activation:
    name: str
    expr: object                 # scalar SymPy expression in x
    text: str = ""               # how printers write it (σ, tanh, ...)
    latex: str = ""
    proof_expr: object = None    # the same function written through tanh (for exact proofs)

    def __post_init__(self):
        # an expression in another symbol (a plain sympy.Symbol("x") lacks
        # real=True, so it is not x) would differentiate to 0: refuse it here
        if not isinstance(self.expr, sympy.Basic):
            raise ValueError(f"activation {self.name}: its expression must be a SymPy expression in "
                             f"lstm_sym.activations.x, got {type(self.expr).__name__}")
        stray = sorted(str(s) for s in self.expr.free_symbols - {x})
        if stray or x not in self.expr.free_symbols:
            what = (f"uses {', '.join(stray)}, which is not lstm_sym.activations.x (a plain "
                    "sympy.Symbol('x') is another symbol)") if stray else "does not depend on x"
            raise ValueError(f"activation {self.name}: its expression {what}; "
                             "write it in `from lstm_sym.activations import x`")

    def __eq__(self, other):
        return isinstance(other, Activation) and self.name == other.name

    def __hash__(self):
        return hash(("Activation", self.name))

    def __call__(self, a):
        from .ir import Act
        return Act(self, a)

    @cached_property
    def derivative(self):
        return sympy.diff(self.expr, x)

    @cached_property
    def derivative_simplified(self):
        """f′ in the input, in the shortest of a few tidy forms (the fallback
        form printers show).  x·sign(x) = |x| for real x; simplify() alone
        turns softsign′ into a Piecewise."""
        d = self.derivative.subs(x * sympy.sign(x), sympy.Abs(x))
        forms = [d, sympy.together(d), sympy.factor(sympy.together(d))]
        return min(forms, key=sympy.count_ops)

    @cached_property
    def derivative_in_output(self):
        """f′ as an expression in y = f(x), or None when that is impossible."""
        d = self.derivative
        e = d.subs(self.expr, y)
        if x not in e.free_symbols:
            return e
        if self.expr.has(sympy.Piecewise, sympy.Abs, sympy.Max, sympy.Min, sympy.Heaviside):
            return None           # not invertible piecewise: keep the input form
        try:
            roots = sympy.solve(sympy.Eq(y, self.expr), x)
        except NotImplementedError:
            return None
        for r in roots:
            e = sympy.factor(sympy.simplify(d.subs(x, r)))
            if x not in e.free_symbols and e.free_symbols <= {y} and self._agrees(e):
                return e
        return None

    def _agrees(self, e):
        """A root of y = f(x) may be the wrong branch (f not invertible):
        keep e(y) only if it equals f′(x) at sample points."""
        for v in (-3.0, -1.0, -0.3, 0.4, 1.5, 2.5):
            want = complex(self.derivative.subs(x, v).evalf())
            got = complex(e.subs(y, self.expr.subs(x, v)).evalf())
            if abs(got - want) > 1e-9 * (1 + abs(want)):
                return False
        return True

    @cached_property
    def sup_derivative(self):
        """β_f = sup |f′(x)| over the reals (SymPy, else a numeric search)."""
        d = self.derivative
        try:
            return sympy.maximum(sympy.Abs(d), x, sympy.S.Reals)
        except (NotImplementedError, ValueError, TypeError):
            return sympy.Float(_numeric_sup(sympy.lambdify(x, sympy.Abs(d), "numpy")))

    @cached_property
    def numpy_fn(self):
        return sympy.lambdify(x, self.expr, "numpy")

    def in_tanh_form(self):
        return self.proof_expr if self.proof_expr is not None else self.expr


# The numeric search for sup|f′| (documents quote these, so they say what the code does):
# a dense linear grid on [−SUP_DENSE, SUP_DENSE], a log-spaced one from ±10^SUP_LOG[0]
# to ±10^SUP_LOG[1], then SUP_GOLDEN golden-section steps around the best point.
SUP_DENSE, SUP_DENSE_POINTS = 20, 400001
SUP_LOG, SUP_LOG_POINTS = (-8, 6), 4001
SUP_GOLDEN = 100


def _numeric_sup(f):
    """sup f over the reals, numerically, for piecewise f′ that SymPy's
    maximum() cannot handle: a dense grid near 0, a log-spaced one out to
    ±10^SUP_LOG[1], then golden-section refinement around the best grid point."""
    import numpy as np
    tail = np.logspace(*SUP_LOG, SUP_LOG_POINTS)
    grid = np.unique(np.concatenate([np.linspace(-SUP_DENSE, SUP_DENSE, SUP_DENSE_POINTS), tail, -tail, [0.0]]))
    with np.errstate(all="ignore"):
        vals = np.nan_to_num(np.asarray(f(grid), dtype=float) * np.ones_like(grid), nan=-np.inf)
    k = int(np.argmax(vals))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    best = vals[k]
    g = (np.sqrt(5) - 1) / 2
    for _ in range(SUP_GOLDEN):        # golden section on the bracketing interval
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        with np.errstate(all="ignore"):
            fa, fb = float(f(a)), float(f(b))
        best = max(best, fa, fb)
        if fa >= fb:
            hi = b
        else:
            lo = a
    return best


sigmoid = Activation("sigmoid", 1 / (1 + sympy.exp(-x)), "σ", r"\sigma",
                     proof_expr=(1 + sympy.tanh(x / 2)) / 2)
tanh = Activation("tanh", sympy.tanh(x), "tanh", r"\tanh", proof_expr=sympy.tanh(x))
relu = Activation("relu", sympy.Max(0, x), "relu", r"\operatorname{relu}")
softsign = Activation("softsign", x / (1 + sympy.Abs(x)), "softsign", r"\operatorname{softsign}")

BUILTIN = {a.name: a for a in (sigmoid, tanh, relu, softsign)}


def activation(name, expr=None, text=None, latex=None):
    """A user activation: a SymPy expression in activations.x."""
    if expr is None:
        if name not in BUILTIN:
            raise ValueError(f"unknown activation {name!r}; built in: {', '.join(BUILTIN)} "
                             "(or pass a SymPy expression in lstm_sym.activations.x)")
        return BUILTIN[name]
    return Activation(name, expr, text or name, latex or rf"\operatorname{{{name}}}")
