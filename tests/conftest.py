import numpy as np
import pytest

from lstm_sym.evaluate import loss, run_forward


def random_instance(cell, D, H, T, seed=0, scale=0.5):
    """Float64 instance: params, xs, init (nonzero), G, Gc."""
    rng = np.random.default_rng(seed)
    dims = {"H": H, "D": D}
    params = {p: scale * rng.standard_normal([dims[s] for s in v.shape]) for p, v in cell.params.items()}
    xs = [rng.standard_normal(D) for _ in range(T)]
    init = {s: rng.standard_normal(H) for s in cell.states}
    G = [rng.standard_normal(H) for _ in range(T)]
    Gc = {s: rng.standard_normal(H) for s in cell.states[1:]}
    return params, xs, init, G, Gc


def central_difference(cell, params, xs, init, G, Gc, array, eps=1e-6):
    """∂L/∂array by central differences of the forward pass alone."""
    out = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + eps
        up = loss(cell, run_forward(cell, params, xs, init), G, Gc)
        array[idx] = old - eps
        down = loss(cell, run_forward(cell, params, xs, init), G, Gc)
        array[idx] = old
        out[idx] = (up - down) / (2 * eps)
    return out


@pytest.fixture
def instance():
    return random_instance
