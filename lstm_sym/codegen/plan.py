"""What the emitter decides about a cell before it prints a line.

Everything here is read off the cell's equations and its derivation:

- gates: equations v = f(a) with a named pre-activation a.  Their outputs are
  stacked in one buffer, gate_seq (G, T, B, H), ordered so that gates with
  the same activation computed at the same time sit side by side (one call
  each), and so that every group of weights below reads a consecutive block;
- groups: the products W v with a parameter W that share v (x_t, or a state
  s_{t−1}).  Each group is one stacked GEMM: for x_t once for all steps,
  written straight into the gates' buffer, which then accumulates each
  pre-activation in place; for s_{t−1} once per step;
- stored values: the per-step vectors that the weight gradients sum over time
  (δ_{g,t}, δ_{n,t} ⊙ r_t, ...), kept for all t in delta_seq (S, T, B, H) so
  that each group's weight gradients are one GEMM after the backward loop;
- cached values: forward subexpressions the backward pass reads again
  (tanh(c_t), W_nh h_{t−1} + b_nh), kept from the forward pass;
- complements: 1 − g_t for a sigmoid gate g wherever the derivation reads it
  (σ′ = g_t ⊙ (1 − g_t), (1 − z_t) ⊙ n_t), kept beside g_t in complement_seq
  and computed with it as σ(−net_g): 1 − g_t subtracted from g_t ≈ 1 would
  keep none of its digits.  The complex-safe variant reads 1 − g_t as written.
"""
from __future__ import annotations

import builtins
from dataclasses import dataclass, field

from .. import activations
from ..ir import Act, Add, Delta, Had, MatVec, Neg, OneMinus, Outer, TimeSum, Var, leaves, transform
from .names import RESERVED, Names, helper_names, name_locals, nodes


def forward_only(e):
    """True if e reads only forward values (no delta, no loss term, no carry)."""
    return all(isinstance(leaf, Var) for leaf in leaves(e))


def precise_sigmoid(fn):
    """True for the built-in σ, whose generated helper also gives 1 − σ = σ(−a)."""
    builtin = activations.BUILTIN.get(fn.name)
    return fn.name == "sigmoid" and builtin is not None and builtin.expr == fn.expr


def sigmoid_complement(e):
    """True if e is 1 − σ(u) for the built-in σ."""
    return isinstance(e, OneMinus) and isinstance(e.a, Act) and precise_sigmoid(e.a.fn)


def terms(e):
    if e is None:
        return []
    return list(e.terms) if isinstance(e, Add) else [e]


@dataclass
class Gate:
    out: str            # the gate's output variable (f)
    net: str            # its pre-activation (net_f)
    fn: object          # the activation
    level: int          # activations between it and x_t, s_{t−1}, plus one
    is_state: bool      # the output is a state (rnn: h_t = tanh(net_t))
    xslot: int = None   # its pre-activation's W x_t in the x group, if any


@dataclass
class Group:
    """Products W v sharing v: one stacked GEMM."""
    key: str            # "x" or the state's name
    vec: Var            # x_t or s_{t−1}
    weights: list = field(default_factory=list)     # slot order
    stack: str = ""     # the stacked weights' name in the generated code
    proj: str = ""      # the products' name (h_proj; x_proj for x products outside the gates)
    rows: str = ""      # v for all steps as rows (T·B, ·), for the weight gradients


@dataclass
class Run:
    """Consecutive slots handled by one NumPy call."""
    start: int
    stop: int

    def __len__(self):
        return self.stop - self.start

    def code(self, size):
        """The subscript for this run in an axis of `size` slots (None: all of it)."""
        if self.start == 0 and self.stop == size:
            return None
        return f"{self.start}:{self.stop}" if len(self) > 1 else str(self.start)


def runs(pairs):
    """Split (i, j) pairs into runs where both indices go up by one together."""
    out = []
    for i, j in pairs:
        if out and out[-1][0].stop == i and out[-1][1].stop == j:
            out[-1][0].stop += 1
            out[-1][1].stop += 1
        else:
            out.append((Run(i, i + 1), Run(j, j + 1)))
    return out


@dataclass
class Plan:
    cell: object
    derivation: object
    exprs: dict                 # forward var name -> expr
    gates: list                 # Gate, in buffer order (state-valued gates last)
    in_place: bool              # pre-activations accumulate where the gate's output goes
    groups: dict                # key -> Group (x first, then states)
    x_extra: list               # x slots outside the gates' pre-activations (their own x_proj)
    folded: dict                # x slot -> [bias names] added right after the input GEMM
    net_runs: list              # (gate Run, group key, group slot Run): W_gh s_{t−1} added at once
    schedule: list              # forward steps: ("acts", level) | ("nets",) | ("eq", name)
    cached: dict                # forward node -> name (the backward pass reads it)
    cached_vars: list           # other intermediates the backward pass reads
    stored: list                # backward values kept for all t, in delta_seq order
    stored_names: list
    x_read_back: dict           # W x_t outside the gates that the backward pass reads -> its x_proj slot
    right: dict                 # forward value used as a weight gradient's right factor -> name
    grad_terms: dict            # param -> [("outer", left, right) | ("sum", value, None)]
    names: Names
    local: dict = field(default_factory=dict)     # cell name -> identifier
    helpers: dict = field(default_factory=dict)   # activation name -> helper function name
    maps: dict = field(default_factory=dict)      # (scalar expr, its variable) -> helper name
    acts: dict = field(default_factory=dict)      # activation name -> Activation
    complements: dict = field(default_factory=dict)   # sigmoid gate -> its slot in complement_seq
    #                                                   (None: a state, with a buffer of its own)
    factors: dict = field(default_factory=dict)   # forward-only factor of a delta -> its name
    delta_exprs: list = field(default_factory=list)   # (Delta, expr) with those factors grouped

    @property
    def gate_index(self):
        return {g.out: k for k, g in enumerate(self.gates)}

    def gate_of_net(self, net):
        return next((k for k, g in enumerate(self.gates) if g.net == net), None)

    @property
    def stacked_gates(self):
        """Gates whose outputs live in gate_seq (state-valued ones live in their state's buffer)."""
        return [g for g in self.gates if not g.is_state]


def _levels(cell, gate_outs):
    level = {}
    for v, e in cell.equations:
        deps = [leaf.name for leaf in leaves(e) if isinstance(leaf, Var) and leaf.time == 0
                and leaf.kind in ("inter", "state")]
        base = max((level[d] for d in deps if d in level), default=0)
        level[v.name] = base + 1 if v.name in gate_outs else base
    return level


def _group_key(cell, v):
    """The group a product's vector belongs to, or None (a product of its own)."""
    if isinstance(v, Var) and v.kind == "input" and v.time == 0:
        return "x"
    if isinstance(v, Var) and v.kind == "state" and v.time == -1:
        return v.name
    return None


def _product(cell, t):
    """(group key, W) if t is a product W v of a group's vector, else None."""
    if isinstance(t, MatVec) and isinstance(t.W, Var) and t.W.kind == "param" and not t.transpose:
        key = _group_key(cell, t.v)
        if key is not None:
            return key, t.W.name
    return None


@dataclass
class GradientReads:
    """What the weight gradients read: the per-step values summed over time."""
    stored: list            # backward values kept for all t (sorted later, group by group)
    right: dict             # forward values used as a right factor -> name
    terms: dict             # param -> [("outer", left, right) | ("sum", value, None)]


@dataclass
class Factors:
    """The forward-only part of each product in a delta (σ′, tanh′, the gates
    multiplying it), computed in the forward pass while its values are at hand,
    so that each delta is one product per term in the backward pass."""
    deltas: list            # (Delta, expr): the derivation's, each such part one nested Had
    owner: dict             # factor -> the Delta it serves (factors in first-use order)


def _cheap(e):
    """A factor the backward pass reads as it is: a forward value, or 1 − a gate."""
    return isinstance(e, Var) or (isinstance(e, OneMinus) and isinstance(e.a, Var))


def _factors(d):
    owner = {}

    def split(term, dd):
        sign = isinstance(term, Neg)
        body = term.a if sign else term
        if not isinstance(body, Had):
            return term
        ahead = [f for f in body.factors if forward_only(f)]
        behind = [f for f in body.factors if not forward_only(f)]
        if not ahead or not behind or (len(ahead) == 1 and _cheap(ahead[0])):
            return term
        factor = ahead[0] if len(ahead) == 1 else Had(tuple(ahead))
        owner.setdefault(factor, dd)
        grouped = Had(tuple(behind) + (factor,))
        return Neg(grouped) if sign else grouped

    deltas = []
    for dd, e in d.delta_defs:
        ts = [split(t, dd) for t in terms(e)]
        deltas.append((dd, ts[0] if len(ts) == 1 else Add(tuple(ts))))
    return Factors(deltas, owner)


@dataclass
class BackwardReads:
    """The forward values the backward pass reads again."""
    cached: dict            # forward node -> name
    cached_vars: list       # other intermediates, by name
    in_place: bool          # pre-activations may accumulate where the gate's output goes
    x_read_back: dict       # W x_t outside the gates -> its x_proj slot
    exprs: list             # every expression the backward pass evaluates


def _find_gates(cell, exprs):
    """The gates, and each gate's natural place: (level, activation, equation order)."""
    index = {v.name: k for k, (v, _) in enumerate(cell.equations)}
    raw = [(v.name, e) for v, e in cell.equations
           if isinstance(e, Act) and isinstance(e.a, Var) and e.a.time == 0 and e.a.name in exprs]
    level = _levels(cell, {name for name, _ in raw})
    fn_order = list(dict.fromkeys(e.fn.name for _, e in raw))
    gates = [Gate(name, e.a.name, e.fn, level[name], name in cell.states) for name, e in raw]
    natural = {g.out: (g.level, fn_order.index(g.fn.name), index[g.out]) for g in gates}
    return gates, natural, level


def _gradient_reads(d):
    stored, right, grad_terms = [], {}, {}

    def store(e):
        if e not in stored:
            stored.append(e)
        return e

    for p, g in d.param_grads.items():
        if g is None:
            continue
        if not isinstance(g, TimeSum) or g.steps != "all":
            last = " (the last step only)" if getattr(g, "steps", "") == "last" else ""
            raise ValueError(f"codegen needs ∂E/∂{p} as a sum over all steps{last}")
        grad_terms[p] = []
        for term in terms(g.a):
            if isinstance(term, Outer):
                grad_terms[p].append(("outer", store(term.a), term.b))
                if _group_key(d.cell, term.b) is None:
                    right.setdefault(term.b, None)
            else:
                grad_terms[p].append(("sum", store(term), None))
    return GradientReads(stored, right, grad_terms)


def _find_groups(cell, grad_terms):
    """The products with x_t and with each s_{t−1}, and the stored value each
    weight's gradient reads (its cotangent)."""
    groups = {"x": Group("x", Var(cell.x, "input", ("D",), 0))}
    for s in cell.states:
        groups[s] = Group(s, Var(s, "state", ("H",), -1))
    cotangent = {}         # (group key, W) -> the stored value its weight gradient reads
    for _, e in cell.equations:
        for n in nodes(e):
            kw = _product(cell, n)
            if kw and kw[1] not in groups[kw[0]].weights:
                groups[kw[0]].weights.append(kw[1])
                for kind, left, r in grad_terms.get(kw[1], []):
                    if kind == "outer" and r == n.v:
                        cotangent[kw] = left
    return {k: g for k, g in groups.items() if g.weights}, cotangent


def _order(stored, gates, groups, cotangent, natural):
    """Stored values ordered so that each group's cotangents are consecutive (x
    only, shared by x and a state group, state groups only, the rest); gates in
    the order of their deltas (state-valued gates last).  Both sorted in place."""
    member = {key: {cotangent.get((key, W)) for W in g.weights} for key, g in groups.items()}

    def gate_of_value(e):
        if isinstance(e, Delta):
            for g in gates:
                if (e.gate and g.out == e.name) or (not e.gate and g.net == e.name):
                    return g
        return None

    def value_key(e):
        in_x = e in member.get("x", set())
        in_state = any(e in m for key, m in member.items() if key != "x")
        cls = (0 if not in_state else 1) if in_x else (2 if in_state else 3)
        g = gate_of_value(e)
        return (cls, natural[g.out] if g else (99,), first_seen.index(e))

    first_seen = list(stored)
    stored.sort(key=value_key)
    pos = {g.out: next((k for k, e in enumerate(stored) if gate_of_value(e) is g), len(stored))
           for g in gates}
    gates.sort(key=lambda g: (g.is_state, pos[g.out], natural[g.out]))


def _slots(cell, exprs, gates, groups, stored, cotangent):
    """The weights' slots in their stacks: x slots are the gates' own W x_t in
    gate order, then the rest (a W x_t used more than once belongs to no gate:
    it is kept in x_proj); state slots by their cotangent.  Returns x_extra."""
    x_count = {}
    for _, e in cell.equations:
        for n in nodes(e):
            kw = _product(cell, n)
            if kw and kw[0] == "x":
                x_count[kw[1]] = x_count.get(kw[1], 0) + 1
    by_cotangent = lambda key: (lambda W: stored.index(cotangent[key, W]) if (key, W) in cotangent
                                else len(stored))
    xg = groups.get("x")
    if xg:
        own = []
        for g in gates:
            xs = [_product(cell, t)[1] for t in terms(exprs[g.net]) if _product(cell, t) and
                  _product(cell, t)[0] == "x"]
            if len(xs) == 1 and x_count[xs[0]] == 1:
                own.append(xs[0])
                g.xslot = len(own) - 1
        xg.weights = own + sorted((W for W in xg.weights if W not in own), key=by_cotangent("x"))
    for key, g in groups.items():
        if key != "x":
            g.weights.sort(key=by_cotangent(key))
    return list(range(sum(1 for g in gates if g.xslot is not None), len(xg.weights))) if xg else []


def _backward_reads(d, exprs, gates, groups, x_extra, gr, precise, fac):
    """What the backward pass and the delta factors (computed at the end of each
    forward step) read again; a factor counts as read where it reads."""
    cell = d.cell
    forward_nodes = {n for _, e in cell.equations for n in nodes(e)}
    opaque = lambda e: transform(e, lambda n: Var("factor", "inter", ("H",), None) if n in fac.owner else None)
    backward_exprs = [opaque(e) for _, e in fac.deltas] + list(fac.owner)
    backward_exprs += [e for e in d.carry.values() if e is not None]
    backward_exprs += [d.input_error] if d.input_error is not None else []
    backward_exprs += list(gr.stored) + list(gr.right)
    cached, read_vars = {}, set()

    def visit(e):
        if forward_only(e) and not isinstance(e, Var):
            if e in forward_nodes and any(isinstance(n, (Act, MatVec)) for n in nodes(e)):
                cached.setdefault(e, None)
                return
            if precise and sigmoid_complement(e) and e.a in forward_nodes:
                cached.setdefault(e, None)      # 1 − σ(u), kept beside σ(u) and computed with it
                return
        if isinstance(e, Var):
            read_vars.add(e)
            return
        for k in e.children():
            visit(k)

    for e in backward_exprs:
        visit(e)
    for v in read_vars:
        if v.kind == "inter" and v.time == -1:
            raise ValueError(f"the backward pass reads {v.name} at step t−1, which the forward pass does not keep")
    nets = {g.net for g in gates}
    gate_outs = {g.out for g in gates}
    net_read_back = any(v.time == 0 and v.name in nets for v in read_vars)
    net_read_forward = any(isinstance(leaf, Var) and leaf.name in nets and v.name not in gate_outs
                           for v, e in cell.equations for leaf in leaves(e))
    # W x_t outside the gates is in x_proj for every t already: the backward pass reads it there
    x_read_back = {}
    for n in list(cached):
        kw = _product(cell, n)
        if kw and kw[0] == "x" and groups["x"].weights.index(kw[1]) in x_extra:
            x_read_back[n] = x_extra.index(groups["x"].weights.index(kw[1]))
            del cached[n]
    cached_vars = [v.name for v, _ in cell.equations
                   if Var(v.name, v.kind, v.shape, 0) in read_vars
                   and v.name not in gate_outs and v.name not in nets and v.name not in cell.states]
    return BackwardReads(cached, cached_vars, not (net_read_back or net_read_forward), x_read_back,
                         backward_exprs)


def _net_runs(cell, exprs, gates, groups):
    """Pre-activations W_gx x_t + b_g + W_gh s_{t−1}: the state part added a run
    of gates at a time, as (gate Run, group key, group slot Run)."""
    def standard(g):
        if g.xslot is None:
            return None
        parts = [t for t in terms(exprs[g.net]) if not (isinstance(t, Var) and t.kind == "param")]
        products = [_product(cell, t) for t in parts]
        if len(parts) != 2 or None in products:
            return None
        (key, W), = [kw for kw in products if kw[0] != "x"] or [(None, None)]
        return None if key is None else (key, groups[key].weights.index(W))

    net_runs = []
    for k, g in enumerate(gates):
        s = standard(g)
        if s is None:
            continue
        key, hslot = s
        if net_runs:
            gr, gkey, hr = net_runs[-1]
            if (gr.stop == k and gkey == key and hr.stop == hslot and
                    gates[gr.start].is_state == g.is_state and not g.is_state):
                gr.stop, hr.stop = k + 1, hslot + 1
                continue
        net_runs.append((Run(k, k + 1), key, Run(hslot, hslot + 1)))
    return net_runs


def _schedule(cell, level, gates, net_runs):
    """The forward steps by level: a level's gates first, then the rest."""
    in_runs = {gates[k].net for gr, _, _ in net_runs for k in range(gr.start, gr.stop)}
    gate_outs = {g.out for g in gates}
    schedule = []
    for lv in sorted(set(level.values()) | {0}):
        if any(g.level == lv for g in gates):
            schedule.append(("acts", lv))
        if lv == 0 and net_runs:
            schedule.append(("nets",))
        for v, _ in cell.equations:
            if level[v.name] == lv and v.name not in gate_outs and v.name not in in_runs:
                schedule.append(("eq", v.name))
    return schedule


def _complements(gates, everything, precise):
    """1 − g_t of a sigmoid gate read anywhere: gate -> its slot in complement_seq
    (None: a state, with a buffer of its own)."""
    read = {n.a.name for e in everything for n in nodes(e)
            if isinstance(n, OneMinus) and isinstance(n.a, Var) and n.a.time == 0}
    complements, slot = {}, 0
    for g in gates:
        if precise and precise_sigmoid(g.fn) and g.out in read:
            complements[g.out] = None if g.is_state else slot
            slot += 0 if g.is_state else 1
    return complements


def make_plan(derivation, precise=True):
    """precise: σ's tails at full relative precision (1 − σ kept as σ(−a)); False for
    the complex-safe variant, which reads 1 − σ off σ as the derivation writes it."""
    d, cell = derivation, derivation.cell
    exprs = {v.name: e for v, e in cell.equations}
    gates, natural, level = _find_gates(cell, exprs)
    gr = _gradient_reads(d)
    groups, cotangent = _find_groups(cell, gr.terms)
    _order(gr.stored, gates, groups, cotangent, natural)
    x_extra = _slots(cell, exprs, gates, groups, gr.stored, cotangent)
    folded = {g.xslot: [t.name for t in terms(exprs[g.net]) if isinstance(t, Var) and t.kind == "param"]
              for g in gates if g.xslot is not None}      # biases added right after the input GEMM
    fac = _factors(d)
    reads = _backward_reads(d, exprs, gates, groups, x_extra, gr, precise, fac)
    net_runs = _net_runs(cell, exprs, gates, groups)
    # names: helpers first, then the cell's own names, so that they read as printed;
    # the generated code's own names, Python's builtins and the functions' arguments (h0, c0, dcT)
    names = Names(RESERVED | set(dir(builtins)) | {s + "0" for s in cell.states} | {"dcT"})
    everything = [e for _, e in cell.equations] + reads.exprs
    acts, helpers, maps = helper_names(names, everything)
    plan = Plan(cell=cell, derivation=d, exprs=exprs, gates=gates, in_place=reads.in_place, groups=groups,
                x_extra=x_extra, folded=folded, net_runs=net_runs,
                schedule=_schedule(cell, level, gates, net_runs), cached=reads.cached,
                cached_vars=reads.cached_vars, stored=gr.stored, stored_names=[], x_read_back=reads.x_read_back,
                right=gr.right, grad_terms=gr.terms, names=names, helpers=helpers, maps=maps, acts=acts,
                complements=_complements(gates, everything, precise), factors=dict.fromkeys(fac.owner),
                delta_exprs=fac.deltas)
    name_locals(plan)
    return plan
