"""The op table (lstm_sym/ops.py) and the op added through it alone: Abs.

Abs's forward and adjoint are checked against things that did not derive
them: a NumPy forward written here, the complex step through the
interpreter's complex backend, SymPy's own scalar differentiation of the
scalar-expanded forward, and central differences.  A wrong adjoint put into
the table must make these checks fail."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy

from lstm_sym import Cell, derive, sigmoid, tanh
from lstm_sym.evaluate import ComplexBackend, FloatBackend, SympyBackend, loss, run_backward, run_forward
from lstm_sym.ir import Act, Add, Expr, Had, MatVec, Neg, OneMinus, Var, transform
from lstm_sym.ops import OPS, Abs, Op
from lstm_sym.printing.latex import LatexPrinter, latex
from lstm_sym.printing.text import TextPrinter, text
from lstm_sym.verify.field import FieldBackend, Oracle

D, H, T = 2, 3, 3


def abs_cell():
    """h_t = tanh(|W_hh h_{t−1} + W_hx x_t + b_h|) ⊙ |h_{t−1}| + σ(|b_g|)."""
    c = Cell("absrnn", states=("h",))
    W, U, b, g = c.param("W_hh", "H", "H"), c.param("W_hx", "H", "D"), c.param("b_h", "H"), c.param("b_g", "H")
    x, h = c.input(), c.prev("h")
    c.let("h", tanh(abs(W @ h + U @ x + b)) * abs(h) + sigmoid(abs(g)))
    return c


def problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {"W_hh": rng.normal(size=(H, H)), "W_hx": rng.normal(size=(H, D)),
              "b_h": rng.normal(size=H), "b_g": rng.normal(size=H)}
    xs = list(rng.normal(size=(T, D)))
    h0 = rng.normal(size=H)
    G = list(rng.normal(size=(T, H)))
    return params, xs, h0, G


def numpy_forward(params, xs, h0):
    """The abs cell written by hand."""
    h, out = h0, []
    for x in xs:
        net = params["W_hh"] @ h + params["W_hx"] @ x + params["b_h"]
        h = np.tanh(np.abs(net)) * np.abs(h) + 1 / (1 + np.exp(-np.abs(params["b_g"])))
        out.append(h)
    return out


def derived_grads(d, params, xs, h0, G):
    ctx = run_forward(d.cell, params, xs, {"h": h0})
    return run_backward(d, ctx, G)


def complex_step_grads(cell, params, xs, h0, G, step=1e-30):
    """∂L/∂θ = Im L(θ + i·step·e) / step, entry by entry, through the
    interpreter's complex backend: nothing here reads an adjoint rule."""
    out = {}
    init = {"h": h0.astype(complex)}
    for name, p in params.items():
        g = np.zeros(p.shape)
        for idx in np.ndindex(p.shape):
            q = {k: v.astype(complex) for k, v in params.items()}
            q[name][idx] += 1j * step
            ctx = run_forward(cell, q, [x.astype(complex) for x in xs], init, ComplexBackend())
            g[idx] = loss(cell, ctx, G).imag / step
        out[name] = g
    return out


# --- the table itself --------------------------------------------------------------

def test_every_op_has_every_spelling():
    for node, op in OPS.items():
        assert isinstance(op, Op) and op.node is node
        assert callable(op.forward) and callable(op.text) and callable(op.latex) and callable(op.numpy), node
        assert hasattr(TextPrinter, f"_print_{node.__name__}"), node
    for node in (Add, Neg, Had, OneMinus, MatVec, Act, Abs):     # the forward ops
        assert callable(OPS[node].adjoint), node


def test_children_and_rebuild_come_from_fields():
    h, W = Var("h", "state", ("H",), -1), Var("W", "param", ("H", "H"), None)
    e = Add((Had((h, W @ h)), abs(h), OneMinus(h)))
    assert e.children() == (Had((h, W @ h)), Abs(h), OneMinus(h))
    assert Abs(h).children() == (h,) and (W @ h).children() == (W, h) and h.children() == ()
    # rebuilding keeps the non-operand fields and flattens through the smart constructors
    m = MatVec(W, h, True).rebuild([W, h.at(0)])
    assert m == MatVec(W, h.at(0), True)
    flat = transform(Add((h, Neg(h))), lambda n: Add((h, h)) if n == Neg(h) else None)
    assert flat == Add((h, h, h))
    assert transform(abs(h), lambda n: n.at(0) if isinstance(n, Var) else None) == Abs(h.at(0))


def test_abs_is_one_entry_with_its_spellings():
    h = Var("h", "state", ("H",), -1)
    u = Add((h, Var("b", "param", ("H",), None)))
    assert abs(h) == Abs(h)
    assert text(abs(u)) == "|h_{t−1} + b|"
    assert latex(abs(u)) == r"\left|\mathbf{h}_{t-1} + \mathbf{b}\right|"
    assert text(Had((abs(u), h))) == "|h_{t−1} + b| ⊙ h_{t−1}"
    assert OPS[Abs].numpy(abs(u), "u") == "np.abs(u)"


def test_an_op_without_an_entry_is_refused_by_name():
    @dataclasses.dataclass(frozen=True)
    class Twice(Expr):                       # a node nobody registered
        a: object

    h = Var("h", "state", ("H",), 0)
    with pytest.raises(TypeError, match="Twice"):
        TextPrinter().doprint(Twice(h))
    with pytest.raises(TypeError, match="Twice"):
        run_forward(_cell_of(Twice(h)), {"b": np.zeros(1)}, [np.zeros(1)], {"h": np.zeros(1)})


def _cell_of(e):
    c = Cell("bad", states=("h",))
    b = c.param("b", "H")
    c.input()
    c.equations.append((Var("h", "state", ("H",), 0), Add((e, b))))
    return c


# --- Abs, proven by what did not derive it ------------------------------------------

def test_abs_forward_is_numpys():
    params, xs, h0, _ = problem()
    ctx = run_forward(abs_cell(), params, xs, {"h": h0})
    for t, want in enumerate(numpy_forward(params, xs, h0), start=1):
        np.testing.assert_allclose(ctx.env["h", t], want, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_abs_adjoint_against_the_complex_step(seed):
    params, xs, h0, G = problem(seed)
    d = derive(abs_cell())
    got = derived_grads(d, params, xs, h0, G)
    want = complex_step_grads(d.cell, params, xs, h0, G)
    for p in params:
        np.testing.assert_allclose(got[p], want[p], rtol=1e-10, atol=1e-12, err_msg=p)


def test_abs_adjoint_against_central_differences():
    params, xs, h0, G = problem(3)
    d = derive(abs_cell())
    got = derived_grads(d, params, xs, h0, G)
    L = lambda h_init: sum((g * h).sum() for g, h in zip(G, numpy_forward(params, xs, h_init)))
    eps = 1e-6
    fd = np.array([(L(h0 + eps * e) - L(h0 - eps * e)) / (2 * eps) for e in np.eye(H)])
    np.testing.assert_allclose(got["h0"], fd, rtol=1e-6, atol=1e-8)


def test_abs_adjoint_against_sympy_scalar_diff():
    """SymPy differentiates the scalar-expanded forward (|u|′ = sign(u) for real u)."""
    D_, H_, T_ = 1, 2, 2
    rng = np.random.default_rng(4)
    cell = abs_cell()
    shapes = {"W_hh": (H_, H_), "W_hx": (H_, D_), "b_h": (H_,), "b_g": (H_,)}
    syms = {p: np.array(sympy.symbols(f"{p}_0:{int(np.prod(s))}", real=True), dtype=object).reshape(s)
            for p, s in shapes.items()}
    vals = {p: rng.normal(size=s) for p, s in shapes.items()}
    xs, h0, G = list(rng.normal(size=(T_, D_))), rng.normal(size=H_), list(rng.normal(size=(T_, H_)))
    ctx = run_forward(cell, syms, [x.astype(object) for x in xs], {"h": h0.astype(object)}, SympyBackend())
    L = loss(cell, ctx, G)
    point = {s: float(vals[p][i]) for p in shapes for i, s in np.ndenumerate(syms[p])}
    got = derived_grads(derive(cell), vals, xs, h0, G)
    for p in shapes:
        want = np.array([float(sympy.diff(L, s).subs(point)) for s in syms[p].flat]).reshape(shapes[p])
        np.testing.assert_allclose(got[p], want, rtol=1e-10, atol=1e-12, err_msg=p)


def test_a_wrong_abs_adjoint_is_caught(monkeypatch):
    """The checks above can fail: |u|′ = 1 (the sign dropped) in the table is caught."""
    wrong = dataclasses.replace(OPS[Abs], adjoint=lambda g, n, out: [(n.a, g)])
    monkeypatch.setitem(OPS, Abs, wrong)
    params, xs, h0, G = problem(0)
    d = derive(abs_cell())
    got = derived_grads(d, params, xs, h0, G)
    want = complex_step_grads(d.cell, params, xs, h0, G)
    assert any(not np.allclose(got[p], want[p], rtol=1e-6) for p in params)


def test_abs_on_the_batched_evaluator_of_bound():
    from lstm_sym.bound.batched import Backward, Forward
    N = 4
    runs = [problem(s) for s in range(N)]
    params = {p: np.stack([r[0][p] for r in runs]) for p in runs[0][0]}
    xs = np.stack([np.stack(r[1]) for r in runs], axis=1)           # (T, N, D)
    h0 = np.stack([r[2] for r in runs])
    d = derive(abs_cell())
    fw = Forward(d.cell, params, xs, {"h": h0})
    g = np.random.default_rng(9).normal(size=(N, 1, H))
    bw = Backward(d, fw, {"h": g})
    for n, (p, x, h, _) in enumerate(runs):
        np.testing.assert_allclose(fw.env["h", T][n, 0], numpy_forward(p, x, h)[-1], rtol=1e-13)
        # δ_0 = ∂⟨g, h_T⟩/∂h_0, by the complex step through h_0
        dh0 = np.empty(H)
        for i in range(H):
            hc = h.astype(complex)
            hc[i] += 1e-30j
            ctx = run_forward(d.cell, {k: v.astype(complex) for k, v in p.items()},
                              [v.astype(complex) for v in x], {"h": hc}, ComplexBackend())
            dh0[i] = (g[n, 0] * ctx.env["h", T]).sum().imag / 1e-30
        np.testing.assert_allclose(bw.log_norm[0][n, 0], np.log(np.linalg.norm(dh0)), rtol=1e-10)


def test_abs_in_the_field_is_refused_with_its_reason():
    params, xs, h0, _ = problem()
    from lstm_sym.verify.field import GF
    to_gf = lambda a: np.array([GF(int(v * 1000)) for v in np.ravel(a)], dtype=object).reshape(np.shape(a))
    with pytest.raises(ValueError, match="Abs"):
        run_forward(abs_cell(), {k: to_gf(v) for k, v in params.items()}, [to_gf(x) for x in xs],
                    {"h": to_gf(h0)}, FieldBackend(Oracle(0)))


def test_abs_cell_prints_in_every_format():
    d = derive(abs_cell())
    assert "h_t = tanh(|W_hh h_{t−1} + W_hx x_t + b_h|) ⊙ |h_{t−1}| + σ(|b_g|)" in str(d)
    assert "sign(h_{t−1})" in str(d)
    assert r"\left|\mathbf{h}_{t-1}\right|" in d.part("all")._repr_latex_()


def test_float_backend_is_unchanged_for_the_builtin_ops():
    """The interpreter on a built-in cell against a NumPy forward written here."""
    from lstm_sym.cells import get_cell
    cell = get_cell("rnn")
    names = sorted(cell.params)
    rng = np.random.default_rng(0)
    params = {p: rng.normal(size=(H, H) if cell.params[p].shape == ("H", "H")
                            else (H, D) if cell.params[p].shape == ("H", "D") else H) for p in names}
    xs = list(rng.normal(size=(T, D)))
    ctx = run_forward(cell, params, xs, {"h": np.zeros(H)}, FloatBackend())
    W = next(params[p] for p in names if params[p].shape == (H, H))
    U = next(params[p] for p in names if params[p].shape == (H, D))
    b = sum(params[p] for p in names if params[p].shape == (H,))
    h = np.zeros(H)
    for t, x in enumerate(xs, start=1):
        h = np.tanh(W @ h + U @ x + b)
        np.testing.assert_allclose(ctx.env["h", t], h, rtol=1e-14)
