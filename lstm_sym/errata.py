"""Published or common backward formulas that are wrong, rebuilt as edits of
the derivation, and how far their gradients are from the true ones on a
small example.

The LSTM's: the tutorial (hanbt, 零基础入门深度学习(6) 长短时记忆网络(LSTM), 式7–式14) makes two slips: its gate deltas use
only the path through h_t (δc_t loses the carry δc_{t+1} ⊙ f_{t+1}), and its
input-weight gradients keep only the last step instead of a sum over time.

The other cells' (ERRATA): each slip is a Derivation edited with with_delta,
with_carry or with_grad — the wrong formula is built from the right one (or,
for gru_cho, taken from the PyTorch GRU's derivation), never typed in — and
run by the same interpreter on the same numbers as the derivation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .derivation import derive
from .evaluate import run_backward, run_forward
from .ir import Add, Delta, GradOf, Next, TimeSum, Var, add, factor_common, leaves, transform


def drop_carry(derivation, state):
    """δs_t without the carry Next(s) from step t+1: the path s_t → s_{t+1} lost."""
    ds = derivation.delta_of(state)
    terms = ds.terms if isinstance(ds, Add) else (ds,)
    return derivation.with_delta(state, add(*[t for t in terms if not isinstance(t, Next)]))


def tutorial_variant(derivation):
    """The derivation with the tutorial's two slips."""
    d = drop_carry(derivation, "c")
    for p, v in d.cell.params.items():
        if v.shape == ("H", "D"):                  # input weights W_gx
            d = d.with_grad(p, TimeSum(d.param_grads[p].a, "last"))
    return d


def inline_state_deltas(derivation, eqs):
    """Write δc_t out inside the gate deltas, as the tutorial prints them."""
    dc = derivation.delta_of("c")
    return [(l, transform(r, lambda n: dc if n == Delta("c") else None)) for l, r in eqs]


# --- the new cells' slips, as edits --------------------------------------------------

def _reads(e, names):
    return any(isinstance(leaf, Var) and leaf.name in names for leaf in leaves(e))


def without_terms(e, names):
    """e (a sum) without the terms that read any parameter in `names`."""
    terms = e.terms if isinstance(e, Add) else (e,)
    return add(*[t for t in terms if not _reads(t, names)])


def drop_peepholes(d):
    """δc_t and the carry δc_{t−1} without the peephole terms: the LSTM's formulas
    reused, as if c_{t−1} and c_t reached the gates through nothing but h."""
    peep = {p for p in d.cell.params if p.startswith("p_")}
    d = d.with_delta("c", without_terms(d.delta_of("c"), peep))
    return d.with_carry("c", without_terms(d.carry["c"], peep))


def lstm_forget_delta(d):
    """The LSTM's δ_{f,t} = δc_t ⊙ c_{t−1} ⊙ f_t ⊙ (1 − f_t) reused on the CIFG: it
    forgets that f_t also sets the input gate 1 − f_t (the −c̃_t term)."""
    lstm = derive("lstm")
    return d.with_delta("f", lstm.delta_of("f", gate=True), gate=True)


def mgu_interpolation_only(d):
    """δ_{f,t} from h_t = (1 − f_t) ⊙ h_{t−1} + f_t ⊙ n_t alone (GRU's δ_z with
    z = 1 − f): the path through f_t ⊙ h_{t−1} inside n_t is lost."""
    df = d.delta_of("f", gate=True)
    cut = lambda n: factor_common(without_terms(n, {"W_nh"})) if isinstance(n, Add) else None
    return d.with_delta("f", transform(df, cut), gate=True)


def pytorch_gru_formulas(d):
    """gru_cho run with the PyTorch GRU's backward formulas (lstm_sym/cells/gru.py's
    derivation, b_nh = 0 since Cho has one bias per gate): δ_{r,t}, the carry into
    h_{t−1} and ∂E/∂W_nh as if r_t multiplied W_nh h_{t−1} instead of h_{t−1}."""
    gru = derive("gru")
    fix = lambda e: transform(e, lambda n: without_terms(n, {"b_nh"}) if isinstance(n, Add) else None)
    d = d.with_delta("r", fix(gru.delta_of("r", gate=True)), gate=True)
    d = d.with_carry("h", fix(gru.carry["h"]))
    return d.with_grad("W_nh", fix(gru.param_grads["W_nh"]))


@dataclass(frozen=True)
class Erratum:
    title: str          # the slip, one line
    why: str            # what it loses, one paragraph
    edit: object        # Derivation -> the derivation with the slip
    shows: tuple        # what to print: ("delta", gate) | ("state", s) | ("grad", param)


ERRATA = {
    "lstm_peephole": [Erratum(
        "The peephole terms are dropped from the cell-state delta.",
        "c_{t−1} feeds f_t and i_t through p_f ⊙ c_{t−1} and p_i ⊙ c_{t−1}, and c_t feeds o_t through "
        "p_o ⊙ c_t, so δc gathers p_f ⊙ δ_{f,t+1} + p_i ⊙ δ_{i,t+1} from the next step and p_o ⊙ δ_{o,t} "
        "from its own. Reusing the LSTM's δc (the common slip) loses all three:",
        drop_peepholes, (("state", "c"),))],
    "cifg": [Erratum(
        "The LSTM's forget-gate delta is reused.",
        "With i_t = 1 − f_t the forget gate acts twice in c_t = (1 − f_t) ⊙ c̃_t + f_t ⊙ c_{t−1}; the "
        "LSTM's δ_{f,t} sees only the second:",
        lstm_forget_delta, (("delta", "f"),))],
    "gru_cho": [Erratum(
        "The PyTorch GRU's formulas are used on the Cho GRU.",
        "PyTorch resets after the matrix, r_t ⊙ (W_nh h_{t−1} + b_nh); Cho et al. (and d2l) reset "
        "before it, W_nh (r_t ⊙ h_{t−1}). The forward passes differ only there, and so do three backward "
        "formulas; taking them from lstm_sym/cells/gru.py's derivation (with b_nh = 0) gives:",
        pytorch_gru_formulas, (("delta", "r"), ("state", "h"), ("grad", "W_nh")))],
    "mgu": [Erratum(
        "The forget-gate delta sees only the interpolation.",
        "f_t acts twice: it resets h_{t−1} inside n_t = tanh(W_nh (f_t ⊙ h_{t−1}) + …) and mixes "
        "h_t = (1 − f_t) ⊙ h_{t−1} + f_t ⊙ n_t. Writing δ_{f,t} from the second alone (the GRU's δ_z "
        "with z = 1 − f) drops (W_nhᵀ δ_{n,t}) ⊙ h_{t−1}:",
        mgu_interpolation_only, (("delta", "f"),))],
    "lstm_nofg": [Erratum(
        "The cell-state carry is dropped (the tutorial's slip).",
        "The tutorial's LSTM backward pass lets δc_t see c_t only through h_t (see [lstm.md](lstm.md)). Without a "
        "forget gate the carry it drops is δc_{t+1} itself, undamped: c_t reaches every later step "
        "with weight one, and the slip cuts all of it:",
        lambda d: drop_carry(d, "c"), (("state", "c"),))],
}


def shown_equations(derivation, shows):
    """The printed equations an erratum names, from a (possibly edited) derivation."""
    out = []
    for kind, name in shows:
        if kind == "delta":
            out += [(l, r) for l, r in derivation.gate_deltas() if l == Delta(name, 0, True)]
        elif kind == "state":
            out += [(l, r) for l, r in derivation.recurrences() if l.name == name]
        else:
            out += [(l, r) for l, r in derivation.gradient_equations()
                    if isinstance(l, GradOf) and l.target.name == name]
    return out


# --- numbers -----------------------------------------------------------------------

def example(D=3, H=4, T=5, seed=0, scale=0.5, zero_init=False, cell="lstm"):
    """A random instance of `cell` (float64): params, xs, init, G."""
    cell = derive(cell).cell
    rng = np.random.default_rng(seed)
    dims = {"H": H, "D": D}
    params = {p: scale * rng.standard_normal([dims[s] for s in v.shape]) for p, v in cell.params.items()}
    xs = [rng.standard_normal(D) for _ in range(T)]
    init = {s: (np.zeros(H) if zero_init else rng.standard_normal(H)) for s in cell.states}
    G = [rng.standard_normal(H) for _ in range(T)]
    return params, xs, init, G


def gradients(derivation, params, xs, init, G):
    ctx = run_forward(derivation.cell, params, xs, init)
    return run_backward(derivation, ctx, G)


def central_differences(derivation, params, xs, init, G, name):
    """∂L/∂(name) by central differences of the forward pass alone: the
    checker's own routine, on the cell run as a batch of one."""
    from .verify.batch import one_sequence
    from .verify.differences import central
    from .verify.methods import REGISTRY
    from .verify.reference import reference_module
    states = derivation.cell.states
    prob = one_sequence(params, xs, init, G, states)
    fd = central(reference_module(derivation), prob, name, REGISTRY["central"].step["float64"])
    return fd[0] if name.endswith("0") and name[:-1] in states else fd


def relative_error(a, b):
    """‖a − b‖₂ / ‖b‖₂: the checker's one relative error, in the Euclidean norm the errata print."""
    from .verify.errors import relative_error as rel
    return rel(a, b, norm="2")


def compare(D=3, H=4, T=5, seed=0, zero_init=False, cell="lstm", variant=tutorial_variant):
    """Rows (gradient, slip vs derived, derived vs central differences)."""
    d = derive(cell)
    wrong_d = variant(d)
    params, xs, init, G = example(D, H, T, seed, zero_init=zero_init, cell=cell)
    right = gradients(d, params, xs, init, G)
    wrong = gradients(wrong_d, params, xs, init, G)
    rows = []
    for name in list(params) + [s + "0" for s in d.cell.states]:
        fd = central_differences(d, params, xs, init, G, name)
        rows.append((name, relative_error(wrong[name], right[name]), relative_error(right[name], fd)))
    return rows
