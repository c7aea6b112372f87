"""Bugs injected into generated backward code are all caught by the
checker; correct generated code never raises a false alarm."""
import types

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lstm_sym.codegen import compile as compile_kernel, emit
from lstm_sym.verify.numeric import check_numeric, make_problem

# (kind of bug, text in the generated LSTM kernel, what it becomes)
MUTATIONS = [
    ("cell-state carry dropped",
     "delta_c = delta_h * delta_c_factor + delta_c_carried",
     "delta_c = delta_h * delta_c_factor"),
    ("input weights from the last step only",
     "dW = np.matmul(delta_rows, x_rows)",
     "dW = np.matmul(delta_seq[:, :, T - 1], x[T - 1])"),
    ("transposed weight",
     "W_h_stack = np.array([W_fh, W_ih, W_oh, W_ch])    # (4, H, H)\n",
     "W_h_stack = np.array([W_fh, W_ih.T, W_oh, W_ch])    # (4, H, H)\n"),
    # the deltas' forward factors are computed in forward(), for backward() alone
    ("σ′ where tanh′ belongs",
     "np.multiply(i, 1 - c_tilde ** 2, out=factor_seq[t, 2])",
     "np.multiply(i, c_tilde * (1 - c_tilde), out=factor_seq[t, 2])"),
    ("h_t for h_{t−1}",
     "h_rows = h_seq[:T].transpose",
     "h_rows = h_seq[1:].transpose"),
    ("bias gradient from another gate's delta",
     'grads["b_f"] = delta_sums[0]',
     'grads["b_f"] = delta_sums[1]'),
    ("sign flip",
     "factor_seq[t, 4] *= one_minus_f",
     "factor_seq[t, 4] *= -one_minus_f"),
    ("one time step skipped",
     "        delta_f, delta_i, delta_o, delta_c_tilde = delta_seq[:, :, t]\n",
     "        if t == 1:\n            delta_seq[:, :, t] = 0\n            continue\n"
     "        delta_f, delta_i, delta_o, delta_c_tilde = delta_seq[:, :, t]\n"),
    ("tanh′(c_t) dropped from the path through h",
     "np.multiply(o, 1 - tanh_c ** 2, out=factor_seq[t, 1])",
     "np.multiply(o, 1, out=factor_seq[t, 1])"),
    ("input error through the wrong gate's weights",
     "dx += delta_rows[1].T @ W_ix",
     "dx += delta_rows[1].T @ W_fx"),
]


def mutant(source, old, new):
    """The kernel with its one line `old` (in backward(), or a delta's factor in
    forward()) replaced by `new`."""
    assert source.count(old) == 1, f"the generated kernel changed: {old!r} not found once"
    module = types.ModuleType("mutant")
    exec(compile(source.replace(old, new), "<mutant>", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("kind, old, new", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_injected_bug_is_caught(kind, old, new):
    module = mutant(emit("lstm"), old, new)
    prob = make_problem(module, D=3, H=4, T=5, B=2, seed=0)
    rows = check_numeric(module, prob, ["central", "directional"])
    assert any(not r.ok for r in rows), kind


def test_the_unmutated_kernel_passes_the_same_check():
    module = mutant(emit("lstm"), "factor_seq[t, 4] *= one_minus_f", "factor_seq[t, 4] *= one_minus_f")
    rows = check_numeric(module, make_problem(module, 3, 4, 5, 2), ["central", "directional"])
    assert all(r.ok for r in rows)


KERNELS = {name: compile_kernel(name) for name in ("rnn", "lstm", "gru")}


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(KERNELS)), seed=st.integers(0, 2**32 - 1),
       D=st.integers(1, 4), H=st.integers(1, 4), T=st.integers(3, 6), B=st.integers(1, 3),
       scale=st.floats(0.1, 1.0))
def test_no_false_alarm_on_correct_code(name, seed, D, H, T, B, scale):
    module = KERNELS[name]
    prob = make_problem(module, D, H, T, B, seed, scale)
    rows = check_numeric(module, prob, ["central", "directional"], seed=seed)
    bad = [r for r in rows if not r.ok]
    assert not bad, bad
