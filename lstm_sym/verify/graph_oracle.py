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


class _Builder:
    """A scalar graph under construction: leaves, computed nodes in topological
    order, and each vector's object array of scalar ids."""

    def __init__(self):
        import networkx as nx
        self.g = nx.DiGraph()
        self.order = []

    def leaf(self, vid, shape, step):
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            arr[idx] = f"{vid}[{','.join(map(str, idx))}]"
            self.g.add_node(arr[idx], step=step, vec=vid)
        return arr

    def computed(self, sid, operand_ids, build, step, vec):
        parents, a = _local(operand_ids)
        self.g.add_node(sid, expr=build(a), parents=tuple(parents), step=step, vec=vec)
        self.g.add_edges_from((p, sid) for p in parents)
        self.order.append(sid)

    def inner(self, sid, pairs, step):
        """Σ w·u over (w, u) pairs of scalar ids."""
        self.computed(sid, [s for pair in pairs for s in pair],
                      lambda a: sympy.Add(*[a[w] * a[u] for w, u in pairs]), step, sid)

    def unrolled(self, cell, T, dims, params, xs, init, prefix=""):
        """The cell's T steps over the given leaves (xs: one id array per step,
        e.g. the layer below's h_t); returns every vector's ids by the cell's names."""
        ids = {**params, **{f"{s}_0": a for s, a in init.items()},
               **{f"{cell.x}_{t}": a for t, a in enumerate(xs, 1)}}
        for n in _walk(cell, T):
            ops = [ids[o] for o in n.operands]
            out = np.empty((dims[n.size],), dtype=object)
            for j in range(len(out)):
                out[j] = sid = f"{prefix}{n.id}[{j}]"
                if n.op == "matvec":
                    W, v = ops
                    row = W[:, j] if n.payload else W[j, :]
                    self.inner(sid, list(zip(row, v)), n.step)
                    self.g.nodes[sid]["vec"] = prefix + n.id
                else:
                    at_j = [o[j] for o in ops]
                    self.computed(sid, at_j, lambda a, at_j=at_j, n=n: _elementwise(n, [a[s] for s in at_j]),
                                  n.step, prefix + n.id)
            ids[n.id] = out
        return ids


def scalar_graph(cell, D, H, T):
    """The unrolled cell with one node per scalar (keep sizes small)."""
    cell = _as_cell(cell).check()
    b = _Builder()
    params = {p: b.leaf(p, _shape(v, D, H), None) for p, v in cell.params.items()}
    init = {s: b.leaf(f"{s}_0", (H,), 0) for s in cell.states}
    xs = [b.leaf(f"{cell.x}_{t}", (D,), t) for t in range(1, T + 1)]
    G = [b.leaf(f"G_{t}", (H,), t) for t in range(1, T + 1)]
    Gc = {s: b.leaf(f"G_{s}", (H,), T) for s in cell.states[1:]}
    ids = b.unrolled(cell, T, {"H": H, "D": D}, params, xs, init)
    pairs = [(G[t - 1][j], ids[f"{cell.states[0]}_{t}"][j]) for t in range(1, T + 1) for j in range(H)]
    pairs += [(Gc[s][j], ids[f"{s}_{T}"][j]) for s in cell.states[1:] for j in range(H)]
    b.inner(LOSS, pairs, T)
    return ScalarGraph(b.g, b.order, params, xs, init, G, Gc, T)


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

    param_of = {sid: (p, idx) for p, arr in sg.params.items() for idx, sid in np.ndenumerate(arr)}
    per_step = {p: [np.zeros(arr.shape) for _ in range(sg.T)] for p, arr in sg.params.items()}

    def share(p, n, amount):                # the step-t copy's share of ∇_W E
        if p in param_of:
            name, idx = param_of[p]
            per_step[name][g.nodes[n]["step"] - 1][idx] += amount
    adj = accumulate(g, sg.order, value, share)
    gather = lambda arr: np.vectorize(adj.__getitem__, otypes=[float])(arr)
    grads = {p: gather(arr) for p, arr in sg.params.items()}
    grads["x"] = [gather(arr) for arr in sg.xs]
    for s, arr in sg.init.items():
        grads[s + "0"] = gather(arr)
    return Accumulation(grads, per_step, value[LOSS])


def accumulate(g, order, value, share=None):
    """Forward values of the computed nodes (into `value`, which holds the
    leaves'), then the adjoint of every node: ∂(the last node)/∂node."""
    nodes = g.nodes
    with np.errstate(over="ignore"):            # σ(−800): exp overflows to inf, σ is 0
        for n in order:                         # forward values
            a = nodes[n]
            f, _ = _compiled(a["expr"], len(a["parents"]))
            value[n] = f(*[value[p] for p in a["parents"]])
        adj = dict.fromkeys(value, 0.0)
        adj[order[-1]] = 1.0
        for n in reversed(order):               # reverse accumulation
            a = nodes[n]
            if adj[n] == 0.0:
                continue
            _, partials = _compiled(a["expr"], len(a["parents"]))
            for p, d in zip(a["parents"], partials(*[value[p] for p in a["parents"]])):
                adj[p] += adj[n] * d
                if share is not None:
                    share(p, n, adj[n] * d)
    return adj


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


def _loss_expr(loss, K):
    """ℓ in the local symbols of (a_1..a_K, y_1..y_K), from the loss's definition."""
    a, y = _A[:K], _A[K:2 * K]
    if loss == "xent":
        total = sympy.Add(*[sympy.exp(v) for v in a])
        return -sympy.Add(*[w * sympy.log(sympy.exp(v) / total) for v, w in zip(a, y)])
    return sympy.Add(*[(v - w) ** 2 for v, w in zip(a, y)]) / 2


def network_scalar_graph(net, D, sizes, K, T):
    """A network (lstm_sym.network.Network) with one node per scalar: each layer
    unrolled over the one below's h_t, a_t = V h_t + b_y, ℓ_t by the loss's own
    definition (−Σ y log softmax(a), or ½‖a − y‖²), E = Σ ℓ_t; the last node is E."""
    cell = net.cell.check()
    b = _Builder()
    layers, below, width = [], [b.leaf(f"{cell.x}_{t}", (D,), t) for t in range(1, T + 1)], D
    xs = below
    for l, H in enumerate(sizes, 1):
        pre = f"l{l}:"
        params = {p: b.leaf(pre + p, _shape(v, width, H), None) for p, v in cell.params.items()}
        init = {s: b.leaf(f"{pre}{s}_0", (H,), 0) for s in cell.states}
        ids = b.unrolled(cell, T, {"H": H, "D": width}, params, below, init, prefix=pre)
        layers.append((params, init))
        below, width = [ids[f"{cell.states[0]}_{t}"] for t in range(1, T + 1)], H
    V, b_y = b.leaf("V", (K, width), None), b.leaf("b_y", (K,), None)
    steps = range(1, T + 1) if net.loss_at == "all" else [T]
    ys, ells = {t: b.leaf(f"y_{t}", (K,), t) for t in steps}, []
    for t in steps:
        a = [f"a_{t}[{k}]" for k in range(K)]
        for k, sid in enumerate(a):
            b.computed(sid, [*V[k], *below[t - 1], b_y[k]],
                       lambda s, k=k, t=t: sympy.Add(*[s[w] * s[u] for w, u in zip(V[k], below[t - 1])],
                                                     s[b_y[k]]), t, f"a_{t}")
        parents, local = _local([*a, *ys[t]])
        expr = _loss_expr(net.loss, K).xreplace(dict(zip(_A[:2 * K], [local[p] for p in [*a, *ys[t]]])))
        b.g.add_node(f"ℓ_{t}", expr=expr, parents=tuple(parents), step=t, vec=f"ℓ_{t}")
        b.g.add_edges_from((p, f"ℓ_{t}") for p in parents)
        b.order.append(f"ℓ_{t}")
        ells.append(f"ℓ_{t}")
    b.computed("E", ells, lambda s: sympy.Add(*[s[e] for e in ells]), T, "E")
    return b, layers, xs, V, b_y, ys


def network_graph_gradients(net, params, x, y, starts=None):
    """E and its gradients by reverse accumulation over the network's scalar graph,
    one sequence at a time.  params: {"layers": [...], "V", "b_y"}; x (T, B, D);
    y (T', B, K) float rows (one-hot for class indices); starts: one {state: (B, H)}
    per layer (zeros when None).  Returns the keys of the
    generated module's backward(): {"layers": [...], "V", "b_y", "x"}."""
    T, B, D = x.shape
    K = params["b_y"].shape[0]
    cell = net.cell
    sizes = [p[next(k for k, v in cell.params.items() if v.shape[0] == "H")].shape[0] for p in params["layers"]]
    b, layers, xs, V, b_y, ys = network_scalar_graph(net, D, sizes, K, T)
    leaves = [(V, params["V"]), (b_y, params["b_y"])]
    leaves += [(ids[k], p[k]) for (ids, _), p in zip(layers, params["layers"]) for k in ids]
    total = {"layers": [{k: 0.0 for k in p} for p in params["layers"]], "V": 0.0, "b_y": 0.0,
             "x": np.zeros_like(x, dtype=float)}
    E = 0.0
    for seq in range(B):
        value = {}
        fill = lambda ids, vals: value.update(zip(ids.flat, np.asarray(vals, dtype=float).flat))
        for ids, vals in leaves:
            fill(ids, vals)
        for l, ((_, init), H) in enumerate(zip(layers, sizes)):
            for state, arr in init.items():
                fill(arr, np.zeros(H) if starts is None else starts[l][state][seq])
        for t in range(T):
            fill(xs[t], x[t, seq])
        for i, t in enumerate(ys):
            fill(ys[t], y[i, seq])
        adj = accumulate(b.g, b.order, value)
        E += value["E"]
        gather = lambda ids: np.vectorize(adj.__getitem__, otypes=[float])(ids)
        total["V"] = total["V"] + gather(V)
        total["b_y"] = total["b_y"] + gather(b_y)
        for g, (ids, init) in zip(total["layers"], layers):
            for k in ids:
                g[k] = g[k] + gather(ids[k])
            for state, arr in init.items():         # ∂E/∂h_0 of this sequence, as backward() gives it
                g.setdefault(f"{state}0", np.zeros((B, arr.size)))[seq] = gather(arr)
        for t in range(T):
            total["x"][t, seq] = gather(xs[t])
    return E, total
