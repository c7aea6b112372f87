"""The one relative-error function of the checker (and of the errata).

relative_error(got, ref) = ‖got − ref‖ / max(‖ref‖, floor), with ‖·‖ the
largest entry (norm="max", what every check row reports) or the Euclidean
norm (norm="2", what the errata print).  What cannot be compared says so:
NaN when either side has a NaN, inf when got is missing (None), misshapen
or infinite; 0 when they are equal.  A verdict reads it as `rel <= tol`, so
NaN and inf are never a pass."""
from __future__ import annotations

import math

import numpy as np

_SIZES = {"max": lambda a: float(np.max(np.abs(a))) if a.size else 0.0,
          "2": lambda a: float(np.linalg.norm(a))}


def compare(got, ref, floor=0.0, norm="max"):
    """(‖got − ref‖, relative error) of got against ref.  The reference is
    never taken smaller than `floor`: a gradient far smaller than the others
    is judged on their scale, where rounding in the loss (not the gradient)
    sets the finite-difference noise."""
    if got is None:
        return math.inf, math.inf
    size = _SIZES[norm]
    got = np.asarray(got, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if got.shape != ref.shape:
        return math.inf, math.inf
    if np.isnan(got).any() or np.isnan(ref).any():
        return math.nan, math.nan
    if not np.all(np.isfinite(got)):
        return math.inf, math.inf
    err = size(got - ref)
    scale = max(size(ref), floor)
    return err, err / max(scale, 1e-300) if err else 0.0


def relative_error(got, ref, floor=0.0, norm="max"):
    """compare(...)'s relative error alone."""
    return compare(got, ref, floor, norm)[1]


def gradient_floor(grads, share=1e-2):
    """1% of the largest finite gradient entry of the whole problem."""
    biggest = [float(np.max(np.abs(g))) for g in grads.values()
               if g is not None and np.size(g) and np.all(np.isfinite(g))]
    return share * max(biggest, default=0.0)
