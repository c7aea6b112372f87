"""σ and 1 − σ in the generated kernels keep full relative precision on both
tails, and so do the gradients of saturated gates.

The reference is mpmath at 50 digits, owing nothing to lstm_sym: σ(a) =
1/(1 + e^−a) and 1 − σ(a) = 1/(1 + e^a) evaluated exactly at the float's
value, and the gradients of small LSTM and GRU instances by forward-mode
differentiation (dual numbers over mpf) of a transcription of each cell
written out in this file.  Errors are in ulps, np.spacing of the correctly
rounded reference; gradients are compared element by element, relative to
each element, so that a gradient of 1e−17 must be right to 12 digits too.
"""
import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lstm_sym import Cell, derive, sigmoid, tanh
from lstm_sym.codegen import compile as compile_kernel
from lstm_sym.codegen import emit
from lstm_sym.evaluate import run_backward, run_forward

mpmath.mp.dps = 50
MP = mpmath.mp

# float64: σ(−745) ≈ 5e−324 is the last σ(−a) above 0 (the smallest subnormal);
# beyond, σ(−a) rounds to 0 and σ(a) to 1.
F64_RANGE = 745.0
# float32: σ(−a) stays normal (≥ 2^−126) for a ≤ 87.33 and subnormal down to 2^−149
# at a ≈ 103.28; past 103.97 it rounds to 0.  The grid covers [−104, 104]: in the
# subnormal part np.spacing is the constant 2^−149, so "4 ulp" there is an absolute
# 4·2^−149, all that subnormals can hold.
F32_RANGE = 104.0
ULPS = 4


@pytest.fixture(scope="module")
def kernel():
    """The generated LSTM kernel: its own sigmoid helper is what is tested."""
    return compile_kernel("lstm")


def sigma_mp(a):
    return 1 / (1 + MP.exp(-MP.mpf(float(a))))


def ulp_errors(got, a, dtype, sign=1):
    """|got − σ(sign·a)| in ulps of the correctly rounded σ(sign·a)."""
    out = np.empty(len(a))
    for k, (g, v) in enumerate(zip(got, a)):
        exact = sigma_mp(sign * float(v))
        spacing = float(np.spacing(dtype(float(exact))))
        out[k] = float(abs(MP.mpf(float(g)) - exact) / spacing)
    return out


def both(kernel, a):
    """σ(a) and 1 − σ(a) as the kernel computes them (the complement beside σ)."""
    complement = np.empty_like(a)
    with np.errstate(all="raise"):
        s = kernel.sigmoid(a, complement=complement)
    return s, complement


def grid(limit, dtype):
    return np.unique(np.concatenate([
        np.linspace(-limit, limit, 14901),               # the whole range (every 0.1 in float64)
        np.linspace(-40, 40, 8001),                      # where gates saturate in practice
        np.linspace(-1, 1, 2001),
        [0.0, -0.0, 1e-300, -1e-300, 5e-324, -5e-324, limit, -limit],
    ]).astype(dtype))


@pytest.mark.parametrize("dtype, limit", [(np.float64, F64_RANGE), (np.float32, F32_RANGE)],
                         ids=["float64", "float32"])
def test_sigmoid_and_its_complement_within_4_ulp_on_a_grid(kernel, dtype, limit):
    a = grid(limit, dtype)
    s, c = both(kernel, a)
    assert s.dtype == dtype and c.dtype == dtype
    err_s, err_c = ulp_errors(s, a, dtype), ulp_errors(c, a, dtype, sign=-1)
    assert err_s.max() <= ULPS, (err_s.max(), a[err_s.argmax()])
    assert err_c.max() <= ULPS, (err_c.max(), a[err_c.argmax()])
    # the tail the tanh form lost: σ(−40) = 4.25e−18 (it gave 0), 1 − σ(40) likewise
    k = np.searchsorted(a, dtype(-40))
    assert a[k] == -40 and s[k] > 0 and c[np.searchsorted(a, dtype(40))] == s[k]


@settings(max_examples=300, deadline=None)
@given(st.floats(-F64_RANGE, F64_RANGE))
def test_sigmoid_and_its_complement_within_4_ulp_float64(kernel, v):
    a = np.array([v, -v])
    s, c = both(kernel, a)
    assert ulp_errors(s, a, np.float64).max() <= ULPS
    assert ulp_errors(c, a, np.float64, sign=-1).max() <= ULPS


@settings(max_examples=300, deadline=None)
@given(st.floats(-F32_RANGE, F32_RANGE, width=32))
def test_sigmoid_and_its_complement_within_4_ulp_float32(kernel, v):
    a = np.array([v, -v], np.float32)
    s, c = both(kernel, a)
    assert ulp_errors(s, a, np.float32).max() <= ULPS
    assert ulp_errors(c, a, np.float32, sign=-1).max() <= ULPS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_exactly_without_any_floating_point_signal(kernel, dtype):
    """Past the range σ is exactly 0 or 1 (the correctly rounded value), with every
    NumPy error set to raise: no overflow, no underflow signal, nothing invalid;
    in place (out=a) it gives the same values."""
    a = np.array([-np.inf, -1e30, -1e4, -800, 800, 1e4, 1e30, np.inf], dtype)
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        s, c = both(kernel, a)
        inplace, comp = a.copy(), np.empty_like(a)
        kernel.sigmoid(inplace, out=inplace, complement=comp)
        alone = kernel.sigmoid(a)
    assert s.tolist() == [0, 0, 0, 0, 1, 1, 1, 1] and c.tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert np.array_equal(inplace, s) and np.array_equal(comp, c) and np.array_equal(alone, s)
    assert np.isnan(kernel.sigmoid(np.array([np.nan], dtype))).all()


def test_complex_safe_variant_keeps_the_analytic_tanh_form():
    safe, fast = compile_kernel("lstm", complex_safe=True), compile_kernel("lstm")
    a = np.array([0.3 + 1e-30j, -2.0 + 1e-30j])
    s = safe.sigmoid(a.copy())
    exact = [1 / (1 + MP.exp(-MP.mpf(v.real))) for v in a]
    deriv = [e * (1 - e) for e in exact]
    assert np.allclose(s.real, [float(e) for e in exact], rtol=1e-15)
    assert np.allclose(s.imag / 1e-30, [float(d) for d in deriv], rtol=1e-14)      # complex step
    assert "np.tanh(out" in emit("lstm", complex_safe=True).split("def sigmoid")[1].split("def ")[0]
    assert "np.tanh" not in emit("lstm").split("def sigmoid")[1].split("\ndef ")[0]
    assert fast.COMPLEX_SAFE is False


# --- the generated code reads 1 − σ from the complement it keeps -----------------------

SIGMOID_GATES = {"lstm": "fio", "gru": "rz", "cifg": "fo", "mgu": "f", "lstm_nofg": "io",
                 "lstm_peephole": "fio", "gru_cho": "rz"}


@pytest.mark.parametrize("name", sorted(SIGMOID_GATES))
def test_no_one_minus_sigma_read_off_a_gate(name):
    """Every 1 − g_t of a sigmoid gate, in σ′ = g_t ⊙ (1 − g_t) and in the cell's own
    equations ((1 − z_t) ⊙ n_t, (1 − f_t) ⊙ c̃_t), reads one_minus_g, which the forward
    pass wrote as σ(−net_g) beside g_t; the complex-safe variant keeps 1 − g."""
    source = emit(name)
    body = source[source.index("def forward"):]
    code = "\n".join(line.split("#")[0] for line in body.splitlines())
    for g in SIGMOID_GATES[name]:
        assert f"1 - {g}" not in code and f"1 - {g}[" not in code, g
        assert f"one_minus_{g}" in code, g
    assert "complement=" in code
    safe = emit(name, complex_safe=True)
    assert "complement" not in safe[safe.index("def forward"):]


def test_generated_lstm_computes_the_complement_with_the_gates():
    source = emit("lstm")
    assert "sigmoid(gate_seq[t, 0:3], out=gate_seq[t, 0:3], complement=complement_seq[t, 0:3])" in source
    assert "# 1 − f_t = σ(−net_{f,t})" in source
    # the complements enter the deltas through their forward factors, computed with them
    assert "factor_seq[t, 4] *= one_minus_f" in source and "factor_seq[t, 0] *= one_minus_o" in source
    assert "np.multiply(delta_c, delta_f_factor, out=delta_f)" in source
    gru = emit("gru")
    assert "np.multiply(one_minus_z, n, out=h)" in gru and "np.multiply(one_minus_z, 1 - n ** 2, out=factor_seq[t, 0])" in gru


# --- gradients at saturated gates, against mpmath ---------------------------------------

class Dual:
    """A value and its derivatives along every input at once (forward mode over mpf)."""

    def __init__(self, v, d):
        self.v, self.d = v, d

    def __add__(self, o):
        return Dual(self.v + o.v, self.d + o.d) if isinstance(o, Dual) else Dual(self.v + o, self.d)

    __radd__ = __add__

    def __neg__(self):
        return Dual(-self.v, -self.d)

    def __sub__(self, o):
        return self + (-o)

    def __rsub__(self, o):
        return (-self) + o

    def __mul__(self, o):
        if isinstance(o, Dual):
            return Dual(self.v * o.v, self.d * o.v + o.d * self.v)
        return Dual(self.v * o, self.d * o)

    __rmul__ = __mul__


def d_sigmoid(a):
    e = MP.exp(-a.v)
    return Dual(1 / (1 + e), a.d * (e / (1 + e) ** 2))


def d_tanh(a):
    return Dual(MP.tanh(a.v), a.d * (1 / MP.cosh(a.v) ** 2))


def matvec(W, v):
    return [sum((W[r][k] * v[k] for k in range(len(v))), 0) for r in range(len(W))]


def add(*vs):
    return [sum(parts, 0) for parts in zip(*vs)]


def had(a, b):
    return [p * q for p, q in zip(a, b)]


def lstm_step(P, x, h, c):
    f = [d_sigmoid(v) for v in add(matvec(P["W_fh"], h), matvec(P["W_fx"], x), P["b_f"])]
    i = [d_sigmoid(v) for v in add(matvec(P["W_ih"], h), matvec(P["W_ix"], x), P["b_i"])]
    g = [d_tanh(v) for v in add(matvec(P["W_ch"], h), matvec(P["W_cx"], x), P["b_c"])]
    c = add(had(f, c), had(i, g))
    o = [d_sigmoid(v) for v in add(matvec(P["W_oh"], h), matvec(P["W_ox"], x), P["b_o"])]
    return had(o, [d_tanh(v) for v in c]), c


def gru_step(P, x, h):
    """PyTorch's GRU, as cells/gru.py: r multiplies W_nh h + b_nh."""
    r = [d_sigmoid(v) for v in add(matvec(P["W_rx"], x), P["b_r"], matvec(P["W_rh"], h))]
    z = [d_sigmoid(v) for v in add(matvec(P["W_zx"], x), P["b_z"], matvec(P["W_zh"], h))]
    n = [d_tanh(v) for v in add(matvec(P["W_nx"], x), P["b_nx"], had(r, add(matvec(P["W_nh"], h), P["b_nh"])))]
    return add(had([1 - q for q in z], n), had(z, h))


def squash_step(P, x, h):
    """The cell of squash_cell() below: a sigmoid that is not a gate."""
    f = [d_sigmoid(v) for v in add(matvec(P["W_fh"], h), matvec(P["W_fx"], x), P["b_f"])]
    s = [d_sigmoid(v) for v in matvec(P["U"], x)]
    return add(had(f, h), had([1 - q for q in s], [d_tanh(v) for v in matvec(P["W"], h)]), had(s, h))


def squash_cell():
    """σ applied inside an equation, not as a gate: its 1 − σ(U x_t) is kept too."""
    cell = Cell("squash", states=("h",))
    W_fh, W_fx, b_f = cell.param("W_fh", "H", "H"), cell.param("W_fx", "H", "D"), cell.param("b_f", "H")
    W, U = cell.param("W", "H", "H"), cell.param("U", "H", "D")
    h, x = cell.prev("h"), cell.input("x")
    f = cell.let("f", sigmoid(W_fh @ h + W_fx @ x + b_f))
    s = sigmoid(U @ x)
    cell.let("h", f * h + (1 - s) * tanh(W @ h) + s * h)
    return cell


STEPS = {"lstm": lstm_step, "gru": gru_step, "squash": squash_step}


def exact_gradients(name, params, x, init, G, Gc):
    """∂L/∂(every input), L = Σ_t ⟨G_t, h_t⟩ (+ ⟨G_c, c_T⟩), B = 1, in mpmath."""
    inputs = [(k, v) for k, v in params.items()] + [("x", x[:, 0])] + [(s + "0", v[0]) for s, v in init.items()]
    n = sum(v.size for _, v in inputs)
    duals, k = {}, 0
    for key, arr in inputs:
        flat = []
        for v in arr.ravel():
            d = np.array([MP.mpf(0)] * n, dtype=object)
            d[k] = MP.mpf(1)
            flat.append(Dual(MP.mpf(float(v)), d))
            k += 1
        duals[key] = np.array(flat, dtype=object).reshape(arr.shape).tolist()
    P = {key: duals[key] for key in params}
    h = duals["h0"]
    c = duals.get("c0")
    L = Dual(MP.mpf(0), np.array([MP.mpf(0)] * n, dtype=object))
    for t in range(x.shape[0]):
        xt = duals["x"][t]
        if name == "lstm":
            h, c = lstm_step(P, xt, h, c)
        else:
            h = STEPS[name](P, xt, h)
        L = L + sum(had(h, [MP.mpf(float(g)) for g in G[t, 0]]), 0)
    if name == "lstm":
        L = L + sum(had(c, [MP.mpf(float(g)) for g in Gc["c"][0]]), 0)
    out, k = {}, 0
    for key, arr in inputs:
        out[key] = np.array(L.d[k:k + arr.size]).reshape(arr.shape)
        k += arr.size
    out["x"] = out["x"][:, None]
    for s in init:
        out[s + "0"] = out[s + "0"][None]
    return out


SATURATED = {"lstm": ("b_f", "b_i", "b_o"), "gru": ("b_r", "b_z"), "squash": ("b_f",)}


def saturated_instance(kernel, name, seed, D=2, H=3, T=3):
    """Weights ~0.5, x ~ N(0, 1): |W h + W x| stays below ~4, so biases ±(24..36) put
    every sigmoid pre-activation between ±20 and ±40, both signs; tanh stays unsaturated
    (its 1 − y² is not what is tested here)."""
    rng = np.random.default_rng(seed)
    params = {k: 0.5 * rng.standard_normal(v.shape) for k, v in kernel.init_params(D, H).items()}
    for b in SATURATED[name]:
        params[b] = rng.choice([-1.0, 1.0], H) * rng.uniform(24, 36, H)
    x = rng.standard_normal((T, 1, D))
    if name == "squash":
        # U x_t ≈ U[:, 0] x_t[0] with |U[:, 0]| in 12..18 and |x_t[0]| ≥ 1: σ(U x_t) saturates too
        params["U"][:, 0] = rng.choice([-1.0, 1.0], H) * rng.uniform(12, 18, H)
        params["U"][:, 1:] *= 0.2
        x[..., 0] = np.sign(x[..., 0]) * (1 + np.abs(x[..., 0]))
    init = {s: rng.standard_normal((1, H)) for s in kernel.STATES}
    G = rng.standard_normal((T, 1, H))
    Gc = {s: rng.standard_normal((1, H)) for s in kernel.STATES[1:]}
    return params, x, init, G, Gc


def preactivations(name, params, x, h_seq):
    """The sigmoid gates' pre-activations the kernel saw (for the test's own claim)."""
    if name == "lstm":
        return [h @ params[f"W_{g}h"].T + xt @ params[f"W_{g}x"].T + params[f"b_{g}"]
                for h, xt in zip(h_seq[:-1], x) for g in "fio"]
    if name == "gru":
        return [h @ params[f"W_{g}h"].T + xt @ params[f"W_{g}x"].T + params[f"b_{g}"]
                for h, xt in zip(h_seq[:-1], x) for g in "rz"]
    return [h @ params["W_fh"].T + xt @ params["W_fx"].T + params["b_f"] for h, xt in zip(h_seq[:-1], x)]


def relative_errors(grads, exact):
    worst = {}
    for key, want in exact.items():
        got = grads[key]
        assert got.shape == want.shape, key
        for idx in np.ndindex(want.shape):
            w = want[idx]
            err = abs(MP.mpf(float(got[idx])) - w)
            worst[key, idx] = float(err / abs(w)) if w != 0 else (0.0 if got[idx] == 0 else np.inf)
    return worst


@pytest.mark.parametrize("name", ["lstm", "gru", "squash"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradients_of_saturated_gates_are_exact_to_12_digits(name, seed):
    """Sigmoid pre-activations between ±20 and ±40: σ′ is 2e−9 … 4e−18 and the
    gradients of those gates are as small, each element within 1e−12 of the exact
    value relative to itself (the tanh form and 1 − σ read off σ missed them by
    up to 100 %)."""
    cell = squash_cell() if name == "squash" else name
    kernel = compile_kernel(cell)
    params, x, init, G, Gc = saturated_instance(kernel, name, seed)
    h, cache = kernel.forward(params, x, **{s + "0": v for s, v in init.items()})
    grads = kernel.backward(params, G, cache, **{f"d{s}T": v for s, v in Gc.items()})
    h_seq = np.concatenate([init["h"][None], h])
    nets = np.abs(np.concatenate([np.ravel(a) for a in preactivations(name, params, x, h_seq)]))
    assert nets.min() >= 20 and nets.max() <= 40, (nets.min(), nets.max())
    exact = exact_gradients(name, params, x, init, G, Gc)
    tiny = [abs(float(v)) for arr in exact.values() for v in arr.ravel()]
    assert min(tiny) < 1e-12 * max(tiny)     # the point: gradients 12 orders below the largest, right to 12 digits
    errors = relative_errors(grads, exact)
    bad = {k: v for k, v in errors.items() if v > 1e-12}
    assert not bad, sorted(bad.items(), key=lambda kv: -kv[1])[:5]


def sigmoid_rnn():
    """A sigmoid gate that is the state itself: its complement has a buffer of its own."""
    cell = Cell("sigmoid_rnn", states=("h",))
    W, U, b = cell.param("W", "H", "H"), cell.param("U", "H", "D"), cell.param("b", "H")
    cell.let("h", sigmoid(W @ cell.prev("h") + U @ cell.input("x") + b))
    return cell


def relu_gated():
    """relu reads its pre-activation, so the gates are not computed in place."""
    from lstm_sym import relu
    cell = Cell("relu_gated", states=("h",))
    V, S = cell.param("V", "H", "H"), cell.param("S", "H", "D")
    W, U, b = cell.param("W", "H", "H"), cell.param("U", "H", "D"), cell.param("b", "H")
    h, x = cell.prev("h"), cell.input("x")
    g = cell.let("g", sigmoid(V @ h + S @ x))
    n = cell.let("n", relu(W @ h + U @ x + b))
    cell.let("h", g * n + (1 - g) * h)
    return cell


@pytest.mark.parametrize("make", [squash_cell, sigmoid_rnn, relu_gated])
def test_kept_complements_agree_with_the_derivation(make):
    """Every way the emitter keeps 1 − σ (stacked gates, a state that is a gate, gates
    not in place, σ inside an equation) against the interpreter of the derivation."""
    cell = make()
    d = derive(cell)
    kernel = compile_kernel(d)
    rng = np.random.default_rng(5)
    T, B, D, H = 5, 2, 3, 4
    params = {k: 0.5 * rng.standard_normal(v.shape) for k, v in kernel.init_params(D, H).items()}
    x, h0, G = rng.standard_normal((T, B, D)), rng.standard_normal((B, H)), rng.standard_normal((T, B, H))
    h, cache = kernel.forward(params, x, h0)
    grads = kernel.backward(params, G, cache)
    summed = {p: 0 for p in params}
    for b in range(B):
        ctx = run_forward(cell, params, [x[t, b] for t in range(T)], {"h": h0[b]})
        ref = run_backward(d, ctx, [G[t, b] for t in range(T)])
        np.testing.assert_allclose(h[:, b], [ctx.env["h", t] for t in range(1, T + 1)], rtol=1e-12)
        np.testing.assert_allclose(grads["h0"][b], ref["h0"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grads["x"][:, b], np.array(ref["x"]), rtol=1e-10, atol=1e-12)
        summed = {p: summed[p] + ref[p] for p in params}
    for p in params:
        np.testing.assert_allclose(grads[p], summed[p], rtol=1e-10, atol=1e-12, err_msg=p)
    source = emit(cell)
    code = "\n".join(line.split("#")[0] for line in source[source.index("def forward"):].splitlines())
    assert "complement=" in code and "1 - sigmoid" not in code
    assert not [g for g in ("h", "g") if f"1 - {g}" in code]
