"""What `lstm-sym bound` prints and derivations/bound.md says: blocks of
the document model (printing.document: headings, paragraphs, equations,
tables), rendered as text, LaTeX or Markdown by the one renderer of each.

The equations are nodes, printed by each format's printer: the derivation's
own (the one-step factor is the carry's linear map, transposed, jacobian.py)
and printing.nodes' norms, partials and products for the k-step product and
the norm inequalities around it."""
from __future__ import annotations

import math

import numpy as np
import sympy

from ..ir import Add, AtTime, Delta, OneMinus, Var
from ..printing.base import legend
from ..printing.document import Equations, Heading, Math, Paragraph, Table, render as render_document
from ..printing.latex import latex_text  # noqa: F401  (re-exported)
from ..printing.nodes import AbsValue, Chain, Name, Norm, Over, Paren, Partial, Power, Scalar, Transpose, Words, call
from ..printing.text import TextPrinter
from . import experiments as ex
from .jacobian import Diag, beta_f, one_step_jacobian, rnn_factor

Para = Paragraph                    # the name the bound's modules use

# the symbols the bound speaks (printed by each format's printer)
FPRIME, X, I = Name("f′"), Name("x"), Name("I")
BETA_F, BETA_W = Name("β", "f"), Name("β", "W")
DOTS, T_K = Name("⋯"), Name("t−k")
BETA_PRODUCT = Chain(BETA_F, BETA_W, sep="")       # β_fβ_W, as the tables' headers write it


def _state(name, time):
    return Var(name, "state", ("H",), time)


def chain(term):
    """A jacobian Term as a node: its factors side by side, diag(v) and W or Wᵀ."""
    parts = [f if isinstance(f, Diag) else (Transpose(f.W) if f.transpose else f.W) for f in term.factors]
    body = Chain(*parts) if parts else I
    k = term.coeff
    return body if k == 1 else Chain(Name("−"), body, sep="") if k == -1 else Chain(Scalar(k), body)


def block(terms):
    return Add(tuple(chain(t) for t in terms)) if len(terms) > 1 else chain(terms[0]) if terms else Name("0")


# --- the symbolic part -------------------------------------------------------------

def rnn_equations(d):
    """The rnn's backward step, one-step Jacobian, k-step product and bound."""
    act, v, W = rnn_factor(d)
    s = d.cell.states[0]
    net = dict(d.cell.equations)[_state(s, 0)].a
    # δ of the pre-activation: named after it (rnn: net), or after the gate it makes (s = relu(…): δ_{s,t})
    gate = d.cell.gates.get(net.name)
    delta_net = next((dl, e) for dl, e in d.delta_defs
                     if (dl.name == net.name and not dl.gate) or (dl.gate and dl.name == gate))
    (rec_l, rec_r), = d.recurrences()
    fp = lambda base: call(FPRIME, AtTime(net, base))
    dfac = lambda base: Diag(fp(base))
    h = lambda base, off=0: AtTime(_state(s, off), base)
    dh = lambda base: AtTime(Delta(s, 0), base)
    J = lambda i: Partial(h(i), h(i, -1))
    beta = beta_f(act)[0]
    beta_s = Name(f"{float(beta):.6g}") if isinstance(beta, sympy.Float) else Scalar(beta)
    return [
        (delta_net[0], delta_net[1]),
        (rec_l, rec_r),
        (J("t"), [("=", Chain(Diag(v), W)), ("=", Chain(dfac("t"), W))]),
        (call(FPRIME, X), Scalar(act.derivative_simplified)),
        (dh("k"), [("=", Chain(Transpose(Paren(Chain(J("t"), DOTS, Partial(h("k+1"), h("k"))))), dh("t"))),
                   ("=", Chain(Transpose(W), dfac("k+1"), DOTS, Transpose(W), dfac("t"), dh("t")))]),
        (Norm(dh("k")),
         [("≤", Chain(Norm(dh("t")), Over("∏", Chain(Norm(dfac("i")), Norm(W)), "i=k+1", "t"))),
          ("≤", Chain(Norm(dh("t")), Power(Chain(BETA_F, BETA_W), T_K)))]),
        (BETA_F, [("=", Over("sup", AbsValue(call(FPRIME, X)), "x")), ("=", beta_s)]),
        (BETA_W, [("=", Norm(W, 2)), ("=", call(Name("σ", "max"), W))]),
    ]


def jacobian_equations(d):
    """Every block of ∂s_t/∂s_{t−1}, then (cells with a memory state, read
    off the cell's roles) the k-step direct path of the memory."""
    states = d.cell.states
    blocks = one_step_jacobian(d)
    out = [(Partial(_state(a, 0), _state(b, -1)), block(blocks[a, b]))
           for b in reversed(states) for a in reversed(states)]
    memory = d.cell.roles.get("memory")
    direct = ex.direct_path(d, memory) if memory else []
    if len(direct) != 1 or direct[0].coeff != 1 or len(direct[0].factors) > 1:
        return out
    m = lambda base: AtTime(_state(memory, 0), base)
    lhs = Partial(m("t"), m("k"))
    through = Words("(paths through ", AtTime(_state(states[0], 0), "i"), ")")
    if not direct[0].factors:                   # ∂m_t/∂m_{t−1} = I + …: nothing on the path decays
        out.append((lhs, Add((I, through))))
        out.append((Norm(Over("∏", I, "i=k+1", "t"), 2), Name("1")))
        return out
    f = direct[0].factors[0].v
    body = Diag(AtTime(f, "i"))
    out.append((lhs, Add((Over("∏", body, "i=k+1", "t"), through))))
    if ex.gate_like(f) and not isinstance(f, OneMinus):
        norm = Over("max", Over("∏", Name(f.name, "i,j"), "i"), "j")
    else:
        norm = Chain(Over("max", Over("∏", AbsValue(Name("d", "i,j")), "i"), "j"),
                     Words(", ", Name("d", "i"), " the vector in diag(…)"), sep="")
    out.append((Norm(Over("∏", body, "i=k+1", "t"), 2), norm))
    return out


def beta_text(act):
    beta, how = beta_f(act)
    return (f"{float(beta):.6g}" if isinstance(beta, sympy.Float) else str(beta)), how


def derivation_blocks(d):
    rnn = rnn_factor(d)
    eqs = rnn_equations if rnn else jacobian_equations
    out = [Heading(f"{d.cell.title or d.cell.name}: gradient flow"), Equations(eqs(d))]
    if rnn:
        beta, how = beta_text(rnn[0])
        out.append(Para(
            f"Read off the derivation: δh_{{t−1}} is Wᵀ applied to δh_t ⊙ f′(net_t), so the one-step "
            f"Jacobian is its transpose, diag(f′(net_t)) W, diagonal factor on the left.  δh_k is the "
            f"gradient of the loss at step t alone (no ∂ℓ_i/∂h_i for i < t).  β_f = {beta} by {how}; "
            f"β_W = σ_max(W), which bounds ‖W‖ and ‖Wᵀ‖ alike."
            + "".join("  " + s for s in legend([rnn[0].derivative_simplified]))))
        out.append(Para(
            "The seed writes δ_kᵀ = δ_tᵀ ∏_{i=k}^{t−1} diag[f′(net_i)] W with δ = ∂E/∂net.  With that δ "
            "the step is δnet_{i}ᵀ = δnet_{i+1}ᵀ W diag(f′(net_i)): each factor is W diag[f′(net_i)], "
            "the seed has them in transposed order (its order belongs to δ = ∂E/∂h with i = k+1..t).  "
            "The norm bound survives: ‖AB‖ ≤ ‖A‖‖B‖ in either order."))
        out.append(Para(
            "Pascanu et al. 2013: β_f β_W < 1, i.e. σ_max(W) < 1/γ with γ = β_f (1 for tanh, 1/4 for "
            "sigmoid), is sufficient for vanishing: every δ_k shrinks at least geometrically.  "
            "β_f β_W > 1 is necessary for explosion, not sufficient: f′ is usually far below its sup."))
        return out
    P = TextPrinter()
    kinds = {"gate": [], "identity": [], "other": []}
    for (a, b), terms in one_step_jacobian(d).items():
        for t in terms:
            if a == b and all(isinstance(f, Diag) for f in t.factors):
                kind = ("identity" if not t.factors else
                        "gate" if len(t.factors) == 1 and t.coeff == 1 and ex.gate_like(t.factors[0].v) else "other")
                kinds[kind].append(f"{P.doprint(chain(t))} in {P.doprint(Partial(_state(a, 0), _state(a, -1)))}")
    text = ("Each block is the transpose of the carry's linear map in the cotangents that reach the "
            "states at step t from outside the step, read off the derivation.  ")
    how = {"gate": "a gradient back with no weight matrix and no activation derivative: scaled by a gate alone",
           "identity": "a gradient back unchanged: no weight matrix, no activation derivative, no gate; "
                       "nothing on that path decays",
           "other": "a gradient back with no weight matrix, elementwise factors only"}
    for kind, found in kinds.items():
        if found:
            text += (f"The term{'s' if len(found) > 1 else ''} {', '.join(found)} "
                     f"carr{'y' if len(found) > 1 else 'ies'} {how[kind]}.  ")
    text += ("‖δ_k‖ below is the norm of every state's cotangent at step k together.  The data-dependent "
             "bound uses ‖block‖ ≤ Σ max|diag| σ_max(W) over its terms and ‖J‖₂ ≤ the spectral norm of the "
             "matrix of block bounds; (β_f β_W)^(t−k) belongs to the rnn: gated cells have no such constant.")
    out.append(Para(text))
    return out


# --- the measured part ---------------------------------------------------------------

def signed(b):
    return "0" if b == 0 else f"{b:+g}"


def plain(v):
    return "0" if v == 0 else f"{v:.3g}"


def from_log(log, fmt=plain):
    """fmt(e^log) for any log: within float64's range the value itself, beyond
    it (|log| ≥ 700, about 1e±304) the mantissa and the power of ten read off
    log / ln 10, so that 3^5000 prints as 4.04e+2385, not inf or an OverflowError."""
    log = float(log)
    if not math.isfinite(log) or abs(log) < 700:
        with np.errstate(over="ignore", under="ignore"):
            return fmt(float(np.exp(log)))
    l10 = log / math.log(10)
    e = math.floor(l10)
    m = fmt(10 ** (l10 - e))
    if m == "10":
        m, e = "1", e + 1
    return f"{m}e{e:+d}"


def median_of(logs, fmt=plain):
    return from_log(np.median(logs), fmt)


def max_of(logs, fmt=plain):
    return from_log(np.max(logs), fmt)


def strict(v):
    """3 significant digits, refusing values within 1e-8 (relative) of a rounding edge
    (so the generated document does not flip on another machine)."""
    s = plain(v)
    if v != 0 and np.isfinite(v) and {plain(v * (1 - 1e-8)), plain(v * (1 + 1e-8))} != {s}:
        raise ValueError(f"{v!r} is too close to a rounding edge for a generated document")
    return s


def measurement_blocks(m, fmt=plain):
    rows = []
    for d in ex.distances(m.T):
        r, b = m.log_ratio[d], m.log_data_bound[d]
        with np.errstate(invalid="ignore"):
            tight = r - b
        beta = "—" if m.log_beta_bound is None else median_of(m.log_beta_bound[d], fmt)
        tight = np.nan_to_num(tight, nan=-np.inf)
        rows.append([str(d), median_of(r, fmt), max_of(r, fmt), median_of(b, fmt), beta,
                     median_of(tight, fmt), max_of(tight, fmt)])
    cols = [Math(T_K), [Math(ratio("k", "t")), " median"], "max", "data bound, median",
            [Math(Power(BETA_PRODUCT, T_K)), ", median"], "ratio/bound, median", "ratio/bound, max"]
    pairs = m.trials * m.T
    text = (f"Bound violations: {m.violations(m.log_data_bound)} of {pairs} (trial, distance) pairs "
            f"against the data-dependent bound")
    if m.log_beta_bound is not None:
        text += f", {m.violations(m.log_beta_bound)} against (β_f β_W)^(t−k)"
    lost = int(m.overflowed.sum())
    if lost:
        text += f"; {lost} trial{'s' if lost > 1 else ''} overflowed float64 and {'are' if lost > 1 else 'is'} left out"
    text += (f" (a violation is a bug: it is a theorem; slack {ex.TOL:g} relative for rounding).  "
             "'data bound' is ‖δ_t‖ ∏ (bound on ‖∂s_i/∂s_{i−1}‖) per trial; 'ratio/bound' is its tightness.")
    return [Table(cols, rows), Para(text)]


def regime_para(m, fmt=plain):
    r = ex.regimes(m)
    if r is None:
        return []
    p = m.beta_product
    text = (f"Pascanu's regimes on these trials: β_f β_W = β_f σ_max(W) has median {fmt(float(np.median(p)))} "
            f"(range {fmt(float(p.min()))} to {fmt(float(p.max()))}).  Below 1 (σ_max(W) < 1/γ): "
            f"{r['below']} trials, {r['below_vanished']} vanished (‖δ_0‖ < ‖δ_T‖).  Above 1: {r['above']} "
            f"trials, {r['above_vanished']} of them still vanished")
    if r["example"]:
        b, ratio, i = r["example"]
        text += f", e.g. trial {i}: β_f β_W = {fmt(b)} yet ‖δ_0‖/‖δ_T‖ = {from_log(m.log_ratio[m.T][i], fmt)}"
    return [Para(text + ".")]


def pascanu_table(d, trials, H, T, seed, rhos=(0.5, 0.9, 1.5, 3.0), fmt=plain):
    """Random W with β_f β_W = ρ exactly, on both sides of 1."""
    act = rnn_factor(d)[0]
    rows = []
    for rho in rhos:
        m = ex.measure(d, ex.spectral_instance(d.cell, act, trials, H, T, rho, seed))
        last = m.log_ratio[T]
        rows.append([act.name, fmt(rho), str(trials), str(int((last < 0).sum())), median_of(last, fmt),
                     max_of(last, fmt), from_log(T * math.log(rho), fmt),
                     str(m.violations(m.log_data_bound) + m.violations(m.log_beta_bound))])
    cols = [Math(Name("f")), Math(BETA_PRODUCT), "trials", "vanished", [Math(ratio("0", "T")), " median"],
            "max", Math(Power(BETA_PRODUCT, Name("T"))), "violations"]
    return Table(cols, rows)


def nilpotent_para(d, fmt=plain):
    """β_f β_W = 2 > 1, yet δ_k = 0 exactly two steps back: W² = 0."""
    act = rnn_factor(d)[0]
    a = 2.0 / float(beta_f(act)[0])
    m = ex.rnn_case(d, [[0.0, a], [0.0, 0.0]], [0.3, -0.2], [0.5, -0.5], 4)
    ratios = ", ".join(fmt(float(np.exp(m.log_ratio[k, 0]))) for k in range(1, 5))
    return Para(f"A case above the threshold that still vanishes, for any f: W = [[0, {fmt(a)}], [0, 0]] "
                f"(β_f β_W = 2, but W² = 0), b = (0.3, −0.2), h_0 = (0.5, −0.5), no input: "
                f"‖δ_k‖/‖δ_t‖ for t−k = 1..4 = {ratios}.")


def comparison_blocks(rnn_m, lstm_ms, fmt=plain, d=None):
    """The seeds' picture: ‖∇_{W_k}E‖ relative to the last step, per cell.
    lstm_ms: [(forget-gate bias or None, Measurement)] of the cell `d` (the lstm by default)."""
    cell = d.cell if d is not None else _lstm()
    name = cell.name
    _, gate, bias = ex.memory_roles(cell)
    rows = []
    T = rnn_m.T
    for dist in [0] + [x for x in ex.distances(T) if x < T]:
        row = [str(dist), median_of(rnn_m.log_grad[dist] - rnn_m.log_grad[0], fmt)]
        row += [median_of(m.log_grad[dist] - m.log_grad[0], fmt) for _, m in lstm_ms]
        rows.append(row)
    label = lambda b: [f"{name}, ", Math(bias_is(bias, b))] if b is not None else name
    cols = [Math(T_K), "rnn"] + [label(b) for b, _ in lstm_ms]
    text = ("Median over trials of ‖∇_{W_k}E‖_F / ‖∇_{W_t}E‖_F, the step-k term of the recurrent-weight "
            f"gradient for a loss at the last step t ({name}: {', '.join(ex.recurrent_params(cell))} together), "
            f"same inputs, initial {cell.states[0]} and cotangent for every cell.  ")
    if bias is not None:
        text += (f"The cell state carries a gradient only as far as the forget gate stays open: compare "
                 f"{bias} = 0 ({gate} near 1/2) with {bias} = +3 ({gate} near 0.95).")
    else:
        memory = cell.roles["memory"]
        text += (f"{name} has no forget gate: its cell state {memory} is never scaled down on the way back "
                 f"({memory}_t = {memory}_{{t−1}} + …), so the terms of distant steps keep their size.")
    return [Table(cols, rows), Para(text)]


def _lstm():
    from ..cells import get_cell
    return get_cell("lstm").check()


def bias_is(bias, b):
    """b_f = +3: the forget-gate bias set to b."""
    return Chain(Var(bias, "param", ("H",), None), Name("="), Name(signed(b)))


def ratio(k, t):
    """‖δ_k‖/‖δ_t‖"""
    return Chain(Norm(Name("δ", k)), Norm(Name("δ", t)), sep="/")


def cell_path_blocks(paths, fmt=plain, d=None):
    """paths: [(forget-gate bias or None, direct logs, total logs)] of the cell `d` (the lstm by default)."""
    from ..derivation import derive
    d = d if d is not None else derive("lstm")
    cell = d.cell
    memory, _, bias = ex.memory_roles(cell)
    direct = ex.direct_path(d, memory)
    T = paths[0][1].shape[0] - 1
    rows = []
    for dist in ex.distances(T):
        row = [str(dist)]
        for _, dlogs, total in paths:
            row += [median_of(dlogs[dist], fmt), median_of(total[dist], fmt)]
        rows.append(row)
    if len(direct) == 1 and not direct[0].factors:
        along = Norm(Over("∏", I))
    elif len(direct) == 1 and len(direct[0].factors) == 1 and direct[0].coeff == 1 and ex.gate_like(direct[0].factors[0].v):
        along = Norm(Over("∏", Diag(AtTime(direct[0].factors[0].v, "i"))))
    else:
        along = Norm(Over("∏", Diag(Name("d", "i"))))
    m = lambda base: AtTime(_state(memory, 0), base)
    jac = Norm(Partial(m("t"), m("k")), 2)
    cols = [Math(T_K)]
    for b, _, _ in paths:
        cols += ([Math(along), Math(jac)] if b is None else
                 [[Math(along), ", ", Math(bias_is(bias, b))], [Math(jac), ", ", Math(bias_is(bias, b))]])
    n = paths[0][1].shape[1]
    text = (f"Medians over {n} trials: the direct cell-state path alone and the whole Jacobian "
            f"∂{memory}_t/∂{memory}_k (every path, through {cell.states[0]} as well), computed by carrying the "
            "identity backward.")
    if paths[0][0] is None and len(direct) == 1 and not direct[0].factors:
        text += (f"  With no forget gate the direct path is ∂{memory}_t/∂{memory}_{{t−1}} = I at every step: "
                 "its norm is exactly 1 at every distance and never decays; what the whole Jacobian adds "
                 f"or takes away comes from the paths through {cell.states[0]}.")
    return [Table(cols, rows), Para(text)]


# --- rendering ---------------------------------------------------------------------

def render(blocks, fmt="text"):
    """The blocks as text, LaTeX or Markdown (printing.document)."""
    return render_document(blocks, fmt)
