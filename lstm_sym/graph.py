"""The unrolled computation as a networkx graph: export and paths.

Built from the cell's forward equations (nothing per cell).
``unroll(cell, T)``: vector level.  One node per parameter (shared by every
  step), per input x_t, per state h_t / c_t (h_0, c_0 included), per named
  intermediate and per anonymous sub-expression of each step, and the loss L.
  An edge runs from each operand to its result and carries the result's op
  (matvec, add, hadamard, one_minus, neg, an activation's name, inner).
The scalar graph and its reverse accumulation (a referee) are in
lstm_sym.verify.graph_oracle.

The loss everywhere is L = Σ_t ⟨G_t, h_t⟩ + ⟨G_c, c_T⟩ (G_c = 0 if not given).
networkx is imported inside the functions that need it, so that ``lstm-sym``
does not pay its import time for the other subcommands.
"""
from __future__ import annotations

import re
from collections import namedtuple
from dataclasses import dataclass

from .ir import Act, Add, Had, Map, MatVec, Neg, OneMinus, Pow, Scale, Var

LOSS = "L"


# --- walking the equations -----------------------------------------------------

@dataclass(frozen=True)
class Op:
    """One computed vector node: its id, op name, operand ids, step, and what
    the scalar expansion needs (the activation, a constant, a SymPy map)."""
    id: str
    op: str
    operands: tuple
    step: int
    size: str                    # "H" or "D": the vector's length
    kind: str = "op"             # op | inter | state
    payload: object = None


def _leaf_id(v, t, cell):
    if v.time is None:
        return v.name
    step = t + v.time
    if step < 0 or (step == 0 and v.name not in cell.states):
        raise ValueError(f"cell {cell.name}: {v.name} at step {step} does not exist")
    return f"{v.name}_{step}"


def _paren(s):
    return f"({s})" if " " in s else s


def _describe(e, kids):
    """(op name, readable label used as the node id, what the scalar expansion needs)."""
    if isinstance(e, MatVec):
        return "matvec", f"{kids[0]}{'ᵀ' if e.transpose else ''} {_paren(kids[1])}", e.transpose
    if isinstance(e, Add):
        return "add", " + ".join(kids), None
    if isinstance(e, Had):
        return "hadamard", " ⊙ ".join(_paren(k) for k in kids), None
    if isinstance(e, OneMinus):
        return "one_minus", f"1 − {_paren(kids[0])}", None
    if isinstance(e, Neg):
        return "neg", f"−{_paren(kids[0])}", None
    if isinstance(e, Act):
        return e.fn.name, f"{e.fn.name}({kids[0]})", e.fn
    if isinstance(e, Scale):
        return "scale", f"{e.k} {_paren(kids[0])}", e.k
    if isinstance(e, Pow):
        return "pow", f"{_paren(kids[0])}^{e.n}", e.n
    if isinstance(e, Map):
        return "map", f"[{e.expr}]({kids[0]})", (e.expr, e.x)
    raise TypeError(f"the graph view cannot unroll {type(e).__name__} nodes")


def _walk(cell, T):
    """Every computed vector node of the unrolled cell, operands first."""
    out, size = [], {}               # size: node id -> "H" | "D" (or a param's shape)

    def length(op, e, kids):
        if op == "matvec":
            rows, cols = (size[kids[0]][::-1] if e.transpose else size[kids[0]])
            if size[kids[1]] != cols:
                raise ValueError(f"cell {cell.name}: {kids[0]} times a vector of length {size[kids[1]]}")
            return rows
        lengths = {size[k] for k in kids}
        if len(lengths) != 1 or not isinstance(next(iter(lengths)), str):
            raise ValueError(f"cell {cell.name}: {op} of {', '.join(kids)} mixes shapes {sorted(map(str, lengths))}")
        return lengths.pop()

    for t in range(1, T + 1):
        memo = {}                    # a sub-expression used twice in a step is one node

        def build(e, name=None, kind="op"):
            if isinstance(e, Var):
                vid = _leaf_id(e, t, cell)
                size.setdefault(vid, e.shape[0] if len(e.shape) == 1 else e.shape)
                return vid
            if name is None and e in memo:
                return memo[e]
            kids = [build(k) for k in e.children()]
            op, label, payload = _describe(e, kids)
            vid = memo[e] = name or label
            if name is None and vid in size:
                return vid           # made of parameters only (1 − b): one node shared by every step
            size[vid] = length(op, e, kids)
            out.append(Op(vid, op, tuple(kids), t, size[vid], kind, payload))
            return vid

        for v, e in cell.equations:
            kind = "state" if v.name in cell.states else "inter"
            name = f"{v.name}_{t}"
            if isinstance(e, Var):          # a plain copy keeps a node of its own
                src = build(e)
                size[name] = size[src]
                out.append(Op(name, "identity", (src,), t, size[src], kind))
            else:
                build(e, name, kind)
    return out


def _shape(v, D, H):
    return tuple({"H": H, "D": D}[s] for s in v.shape)


def _as_cell(cell):
    from .cells import load_cell
    return load_cell(cell)


# --- vector-level graph ---------------------------------------------------------

def unroll(cell, T, progress=None):
    """The DAG of `cell` unrolled over T steps (vector level).  What it costs
    (time and memory grow linearly in T: ~55 kB a step for the lstm) is
    estimated by lstm_sym.cost.graph_cost; progress(what, done, total, unit)
    hears the steps as they are built."""
    import networkx as nx
    cell = _as_cell(cell).check()
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    g = nx.DiGraph(cell=cell.name, T=T, output=cell.states[0])
    for p, v in cell.params.items():
        g.add_node(p, kind="param", shape=",".join(v.shape), label=p)
    for s in cell.states:
        g.add_node(f"{s}_0", kind="state", shape="H", step=0, label=f"{s}_0")
    for t in range(1, T + 1):
        g.add_node(f"{cell.x}_{t}", kind="input", shape="D", step=t, label=f"{cell.x}_{t}")
    every = max(1, T // 100)
    for n in _walk(cell, T):
        if progress is not None and n.step % every == 0 and n.id == f"{cell.states[0]}_{n.step}":
            progress("graph: unrolling", n.step, T, "steps")
        g.add_node(n.id, kind=n.kind, op=n.op, shape=n.size, step=n.step, label=n.id)
        for k, src in enumerate(n.operands):
            attrs = {"op": n.op}
            if n.op == "matvec":
                attrs["role"] = "matrix" if k == 0 else "vector"
            g.add_edge(src, n.id, **attrs)
    label = "L = Σ_t ⟨G_t, h_t⟩" + "".join(f" + ⟨G_{s}, {s}_T⟩" for s in cell.states[1:])
    g.add_node(LOSS, kind="loss", op="inner", step=T, label=label)
    out = cell.states[0]
    for t in range(1, T + 1):
        g.add_edge(f"{out}_{t}", LOSS, op="inner")
    for s in cell.states[1:]:
        g.add_edge(f"{s}_{T}", LOSS, op="inner")
    return g


def gradient_paths(g, k, state=None):
    """Every path along which the loss reaches state_k, written from L back to
    state_k (networkx simple-path enumeration; its count grows fast with T)."""
    import networkx as nx
    state = state or g.graph["output"]
    src = f"{state}_{k}"
    if src not in g:
        raise ValueError(f"{src} is not a node of this graph")
    return [p[::-1] for p in nx.all_simple_paths(g, src, LOSS)]


def path_ops(g, path):
    """The ops met along a path, in the order the path lists its nodes."""
    return [g.edges[a, b]["op"] if g.has_edge(a, b) else g.edges[b, a]["op"]
            for a, b in zip(path, path[1:])]


Hop = namedtuple("Hop", "t path ops factors")
Hop.__doc__ = """One step of a state chain: the nodes from s_{t-1} to s_t, the ops on
the edges, and for each hadamard on the way the other factors it multiplies by."""


def state_path(g, state):
    """The chain state_T -> state_{T-1} -> ... -> state_0 through the nodes that
    lie between two consecutive states (no other state on the way).  One Hop per
    path, from t = T down to 1.  The LSTM's c: ops hadamard, add; factor f_t."""
    import networkx as nx
    hops = []
    for t in range(g.graph["T"], 0, -1):
        a, b = f"{state}_{t - 1}", f"{state}_{t}"
        between = {n for n in nx.descendants(g, a) & nx.ancestors(g, b)
                   if g.nodes[n].get("kind") != "state"}
        for path in nx.all_simple_paths(g.subgraph(between | {a, b}), a, b):
            factors = [sorted(set(g.predecessors(v)) - {u}) for u, v in zip(path, path[1:])
                       if g.edges[u, v]["op"] == "hadamard"]
            hops.append(Hop(t, path, path_ops(g, path), factors))
    return hops


# --- export -----------------------------------------------------------------------

FORMATS = ("dot", "graphml", "json")


def to_dot(g):
    """Graphviz DOT text.  Written here because networkx's DOT writers need
    pydot or pygraphviz, which are not dependencies of this package."""
    q = lambda s: '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'
    look = {"param": 'shape=box, style=filled, fillcolor="#e8e8e8"', "input": "shape=box",
            "state": "shape=doublecircle", "inter": "shape=ellipse", "loss": "shape=octagon"}
    lines = [f"digraph {q(g.graph.get('cell', 'cell') + ' T=' + str(g.graph.get('T', '')))} {{",
             "  rankdir=LR;", "  node [fontname=Helvetica, fontsize=10];",
             "  edge [fontname=Helvetica, fontsize=8];"]
    for n, a in g.nodes(data=True):
        lines.append(f"  {q(n)} [label={q(a.get('label', n))}, {look.get(a.get('kind'), 'shape=plaintext')}];")
    for u, v, a in g.edges(data=True):
        lines.append(f"  {q(u)} -> {q(v)} [label={q(a.get('op', ''))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def ascii_refs(text):
    """Non-ASCII as &#N; character references.  For DOT on a stdout that cannot
    take UTF-8: Graphviz draws a label's &#8467; as ℓ, and an id stays one-to-one
    with the graph's (html.unescape gives it back), where transliterating would
    merge ℓ_1 with a node l_1."""
    return text.encode("ascii", "xmlcharrefreplace").decode("ascii")


def export(g, fmt):
    import json

    import networkx as nx
    if fmt == "dot":
        return to_dot(g)
    # GraphML and JSON are ASCII whatever the terminal (ℓ as &#8467; and \u2113): read
    # back, the ids are exact; an ASCII stdout's transliteration would turn ℓ_1 into l_1
    if fmt == "graphml":
        return ascii_refs("\n".join(nx.generate_graphml(g)) + "\n")
    if fmt == "json":
        try:
            data = nx.node_link_data(g, edges="edges")
        except TypeError:               # networkx < 3.4 names the keyword `link`
            data = nx.node_link_data(g, link="edges")
        return json.dumps(data, ensure_ascii=True, indent=1) + "\n"
    raise ValueError(f"unknown graph format {fmt!r}; choose one of {', '.join(FORMATS)}")


# --- a whole network -------------------------------------------------------------

def unroll_network(net, T, progress=None):
    """The network's DAG: each layer's unrolled cell (nodes named "l<k>:…"),
    layer k's h_t standing in for layer k+1's x_t, then the head a_t = V h_t + b_y,
    the loss op ℓ_t against the target y_t at each step that has a loss, and E."""
    import networkx as nx
    cell, L = net.cell, net.layers
    g = nx.DiGraph(cell=f"{cell.name} network", T=T, output=f"l{L}:{cell.states[0]}", layers=L)
    for k in range(1, L + 1):
        layer = unroll(cell, T, progress)
        layer.remove_node(LOSS)
        name = {n: f"l{k}:{n}" for n in layer}
        if k > 1:                                # this layer's x_t is the layer below's h_t, by name too
            below = lambda m, k=k: f"l{k - 1}:{cell.states[0]}_{m.group(1)}"
            name = {n: f"l{k}:" + re.sub(rf"\b{re.escape(cell.x)}_(\d+)\b", below, n) for n in layer}
            name.update({f"{cell.x}_{t}": f"l{k - 1}:{cell.states[0]}_{t}" for t in range(1, T + 1)})
        layer = nx.relabel_nodes(layer, name)
        for n, a in layer.nodes(data=True):
            if n in g:                           # the layer below's h_t: keep its attributes
                continue
            g.add_node(n, **{**a, "label": n, "layer": k})
        g.add_edges_from(layer.edges(data=True))
    g.add_node("V", kind="param", shape="K,H", label="V")
    g.add_node("b_y", kind="param", shape="K", label="b_y")
    steps = range(1, T + 1) if net.loss_at == "all" else [T]
    loss_op = "softmax_xent" if net.loss == "xent" else "half_squared_error"
    g.add_node("E", kind="loss", op="sum", step=T, label="E = Σ_t ℓ_t" if net.loss_at == "all" else "E = ℓ_T")
    for t in steps:
        h, z, y, ell = f"l{L}:{cell.states[0]}_{t}", f"a_{t}", f"y_{t}", f"ℓ_{t}"
        g.add_node(f"V h_{t}", kind="op", op="matvec", shape="K", step=t, label=f"V h_{t}")
        g.add_edge("V", f"V h_{t}", op="matvec", role="matrix")
        g.add_edge(h, f"V h_{t}", op="matvec", role="vector")
        g.add_node(z, kind="inter", op="add", shape="K", step=t, label=z)
        g.add_edge(f"V h_{t}", z, op="add")
        g.add_edge("b_y", z, op="add")
        g.add_node(y, kind="input", shape="K", step=t, label=y)
        g.add_node(ell, kind="inter", op=loss_op, shape="1", step=t, label=ell)
        g.add_edge(z, ell, op=loss_op)
        g.add_edge(y, ell, op=loss_op, role="target")
        g.add_edge(ell, "E", op="sum")
    return g
