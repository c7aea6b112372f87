"""Training tasks.  The adding problem (Hochreiter & Schmidhuber 1997, in the
two-channel form of Le, Jaitly & Hinton 2015): each step carries a value
drawn from U(0, 1) and a marker; exactly two steps are marked, one in each
half of the sequence, and the target is the sum of the two marked values.
Predicting the mean, 1.0, scores Var(u₁ + u₂) = 1/6 ≈ 0.167 MSE, so a model
below 0.01 has learnt to carry both values across the lag."""
from __future__ import annotations

import numpy as np

BASELINE_MSE = 1.0 / 6.0        # Var of the sum of two independent U(0, 1)


def adding_batch(rng, T, batch, dtype=np.float64):
    """x (T, B, 2): channel 0 the values, channel 1 the markers; y (B, 1)."""
    if T < 2:
        raise ValueError(f"the adding problem needs T >= 2 (one marker per half), got T={T}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    values = rng.uniform(0.0, 1.0, size=(T, batch))
    half = T // 2
    first = rng.integers(0, half, size=batch)
    second = rng.integers(half, T, size=batch)
    markers = np.zeros((T, batch))
    cols = np.arange(batch)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    x = np.stack([values, markers], axis=-1).astype(dtype)
    y = (values[first, cols] + values[second, cols])[:, None].astype(dtype)
    return x, y


TASKS = {"adding": adding_batch}


def task(name):
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(sorted(TASKS))}") from None
