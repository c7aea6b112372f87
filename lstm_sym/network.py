"""A network: L stacked layers of one cell, an output head and a loss.

    a_t = V h_t^{(L)} + b_y,   ℓ_t = −⟨y_t, log softmax(a_t)⟩ (xent) or ½‖a_t − y_t‖² (mse),
    E = Σ_t ℓ_t (loss_at="all", many-to-many) or ℓ_T (loss_at="last", many-to-one).

Layer l's h_t is layer l+1's x_t.  The head and the losses are ops of the op
table (ops.py); the head's gradients come from backprop through it, as a
cell's do (`head_derivation`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .evaluate import Context, FloatBackend, evaluate, run_backward, run_forward
from .ir import Add, Delta, MatVec, TimeSum, Var
from .ops import HalfSquaredError, SoftmaxXent, backprop

HEADS = {"linear": "a_t = V h_t + b_y", "softmax": "ŷ_t = softmax(V h_t + b_y)"}
LOSSES = {"mse": "linear", "xent": "softmax"}        # loss -> the head it needs
LOSS_AT = ("all", "last")

V = Var("V", "param", ("K", "H"), None)
B_Y = Var("b_y", "param", ("K",), None)
Z = Var("a", "inter", ("K",), 0)      # the logits (z_t is the GRU's update gate)
Y = Var("y", "input", ("K",), 0)
H_TOP = Var("h", "state", ("H",), 0)


@dataclass(frozen=True)
class Network:
    cell: object            # the Cell every layer runs
    layers: int
    head: str
    loss: str
    loss_at: str

    @property
    def loss_node(self):
        """ℓ_t over z_t and y_t: one op of the table."""
        return SoftmaxXent(Z, Y) if self.loss == "xent" else HalfSquaredError(Z, Y)


def network(cell, layers=1, head=None, loss="mse", loss_at="all"):
    """A Network, its choices checked: ValueError naming the bad one and the choices."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
    head = LOSSES[loss] if head is None else head
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}: choose one of {', '.join(HEADS)}")
    if LOSSES[loss] != head:
        raise ValueError(f"loss {loss} needs head {LOSSES[loss]} (softmax pairs with xent, linear "
                         f"with mse); got head {head}")
    if loss_at not in LOSS_AT:
        raise ValueError(f"unknown loss position {loss_at!r}: choose all (every step) or last (step T only)")
    if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)) or layers < 1:
        raise ValueError(f"layers must be a whole number of at least 1, got {layers!r}")
    if isinstance(cell, str):
        from .cells import get_cell
        cell = get_cell(cell)
    _no_clash(cell)
    return Network(cell, int(layers), head, loss, loss_at)


HEAD_NAMES = {"V": "the head's weight", "b_y": "the head's bias", "a": "the logits a_t",
              "y": "the target y_t", "y_hat": "the output ŷ_t", "E": "the loss E"}


def _no_clash(cell):
    """A cell name that the head also uses would make two different ∂E/∂V (or y_t) in one
    derivation: refused, naming both."""
    names = [*cell.params, *cell.states, cell.x, *(v.name for v, _ in cell.equations)]
    for n in names:
        if n in HEAD_NAMES:
            raise ValueError(f"cell {cell.name} names {n!r}, which in a network is {HEAD_NAMES[n]}: "
                             "rename it in the cell")


@dataclass(frozen=True)
class HeadDerivation:
    output_delta: object    # δ_{y,t} = ∂ℓ_t/∂z_t, from the loss op's rule
    into_top: object        # ∂ℓ_t/∂h_t^{(L)} in terms of δ_{y,t}
    grads: dict             # "V", "b_y" -> TimeSum over the steps that have a loss


DELTA_Y = Delta("y", 0, True)      # δ_{y,t}: the name of ∂ℓ_t/∂z_t


def head_derivation(net):
    """Backprop through the loss op (∂E/∂ℓ_t = 1), then through z_t = V h_t + b_y."""
    acc = {}
    backprop(net.loss_node, None, None, acc)
    output_delta = _one(acc, Z)
    acc = {}
    backprop(Add((MatVec(V, H_TOP), B_Y)), DELTA_Y, None, acc)
    steps = net.loss_at
    grads = {"V": TimeSum(_one(acc, V), steps), "b_y": TimeSum(_one(acc, B_Y), steps)}
    return HeadDerivation(output_delta, _one(acc, H_TOP), grads)


def _one(acc, leaf):
    got = acc.get(leaf, [])
    return got[0] if len(got) == 1 else Add(tuple(got))


def check_targets(net, targets, T, B, K):
    """The targets as float (T', B, K) with T' = T (loss at every step) or 1 (the
    last step); class indices (T', B) for xent become one-hot rows.  ValueError
    names the array, its shape and the one expected."""
    every = net.loss_at == "all"
    steps = T if every else 1
    y = np.asarray(targets)
    if not every and y.ndim in (1, 2) and y.shape[:1] == (B,):
        y = y[None]                                    # the last step's targets alone
    if y.dtype.kind in "iu" and net.loss == "xent":
        if y.shape != (steps, B):
            want = f"(T, B) = {(T, B)}" if every else f"(B,) = {(B,)}"
            raise ValueError(f"targets has shape {np.shape(targets)}, expected class indices {want}")
        if y.size and (y.min() < 0 or y.max() >= K):
            bad = int(y.min()) if y.min() < 0 else int(y.max())
            raise ValueError(f"targets holds class {bad}, outside 0..{K - 1} (K = {K} outputs)")
        onehot = np.zeros((steps, B, K))                 # not np.eye(K)[y]: K² entries
        np.put_along_axis(onehot, y[..., None], 1.0, axis=-1)
        return onehot
    if y.dtype.kind not in "fiu" or y.shape != (steps, B, K):
        want = f"(T, B, K) = {(T, B, K)}" if every else f"(B, K) = {(B, K)}"
        raise ValueError(f"targets has shape {np.shape(targets)} and dtype {y.dtype}, expected floats {want}")
    y = y.astype(np.float64)
    if not np.all(np.isfinite(y)):
        raise ValueError("targets holds NaN or infinity; every target must be finite")
    sums = y.sum(axis=-1)
    off = np.flatnonzero(~np.isclose(sums, 1, atol=1e-9))
    if net.loss == "xent" and off.size:
        raise ValueError("targets for xent must be class indices or rows that sum to 1 (one-hot or "
                         f"probabilities); row {np.unravel_index(off[0], sums.shape)} sums to {sums.flat[off[0]]:.6g}")
    outside = np.flatnonzero((y < 0) | (y > 1))
    if net.loss == "xent" and outside.size:
        where = np.unravel_index(outside[0], y.shape)
        raise ValueError(f"targets for xent must be probabilities in [0, 1]; targets{[int(i) for i in where]} is "
                         f"{y[where]:.6g}")
    return y


def run_network(net, layers, head, xs, ys, init=None, backend=None):
    """E and every gradient of the network, through the IR interpreter: each
    layer forward, the head's derived formulas at the steps with a loss, then
    each layer's BPTT with ∂ℓ_t/∂h_t from the layer above (the head's Vᵀ δ_{y,t}
    for the top one).  layers: one params dict per layer; head: {"V", "b_y"};
    xs, ys: lists over t (ys: one entry, step T's, for loss_at="last");
    init: one {state: vector} per layer (zeros when omitted); backend: the
    interpreter's (floats by default; the exact proof runs it over GF(p)).
    Returns (E, {"layers": [grads per layer], "V", "b_y", "x"})."""
    d = _derivation(net)
    cell, T = d.cell, len(xs)
    backend = backend or FloatBackend()
    ctxs, inputs = [], list(xs)
    for l, params in enumerate(layers):
        H = len(params[next(p for p, v in cell.params.items() if v.shape[0] == "H")])
        start = (init or [None] * len(layers))[l] or {s: backend.zeros(H) for s in cell.states}
        ctx = run_forward(cell, params, inputs, start, backend)
        ctxs.append(ctx)
        inputs = [ctx.env[cell.states[0], t] for t in range(1, T + 1)]
    hd = head_derivation(net)
    hctx = Context(backend, {"V": head["V"], "b_y": head["b_y"]}, len(head["b_y"]))
    steps = range(1, T + 1) if net.loss_at == "all" else [T]
    targets = dict(zip(steps, ys))
    E, gV, gb = 0, np.zeros_like(head["V"]), np.zeros_like(head["b_y"])
    direct = [np.zeros_like(inputs[0]) for _ in range(T)]
    for t in steps:
        hctx.t = t
        hctx.env["h", t], hctx.env["y", t] = inputs[t - 1], targets[t]
        hctx.env["a", t] = head["V"] @ inputs[t - 1] + head["b_y"]
        E = E + evaluate(net.loss_node, hctx)
        hctx.deltas["y", True, t] = evaluate(hd.output_delta, hctx)
        gV = gV + evaluate(hd.grads["V"].a, hctx)
        gb = gb + evaluate(hd.grads["b_y"].a, hctx)
        direct[t - 1] = evaluate(hd.into_top, hctx)
    grads = [None] * len(layers)
    for l in reversed(range(len(layers))):
        grads[l] = run_backward(d, ctxs[l], direct)
        direct = grads[l]["x"]
    E = float(E) if backend.kind in ("float",) else E
    return E, {"layers": grads, "V": gV, "b_y": gb, "x": direct}


def _derivation(net):
    from .derivation import derive
    return derive(net.cell)
