"""What `lstm-sym bound` prints and derivations/bound.md says: blocks
(headings, paragraphs, equations, tables) rendered as text, LaTeX or Markdown.

The equations are printed from the derivation: the one-step factor is the
carry's linear map, transposed (jacobian.py); only the k-step product and the
norm inequalities around it are written here."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy

from ..ir import Delta, OneMinus, Var
from ..printing.base import legend
from ..printing.latex import LatexPrinter, scalar_latex
from ..printing.text import TextPrinter, scalar_text
from . import experiments as ex
from .jacobian import Diag, beta_f, one_step_jacobian, rnn_factor


# --- blocks --------------------------------------------------------------------

@dataclass
class Heading:
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Eqs:
    """Equations as (lhs, [(relation, rhs), ...]) in text and in LaTeX."""
    text: list
    latex: list


@dataclass
class Table:
    columns: list       # [(text, latex)]
    rows: list          # [[cell text]]


class TextStyle:
    printer = TextPrinter
    diag = "diag({})"
    T = "ᵀ"
    partial = "∂{}/∂{}"
    norm = "‖{}‖"
    norm2 = "‖{}‖₂"
    prod = "∏_{{i={}}}^{{{}}} {}"
    dots = "⋯"
    fprime = "f′({})"
    beta_f, beta_W = "β_f", "β_W"
    power = "({})^({})"
    sup = "sup_x |{}|"
    sigma = "σ_max({})"
    le = "≤"
    t_k = "t−k"


class LatexStyle:
    printer = LatexPrinter
    diag = r"\operatorname{{diag}}\left({}\right)"
    T = r"^{\top}"
    partial = r"\frac{{\partial {}}}{{\partial {}}}"
    norm = r"\left\lVert {} \right\rVert"
    norm2 = r"\left\lVert {} \right\rVert_2"
    prod = r"\prod_{{i={}}}^{{{}}} {}"
    dots = r"\cdots"
    fprime = r"f'\left({}\right)"
    beta_f, beta_W = r"\beta_f", r"\beta_W"
    power = r"\left({}\right)^{{{}}}"
    sup = r"\sup_x \left|{}\right|"
    sigma = r"\sigma_{{\max}}\left({}\right)"
    le = r"\le"
    t_k = "t-k"


def _state(name, time):
    return Var(name, "state", ("H",), time)


def chain(st, P, term):
    parts = []
    for f in term.factors:
        if isinstance(f, Diag):
            parts.append(st.diag.format(P.doprint(f.v)))
        else:
            parts.append(P.doprint(f.W) + (st.T if f.transpose else ""))
    body = " ".join(parts) or "I"
    k = term.coeff
    return body if k == 1 else f"-{body}" if k == -1 else f"{k} {body}"


def block(st, P, terms):
    return " + ".join(chain(st, P, t) for t in terms) or "0"


# --- the symbolic part -------------------------------------------------------------

def rnn_equations(d, st):
    """The rnn's backward step, one-step Jacobian, k-step product and bound."""
    P = st.printer()
    act, v, W = rnn_factor(d)
    s = d.cell.states[0]
    net = dict(d.cell.equations)[_state(s, 0)].a
    # δ of the pre-activation: named after it (rnn: net), or after the gate it makes (s = relu(…): δ_{s,t})
    gate = d.cell.gates.get(net.name)
    delta_net = next((dl, e) for dl, e in d.delta_defs
                     if (dl.name == net.name and not dl.gate) or (dl.gate and dl.name == gate))
    (rec_l, rec_r), = d.recurrences()
    Wp = P.doprint(W)
    fp = lambda base: st.fprime.format(P.at_base(base, net))
    dfac = lambda base: st.diag.format(fp(base))
    h = lambda base, off=0: P.at_base(base, _state(s, off))
    dh = lambda base: P.at_base(base, Delta(s, 0))
    J = lambda i: st.partial.format(h(i), h(i, -1))
    fprime_x = (scalar_latex if st is LatexStyle else scalar_text)(act.derivative_simplified)
    beta = beta_f(act)[0]
    beta_s = (f"{float(beta):.6g}" if isinstance(beta, sympy.Float) else
              sympy.latex(beta) if st is LatexStyle else str(beta))
    return [
        (P.doprint(delta_net[0]), [("=", P.doprint(delta_net[1]))]),
        (P.doprint(rec_l), [("=", P.doprint(rec_r))]),
        (J("t"), [("=", f"{st.diag.format(P.doprint(v))} {Wp}"), ("=", f"{dfac('t')} {Wp}")]),
        (st.fprime.format("x"), [("=", fprime_x)]),
        (dh("k"), [("=", f"({J('t')} {st.dots} {st.partial.format(h('k+1'), h('k'))}){st.T} {dh('t')}"),
                   ("=", f"{Wp}{st.T} {dfac('k+1')} {st.dots} {Wp}{st.T} {dfac('t')} {dh('t')}")]),
        (st.norm.format(dh("k")),
         [(st.le, st.norm.format(dh("t")) + " " + st.prod.format("k+1", "t",
                                                                  st.norm.format(dfac("i")) + " " + st.norm.format(Wp))),
          (st.le, st.norm.format(dh("t")) + " " + st.power.format(f"{st.beta_f} {st.beta_W}", st.t_k))]),
        (st.beta_f, [("=", st.sup.format(st.fprime.format("x"))), ("=", beta_s)]),
        (st.beta_W, [("=", st.norm2.format(Wp)), ("=", st.sigma.format(Wp))]),
    ]


def jacobian_equations(d, st):
    """Every block of ∂s_t/∂s_{t−1}, then (cells with a memory state, read
    off the cell's roles) the k-step direct path of the memory."""
    P = st.printer()
    states = d.cell.states
    blocks = one_step_jacobian(d)
    out = [(st.partial.format(P.doprint(_state(a, 0)), P.doprint(_state(b, -1))), [("=", block(st, P, ts))])
           for b in reversed(states) for a in reversed(states) for ts in [blocks[a, b]]]
    memory = d.cell.roles.get("memory")
    direct = ex.direct_path(d, memory) if memory else []
    if len(direct) != 1 or direct[0].coeff != 1 or len(direct[0].factors) > 1:
        return out
    m = lambda base: P.at_base(base, _state(memory, 0))
    lhs = st.partial.format(m("t"), m("k"))
    through = (f" + (paths through {P.at_base('i', _state(states[0], 0))})" if st is TextStyle
               else r" + \text{(paths through } \mathbf{" + states[0] + r"}_i\text{)}")
    if not direct[0].factors:                   # ∂m_t/∂m_{t−1} = I + …: nothing on the path decays
        out.append((lhs, [("=", "I" + through)]))
        out.append((st.norm2.format(st.prod.format("k+1", "t", "I")), [("=", "1")]))
        return out
    f = direct[0].factors[0].v
    body = st.diag.format(P.at_base("i", f))
    out.append((lhs, [("=", st.prod.format("k+1", "t", body) + through)]))
    if ex.gate_like(f) and not isinstance(f, OneMinus):
        norm = ("max_j ∏_i {}_{{i,j}}" if st is TextStyle else r"\max_j \prod_i {}_{{i,j}}").format(f.name)
    else:
        norm = ("max_j ∏_i |d_{i,j}|, d_i the vector in diag(…)" if st is TextStyle
                else r"\max_j \prod_i \left|d_{i,j}\right| \text{, } d_i \text{ the vector in diag}")
    out.append((st.norm2.format(st.prod.format("k+1", "t", body)), [("=", norm)]))
    return out


def beta_text(act):
    beta, how = beta_f(act)
    return (f"{float(beta):.6g}" if isinstance(beta, sympy.Float) else str(beta)), how


def derivation_blocks(d):
    rnn = rnn_factor(d)
    eqs = rnn_equations if rnn else jacobian_equations
    out = [Heading(f"{d.cell.title or d.cell.name}: gradient flow"), Eqs(eqs(d, TextStyle), eqs(d, LatexStyle))]
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
                kinds[kind].append(f"{chain(TextStyle, P, t)} in "
                                   f"{TextStyle.partial.format(P.doprint(_state(a, 0)), P.doprint(_state(a, -1)))}")
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
    cols = [("t−k", "$t-k$"), ("‖δ_k‖/‖δ_t‖ median", r"median $\|\delta_k\|/\|\delta_t\|$"),
            ("max", "max"), ("data bound, median", "data bound, median"),
            ("(β_fβ_W)^(t−k), median", r"$(\beta_f\beta_W)^{t-k}$, median"),
            ("ratio/bound, median", "ratio/bound, median"), ("ratio/bound, max", "ratio/bound, max")]
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
    cols = [("f", "$f$"), ("β_fβ_W", r"$\beta_f\beta_W$"), ("trials", "trials"),
            ("vanished", "vanished"), (f"‖δ_0‖/‖δ_T‖ median", r"median $\|\delta_0\|/\|\delta_T\|$"),
            ("max", "max"), ("(β_fβ_W)^T", r"$(\beta_f\beta_W)^T$"), ("violations", "violations")]
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
    label = lambda b: ((f"{name}, {bias} = {signed(b)}", f"{latex_text(name)}, ${_latex_name(bias)} = {signed(b)}$")
                       if b is not None else (name, latex_text(name)))
    cols = [("t−k", "$t-k$"), ("rnn", "rnn")] + [label(b) for b, _ in lstm_ms]
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


def _latex_name(name):
    base, _, sub = name.partition("_")
    return f"{base}_{{{sub}}}" if sub and len(sub) > 1 else name


def cell_path_blocks(paths, fmt=plain, d=None):
    """paths: [(forget-gate bias or None, direct logs, total logs)] of the cell `d` (the lstm by default)."""
    from ..derive import derive
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
        along = ("‖∏ I‖", r"$\|\prod I\|$")
    elif len(direct) == 1 and len(direct[0].factors) == 1 and direct[0].coeff == 1 and ex.gate_like(direct[0].factors[0].v):
        v = direct[0].factors[0].v
        g = f"1 − {v.a.name}_i" if isinstance(v, OneMinus) else f"{v.name}_i"
        along = (f"‖∏diag({g})‖", rf"$\|\prod \operatorname{{diag}}({g.replace('−', '-')})\|$")
    else:
        along = ("‖∏diag(d_i)‖", r"$\|\prod \operatorname{diag}(d_i)\|$")
    jac = (f"‖∂{memory}_t/∂{memory}_k‖₂", rf"$\|\partial {memory}_t/\partial {memory}_k\|_2$")
    cols = [("t−k", "$t-k$")]
    for b, _, _ in paths:
        if b is None:
            cols += [along, jac]
            continue
        b = signed(b)
        cols += [(f"{along[0]}, {bias} = {b}", f"{along[1]}, ${_latex_name(bias)} = {b}$"),
                 (f"{jac[0]}, {bias} = {b}", f"{jac[1]}, ${_latex_name(bias)} = {b}$")]
    n = paths[0][1].shape[1]
    text = (f"Medians over {n} trials: the direct cell-state path alone and the whole Jacobian "
            f"∂{memory}_t/∂{memory}_k (every path, through {cell.states[0]} as well), computed by carrying the "
            "identity backward.")
    if paths[0][0] is None and len(direct) == 1 and not direct[0].factors:
        text += (f"  With no forget gate the direct path is ∂{memory}_t/∂{memory}_{{t−1}} = I at every step: "
                 "its norm is exactly 1 at every distance and never decays; what the whole Jacobian adds "
                 f"or takes away comes from the paths through {cell.states[0]}.")
    return [Table(cols, rows), Para(text)]


# --- renderers ---------------------------------------------------------------------

def render(blocks, fmt="text"):
    return {"text": _text, "latex": _latex, "markdown": _markdown}[fmt](blocks)


def _eq_line(lhs, rels):
    return lhs + "".join(f" {r} {rhs}" for r, rhs in rels)


def _table_text(t):
    cells = [[c[0] for c in t.columns]] + t.rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(t.columns))]
    return "\n".join("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)


def _text(blocks):
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{b.text}\n")
        elif isinstance(b, Para):
            out.append(b.text + "\n")
        elif isinstance(b, Eqs):
            out.append("\n".join("  " + _eq_line(l, r) for l, r in b.text) + "\n")
        else:
            out.append(_table_text(b) + "\n")
    return "\n".join(out)


LATEX_CELL = str.maketrans({"—": "--", "−": "-", "∞": r"$\infty$", "\\": r"\textbackslash{}",
                            **{c: "\\" + c for c in "_%&#$"}, "{": r"\{", "}": r"\}",
                            "^": r"\^{}", "~": r"\~{}"})
LATEX_PREAMBLE = r"% a LaTeX fragment (text mode); it needs \usepackage{amsmath,amssymb}"


def latex_text(s):
    """Plain text as LaTeX text mode: its special characters escaped."""
    return s.translate(LATEX_CELL)


def _latex(blocks):
    """A LaTeX fragment: headings and paragraphs as comments (they are Unicode
    prose), each block of equations one aligned inside \\[ \\], tables as tabular."""
    out = [LATEX_PREAMBLE]
    for b in blocks:
        if isinstance(b, (Heading, Para)):
            out.append("\n".join("% " + line if line else "%" for line in b.text.split("\n")))
        elif isinstance(b, Eqs):
            lines = [l + "".join(f" {'&' if i == 0 else ''}{r} {rhs}" for i, (r, rhs) in enumerate(rels))
                     for l, rels in b.latex]
            out.append("\\[\n\\begin{aligned} " + r" \\ ".join(lines) + " \\end{aligned}\n\\]")
        else:
            spec = "r" * len(b.columns)
            rows = [" & ".join(c[1] for c in b.columns)] + [" & ".join(latex_text(c) for c in r)
                                                              for r in b.rows]
            out.append(rf"\begin{{tabular}}{{{spec}}}" + "\n" + " \\\\\n".join(rows) + " \\\\\n\\end{tabular}")
    return "\n\n".join(out) + "\n"


def _markdown(blocks):
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"## {b.text}\n")
        elif isinstance(b, Para):
            out.append(b.text + "\n")
        elif isinstance(b, Eqs):
            out += [f"$$\n{_eq_line(l, rels)}\n$$\n" for l, rels in b.latex]
        else:
            out.append("| " + " | ".join(c[0] for c in b.columns) + " |\n|" + "---|" * len(b.columns) + "\n"
                       + "\n".join("| " + " | ".join(r) + " |" for r in b.rows) + "\n")
    return "\n".join(out)
