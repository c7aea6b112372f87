"""Is the user's forward the cell?  And if not, which slip makes it so?

The user's h (and c_T, when the cache exposes it) is compared with the cell's
own forward (its generated kernel) on the same parameters, at T = 1 and the
full T, from zero and from nonzero initial states.  A module whose forward
takes no c0 (or h0) is compared from that state = 0: that is what it computes.

A difference is explained only by a cause the tool can test: each candidate
is the cell re-run with transformed parameters or states, or a variant cell,
and it is named only when it then matches the user's forward on every run.
A correct backward of a different forward is not a wrong formula: the
checker says the forward differs, and why, before judging any gradient."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .. import codegen
from ..cells import NAMES, get_cell
from ..ir import Act, Add, Cell, Had, MatVec, OneMinus, Var, transform
from ..layouts import as_cell, gates, nodes, state_args
from ..printing.text import TextPrinter
from .errors import relative_error
from .problem import final_c

_print = TextPrinter().doprint


@dataclass
class ForwardVerdict:
    cell: str
    matches: bool
    first_step: int | None
    cause: str | None
    max_rel: float
    where: str = ""          # the initial states of the run that first differs
    what: str = "h"          # "h", or "c_T (from the cache)" when h matches and c_T does not
    note: str = ""           # how the comparison was made (e.g. from c0 = 0)
    compared: str = ""       # what was compared, for the matching line

    def line(self):
        note = f"; {self.note}" if self.note else ""
        if self.matches:
            return f"forward: the {self.cell} cell ({self.compared}; max rel. {self.max_rel:.0e}){note}"
        where = f", {self.where}" if self.where else ""
        cause = f"most likely cause: {self.cause}" if self.cause else "no tested cause matches"
        return (f"forward: NOT the {self.cell} cell: {self.what} differs from t = {self.first_step} "
                f"(rel. {self.max_rel:.2g}{where}); {cause}{note}")


_KERNELS = {}


def _kernel(cell):
    """The generated kernel of a cell (variants included), compiled once."""
    if id(cell) not in _KERNELS:
        _KERNELS[id(cell)] = (cell, codegen.compile(cell))     # keep cell alive: ids stay unique
    return _KERNELS[id(cell)][1]


_pretty = TextPrinter().name        # c_tilde -> c̃, as the derivation prints it


def match_forward(module, cell, params, x, h0=None, c0=None, tol=1e-6):
    """A ForwardVerdict on module's forward against cell's, on these parameters (our
    names) and x (T, B, D); h0, c0 (B, H) are the nonzero states (random when None or 0).
    tol is on max|Δh| / max|h| (loosen it for float32).  The user's exceptions propagate."""
    cell, x = as_cell(cell), np.asarray(x)
    n = state_args(module.forward, len(cell.states))
    runs, note = _runs(cell, n, x, h0, c0, params)
    seen = [_run(module, params, x[:t], st[:n], user=True) for t, st, _ in runs]
    worst, first = 0.0, None
    for (t, st, where), obs in zip(runs, seen):
        rel, step = _diff(obs, _run(_kernel(cell), params, x[:t], st), tol)
        worst = max(worst, rel)
        if step is not None and (first is None or step[0] < first[0]):
            first = (step[0], where, f"{_last(cell)} (from the cache)" if step[1] else cell.states[0])
    if first is None:
        with_c = f" and {_last(cell)}" if any(c is not None for _, c in seen) else ""
        Ts = " and ".join(f"T = {t}" for t in sorted({t for t, _, _ in runs}))
        states = "zero and nonzero initial states" if n else "zero initial states"
        return ForwardVerdict(cell.name, True, None, None, worst, note=note,
                              compared=f"{cell.states[0]}{with_c} within rel. {tol:g} at {Ts}, from {states}")
    cause = None
    for text, kernel, p_of, s_of in _candidates(module, cell, params, n):
        try:
            if all(_diff(obs, _run(kernel, p_of(params), x[:t], s_of(st)), tol)[1] is None
                   for (t, st, _), obs in zip(runs, seen)):
                cause = text
                break
        except ValueError:          # a transform that does not apply to these shapes
            continue
    return ForwardVerdict(cell.name, False, first[0], cause, worst, first[1], first[2], note)


def _last(cell):
    """c_T, as the cell names its second state."""
    return f"{cell.states[-1]}_T"


def _runs(cell, n, x, h0, c0, params):
    """(T, states, description): T = 1 and full T, zero and nonzero states."""
    T, B, _ = x.shape
    H = next(np.shape(params[p])[0] for p, v in cell.params.items() if v.shape[:1] == ("H",))
    zero, rng = np.zeros((B, H), x.dtype), np.random.default_rng(0)
    nonzero = [s if s is not None and np.any(s) else rng.standard_normal((B, H)).astype(x.dtype)
               for s in [h0, c0][:n]]
    nonzero += [zero] * (len(cell.states) - n)    # a state the forward cannot take is 0 for the cell too
    names = [s + "0" for s in cell.states]
    lengths = sorted({1, T})
    runs = [(t, [zero] * len(cell.states), " = ".join(names) + " = 0") for t in lengths]
    if n:
        runs += [(t, nonzero, "nonzero " + ", ".join(names[:n])) for t in lengths]
    skipped = names[n:]
    note = (f"the forward takes no {', '.join(skipped)}: compared from {' = '.join(skipped)} = 0"
            if skipped else "")
    return runs, note


def _run(module, params, x, states, user=False):
    """(h, c_T or None) of module's forward; c_T only where the cache exposes it."""
    if user:        # copies: a forward that writes into its inputs spoils nothing here
        params, x, states = {k: np.array(v) for k, v in params.items()}, np.array(x), [np.array(s) for s in states]
    h, cache = module.forward(params, x, *states)
    h = np.array(h)             # a copy: the module may reuse its buffers on the next call
    if user and h.shape[:2] != x.shape[:2]:
        raise ValueError(f"forward returned h of shape {h.shape}; expected (T, B, H) with (T, B) = {x.shape[:2]}")
    try:
        c = final_c(cache)
    except (TypeError, IndexError, KeyError):      # a cache whose "c" is something else
        c = None
    return h, None if c is None or np.shape(c) != h.shape[1:] else np.array(c)


def _diff(obs, exp, tol):
    """(relative error, (first step, c_T only?) or None when within tol)."""
    (h, c), (h_ref, c_ref) = obs, exp
    scale = max(float(np.max(np.abs(h_ref))), 1e-300)
    if not np.all(np.isfinite(h)):
        bad = np.flatnonzero(~np.isfinite(h).reshape(len(h), -1).all(axis=1))
        return np.inf, (int(bad[0]) + 1, False)
    per_step = np.array([relative_error(h[t], h_ref[t], floor=scale) for t in range(len(h))])
    rel = float(per_step.max())
    if rel > tol:
        return rel, (int(np.argmax(per_step > tol)) + 1, False)
    if c is not None and c_ref is not None:
        rel_c = relative_error(c, c_ref)
        if not rel_c <= tol:
            return rel_c, (len(h), True)
    return rel, None


# --- the causes the tool can test --------------------------------------------

_same = lambda p: p      # noqa: E731  (the identity transform of parameters or states)


def _candidates(module, cell, params, n):
    """(cause, kernel, params -> params, states -> states), most likely first."""
    kernel = _kernel(cell)
    zeroed = lambda *k: (lambda st: [np.zeros_like(s) if i in k else s for i, s in enumerate(st)])
    for k in range(n):
        yield f"the forward ignores {cell.states[k]}0 (it starts from {cell.states[k]} = 0)", kernel, _same, zeroed(k)
    if n == 2:
        yield "the forward ignores h0 and c0 (it starts from zero states)", kernel, _same, zeroed(0, 1)
    yield from _gate_orders(module, cell, kernel)
    square = [p for p, a in params.items() if np.ndim(a) == 2 and np.shape(a)[0] == np.shape(a)[1]]
    recurrent = [p for p in square if cell.params[p].shape == ("H", "H")]
    flip = lambda ps: (lambda p: {k: (v.T if k in ps else v) for k, v in p.items()})
    ts = lambda ps, t="": ", ".join(_pretty(p) + t for p in ps)
    if recurrent:
        yield (f"the recurrent weights are used transposed ({ts(recurrent, 'ᵀ')} where the cell has {ts(recurrent)})",
               kernel, flip(recurrent), _same)
    if len(square) > len(recurrent):
        yield "every square weight is used transposed (Wᵀ where the cell has W)", kernel, flip(square), _same
    for p in square:
        yield (f"{_pretty(p)} is used transposed ({_pretty(p)}ᵀ where the cell has {_pretty(p)})",
               kernel, flip([p]), _same)
    for text, variant, p_of in _variants(cell):
        yield text, _kernel(variant), p_of, _same


def _gate_orders(module, cell, kernel):
    """Every other order of the gate blocks: the forward reads block A[k] as gate B[k]."""
    declared = getattr(module, "GATE_ORDER", None)
    A = gates(cell, declared)
    ref = "the layout's order" if declared is not None else "the cell's order"
    show = lambda gs: ", ".join(_pretty(g.name) for g in gs)
    # a one-bias gate read as a two-bias one takes its bias split as the adapter
    # splits it (half each) or as layouts.pack does by default (all in "b")
    shares = (0.5, 1.0) if any(g.bh for g in A) else (0.5,)
    for B, share in itertools.product(itertools.permutations(A), shares):
        if list(B) != A:
            moves = "; ".join(f"{_pretty(a.name)}'s parameters act as {_pretty(b.name)}"
                              for a, b in zip(A, B) if a != b)
            yield (f"the gates are used in the order {show(B)} where {ref} is {show(A)} ({moves})",
                   kernel, (lambda B, s: lambda p: _permuted(p, A, B, s))(B, share), _same)


def _permuted(params, A, B, share):
    """The cell's parameters as a forward reading gate A[k]'s block as gate B[k]
    sees them; a one-bias gate's bias b is (share·b, (1 − share)·b) on torch's two sides."""
    p = dict(params)
    for src, dst in zip(A, B):
        for slot in ("h", "x"):
            if getattr(src, slot) and getattr(dst, slot):
                p[getattr(dst, slot)] = params[getattr(src, slot)]
        if src.b is None:
            continue
        pair = (params[src.b], params[src.bh]) if src.bh else (share * params[src.b], (1 - share) * params[src.b])
        if dst.bh:
            p[dst.b], p[dst.bh] = pair
        elif dst.b:
            p[dst.b] = pair[0] + pair[1]
    return p


_VARIANTS = {}


def _variants(cell):
    """(cause, cell to run, params -> params); variant cells built once per cell."""
    if id(cell) not in _VARIANTS:
        _VARIANTS[id(cell)] = (cell, list(_build_variants(cell)))
    return _VARIANTS[id(cell)][1]


def _build_variants(cell):
    eqs = dict((v.name, e) for v, e in cell.equations)
    h = cell.states[0]
    for s in cell.states[1:]:           # h = o ⊙ c instead of o ⊙ tanh(c)
        c = Var(s, "state", ("H",), 0)
        bare = transform(eqs[h], lambda e: e.a if isinstance(e, Act) and e.fn.name == "tanh" and e.a == c else None)
        if bare != eqs[h]:
            yield (f"no tanh on the output: {h}_t = {_print(bare)} where the cell has {_print(eqs[h])}",
                   _rewrite(cell, cell.name + "_no_output_tanh", {h: bare}), _same)
    for g in gates(cell):               # 1 − σ(a) = σ(−a): the gate the other way round is σ of −(its net)
        if any(isinstance(e, OneMinus) and e.a == Var(g.name, "inter", ("H",), 0) for e in nodes(eqs[h])):
            names = [p for p in (g.h, g.x, g.b, g.bh) if p]
            yield (f"the update gate is used the other way round ({_pretty(g.name)}_t and 1 − {_pretty(g.name)}_t "
                   f"swapped in {h}_t)", cell,
                   lambda p, names=names: {k: (-v if k in names else v) for k, v in p.items()})
    forget = getattr(cell, "roles", {}).get("forget_gate")      # declared or inferred by Cell.check()
    f = next((g for g in gates(cell) if g.name == forget), None)
    if f is not None and f.b:
        yield ("the forget-gate bias is 1 larger (TensorFlow's forget_bias = 1.0, added in the forward)",
               cell, lambda p: {**p, f.b: p[f.b] + 1})
    yield from _gru_conventions(cell)


def _gru_conventions(cell):
    """Cho's W_nh (r ⊙ h) where the cell has PyTorch's r ⊙ (W_nh h + b_nh): the built-in
    gru_cho when there is one (its parameters mapped from ours), else the cell rewritten."""
    changed = []

    def cho(e):       # r ⊙ (W h + b)  ->  W (r ⊙ h) + b
        if isinstance(e, Had) and len(e.factors) == 2 and isinstance(e.factors[1], Add):
            r, inner = e.factors
            mv = [t for t in inner.terms if isinstance(t, MatVec)]
            if len(mv) == 1 and mv[0].v.kind == "state":
                rest = [t for t in inner.terms if t is not mv[0]]
                changed.append((e, MatVec(mv[0].W, r * mv[0].v)))
                return Add((changed[-1][1],) + tuple(rest))
        return None
    for v, e in cell.equations:
        new = transform(e, cho)
        if new != e:
            variant = get_cell("gru_cho") if cell.name == "gru" and "gru_cho" in NAMES else None
            p_of = _map_params(cell, variant) if variant is not None else None
            if p_of is None:
                variant, p_of = _rewrite(cell, cell.name + "_cho", {v.name: new}), _same
            old_term, new_term = changed[-1]
            yield (f"another GRU convention (Cho's: {_print(new_term)} where the cell has {_print(old_term)})",
                   variant, p_of)


def _map_params(src, dst):
    """src's parameters -> dst's: the same names carried over; a bias dst has and
    src lacks is the sum of that gate's biases in src (None when that cannot be)."""
    by_gate = {g.name: g for g in gates(src)}
    need = {b: by_gate.get(g.name) for g in gates(dst) for b in (g.b, g.bh) if b and b not in src.params}
    if None in need.values() or any(p not in src.params and p not in need for p in dst.params):
        return None
    total = lambda p, g: sum(p[b] for b in (g.b, g.bh) if b)
    return lambda p: {k: p[k] if k in p else total(p, need[k]) for k in dst.params}


def _rewrite(cell, name, replace):
    """A variant cell: the same parameters and gates, some equations replaced."""
    eqs = [(v, replace.get(v.name, e)) for v, e in cell.equations]
    variant = Cell(name=name, states=cell.states, title=cell.title, params=dict(cell.params), equations=eqs,
                   gates=dict(cell.gates), roles=dict(getattr(cell, "roles", {})))
    variant.input_name = cell.x
    return variant
