"""The unrolled computation as a networkx graph: export, paths, and a third,
independent gradient by reverse accumulation over scalar nodes.

Two views, both built from the cell's forward equations (nothing per cell):

* ``unroll(cell, T)``: vector level.  One node per parameter (shared by every
  step), per input x_t, per state h_t / c_t (h_0, c_0 included), per named
  intermediate and per anonymous sub-expression of each step, and the loss L.
  An edge runs from each operand to its result and carries the result's op
  (matvec, add, hadamard, one_minus, neg, an activation's name, inner).
* ``scalar_graph(cell, D, H, T)``: one node per scalar.  Each node holds its
  own small SymPy expression in its direct parents; SymPy differentiates that
  expression for the local partials and ``reverse_accumulate`` chains them.
  It owes nothing to lstm_sym.ops / lstm_sym.derive / lstm_sym.evaluate: it is
  the third check beside the exact proof and finite differences.

The loss everywhere is L = Σ_t ⟨G_t, h_t⟩ + ⟨G_c, c_T⟩ (G_c = 0 if not given).
networkx is imported inside the functions that need it, so that ``lstm-sym``
does not pay its import time for the other subcommands.
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np
import sympy

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
    if isinstance(cell, str):
        from .cells import get_cell
        return get_cell(cell)
    return cell


# --- vector-level graph ---------------------------------------------------------

def unroll(cell, T):
    """The DAG of `cell` unrolled over T steps (vector level)."""
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
    for n in _walk(cell, T):
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


def export(g, fmt):
    import json

    import networkx as nx
    if fmt == "dot":
        return to_dot(g)
    if fmt == "graphml":
        return "\n".join(nx.generate_graphml(g)) + "\n"
    if fmt == "json":
        try:
            data = nx.node_link_data(g, edges="edges")
        except TypeError:               # networkx < 3.4 names the keyword `link`
            data = nx.node_link_data(g, link="edges")
        return json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    raise ValueError(f"unknown graph format {fmt!r}; choose one of {', '.join(FORMATS)}")


def register_graph(sub):
    """`lstm-sym graph CELL --T 3 --format dot|graphml|json [-o FILE] [--force]`."""
    from . import cli
    p = sub.add_parser("graph", help="export the unrolled computation graph (DOT, GraphML, JSON)")
    p.add_argument("cell", type=cli.cell_name, help="a built-in cell: rnn, lstm or gru")
    p.add_argument("--T", type=cli.positive_int, default=3, help="number of unrolled steps (default 3)")
    p.add_argument("--format", default="dot", choices=FORMATS)
    p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")

    def run(args):
        cli.write_output(args.output, export(unroll(args.cell, args.T), args.format), args.force)
        return 0
    p.set_defaults(run=run)


# --- scalar-level graph and reverse accumulation ----------------------------------

@dataclass
class ScalarGraph:
    """One node per scalar.  Node attributes: expr (SymPy, in the local symbols
    a0, a1, ... standing for `parents` in order), parents, step (None for
    parameters).  The arrays map our names onto node ids."""
    graph: object                # nx.DiGraph
    order: list                  # topological order of the computed nodes
    params: dict                 # name -> object array of node ids
    xs: list                     # per step: array of ids
    init: dict                   # state -> array of ids
    G: list                      # per step: ids of the loss weights G_t
    Gc: dict                     # state -> ids of G_c (zero when not given)
    T: int


_A = []                          # the local symbols a0, a1, ... shared by every node


def _local(ids):
    """Distinct parents, and each parent's local symbol."""
    parents = list(dict.fromkeys(ids))
    _A.extend(sympy.Symbol(f"a{k}", real=True) for k in range(len(_A), len(parents)))
    return parents, dict(zip(parents, _A))


def scalar_graph(cell, D, H, T):
    """The unrolled cell with one node per scalar (keep sizes small)."""
    import networkx as nx
    cell = _as_cell(cell).check()
    g = nx.DiGraph()
    dims = {"H": H, "D": D}
    ids = {}                       # vector node id -> object array of scalar ids

    def leaf(vid, shape, step):
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            arr[idx] = f"{vid}[{','.join(map(str, idx))}]"
            g.add_node(arr[idx], step=step, vec=vid)
        ids[vid] = arr
        return arr

    params = {p: leaf(p, _shape(v, D, H), None) for p, v in cell.params.items()}
    init = {s: leaf(f"{s}_0", (H,), 0) for s in cell.states}
    xs = [leaf(f"{cell.x}_{t}", (D,), t) for t in range(1, T + 1)]
    G = [leaf(f"G_{t}", (H,), t) for t in range(1, T + 1)]
    Gc = {s: leaf(f"G_{s}", (H,), T) for s in cell.states[1:]}
    order = []

    def computed(sid, operand_ids, build, step, vec):
        parents, a = _local(operand_ids)
        g.add_node(sid, expr=build(a), parents=tuple(parents), step=step, vec=vec)
        g.add_edges_from((p, sid) for p in parents)
        order.append(sid)

    for n in _walk(cell, T):
        ops = [ids[o] for o in n.operands]
        out = np.empty((dims[n.size],), dtype=object)
        for j in range(len(out)):
            out[j] = sid = f"{n.id}[{j}]"
            if n.op == "matvec":
                W, v = ops
                row = W[:, j] if n.payload else W[j, :]
                pairs = list(zip(row, v))
                computed(sid, [s for pair in pairs for s in pair],
                         lambda a, pairs=pairs: sympy.Add(*[a[w] * a[u] for w, u in pairs]), n.step, n.id)
            else:
                at_j = [o[j] for o in ops]
                computed(sid, at_j, lambda a, at_j=at_j, n=n: _elementwise(n, [a[s] for s in at_j]),
                         n.step, n.id)
        ids[n.id] = out

    pairs = [(G[t - 1][j], ids[f"{cell.states[0]}_{t}"][j]) for t in range(1, T + 1) for j in range(H)]
    pairs += [(Gc[s][j], ids[f"{s}_{T}"][j]) for s in cell.states[1:] for j in range(H)]
    computed(LOSS, [s for pair in pairs for s in pair],
             lambda a: sympy.Add(*[a[w] * a[u] for w, u in pairs]), T, LOSS)
    return ScalarGraph(g, order, params, xs, init, G, Gc, T)


def _elementwise(n, a):
    """Node n's scalar expression in its operands' local symbols a."""
    from . import activations
    if n.op == "add":
        return sympy.Add(*a)
    if n.op == "hadamard":
        return sympy.Mul(*a)
    if n.op == "one_minus":
        return 1 - a[0]
    if n.op == "neg":
        return -a[0]
    if n.op == "identity":
        return a[0]
    if n.op == "scale":
        return sympy.sympify(n.payload) * a[0]
    if n.op == "pow":
        return a[0] ** n.payload
    if n.op == "map":
        expr, x = n.payload
        return expr.xreplace({x: a[0]})
    return n.payload.expr.xreplace({activations.x: a[0]})      # an activation


_COMPILED = {}


def _compiled(expr, nargs):
    """A node's own expression and its partials [∂/∂a_k], as two float
    functions of the parents' values.  SymPy differentiates the small
    expression; nodes with the same expression share the work."""
    key = (expr, nargs)
    got = _COMPILED.get(key)
    if got is None:
        args = _A[:nargs]
        got = (sympy.lambdify(args, expr, "numpy"),
               sympy.lambdify(args, [sympy.diff(expr, s) for s in args], "numpy"))
        _COMPILED[key] = got
    return got


@dataclass
class Accumulation:
    grads: dict          # the keys of evaluate.run_backward: params, "x", "<state>0"
    per_step: dict       # param -> list over t = 1..T of ∇_{W_t}E (the step-t copy's share)
    loss: float


def reverse_accumulate(sg, params, xs, init, G, Gc=None):
    """Gradient of L = Σ_t ⟨G_t, h_t⟩ + ⟨G_c, c_T⟩ by reverse accumulation over
    the scalar graph, at float values.  Gc: state -> vector, or one vector for
    a cell with exactly one extra state; None means zero."""
    g = sg.graph
    if Gc is not None and not isinstance(Gc, dict):
        if len(sg.Gc) != 1:
            raise ValueError("Gc given as one vector but the cell has "
                             f"{len(sg.Gc)} extra states; pass a dict state -> vector")
        Gc = {next(iter(sg.Gc)): Gc}
    Gc = Gc or {}
    if len(xs) != sg.T or len(G) != sg.T:
        raise ValueError(f"the scalar graph has T={sg.T} steps; got {len(xs)} inputs and {len(G)} G_t")
    value = {}

    def put(id_arr, vals):
        vals = np.asarray(vals, dtype=float)
        if vals.shape != id_arr.shape:
            raise ValueError(f"{id_arr.flat[0].split('[')[0]}: expected shape {id_arr.shape}, got {vals.shape}")
        for idx in np.ndindex(*id_arr.shape):
            value[id_arr[idx]] = float(vals[idx])

    for p, arr in sg.params.items():
        put(arr, params[p])
    for s, arr in sg.init.items():
        put(arr, init[s])
    for t in range(sg.T):
        put(sg.xs[t], xs[t])
        put(sg.G[t], G[t])
    for s, arr in sg.Gc.items():
        put(arr, Gc.get(s, np.zeros(arr.shape)))

    nodes = g.nodes
    param_of = {sid: (p, idx) for p, arr in sg.params.items() for idx, sid in np.ndenumerate(arr)}
    per_step = {p: [np.zeros(arr.shape) for _ in range(sg.T)] for p, arr in sg.params.items()}
    with np.errstate(over="ignore"):            # σ(−800): exp overflows to inf, σ is 0
        for n in sg.order:                      # forward values
            a = nodes[n]
            f, _ = _compiled(a["expr"], len(a["parents"]))
            value[n] = f(*[value[p] for p in a["parents"]])
        adj = dict.fromkeys(value, 0.0)
        adj[LOSS] = 1.0
        for n in reversed(sg.order):            # reverse accumulation
            a = nodes[n]
            if adj[n] == 0.0:
                continue
            _, partials = _compiled(a["expr"], len(a["parents"]))
            for p, d in zip(a["parents"], partials(*[value[p] for p in a["parents"]])):
                share = adj[n] * d
                adj[p] += share
                if p in param_of:               # the step-t copy's share of ∇_W E
                    name, idx = param_of[p]
                    per_step[name][a["step"] - 1][idx] += share

    gather = lambda arr: np.vectorize(adj.__getitem__, otypes=[float])(arr)
    grads = {p: gather(arr) for p, arr in sg.params.items()}
    grads["x"] = [gather(arr) for arr in sg.xs]
    for s, arr in sg.init.items():
        grads[s + "0"] = gather(arr)
    return Accumulation(grads, per_step, value[LOSS])


def _sizes(cell, params, xs, init):
    H = len(np.asarray(init[cell.states[0]]))
    D = len(np.asarray(xs[0]))
    return D, H, len(xs)


def graph_gradients(cell, params, xs, init, G, Gc=None):
    """∇L w.r.t. every parameter, "x" (list over t) and "h0" (, "c0"): the
    same keys as lstm_sym.evaluate.run_backward, by the scalar graph."""
    cell = _as_cell(cell)
    return reverse_accumulate(scalar_graph(cell, *_sizes(cell, params, xs, init)),
                              params, xs, init, G, Gc).grads


def per_step_gradients(cell, params, xs, init, G, Gc=None):
    """param -> [∇_{W_1}E, ..., ∇_{W_T}E]: the part of ∇_W E that flows
    through the copy of W used at step t.  They sum to ∇_W E."""
    cell = _as_cell(cell)
    return reverse_accumulate(scalar_graph(cell, *_sizes(cell, params, xs, init)),
                              params, xs, init, G, Gc).per_step
