"""Exact proof of a network's derivation: the cell's rules in every layer, the
head's (a_t = V h_t + b_y) and the loss op's rule (ŷ_t − y_t for softmax
cross-entropy, a_t − y_t for ½‖a_t − y_t‖²), all through
lstm_sym.network.run_network.

As for a cell (verify.symbolic), the forward is expanded into scalar
expressions (symengine's: SymPy took 390 s for a 2-layer LSTM here) and the
algebra system differentiates E itself; the derivation is run at random
points of GF(2^61 − 1) and every entry must agree exactly.  exp and log are
uninterpreted there (exp′ = exp, log′(u) = 1/u, exp(−u) = 1/exp(u)); the
targets y_t are symbols whose values sum to 1 at each step, which the rule
ŷ − y assumes.  Small sizes only: E nests every layer's tanh in every step."""
from __future__ import annotations

import random

import numpy as np

from ..evaluate import run_forward
from ..graph import _shape
from ..network import run_network
from .field import GF, P, FieldBackend, Oracle, to_field
from .symbolic import SymengineBuild, _symbols

SIZES = (2, 2, 2, 2)       # D, H, K, T of the proof


def _inputs(net, D, H, K, T, make):
    """Symbol arrays: every layer's parameters and initial states, V, b_y, x_t, y_t."""
    cell, width, layers, init = net.cell, D, [], []
    for l in range(1, net.layers + 1):
        layers.append({p: _symbols(f"l{l}:{p}", _shape(v, width, H), make) for p, v in cell.params.items()})
        init.append({s: _symbols(f"l{l}:{s}_0", (H,), make) for s in cell.states})
        width = H
    head = {"V": _symbols("V", (K, H), make), "b_y": _symbols("b_y", (K,), make)}
    steps = range(1, T + 1) if net.loss_at == "all" else [T]
    return layers, init, head, [_symbols(f"x_{t}", (D,), make) for t in range(1, T + 1)], \
        {t: _symbols(f"y_{t}", (K,), make) for t in steps}


def _forward_E(se, net, layers, init, head, xs, ys):
    """E as one symengine expression: each layer's forward, a_t = V h_t + b_y, then
    ℓ_t by the loss's definition: −⟨y, a − log Σ e^a⟩ (Σ y = 1), or ½‖a − y‖²."""
    cell, inputs, bk = net.cell, xs, SymengineBuild(se)
    for params, start in zip(layers, init):
        ctx = run_forward(cell, params, inputs, start, bk)
        inputs = [ctx.env[cell.states[0], t] for t in range(1, len(xs) + 1)]
    E = 0
    for t, y in ys.items():
        a = head["V"].dot(inputs[t - 1]) + head["b_y"]
        if net.loss == "xent":
            E += se.log(sum(se.exp(v) for v in a)) * sum(y) - sum(y * a)
        else:
            E += sum((a - y) * (a - y)) / 2
    return E


def _targets(net, layers, init, head, xs, ys):
    """(name, symbol array, where its derived value is in run_network's result)."""
    out = [(f"layer {l + 1} {p}", a, ("layers", l, p)) for l, params in enumerate(layers) for p, a in params.items()]
    out += [(f"layer {l + 1} {s}0", a, ("layers", l, f"{s}0")) for l, st in enumerate(init) for s, a in st.items()]
    out += [("V", head["V"], ("V",)), ("b_y", head["b_y"], ("b_y",))]
    out += [(f"x_{t}", a, ("x", t - 1)) for t, a in enumerate(xs, 1)]
    return out


def _derived(grads, where, shape):
    v = grads
    for k in where:
        v = v[k]
    return np.array([GF(0)] * int(np.prod(shape)), dtype=object).reshape(shape) if v is None else v


def prove_network(net, sizes=SIZES, *, seed=0, points=2):
    """{gradient name: None if every entry agrees at every point, else the first wrong entry}."""
    import symengine as se                         # SymPy's nested tanh costs minutes here
    D, H, K, T = sizes
    layers, init, head, xs, ys = _inputs(net, D, H, K, T, se.Symbol)
    E = _forward_E(se, net, layers, init, head, xs, ys)
    targets = _targets(net, layers, init, head, xs, ys)
    direct = {s: E.diff(s) for _, a, _ in targets for s in a.flat}
    every = [a for _, a, _ in targets] + list(ys.values())
    rng, verdict = random.Random(seed), {name: None for name, _, _ in targets}
    for _ in range(points):
        values = {s.name: rng.randrange(P) for a in every for s in a.flat}
        for y in ys.values():                       # Σ_k y_k = 1 at each step
            values[y[-1].name] = (1 - sum(values[s.name] for s in y[:-1])) % P
        oracle, memo = Oracle(rng.randrange(P)), {}
        gf = lambda a: np.vectorize(lambda s: GF(values[s.name]), otypes=[object])(a)
        _, grads = run_network(net, [{p: gf(a) for p, a in params.items()} for params in layers],
                               {k: gf(a) for k, a in head.items()}, [gf(x) for x in xs],
                               [gf(y) for y in ys.values()], [{s: gf(a) for s, a in st.items()} for st in init],
                               backend=FieldBackend(oracle))
        for name, a, where in targets:
            if verdict[name] is not None:
                continue
            mine = _derived(grads, where, a.shape)
            for idx in np.ndindex(*a.shape):
                want = to_field(direct[a[idx]], values, oracle, memo)
                got = mine[idx].v if isinstance(mine[idx], GF) else int(mine[idx]) % P
                if want != got:
                    verdict[name] = f"{name}[{','.join(map(str, idx))}]"
                    break
    return verdict
