"""The generated code's names: identifiers that read like the cell's own
names, that collide neither with each other nor with the kernel's own, and
the helpers' names for activations and elementwise maps."""
from __future__ import annotations

import keyword

import sympy

from ..ir import Act, Add, Delta, Had, MatVec, Map, Neg, OneMinus, Pow, Var

def nodes(e):
    """Every node of e, parents before children."""
    yield e
    for k in e.children():
        yield from nodes(k)


def identifier(text):
    """A Python identifier spelling text (odd characters become _)."""
    out = "".join(ch if (ch.isalnum() or ch == "_") else "_" for ch in text)
    if not out or out[0].isdigit():
        out = "_" + out
    return out + "_" if keyword.iskeyword(out) else out


def expr_name(e):
    """A readable identifier for a value: tanh(c_t) -> tanh_c, W_nh h_{t−1} + b_nh ->
    W_nh_h_prev_b_nh, δ_{n,t} ⊙ r_t -> delta_n_r."""
    if isinstance(e, Var):
        return e.name + ("_prev" if e.time == -1 else "")
    if isinstance(e, Delta):
        return "delta_" + e.name
    if isinstance(e, Act):
        return f"{e.fn.name}_{expr_name(e.a)}"
    if isinstance(e, MatVec):
        return f"{expr_name(e.W)}_{expr_name(e.v)}"
    if isinstance(e, (Add, Had)):
        return "_".join(expr_name(k) for k in e.children())
    if isinstance(e, OneMinus):
        return "one_minus_" + expr_name(e.a)
    if isinstance(e, Neg):
        return "minus_" + expr_name(e.a)
    if isinstance(e, Pow):
        return f"{expr_name(e.a)}_pow{e.n}"
    return "value"


class Names:
    """Hands out identifiers that collide neither with each other nor with
    the names the generated code uses for itself."""

    def __init__(self, reserved):
        self.used = set(reserved)

    def take(self, text):
        name = identifier(text)
        while name in self.used:
            name += "_"
        self.used.add(name)
        return name


# names the generated functions use for their own variables
RESERVED = {
    "np", "t", "T", "B", "D", "H", "x", "dh", "params", "cache", "grads", "dtype",
    "forward", "backward", "init_params", "CELL", "PARAMS", "STATES", "GATES",
    "COMPLEX_SAFE", "DTYPE", "gate_seq", "net_seq", "delta_seq", "delta_rows", "delta_sums",
    "dx", "dW", "x_rows", "x_cols", "keys", "complement_seq", "factor_seq", "dh_cols",
}


def helper_names(names, everything):
    """Activations (name -> Activation), their helper functions' names, and the
    elementwise maps' helpers ((expr, variable) -> name)."""
    acts = {}
    for e in everything:
        for n in nodes(e):
            if isinstance(n, Act):
                acts.setdefault(n.fn.name, n.fn)
    helpers = {name: names.take(name) for name in acts if name != "tanh"}
    maps = {}
    for e in everything:
        for n in nodes(e):
            if isinstance(n, Map) and (n.expr, n.x) not in maps:
                fn = next((f for f in acts.values() if f.derivative == n.expr), None)
                text = str(n.expr.subs(n.x, sympy.Symbol("a")))
                text = text.replace("-", " minus ").replace("+", " plus ").replace("*", " times ")
                text = "_".join(identifier(text).replace("_", " ").split())
                maps[n.expr, n.x] = names.take(f"{fn.name}_derivative" if fn else
                                               ("elementwise_" + text if len(text) <= 24 else "elementwise"))
    return acts, helpers, maps


def name_locals(plan):
    """The cell's own names, then the buffers' and deltas' (helpers were named first)."""
    cell, d, names, local = plan.cell, plan.derivation, plan.names, plan.local
    for p in cell.params:
        local[p] = names.take(p)
    for v, _ in cell.equations:
        local[v.name] = names.take(v.name)
    for s in cell.states:
        local[s + "_prev"] = names.take(s + "_prev")
        local[s + "_seq"] = names.take(s + "_seq")
        local[f"delta_{s}_carried"] = names.take(f"delta_{s}_carried")
    for v in plan.cached_vars:
        local[v + "_seq"] = names.take(v + "_seq")
    for g, k in plan.complements.items():
        local["one_minus", g] = names.take("one_minus_" + g)
        if k is None:
            local["one_minus_seq", g] = names.take(f"one_minus_{g}_seq")
    for node in list(plan.cached):
        plan.cached[node] = names.take(expr_name(node))
        local[plan.cached[node] + "_seq"] = names.take(plan.cached[node] + "_seq")
    both = {dd.name for dd, _ in d.delta_defs if dd.gate} & {dd.name for dd, _ in d.delta_defs if not dd.gate}
    for dd, _ in d.delta_defs:
        # a gate whose output is itself a state has δ_{h,t} (of net_h) beside δh_t
        pre = next((g.net for g in plan.gates if g.out == dd.name), dd.name) if dd.gate and dd.name in both else dd.name
        local[("delta", dd.name, dd.gate)] = names.take("delta_" + pre)
    owners = {}
    for factor in plan.factors:
        dd = next(dd for dd, e in plan.delta_exprs if factor in nodes(e))
        owners[dd] = owners.get(dd, 0) + 1
        base = local[("delta", dd.name, dd.gate)]
        plan.factors[factor] = names.take(f"{base}_factor" + (str(owners[dd]) if owners[dd] > 1 else ""))
    plan.stored_names = [local[("delta", e.name, e.gate)] if isinstance(e, Delta) and
                         ("delta", e.name, e.gate) in local else names.take(expr_name(e)) for e in plan.stored]
    for r in plan.right:
        plan.right[r] = names.take(expr_name(r))
        local[plan.right[r] + "_seq"] = names.take(plan.right[r] + "_seq")
    for key, g in plan.groups.items():
        g.stack = names.take(f"W_{key}_stack")
        g.proj = names.take(f"{key}_proj")
        g.rows = "x_rows" if key == "x" else names.take(f"{key}_rows")


