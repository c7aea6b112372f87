"""The tutorial's backward pass: right at T = 1, wrong after, and blind in
the tutorial's own check.  Central differences are the referee."""
import numpy as np

from conftest import central_difference, random_instance
from lstm_sym import derive
from lstm_sym.errata import compare, tutorial_variant
from lstm_sym.evaluate import run_backward, run_forward


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_tutorial_is_wrong_for_sequences_longer_than_one():
    d = derive("lstm")
    cell = d.cell
    params, xs, init, G, _ = random_instance(cell, D=2, H=3, T=4, seed=7)
    tut = run_backward(tutorial_variant(d), run_forward(cell, params, xs, init), G)
    right = run_backward(d, run_forward(cell, params, xs, init), G)
    for p in ("W_fh", "W_fx", "b_c"):
        fd = central_difference(cell, params, xs, init, G, {}, params[p])
        assert _rel(right[p], fd) < 1e-6
        assert _rel(tut[p], fd) > 1e-2, p


def test_tutorial_is_right_at_one_step():
    d = derive("lstm")
    cell = d.cell
    params, xs, init, G, _ = random_instance(cell, D=2, H=3, T=1, seed=7)
    tut = run_backward(tutorial_variant(d), run_forward(cell, params, xs, init), G)
    for p in params:
        fd = central_difference(cell, params, xs, init, G, {}, params[p])
        assert _rel(tut[p], fd) < 1e-6, p


def test_tutorials_own_check_is_blind():
    rows = {name: (tut, fd) for name, tut, fd in compare(T=2, zero_init=True)}
    assert rows["W_fh"][0] < 1e-12            # the matrix the tutorial checked
    assert rows["W_cx"][0] > 1e-2             # a sum over time it got wrong
    assert all(fd < 1e-6 for _, fd in rows.values())
