"""The code generator: generated kernels against gradients that owe nothing to
the derivation or to the emitter (SymPy differentiating the scalar forward
pass; PyTorch elsewhere), against the interpreter of the derivation for cells
the emitter has never seen, the module contract, bad input, and the CLI."""
import ast
import importlib.util
import os
import warnings

import numpy as np
import pytest
import sympy

from lstm_sym import Cell, activation, commands, derive, relu, sigmoid, softsign, tanh
from lstm_sym.activations import x as X
from lstm_sym.cells import NAMES, get_cell
from lstm_sym.codegen import compile as compile_kernel
from lstm_sym.codegen import emit, numeric_files
from lstm_sym.evaluate import SympyBackend, loss, run_backward, run_forward

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_numeric(name):
    """The committed kernel numeric/<name>.py, imported from its file."""
    spec = importlib.util.spec_from_file_location(f"numeric_{name}", os.path.join(ROOT, "numeric", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def instance(kernel, D, H, T, B, seed=0, scale=0.5, dtype=np.float64):
    """Weights of scale ~0.5, nonzero initial states, a random upstream G (and G_c)."""
    rng = np.random.default_rng(seed)
    params = {k: (scale * rng.standard_normal(v.shape)).astype(dtype)
              for k, v in kernel.init_params(D, H).items()}
    x = rng.standard_normal((T, B, D)).astype(dtype)
    init = {s: rng.standard_normal((B, H)).astype(dtype) for s in kernel.STATES}
    G = rng.standard_normal((T, B, H)).astype(dtype)
    Gc = {s: rng.standard_normal((B, H)).astype(dtype) for s in kernel.STATES[1:]}
    return params, x, init, G, Gc


def kernel_gradients(kernel, params, x, init, G, Gc):
    h, cache = kernel.forward(params, x, **{s + "0": v for s, v in init.items()})
    return h, kernel.backward(params, G, cache, **{f"d{s}T": v for s, v in Gc.items()})


# --- against SymPy differentiating the scalar forward pass ------------------------

def sympy_gradient(cell, params, x, init, G, Gc):
    """∂L/∂(every entry of every input), L = Σ_b Σ_t ⟨G_t, h_t⟩ + ⟨G_c, c_T⟩, with
    every entry a real SymPy symbol and the forward pass expanded to scalars
    (the interpreter's SymPy backend: activations written through tanh).
    symengine differentiates when installed (1000× faster); SymPy otherwise."""
    T, B, D = x.shape
    values = {}

    def symbols(prefix, a):
        out = np.empty(a.shape, dtype=object)
        for idx in np.ndindex(a.shape):
            s = sympy.Symbol(f"{prefix}[{','.join(map(str, idx))}]", real=True)
            out[idx], values[s] = s, float(a[idx])
        return out

    P = {k: symbols(k, v) for k, v in params.items()}
    Xs = symbols("x", x)
    I = {s: symbols(s + "0", v) for s, v in init.items()}
    L = 0
    for b in range(B):
        ctx = run_forward(cell, P, [Xs[t, b] for t in range(T)], {s: v[b] for s, v in I.items()}, SympyBackend())
        L += loss(cell, ctx, [G[t, b] for t in range(T)], {s: v[b] for s, v in Gc.items()})
    try:
        import symengine as se
        Le, point = se.sympify(L), {se.sympify(k): v for k, v in values.items()}
        diff = lambda s: float(se.diff(Le, se.sympify(s)).subs(point))
    except ImportError:
        point = {k: sympy.Float(v, 30) for k, v in values.items()}
        diff = lambda s: float(sympy.diff(L, s).xreplace(point))
    grads = {}
    for name, arr in [*P.items(), ("x", Xs), *((s + "0", v) for s, v in I.items())]:
        grads[name] = np.array([diff(s) for s in arr.ravel()]).reshape(arr.shape)
    return grads


def _sizes_for_sympy():
    try:
        import symengine  # noqa: F401
        return 2, 2, 3, 2
    except ImportError:      # SymPy alone: T = 2, one sequence (5 s for the LSTM)
        return 2, 2, 2, 1


@pytest.mark.parametrize("name", NAMES)
def test_numeric_kernel_matches_sympy_gradient(name):
    kernel = load_numeric(name)
    D, H, T, B = _sizes_for_sympy()
    params, x, init, G, Gc = instance(kernel, D, H, T, B, seed=1)
    _, grads = kernel_gradients(kernel, params, x, init, G, Gc)
    expected = sympy_gradient(get_cell(name), params, x, init, G, Gc)
    assert set(grads) == set(expected)
    for key, want in expected.items():
        np.testing.assert_allclose(grads[key], want, rtol=1e-10, atol=1e-12, err_msg=key)


# --- cells the emitter has never seen, against the derivation's interpreter ------------

def mgu():
    """README's example: a product W (f ⊙ h) that belongs to no group."""
    cell = Cell("mgu", states=("h",))
    W_fh, W_fx, b_f = cell.param("W_fh", "H", "H"), cell.param("W_fx", "H", "D"), cell.param("b_f", "H")
    W_nh, W_nx, b_n = cell.param("W_nh", "H", "H"), cell.param("W_nx", "H", "D"), cell.param("b_n", "H")
    h, x = cell.prev("h"), cell.input("x")
    f = cell.let("f", sigmoid(W_fh @ h + W_fx @ x + b_f))
    n = cell.let("n", tanh(W_nh @ (f * h) + W_nx @ x + b_n))
    cell.let("h", (1 - f) * h + f * n)
    return cell


def relu_rnn():
    """relu's derivative needs the pre-activation itself: the backward pass reads net."""
    cell = Cell("relu_rnn", states=("h",))
    W, U, b = cell.param("W", "H", "H"), cell.param("U", "H", "D"), cell.param("b", "H")
    h, x = cell.prev("h"), cell.input("x")
    cell.let("h", relu(W @ h + U @ x + b))
    return cell


def peephole():
    """A peephole vector (its gradient a sum of Hadamard products), softsign, a gate without bias."""
    cell = Cell("peephole", states=("h", "c"))
    W_fh, W_fx = cell.param("W_fh", "H", "H"), cell.param("W_fx", "H", "D")
    b_f, p_f = cell.param("b_f", "H"), cell.param("p_f", "H")
    W_ch, W_cx, b_c = cell.param("W_ch", "H", "H"), cell.param("W_cx", "H", "D"), cell.param("b_c", "H")
    W_oh, W_ox = cell.param("W_oh", "H", "H"), cell.param("W_ox", "H", "D")
    h, c, x = cell.prev("h"), cell.prev("c"), cell.input("x")
    f = cell.let("f", sigmoid(W_fh @ h + W_fx @ x + b_f + p_f * c))
    c_tilde = cell.let("c_tilde", softsign(W_ch @ h + W_cx @ x + b_c))
    c_t = cell.let("c", f * c + (1 - f) * c_tilde)
    o = cell.let("o", sigmoid(W_oh @ h + W_ox @ x))
    cell.let("h", o * tanh(c_t))
    return cell


def gate_without_input():
    """A gate that reads only h_{t−1}, an intermediate, and x outside every gate."""
    cell = Cell("odd", states=("h",))
    W, U, b, V = cell.param("W", "H", "H"), cell.param("U", "H", "D"), cell.param("b", "H"), cell.param("V", "H", "H")
    h, x = cell.prev("h"), cell.input("x")
    g = cell.let("g", sigmoid(V @ h + b))
    m = cell.let("m", g * h)
    cell.let("h", tanh(W @ m + U @ x))
    return cell


def gated_input():
    """Products with x_t outside every pre-activation (their own input projections)."""
    cell = Cell("gated_input", states=("h",))
    W, V, U, S, b = (cell.param("W", "H", "H"), cell.param("V", "H", "D"), cell.param("U", "H", "D"),
                     cell.param("S", "H", "D"), cell.param("b", "H"))
    h, x = cell.prev("h"), cell.input("x")
    a = cell.let("a", tanh(W @ h + V @ x + b))
    cell.let("h", a * (U @ x) + (1 - a) * (S @ x) + a * h)
    return cell


def tied_input_weights():
    """One input weight in two pre-activations: no gate owns its product."""
    cell = Cell("tied", states=("h",))
    W_f, W_n, U, b = (cell.param("W_f", "H", "H"), cell.param("W_n", "H", "H"), cell.param("U", "H", "D"),
                      cell.param("b", "H"))
    h, x = cell.prev("h"), cell.input("x")
    f = cell.let("f", sigmoid(W_f @ h + U @ x + b))
    n = cell.let("n", tanh(W_n @ h + U @ x))
    cell.let("h", f * n + (1 - f) * h)
    return cell


def softplus_rnn():
    """A user activation: its helper is printed from SymPy."""
    softplus = activation("softplus", sympy.log(1 + sympy.exp(X)))
    cell = Cell("softplus_rnn", states=("h",))
    W, U, b = cell.param("W", "H", "H"), cell.param("U", "H", "D"), cell.param("b", "H")
    h, x = cell.prev("h"), cell.input("x")
    cell.let("h", softplus(W @ h + U @ x + b))
    return cell


USER_CELLS = [mgu, relu_rnn, peephole, gate_without_input, gated_input, tied_input_weights, softplus_rnn]


def interpreter_gradients(d, params, x, init, G, Gc):
    """h and the gradients by the derivation's interpreter, one sequence at a time."""
    cell = d.cell
    T, B, _ = x.shape
    hs, grads = [], {}
    for b in range(B):
        ctx = run_forward(cell, params, [x[t, b] for t in range(T)], {s: v[b] for s, v in init.items()})
        hs.append([ctx.env[cell.states[0], t] for t in range(1, T + 1)])
        g = run_backward(d, ctx, [G[t, b] for t in range(T)], {s: v[b] for s, v in Gc.items()})
        for p in cell.params:
            grads[p] = grads.get(p, 0) + g[p]
        grads.setdefault("x", []).append(np.array(g["x"]))
        for s in cell.states:
            grads.setdefault(s + "0", []).append(g[s + "0"])
    grads["x"] = np.stack(grads["x"], axis=1)
    for s in cell.states:
        grads[s + "0"] = np.stack(grads[s + "0"])
    return np.array(hs).transpose(1, 0, 2), grads


@pytest.mark.parametrize("make", USER_CELLS + [lambda: get_cell(n) for n in NAMES],
                         ids=[m.__name__ for m in USER_CELLS] + list(NAMES))
def test_kernel_matches_the_derivation_on_any_cell(make):
    cell = make()
    d = derive(cell)
    kernel = compile_kernel(d)
    params, x, init, G, Gc = instance(kernel, 3, 4, 5, 3, seed=2)
    h, grads = kernel_gradients(kernel, params, x, init, G, Gc)
    h_ref, ref = interpreter_gradients(d, params, x, init, G, Gc)
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-13)
    assert list(grads) == [*cell.params, "x", *(s + "0" for s in cell.states)]
    for key, want in ref.items():
        np.testing.assert_allclose(grads[key], want, rtol=1e-10, atol=1e-12, err_msg=key)


def test_a_wrong_derivation_gives_a_wrong_kernel():
    """The kernel follows the derivation it is given: drop the cell-state carry
    (the tutorial's slip) and the kernel's gradients move, so the tests above
    can fail."""
    from lstm_sym.ir import Add, Next
    d = derive("lstm")
    total_c = d.delta_of("c")
    assert isinstance(total_c, Add) and Next("c") in total_c.terms
    broken = d.with_delta("c", Add(tuple(t for t in total_c.terms if t != Next("c"))))
    params, x, init, G, Gc = instance(compile_kernel(d), 3, 4, 5, 2)
    _, good = kernel_gradients(compile_kernel(d), params, x, init, G, Gc)
    _, bad = kernel_gradients(compile_kernel(broken), params, x, init, G, Gc)
    assert np.max(np.abs(good["W_fh"] - bad["W_fh"])) > 1e-3


# --- dtypes, overflow, complex step ---------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_float32_runs_in_float32_and_agrees_with_float64(name):
    kernel = compile_kernel(name)
    p64, x, init, G, Gc = instance(kernel, 5, 6, 7, 4)
    h64, g64 = kernel_gradients(kernel, p64, x, init, G, Gc)
    cast = lambda d: {k: v.astype(np.float32) for k, v in d.items()}
    h32, g32 = kernel_gradients(kernel, cast(p64), x.astype(np.float32), cast(init), G.astype(np.float32),
                                cast(Gc))
    assert h32.dtype == np.float32 and all(g.dtype == np.float32 for g in g32.values())
    np.testing.assert_allclose(h32, h64, rtol=1e-4, atol=1e-5)
    for key in g64:
        scale = np.max(np.abs(g64[key]))
        assert np.max(np.abs(g32[key] - g64[key])) <= 1e-4 * max(scale, 1), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_no_overflow_warning_for_huge_preactivations(name, dtype):
    """σ written through e^−|a| never overflows; 1/(1 + e^−a) would at a = −1e4."""
    kernel = compile_kernel(name)
    params, x, init, G, Gc = instance(kernel, 3, 4, 3, 2, dtype=dtype)
    x = (1e4 * np.sign(x)).astype(dtype)
    params = {k: np.sign(v).astype(dtype) for k, v in params.items()}
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        h, grads = kernel_gradients(kernel, params, x, init, G, Gc)
    assert np.all(np.isfinite(h)) and all(np.all(np.isfinite(g)) for g in grads.values())
    # h_t is tanh-bounded, or a gated mix of tanh values and h_{t−1} (gru, mgu: a saturated
    # gate copies h_0 through), so never beyond max(1, |h_0|)
    assert np.all(np.abs(h) <= max(1.0, float(np.max(np.abs(init["h"])))))


@pytest.mark.parametrize("dtype, ulp", [(np.float64, 2.3e-16), (np.float32, 1.3e-7)])
def test_sigmoid_helper_is_exact_to_an_ulp_of_one_and_saturates(dtype, ulp):
    """The helper is within an ulp of 1 of σ everywhere and saturates to exactly
    0 and 1 (its relative accuracy on both tails, and that of 1 − σ, is
    tests/test_sigmoid_precision.py's)."""
    kernel = compile_kernel("lstm")
    a = np.concatenate([np.linspace(-60, 60, 2001), [-1e4, 1e4]]).astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = kernel.sigmoid(a)
    exact = np.array([1 / (1 + sympy.exp(-sympy.Float(float(v), 40))) for v in a], dtype=float)
    assert got.dtype == dtype
    assert np.max(np.abs(got - exact)) <= ulp
    assert got[-2] == 0 and got[-1] == 1


@pytest.mark.parametrize("make", [lambda: "lstm", lambda: "gru", relu_rnn, peephole],
                         ids=["lstm", "gru", "relu_rnn", "peephole"])
def test_complex_safe_variant_gives_the_gradient_by_complex_step(make):
    """Im L(θ + i h e_k) / h = ∂L/∂θ_k to rounding when the forward pass is
    complex-analytic: no abs, maximum or comparisons on complex values."""
    cell = make()
    fast, safe = compile_kernel(cell), compile_kernel(cell, complex_safe=True)
    params, x, init, G, Gc = instance(fast, 3, 4, 4, 2, seed=3)
    _, grads = kernel_gradients(fast, params, x, init, G, Gc)
    rng = np.random.default_rng(0)
    step = 1e-30
    inputs = {**params, "x": x, **{s + "0": v for s, v in init.items()}}
    for name, arr in inputs.items():
        idx = tuple(rng.integers(0, n) for n in arr.shape)
        moved = {k: v.astype(complex) for k, v in inputs.items()}
        moved[name][idx] += 1j * step
        h, cache = safe.forward({k: moved[k] for k in params}, moved["x"],
                                **{s + "0": moved[s + "0"] for s in safe.STATES})
        L = np.sum(G * h) + sum(np.sum(Gc[s] * cache[f"{s}_seq"][-1]) for s in Gc)
        assert np.imag(L) / step == pytest.approx(grads[name][idx], rel=1e-12, abs=1e-14), name


def test_fast_variant_refuses_complex_input():
    kernel = compile_kernel("rnn")
    params, x, init, G, Gc = instance(kernel, 2, 3, 2, 1)
    with pytest.raises(ValueError, match="complex128"):
        kernel.forward(params, x.astype(complex))


# --- the module contract and bad input -----------------------------------------------

def test_module_contract():
    kernel = compile_kernel("lstm")
    assert kernel.CELL == "lstm" and kernel.STATES == ("h", "c")
    assert kernel.PARAMS["W_fx"] == ("H", "D") and kernel.PARAMS["b_f"] == ("H",)
    p = kernel.init_params(3, 5, seed=7, dtype=np.float32)
    assert p["W_fx"].shape == (5, 3) and p["W_fh"].shape == (5, 5) and p["b_o"].dtype == np.float32
    assert all(np.max(np.abs(v)) <= 1 / np.sqrt(5) for v in p.values())
    q = kernel.init_params(3, 5, seed=7, dtype=np.float32)
    assert all(np.array_equal(p[k], q[k]) for k in p)
    h, cache = kernel.forward(p, np.zeros((4, 2, 3), np.float32))      # missing states are zeros
    assert h.shape == (4, 2, 5) and np.all(h == kernel.forward(p, np.zeros((4, 2, 3), np.float32),
                                                                np.zeros((2, 5), np.float32),
                                                                np.zeros((2, 5), np.float32))[0])
    import inspect
    assert "c0" not in inspect.signature(compile_kernel("gru").forward).parameters
    assert "dcT" not in inspect.signature(compile_kernel("rnn").backward).parameters


def test_backward_twice_on_one_cache_gives_the_same_gradients():
    kernel = compile_kernel("gru")
    params, x, init, G, Gc = instance(kernel, 3, 4, 5, 2)
    h, cache = kernel.forward(params, x, init["h"])
    first = {k: v.copy() for k, v in kernel.backward(params, G, cache).items()}
    second = kernel.backward(params, 2 * G, cache)
    for k in first:
        np.testing.assert_allclose(second[k], 2 * first[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("change, words", [
    (lambda p, x, h0: ({**p, "W_fh": p["W_fh"][:, :2]}, x, h0), ["W_fh", "(4, 2)", "(H, H) = (4, 4)"]),
    (lambda p, x, h0: ({**p, "b_o": p["b_o"][None]}, x, h0), ["b_o", "(1, 4)", "(H,) = (4,)"]),
    (lambda p, x, h0: ({k: v for k, v in p.items() if k != "W_ix"}, x, h0), ["W_ix", "(H, D)", "missing"]),
    (lambda p, x, h0: ({**p, "W_zz": p["W_fh"]}, x, h0), ["W_zz", "unexpected"]),
    (lambda p, x, h0: ({**p, "W_ox": p["W_ox"].astype(np.float32)}, x, h0), ["W_ox", "float32", "float64"]),
    (lambda p, x, h0: ({**p, "W_ox": p["W_ox"].tolist()}, x, h0), ["W_ox", "list"]),
    (lambda p, x, h0: (p, x[0], h0), ["x", "(2, 3)", "(T, B, D)"]),
    (lambda p, x, h0: (p, x.astype(np.int64), h0), ["x", "int64"]),
    (lambda p, x, h0: (p, x, h0[:, :3]), ["h0", "(2, 3)", "(B, H) = (2, 4)"]),
    (lambda p, x, h0: (p, x[:, :, :2], h0), ["W_fx", "(4, 3)", "(H, D) = (4, 2)"]),
])
def test_bad_input_names_the_array_its_shape_and_the_expected_one(change, words):
    kernel = compile_kernel("lstm")
    params = kernel.init_params(3, 4)
    p, x, h0 = change(params, np.zeros((5, 2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError) as e:
        kernel.forward(p, x, h0)
    for w in words:
        assert w in str(e.value)


def test_backward_checks_dh_dcT_and_cache():
    kernel = compile_kernel("lstm")
    params = kernel.init_params(3, 4)
    h, cache = kernel.forward(params, np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match=r"dh has shape \(4, 2, 4\), expected \(T, B, H\) = \(5, 2, 4\)"):
        kernel.backward(params, np.zeros((4, 2, 4)), cache)
    with pytest.raises(ValueError, match=r"dcT has shape \(2, 3\)"):
        kernel.backward(params, np.zeros((5, 2, 4)), cache, dcT=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="cache"):
        kernel.backward(params, np.zeros((5, 2, 4)), {"x": 1})
    with pytest.raises(ValueError, match="positive integer"):
        kernel.init_params(0, 4)


# --- the generated source ------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_numeric_kernel_is_what_the_engine_writes(name):
    """numeric/ holds the generated kernels (`lstm-sym docs` rewrites them)."""
    path = os.path.join(ROOT, "numeric", f"{name}.py")
    with open(path, encoding="utf-8") as f:
        assert f.read() == emit(name), f"numeric/{name}.py drifted: run `lstm-sym docs`"
    assert numeric_files()[f"{name}.py"] == emit(name)


@pytest.mark.parametrize("name", NAMES)
def test_generated_module_imports_only_numpy(name):
    tree = ast.parse(emit(name))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"numpy"}


def test_generated_lstm_reads_like_its_derivation():
    """Every printed forward equation, gate delta and weight gradient is the
    comment of the statement that implements it; names are the printed ones."""
    source = emit("lstm")
    body = source[source.index("def forward"):]
    comments = {line.strip()[2:].split("    (")[0] for line in body.splitlines() if line.strip().startswith("# ")}
    for eq in ["c_t = f_t ⊙ c_{t−1} + i_t ⊙ c̃_t", "h_t = o_t ⊙ tanh(c_t)", "f_t = σ(net_{f,t})",
               "δ_{f,t} = δc_t ⊙ c_{t−1} ⊙ f_t ⊙ (1 − f_t)", "δ_{o,t} = δh_t ⊙ tanh(c_t) ⊙ o_t ⊙ (1 − o_t)",
               "∂E/∂W_fx = Σ_{t=1}^{T} δ_{f,t} x_tᵀ", "∂E/∂b_c = Σ_{t=1}^{T} δ_{c̃,t}",
               "(δc carried to step t−1) = δc_t ⊙ f_t"]:
        assert eq in comments, eq
    for name in ("delta_f", "delta_c_tilde", "c_prev", "h_prev", "tanh_c", "W_fh", "b_o"):
        assert name in body
    tree = ast.parse(source)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not [n for n in names if n.rstrip("_")[-1:].isdigit() and n not in ("h0", "c0")]


def test_fast_by_construction():
    """One GEMM per step for all gates, the input projections and the weight
    gradients outside the loop, preallocated buffers written with out=."""
    source = emit("lstm")
    forward = source[source.index("def forward"):source.index("def backward")]
    backward = source[source.index("def backward"):]
    loop = forward[forward.index("for t in range(T)"):forward.index("cache =")]
    assert loop.count("np.matmul") == 1 and "@" not in loop
    assert "np.matmul(W_x_stack.reshape(-1, D), x_cols" in forward[:forward.index("for t in range(T)")]
    bloop = backward[backward.index("for t in reversed"):backward.index("grads = {}")]
    assert bloop.count("np.matmul") == 1 and "@" not in bloop
    after = backward[backward.index("grads = {}"):]
    assert after.count("np.matmul(delta_rows, ") == 2      # W_·h and W_·x, four gates each
    assert "out=" in loop and "out=" in bloop


def test_generated_source_is_valid_for_every_user_cell():
    for make in USER_CELLS:
        compile(emit(make()), make.__name__, "exec")


def test_codegen_refuses_what_it_cannot_write():
    d = derive("lstm")
    from lstm_sym.ir import TimeSum
    with pytest.raises(ValueError, match="sum over all steps"):
        emit(d.with_grad("W_fx", TimeSum(d.param_grads["W_fx"].a, "last")))
    swish = activation("swish", X / (1 + sympy.exp(-X)))
    cell = Cell("swish_rnn", states=("h",))
    W, U = cell.param("W", "H", "H"), cell.param("U", "H", "D")
    h, x = cell.prev("h"), cell.input("x")
    cell.let("h", swish(W @ h + U @ x))
    # swish is not invertible: its derivative stays in the input form, and the
    # kernel's gradients agree with central differences of its own forward
    from lstm_sym.codegen import compile as compile_kernel
    from lstm_sym.verify.numeric import check_numeric, make_problem
    kernel = compile_kernel(cell)
    rows = check_numeric(kernel, make_problem(kernel, 2, 3, 4), ["central"])
    assert rows and all(r.ok for r in rows), [r for r in rows if not r.ok]
    with pytest.raises(ValueError, match="complex-analytic"):
        softabs = activation("softabs", X / (2 + sympy.Abs(X)))
        c2 = Cell("softabs_rnn", states=("h",))
        W2, U2 = c2.param("W", "H", "H"), c2.param("U", "H", "D")
        c2.let("h", softabs(W2 @ c2.prev("h") + U2 @ c2.input("x")))
        emit(c2, complex_safe=True)


# --- the command ------------------------------------------------------------------------

@pytest.fixture
def main():
    return commands.main


def test_codegen_to_stdout_and_to_a_file(main, capsys, tmp_path):
    assert main(["codegen", "gru"]) == 0
    assert capsys.readouterr().out == emit("gru")
    target = tmp_path / "gru32.py"
    assert main(["codegen", "gru", "-o", str(target), "--dtype", "float32"]) == 0
    text = target.read_text(encoding="utf-8")
    assert text == emit("gru", dtype="float32") and "DTYPE = np.float32" in text
    assert main(["codegen", "gru", "-o", str(target), "--complex-safe", "--force"]) == 0
    assert "COMPLEX_SAFE = True" in target.read_text(encoding="utf-8")


def test_codegen_refuses_to_overwrite(main, capsys, tmp_path):
    target = tmp_path / "kept.py"
    target.write_text("mine\n")
    assert main(["codegen", "lstm", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert target.read_text() == "mine\n"
    assert main(["codegen", "lstm", "-o", str(tmp_path / "no" / "such.py")]) == 2
    assert main(["codegen", "lsmt"]) == 2
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".lstm-sym-")]
