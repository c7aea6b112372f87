"""The output head and the losses: ops of the table (ops.py), the head's
gradients by backprop through them (lstm_sym.network), proven by what did not
derive them — NumPy losses written here differenced centrally, the complex
step through the ops' own forward, SymPy differentiating the scalar loss —
and the refusals of a bad network or bad targets."""
import dataclasses

import numpy as np
import pytest
import sympy

from lstm_sym.evaluate import ComplexBackend, Context, FloatBackend, SympyBackend, evaluate
from lstm_sym.network import DELTA_Y, Y, Z, check_targets, head_derivation, network
from lstm_sym.ops import OPS, HalfSquaredError, Softmax, SoftmaxXent
from lstm_sym.printing.latex import latex
from lstm_sym.printing.text import text

K, H, T = 4, 3, 5


def numpy_loss(kind, Vm, b, hs, ys, last=False):
    """E written by hand: softmax cross-entropy or ½‖z − y‖², summed over the steps."""
    total = 0.0
    steps = [len(hs) - 1] if last else range(len(hs))
    for t in steps:
        z = Vm @ hs[t] + b
        if kind == "xent":
            p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
            total -= ys[t] @ np.log(p)
        else:
            total += 0.5 * np.sum((z - ys[t]) ** 2)
    return total


def problem(kind, seed=0):
    rng = np.random.default_rng(seed)
    Vm, b, hs = rng.normal(size=(K, H)), rng.normal(size=K), rng.normal(size=(T, H))
    if kind == "xent":
        ys = rng.dirichlet(np.ones(K), size=T)            # rows that sum to 1
    else:
        ys = rng.normal(size=(T, K))
    return Vm, b, hs, ys


def derived(net, Vm, b, hs, ys):
    """The head derivation's formulas evaluated at each step: ∂E/∂V, ∂E/∂b_y, ∂ℓ_t/∂h_t."""
    hd = head_derivation(net)
    ctx = Context(FloatBackend(), {"V": Vm, "b_y": b}, K)
    gV, gb, gh = np.zeros_like(Vm), np.zeros_like(b), np.zeros_like(hs)
    steps = [T] if net.loss_at == "last" else range(1, T + 1)
    for t in steps:
        ctx.t = t
        ctx.env["h", t], ctx.env["y", t] = hs[t - 1], ys[t - 1]
        ctx.env["a", t] = Vm @ hs[t - 1] + b
        ctx.deltas["y", True, t] = evaluate(hd.output_delta, ctx)
        gV += evaluate(hd.grads["V"].a, ctx)
        gb += evaluate(hd.grads["b_y"].a, ctx)
        gh[t - 1] = evaluate(hd.into_top, ctx)
    return gV, gb, gh


def central(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


@pytest.mark.parametrize("loss_at", ["all", "last"])
@pytest.mark.parametrize("loss", ["xent", "mse"])
def test_head_gradients_match_central_differences_of_a_hand_written_loss(loss, loss_at):
    net = network("lstm", loss=loss, loss_at=loss_at)
    Vm, b, hs, ys = problem(loss)
    gV, gb, gh = derived(net, Vm, b, hs, ys)
    last = loss_at == "last"
    np.testing.assert_allclose(gV, central(lambda v: numpy_loss(loss, v, b, hs, ys, last), Vm), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(gb, central(lambda v: numpy_loss(loss, Vm, v, hs, ys, last), b), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(gh, central(lambda v: numpy_loss(loss, Vm, b, v, ys, last), hs), rtol=1e-7, atol=1e-9)
    if last:      # many-to-one: only step T receives an output error
        assert np.all(gh[:-1] == 0) and np.any(gh[-1] != 0)


@pytest.mark.parametrize("op", [SoftmaxXent, HalfSquaredError])
def test_each_loss_rule_is_the_complex_step_of_its_own_forward(op):
    rng = np.random.default_rng(3)
    z = rng.normal(size=K)
    y = rng.dirichlet(np.ones(K))
    node = op(Z, Y)
    ctx = Context(ComplexBackend(), {}, K)
    ctx.t = 1
    ctx.env["y", 1] = y.astype(complex)
    step = np.zeros(K)
    for k in range(K):
        zz = z.astype(complex)
        zz[k] += 1e-30j
        ctx.env["a", 1] = zz
        step[k] = evaluate(node, ctx).imag / 1e-30
    acc = {}
    from lstm_sym.ops import backprop
    backprop(node, None, None, acc)
    real = Context(FloatBackend(), {}, K)
    real.t = 1
    real.env["a", 1], real.env["y", 1] = z, y
    np.testing.assert_allclose(evaluate(acc[Z][0], real), step, rtol=1e-12, atol=1e-14)


def test_the_xent_rule_is_what_sympy_differentiates():
    zs = sympy.symbols("z0:3", real=True)
    ys = [sympy.Rational(1, 2), sympy.Rational(1, 3), sympy.Rational(1, 6)]
    ctx = Context(SympyBackend(), {}, 3)
    ctx.t = 1
    ctx.env["a", 1] = np.array(zs, dtype=object)
    ctx.env["y", 1] = np.array(ys, dtype=object)
    ell = evaluate(SoftmaxXent(Z, Y), ctx)
    rule = evaluate(Softmax(Z), ctx) - ctx.env["y", 1]
    point = {z: v for z, v in zip(zs, (0.3, -1.2, 2.0))}
    for k, z in enumerate(zs):
        assert abs(float(sympy.diff(ell, z).subs(point)) - float(rule[k].subs(point))) < 1e-13


def test_a_wrong_rule_in_the_table_is_caught(monkeypatch):
    """softmax(z) without − y: the central differences above must see it."""
    wrong = dataclasses.replace(OPS[SoftmaxXent], adjoint=lambda g, n, out: [(n.a, Softmax(n.a))])
    monkeypatch.setitem(OPS, SoftmaxXent, wrong)
    net = network("lstm", loss="xent")
    Vm, b, hs, ys = problem("xent")
    gV, _, _ = derived(net, Vm, b, hs, ys)
    assert not np.allclose(gV, central(lambda v: numpy_loss("xent", v, b, hs, ys), Vm), rtol=1e-4)


def test_the_head_prints_as_the_seeds_write_it():
    hd = head_derivation(network("lstm", loss="xent"))
    assert text(hd.output_delta) == "softmax(a_t) − y_t"
    assert text(hd.into_top) == "Vᵀ δ_{y,t}"
    assert text(hd.grads["V"]) == "Σ_{t=1}^{T} δ_{y,t} h_tᵀ"
    assert text(hd.grads["b_y"]) == "Σ_{t=1}^{T} δ_{y,t}"
    assert r"\operatorname{softmax}" in latex(hd.output_delta)
    assert text(head_derivation(network("lstm", loss="mse")).output_delta) == "a_t − y_t"
    assert text(SoftmaxXent(Z, Y)) == "−⟨y_t, log softmax(a_t)⟩"
    assert text(HalfSquaredError(Z, Y)) == "½‖a_t − y_t‖²"


def test_softmax_alone_has_no_rule():
    from lstm_sym.ops import backprop
    with pytest.raises(ValueError, match="softmax cross-entropy"):
        backprop(Softmax(Z), DELTA_Y, None, {})


def test_the_exact_proofs_field_runs_the_head_with_its_uninterpreted_exp():
    from lstm_sym.verify.field import GF, FieldBackend, Oracle
    oracle = Oracle(3)
    ctx = Context(FieldBackend(oracle), {}, K)
    ctx.t = 1
    a = np.array([GF(v) for v in (5, 11, 2**40)][:K] + [GF(7)] * (K - 3), dtype=object)
    y = np.array([GF(1)] + [GF(0)] * (K - 1), dtype=object)
    ctx.env["a", 1], ctx.env["y", 1] = a, y
    p = evaluate(Softmax(Z), ctx)
    assert sum(p) == GF(1)                              # softmax sums to 1 in the field too
    assert p[0] * sum(GF(oracle.exp(v.v)) for v in a) == GF(oracle.exp(5))
    want = GF(oracle.log(sum(GF(oracle.exp(v.v)) for v in a).v)) - a[0]
    assert evaluate(SoftmaxXent(Z, Y), ctx) == want     # −⟨y, log softmax a⟩ for a one-hot y


@pytest.mark.parametrize("kw, says", [
    (dict(loss="hinge"), "unknown loss 'hinge': choose one of mse, xent"),
    (dict(head="tanh"), "unknown head 'tanh'"),
    (dict(head="softmax", loss="mse"), "loss mse needs head linear"),
    (dict(loss_at="first"), "unknown loss position 'first'"),
    (dict(layers=0), "layers must be a whole number of at least 1, got 0"),
    (dict(layers=True), "layers must be a whole number"),
    (dict(layers=1.5), "layers must be a whole number"),
])
def test_a_bad_network_is_refused_by_name(kw, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        network("lstm", **kw)


def test_targets_are_checked_and_class_indices_become_one_hot():
    net = network("lstm", loss="xent")
    one_hot = check_targets(net, np.array([[0, 2], [1, 1], [3, 0]]), T=3, B=2, K=4)
    assert one_hot.shape == (3, 2, 4) and np.all(one_hot.sum(-1) == 1) and one_hot[0, 1, 2] == 1
    last = network("lstm", loss="xent", loss_at="last")
    assert check_targets(last, np.array([1, 3]), T=3, B=2, K=4).shape == (1, 2, 4)
    mse = network("lstm", loss="mse", loss_at="last")
    assert check_targets(mse, np.zeros((2, 1)), T=3, B=2, K=1).shape == (1, 2, 1)


@pytest.mark.parametrize("kind, targets, says", [
    ("xent", np.array([[0, 4]] * 3), "targets holds class 4, outside 0..3"),
    ("xent", np.array([[-1, 0]] * 3), "targets holds class -1"),
    ("xent", np.zeros((3, 3), int), r"targets has shape \(3, 3\), expected class indices \(T, B\) = \(3, 2\)"),
    ("mse", np.zeros((3, 2, 5)), r"targets has shape \(3, 2, 5\) and dtype float64, expected floats "
                                 r"\(T, B, K\) = \(3, 2, 4\)"),
    ("mse", np.full((3, 2, 4), np.nan), "targets holds NaN"),
    ("xent", np.full((3, 2, 4), 0.5), "rows that sum to 1"),
    ("xent", np.broadcast_to([1.5, -0.5, 0.0, 0.0], (3, 2, 4)), r"probabilities in \[0, 1\]; targets\[0, 0, 0\] is 1.5"),
])
def test_bad_targets_are_refused_with_their_shape(kind, targets, says):
    with pytest.raises(ValueError, match=says):
        check_targets(network("lstm", loss=kind), targets, T=3, B=2, K=4)
