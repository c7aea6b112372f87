"""The generated kernels (stacked gate buffers, stacked GEMMs) against referees that know nothing of it: the IR
interpreter's reverse pass (lstm_sym.verify.reference), directional finite
differences of the kernel's own forward, and torch where it has the cell.
Every built-in cell, float64 and float32, B = 1 and B = 17, T = 1 and T = 4,
nonzero initial states."""
import warnings

import numpy as np
import pytest

from lstm_sym.cells import NAMES
from lstm_sym.codegen import compile as compile_kernel
from lstm_sym.verify.numeric import check_numeric, gradients, make_problem
from lstm_sym.verify.reference import reference_module

KERNELS = {}
SHAPES = [(1, 1), (1, 4), (17, 1), (17, 4)]      # (B, T)
TOL = {"float64": 1e-10, "float32": 2e-4}


def kernel(name):
    if name not in KERNELS:
        KERNELS[name] = compile_kernel(name)
    return KERNELS[name]


def worst(ours, theirs):
    """The largest error over all gradients, relative to each gradient's size."""
    out = {}
    for key, ref in theirs.items():
        ref = np.asarray(ref, dtype=np.float64)
        diff = np.max(np.abs(np.asarray(ours[key], dtype=np.float64) - ref), initial=0.0)
        out[key] = diff / max(np.max(np.abs(ref), initial=0.0), 1e-30)
    return out


def both(name, B, T, dtype, seed=0):
    mod = kernel(name)
    prob = make_problem(mod, D=3, H=5, T=T, B=B, seed=seed)
    assert np.any(prob.h0 != 0) and (prob.c0 is None or np.any(prob.c0 != 0))
    ours = gradients(mod, prob.astype(np.float32) if dtype == "float32" else prob)
    theirs = gradients(reference_module(name), prob)
    return ours, theirs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("B, T", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_kernel_gradients_match_the_interpreter(name, B, T, dtype):
    ours, theirs = both(name, B, T, dtype)
    assert set(ours) == set(theirs)
    for key, g in ours.items():
        assert np.shape(g) == np.shape(theirs[key]), key
        assert np.asarray(g).dtype == np.dtype(dtype), key
    errors = worst(ours, theirs)
    bad = {k: e for k, e in errors.items() if not e <= TOL[dtype]}
    assert not bad, bad


@pytest.mark.parametrize("B, T", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_kernel_gradients_match_directional_differences(name, B, T):
    mod = kernel(name)
    prob = make_problem(mod, D=3, H=5, T=T, B=B, seed=1)
    rows = check_numeric(mod, prob, ["directional"])
    assert rows and all(r.ok for r in rows), [r for r in rows if not r.ok]


@pytest.mark.parametrize("B", [1, 17])
@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_kernel_gradients_match_torch(name, B):
    torch_oracle = pytest.importorskip("lstm_sym.verify.torch_oracle")
    pytest.importorskip("torch")
    mod = kernel(name)
    prob = make_problem(mod, D=3, H=5, T=4, B=B, seed=2)
    h, theirs = torch_oracle.torch_gradients(name, prob.params, prob.x, prob.h0, prob.c0, G=prob.G)
    ours_h, _ = mod.forward(prob.params, prob.x, prob.h0, *([prob.c0] if prob.c0 is not None else []))
    np.testing.assert_allclose(ours_h, h, rtol=1e-10, atol=1e-12)
    ours = mod.backward(prob.params, prob.G, mod.forward(prob.params, prob.x, prob.h0,
                                                         *([prob.c0] if prob.c0 is not None else []))[1])
    errors = worst(ours, theirs)
    bad = {k: e for k, e in errors.items() if not e <= 1e-10}
    assert not bad, bad


def test_the_comparison_can_fail():
    """A kernel whose stacked recurrent weights are in the wrong slot order is caught."""
    from lstm_sym.codegen import emit
    import types
    source = emit("lstm")
    old = "W_h_stack = np.array([W_fh, W_ih, W_oh, W_ch])"
    assert old in source
    bad = types.ModuleType("bad")
    exec(compile(source.replace(old, "W_h_stack = np.array([W_ih, W_fh, W_oh, W_ch])"), "<bad>", "exec"),
         bad.__dict__)
    prob = make_problem(bad, D=3, H=5, T=3, B=17, seed=0)
    errors = worst(gradients(bad, prob), gradients(reference_module("lstm"), prob))
    assert max(errors.values()) > 1e-3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_no_warnings_for_huge_inputs(name, dtype):
    mod = kernel(name)
    params = mod.init_params(3, 4, dtype=dtype)
    rng = np.random.default_rng(0)
    x = (1e4 * rng.choice([-1, 1], (3, 17, 3))).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):      # NumPy's default leaves underflow silent
            h, cache = mod.forward(params, x)
            grads = mod.backward(params, np.ones_like(h), cache)
    assert np.all(np.isfinite(h)) and all(np.all(np.isfinite(g)) for g in grads.values())


@pytest.mark.parametrize("name", NAMES)
def test_outputs_keep_the_public_contract(name):
    mod = kernel(name)
    params = mod.init_params(3, 4)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    h, cache = mod.forward(params, x)
    assert h.shape == (5, 2, 4)
    grads = mod.backward(params, np.ones_like(h), cache)
    assert list(grads) == [*mod.PARAMS, "x", *(s + "0" for s in mod.STATES)]
    for key, shape in mod.PARAMS.items():
        assert grads[key].shape == params[key].shape, key
    assert grads["x"].shape == x.shape
