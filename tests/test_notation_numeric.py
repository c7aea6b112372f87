"""Each notation's printed formulas, evaluated as printed, against the
generated kernel (numeric/<cell>.py) after the change of layout.

The equations evaluated are the ones the printers print (the NotationParts
that render() prints), run by lstm_sym.notation.numeric, an interpreter
of its own in the notation's layout: d2l's rows with a minibatch (X_t is
n × d, W_xf is d × h), colah's concatenated W_f = [W_fh, W_fx] over
[h_{t−1}, x_t], the lecture notes' W^f = [W_fx, W_fh] over [x^t; h^{t−1}].
The kernel's gradients are put in the same layout (transposed, side by
side) and must agree to 1e-12 relative, in float64."""
import dataclasses
import importlib.util
import os

import numpy as np
import pytest

from lstm_sym.derivation import derive
from lstm_sym.ir import Add
from lstm_sym.notation import NotationMismatch, render, rewritten
from lstm_sym.notation.numeric import run, values

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTS = ("forward", "deltas", "bptt", "grads", "terminal")
RTOL = 1e-12


def kernel(name):
    spec = importlib.util.spec_from_file_location(f"kernel_{name}", os.path.join(ROOT, "numeric", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def instance(k, D=3, H=4, T=5, B=3, seed=0):
    rng = np.random.default_rng(seed)
    size = {"H": H, "D": D}
    P = {p: 0.5 * rng.standard_normal([size[s] for s in shape]) for p, shape in k.PARAMS.items()}
    x = rng.standard_normal((T, B, D))
    init = {s: rng.standard_normal((B, H)) for s in k.STATES}
    G = rng.standard_normal((T, B, H))
    Gc = {s: rng.standard_normal((B, H)) for s in k.STATES[1:]}
    return P, x, init, G, Gc


def kernel_gradients(k, P, x, init, G, Gc):
    _, cache = k.forward(P, x, *init.values())
    return k.backward(P, G, cache, *Gc.values())


def as_printed(d, notation, P, x, init, G, Gc, parts=None):
    """The printed equations run in the notation's layout: rows with the whole
    minibatch for d2l, one column per sample (summed) for the others."""
    parts = parts or rewritten(d, notation, PARTS)
    layout = values(d, notation, P)
    if notation == "d2l":
        return run(parts, layout, list(x), init, list(G), Gc)
    grads, dx = {}, []
    for b in range(x.shape[1]):
        g, dxb = run(parts, layout, [xt[b] for xt in x], {s: v[b] for s, v in init.items()},
                     [gt[b] for gt in G], {s: v[b] for s, v in Gc.items()})
        for key, v in g.items():
            grads[key] = grads.get(key, 0) + v if key[0] == "param" else grads.get(key, []) + [v]
        dx.append(np.array(dxb))
    grads = {key: np.array(v) if isinstance(v, list) else v for key, v in grads.items()}
    return grads, np.stack(dx, axis=1)


def relative(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b)


def compare(cell, notation, parts=None):
    d, k = derive(cell), kernel(cell)
    P, x, init, G, Gc = instance(k)
    got, dx = as_printed(d, notation, P, x, init, G, Gc, parts)
    g = kernel_gradients(k, P, x, init, G, Gc)
    want = values(d, notation, {p: g[p] for p in P})          # the kernel's, in the notation's layout
    want.update({("var", s): g[s + "0"] for s in k.STATES})
    assert set(got) == set(want)
    errors = {key: relative(got[key], want[key]) for key in want}
    errors["x"] = relative(dx, g["x"])
    return errors


@pytest.mark.parametrize("notation", ["tutorial", "d2l", "colah", "lecture"])
def test_lstm_printed_gradients_equal_the_kernels(notation):
    errors = compare("lstm", notation)
    # every gradient printed: 12 separate weights and biases (or 4 gate matrices and 4 biases), h_0, c_0, x
    assert len(errors) == (8 if notation in ("colah", "lecture") else 12) + 3
    worst = max(errors, key=errors.get)
    assert errors[worst] < RTOL, (worst, errors[worst])


def test_the_layouts_are_the_notations():
    d, k = derive("lstm"), kernel("lstm")
    P = instance(k)[0]
    d2l = values(d, "d2l", P)
    assert d2l[("param", "W_fx")].shape == (3, 4) and np.array_equal(d2l[("param", "W_fx")], P["W_fx"].T)
    colah = values(d, "colah", P)
    assert np.array_equal(colah[("param", "@f")], np.hstack([P["W_fh"], P["W_fx"]]))
    lecture = values(d, "lecture", P)
    assert np.array_equal(lecture[("param", "@f")], np.hstack([P["W_fx"], P["W_fh"]]))
    assert ("param", "W_fh") not in colah and ("param", "W_fh") not in lecture


FIT = [(c, n) for c in ("rnn", "gru", "gru_cho", "mgu", "lstm_peephole", "cifg", "lstm_nofg")
       for n in ("d2l", "colah", "lecture")]


@pytest.mark.parametrize("cell, notation", FIT)
def test_every_cell_that_fits_prints_right(cell, notation):
    try:
        errors = compare(cell, notation)
    except NotationMismatch:
        pytest.skip(f"{notation} cannot print {cell}")
    worst = max(errors, key=errors.get)
    assert errors[worst] < RTOL, (worst, errors[worst])


def test_what_is_evaluated_is_what_is_printed():
    d = derive("lstm")
    parts = rewritten(d, "d2l", PARTS)
    text = render(d, "d2l", "all")
    for name in ("forward", "deltas", "bptt", "grads"):
        assert str(parts[name]) in text


@pytest.mark.parametrize("notation", ["d2l", "colah", "lecture"])
def test_a_wrong_printed_formula_is_caught(notation):
    """Drop the cell-state carry δc_t ⊙ f_t from the printed δc_{t−1}: the tutorial's slip."""
    d = derive("lstm")
    parts = rewritten(d, notation, PARTS)
    bptt = parts["bptt"]
    (lhs, rhs), = [(l, r) for l, r in bptt.equations if l.ref == ("delta", "c", False)]
    assert isinstance(rhs, Add)
    wrong = [(l, Add(r.terms[:-1]) if l is lhs else r) for l, r in bptt.equations]
    parts = dict(parts, bptt=dataclasses.replace(bptt, equations=wrong))
    errors = compare("lstm", notation, parts)
    assert max(errors.values()) > 1e-3


@pytest.mark.parametrize("spec", ["relu_rnn.cell", "janet.cell", "greff.cell"])
@pytest.mark.parametrize("notation", ["d2l", "colah", "lecture"])
def test_user_cells_print_right_in_every_notation_that_fits(spec, notation):
    """A user's .cell, against its kernel generated in-process (lstm_sym.codegen.compile)."""
    from lstm_sym.cells import load_cell
    from lstm_sym.codegen import compile as compile_kernel
    cell = load_cell(os.path.join(ROOT, "tests", "fixtures", "cells", spec))
    d = derive(cell)
    try:
        parts = rewritten(d, notation, PARTS)
    except NotationMismatch:
        pytest.skip(f"{notation} cannot print {spec}")
    k = compile_kernel(cell)
    P, x, init, G, Gc = instance(k)
    got, dx = as_printed(d, notation, P, x, init, G, Gc, parts)
    g = kernel_gradients(k, P, x, init, G, Gc)
    want = values(d, notation, {p: g[p] for p in P})
    want.update({("var", s): g[s + "0"] for s in k.STATES})
    assert set(got) == set(want)
    errors = {key: relative(got[key], want[key]) for key in want}
    errors["x"] = relative(dx, g["x"])
    worst = max(errors, key=errors.get)
    assert errors[worst] < RTOL, (worst, errors[worst])
