"""The third gradient: the unrolled computation expanded to one node per
scalar.  Each node holds its own small SymPy expression in its direct
parents; SymPy differentiates that expression for the local partials and
``reverse_accumulate`` chains them.  It owes nothing to lstm_sym.ops /
lstm_sym.derive / lstm_sym.evaluate: it is the referee beside the exact proof
and finite differences.  The loss is L = Σ_t ⟨G_t, h_t⟩ + ⟨G_c, c_T⟩."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy

from ..graph import LOSS, _as_cell, _shape, _walk


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
    from .. import activations
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
