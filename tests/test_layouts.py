"""lstm_sym.layouts: stacking per-gate parameters in any order, and adapting
modules written in torch's layout or batch-first to our contract."""
import importlib.util
import inspect
import itertools
import pathlib
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_sym import layouts
from lstm_sym.cells import get_cell
from lstm_sym.verify import numeric

ROOT = pathlib.Path(__file__).resolve().parents[1]
CELLS = ("rnn", "lstm", "gru")


def random_params(cell, D, H, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    dims = {"D": D, "H": H}
    return {p: rng.standard_normal([dims[s] for s in v.shape]).astype(dtype) for p, v in get_cell(cell).params.items()}


def numeric_kernel(cell):
    """numeric/<cell>.py, the checked-in generated kernel, as a module."""
    spec = importlib.util.spec_from_file_location(f"numeric_{cell}", ROOT / "numeric" / f"{cell}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gates_read_off_the_nets():
    g = {x.name: x for x in layouts.gates("gru")}
    assert g["n"] == layouts.Gate("n", "W_nh", "W_nx", "b_nx", "b_nh")     # b_nh sits beside W_nh h, inside r ⊙ (…)
    assert g["r"] == layouts.Gate("r", "W_rh", "W_rx", "b_r", None)
    assert [x.name for x in layouts.gates("lstm")] == ["f", "i", "c_tilde", "o"]     # the cell's order
    assert [x.name for x in layouts.gates("lstm", "ifgo")] == ["i", "f", "c_tilde", "o"]
    assert layouts.gates("lstm", "ifco") == layouts.gates("lstm", ["i", "f", "c_tilde", "o"])
    assert layouts.gates("rnn") == [layouts.Gate("net", "W", "U", "b")]


@pytest.mark.parametrize("order", ["ifg", "iffo", "ifgx", "ifgoo"])
def test_a_bad_order_is_one_line(order):
    with pytest.raises(ValueError, match="is not an order of cell lstm's gates"):
        layouts.gates("lstm", order)


def test_bad_kind():
    with pytest.raises(ValueError, match="kind 'w'"):
        layouts.pack("lstm", random_params("lstm", 2, 3), "w")


@st.composite
def layout_case(draw):
    cell = draw(st.sampled_from(CELLS))
    names = [g.name for g in layouts.gates(cell)]
    order = draw(st.permutations(names))
    kind = draw(st.sampled_from(["h", "x", "hx", "xh", "b", "bh"]))
    return (cell, order, kind, draw(st.booleans()), draw(st.integers(1, 4)), draw(st.integers(1, 4)),
            draw(st.integers(0, 2 ** 16)), draw(st.sampled_from([np.float64, np.float32, np.complex128])))


@settings(max_examples=200, deadline=None)
@given(layout_case())
def test_pack_unpack_round_trip(case):
    cell, order, kind, transpose, D, H, seed, dtype = case
    p = random_params(cell, D, H, seed, dtype)
    stacked = layouts.pack(cell, p, kind, order, transpose)
    gs = layouts.gates(cell, order)
    G = len(gs)
    width = {"h": H, "x": D, "hx": H + D, "xh": H + D}.get(kind)
    shape = (G * H,) if width is None else ((width, G * H) if transpose else (G * H, width))
    assert stacked.shape == shape and stacked.dtype == dtype
    rows = stacked.T if transpose and stacked.ndim == 2 else stacked
    for k, g in enumerate(gs):              # block k is gate order[k]
        block = rows[k * H:(k + 1) * H]
        if kind in ("h", "x"):
            np.testing.assert_array_equal(block, p[getattr(g, kind)])
        elif kind == "hx":
            np.testing.assert_array_equal(block, np.hstack([p[g.h], p[g.x]]))
        elif kind == "xh":
            np.testing.assert_array_equal(block, np.hstack([p[g.x], p[g.h]]))
        elif kind == "b":
            np.testing.assert_array_equal(block, p[g.b])
        else:
            np.testing.assert_array_equal(block, p[g.bh] if g.bh else 0 * p[g.b])
    back = layouts.unpack(cell, stacked, kind, order, transpose)
    for name, a in back.items():
        if kind == "bh" and name not in {g.bh for g in gs}:
            np.testing.assert_array_equal(a, 0)          # a one-bias gate has nothing on the h side
        else:
            np.testing.assert_array_equal(a, p[name])
    want = {"h": {g.h for g in gs}, "x": {g.x for g in gs}, "b": {g.b for g in gs},
            "bh": {g.bh or g.b for g in gs}}
    want["hx"] = want["xh"] = want["h"] | want["x"]
    assert set(back) == want[kind]


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(CELLS), st.floats(0, 1), st.integers(0, 2 ** 16))
def test_a_shared_bias_splits_between_the_stacks(cell, share, seed):
    """bias_ih + bias_hh is torch's bias, whatever the split."""
    p = random_params(cell, 2, 3, seed)
    total = layouts.pack(cell, p, "b", share=share) + layouts.pack(cell, p, "bh", share=1 - share)
    want = np.concatenate([p[g.b] + (p[g.bh] if g.bh else 0) for g in layouts.gates(cell)])
    np.testing.assert_allclose(total, want, rtol=1e-15, atol=1e-15)


def test_unpack_needs_whole_blocks():
    with pytest.raises(ValueError, match="multiple of 4 rows"):
        layouts.unpack("lstm", np.zeros((7, 3)), "h")


def test_docstring_keras_adapter():
    """The Keras-style example in the module docstring: kernel (D, 4H) order i, f, c, o."""
    p = random_params("lstm", 3, 2)
    K, R, b = (layouts.pack("lstm", p, k, "ifco", transpose=k != "b") for k in "xhb")
    assert K.shape == (3, 8) and R.shape == (2, 8) and b.shape == (8,)
    np.testing.assert_array_equal(K[:, 2:4], p["W_fx"].T)
    back = layouts.unpack("lstm", K, "x", "ifco", transpose=True)
    assert all(np.array_equal(back[k], p[k]) for k in ("W_ix", "W_fx", "W_cx", "W_ox"))


# --- adapt ---------------------------------------------------------------------

def test_unknown_layout_is_one_line():
    m = types.SimpleNamespace(LAYOUT="xyz", PARAMS={}, forward=None, backward=None)
    with pytest.raises(ValueError) as e:
        layouts.adapt(m, get_cell("lstm"))
    assert str(e.value) == ("LAYOUT = 'xyz' is not a layout lstm-sym knows; "
                            "use 'torch' or omit LAYOUT and use the cell's names")


def test_nothing_to_adapt_is_the_module_itself():
    m = numeric_kernel("lstm")
    assert layouts.adapt(m, "lstm") is m


def test_torch_layout_needs_torch_names():
    m = types.SimpleNamespace(LAYOUT="torch", PARAMS={"W_fh": ("H", "H")}, forward=None, backward=None)
    with pytest.raises(ValueError, match="LAYOUT = 'torch' needs PARAMS named weight_ih_l0"):
        layouts.adapt(m, "lstm")


def test_an_adapted_module_needs_its_functions():
    m = types.SimpleNamespace(LAYOUT="torch", PARAMS=dict.fromkeys(layouts.TORCH_NAMES, ()), forward=lambda *a: a)
    with pytest.raises(ValueError, match="needs forward and backward functions"):
        layouts.adapt(m, "lstm")


def batch_first_of(kernel, has_c):
    """The kernel rewritten batch-first, our names: what a BATCH_FIRST user writes."""
    m = types.ModuleType("bf")
    m.BATCH_FIRST, m.PARAMS = True, kernel.PARAMS
    sw = lambda a: np.swapaxes(a, 0, 1)

    def forward(params, x, h0=None, c0=None):
        h, cache = kernel.forward(params, sw(x), h0, c0)
        return sw(h), cache

    def forward_h(params, x, h0=None):
        h, cache = kernel.forward(params, sw(x), h0)
        return sw(h), cache

    def backward(params, dh, cache, dcT=None):
        g = kernel.backward(params, sw(dh), cache, dcT)
        return {**g, "x": sw(g["x"])}

    def backward_h(params, dh, cache):
        g = kernel.backward(params, sw(dh), cache)
        return {**g, "x": sw(g["x"])}
    m.forward, m.backward = (forward, backward) if has_c else (forward_h, backward_h)
    return m


@pytest.mark.parametrize("cell", CELLS)
def test_batch_first_alone(cell):
    kernel = numeric_kernel(cell)
    has_c = cell == "lstm"
    a = layouts.adapt(batch_first_of(kernel, has_c), cell)
    assert list(inspect.signature(a.forward).parameters) == ["params", "x", "h0"] + ["c0"] * has_c
    assert ("dcT" in inspect.signature(a.backward).parameters) == has_c
    prob = numeric.make_problem(kernel, 3, 4, 5, 2, seed=1)
    np.testing.assert_array_equal(numeric.run_forward(a, prob)[0], numeric.run_forward(kernel, prob)[0])
    got, want = numeric.gradients(a, prob), numeric.gradients(kernel, prob)
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-14, atol=1e-14)


def test_signatures_follow_the_users():
    """No c0 in the user's forward, no dcT in its backward: none in the adapter's either."""
    m = types.ModuleType("course")
    m.LAYOUT, m.PARAMS = "torch", dict.fromkeys(layouts.TORCH_NAMES, ())
    m.forward = lambda params, x, h0=None: (np.zeros(x.shape[:2] + (2,)), {})
    m.backward = lambda params, dh, cache: {}
    a = layouts.adapt(m, "lstm")
    assert list(inspect.signature(a.forward).parameters) == ["params", "x", "h0"]
    assert list(inspect.signature(a.backward).parameters) == ["params", "dh", "cache"]
    with pytest.raises(TypeError):
        a.forward({}, np.zeros((1, 1, 1)), None, None)       # c0 is refused, as by the user's own forward
    assert a.PARAMS == {p: v.shape for p, v in get_cell("lstm").params.items()}
    assert a.GATE_ORDER == ("i", "f", "c_tilde", "o")


# --- against torch itself --------------------------------------------------------

def torch_layout_module(cell, batch_first):
    """A real torch.nn.RNN/LSTM/GRU as a numpy-contract module in torch's layout:
    forward through torch, backward through autograd."""
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'lstm-sym[oracle]')")
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    m = types.ModuleType(f"torch_{cell}")
    m.LAYOUT, m.BATCH_FIRST = "torch", batch_first
    m.PARAMS = {"weight_ih_l0": ("G*H", "D"), "weight_hh_l0": ("G*H", "H"), "bias_ih_l0": ("G*H",), "bias_hh_l0": ("G*H",)}
    leaf = lambda a: torch.tensor(np.asarray(a, dtype=float), dtype=torch.float64, requires_grad=True)

    def run(params, x, states):
        H = params["weight_hh_l0"].shape[1]
        net = cls(x.shape[-1], H, batch_first=batch_first, dtype=torch.float64)
        with torch.no_grad():
            for name, value in params.items():
                getattr(net, name).copy_(torch.tensor(value))
        B = x.shape[0] if batch_first else x.shape[1]
        xt = leaf(x)
        st = [leaf(np.zeros((1, B, H)) if s is None else np.asarray(s)[None]) for s in states]
        out, last = net(xt, tuple(st) if len(st) == 2 else st[0])
        cache = {"net": net, "x": xt, "states": st, "out": out, "last": last}
        if len(st) == 2:
            cache["c_n"] = last[1].detach().numpy()
        return out.detach().numpy(), cache

    def grads(params, dh, cache, dcT=None):
        net = cache["net"]
        loss = (cache["out"] * torch.tensor(dh)).sum()
        if dcT is not None:
            loss = loss + (cache["last"][1][0] * torch.tensor(dcT)).sum()
        names = list(params)
        wrt = [getattr(net, n) for n in names] + [cache["x"]] + cache["states"]
        g = [a.detach().numpy() for a in torch.autograd.grad(loss, wrt)]
        out = dict(zip(names, g))
        out["x"], out["h_0"] = g[len(names)], g[len(names) + 1]         # torch's names, h_0 (1, B, H)
        if len(cache["states"]) == 2:
            out["c_0"] = g[-1]
        return out

    if cell == "lstm":
        m.forward = lambda params, x, h0=None, c0=None: run(params, x, [h0, c0])
        m.backward = grads
    else:
        m.forward = lambda params, x, h0=None: run(params, x, [h0])
        m.backward = lambda params, dh, cache: grads(params, dh, cache)
    return m


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_torch_layout_through_adapt_equals_our_kernel(cell, batch_first):
    """torch's own module, in torch's names and layout, adapted: the same h and
    the same gradients, in our names, as numeric/<cell>.py and the torch oracle."""
    from lstm_sym.verify.torch_oracle import torch_gradients
    a = layouts.adapt(torch_layout_module(cell, batch_first), cell)
    kernel = numeric_kernel(cell)
    prob = numeric.make_problem(kernel, 3, 4, 5, 2, seed=3)
    if prob.Gc is None and cell == "lstm":
        prob.Gc = np.random.default_rng(4).standard_normal(prob.h0.shape)
    h_a, h_k = numeric.run_forward(a, prob)[0], numeric.run_forward(kernel, prob)[0]
    np.testing.assert_allclose(h_a, h_k, rtol=0, atol=1e-12)
    got, want = numeric.gradients(a, prob), numeric.gradients(kernel, prob)
    h_o, oracle = torch_gradients(cell, prob.params, prob.x, prob.h0, prob.c0, prob.G, prob.Gc)
    assert set(got) == set(want) == set(oracle)
    scale = max(float(np.max(np.abs(v))) for v in want.values())
    for k in want:
        assert np.shape(got[k]) == np.shape(want[k]), k
        assert np.max(np.abs(got[k] - want[k])) <= 1e-10 * scale, k
        assert np.max(np.abs(got[k] - oracle[k])) <= 1e-10 * scale, k
    np.testing.assert_allclose(h_a, h_o, rtol=0, atol=1e-12)


def test_torch_layout_gradients_are_the_adapters_derivative():
    """Central differences of the adapted forward agree with its backward: the
    half split of a shared bias makes ½(∂/∂bias_ih + ∂/∂bias_hh) exact."""
    a = layouts.adapt(torch_layout_module("gru", True), "gru")
    prob = numeric.make_problem(a, 2, 3, 3, 2, seed=5)
    rows = numeric.check_numeric(a, prob, ["central"])
    assert rows and all(r.ok for r in rows), [str(r) for r in rows if not r.ok]


def test_a_wrong_bias_hh_gradient_shows():
    """bias_hh's gradient counts: a backward that gets only it wrong is caught."""
    m = torch_layout_module("lstm", False)
    right = m.backward
    m.backward = lambda params, dh, cache, dcT=None: {**right(params, dh, cache, dcT), "bias_hh_l0": 0 * params["bias_hh_l0"]}
    a = layouts.adapt(m, "lstm")
    prob = numeric.make_problem(a, 2, 3, 3, 2, seed=6)
    bad = {r.gradient for r in numeric.check_numeric(a, prob, ["central"]) if not r.ok}
    assert bad == {"b_f", "b_i", "b_c", "b_o"}


def test_every_torch_order_is_a_permutation_of_ours():
    for cell, order in layouts.TORCH_ORDER.items():
        names = {g.name for g in layouts.gates(cell)}
        assert {g.name for g in layouts.gates(cell, order)} == names
    assert [g.name for g in layouts.gates("gru", "rzn")] == ["r", "z", "n"]
    assert len(list(itertools.permutations(layouts.gates("lstm")))) == 24
