"""PyTorch autograd as an outside oracle for the built-in cells (optional).

torch is imported only when a function here runs; without it they raise
ImportError with the reason.  Everything runs in float64 on torch.nn.RNN
(nonlinearity="tanh"), LSTM and GRU: one layer, batch_first=False.  Two more
built-in cells are torch.nn.LSTM with one gate fixed or tied: lstm_nofg (the
forget gate held open at exactly 1) and cifg (the input gate made from the
forget gate's weights negated, σ(−a) = 1 − σ(a)).  The others (lstm_peephole,
gru_cho, mgu) torch.nn cannot express; `unsupported` says what it lacks.

torch stacks each gate's weights in one buffer (rows [k·H, (k+1)·H) hold
gate k) and keeps two biases, bias_ih and bias_hh, that are simply added —
except the GRU's candidate n, where r multiplies (W_hn h + b_hn) only.

| ours             | torch (single layer, suffix _l0)        | gradient read back       |
|------------------|-----------------------------------------|--------------------------|
| rnn  W (H,H)     | weight_hh                               | weight_hh.grad           |
| rnn  U (H,D)     | weight_ih                               | weight_ih.grad           |
| rnn  b (H)       | bias_ih = b − s, bias_hh = s (s = 0)    | bias_ih.grad (= bias_hh.grad) |
| lstm W_ih, W_ix  | weight_hh / weight_ih rows [0H, 1H)  i  | same rows of .grad       |
| lstm W_fh, W_fx  | rows [1H, 2H)  f                        |                          |
| lstm W_ch, W_cx  | rows [2H, 3H)  g (our c̃)                |                          |
| lstm W_oh, W_ox  | rows [3H, 4H)  o                        |                          |
| lstm b_i,b_f,b_c,b_o | bias_ih rows i,f,g,o = b − s, bias_hh = s | bias_ih.grad rows   |
| gru  W_rh, W_rx  | weight_hh / weight_ih rows [0H, 1H)  r  | same rows of .grad       |
| gru  W_zh, W_zx  | rows [1H, 2H)  z                        |                          |
| gru  W_nh, W_nx  | rows [2H, 3H)  n                        |                          |
| gru  b_r, b_z    | bias_ih rows r,z = b − s, bias_hh = s   | bias_ih.grad rows        |
| gru  b_nx        | bias_ih rows n  (b_in)                  | bias_ih.grad rows n      |
| gru  b_nh        | bias_hh rows n  (b_hn, inside r ⊙ (…))  | bias_hh.grad rows n      |
| lstm_nofg        | as lstm, forget rows: weights 0, bias_ih = OPEN (40), bias_hh = 0 | i, g, o rows only (σ′(40) = 0 exactly) |
| cifg  W_fh, W_fx, b_f | rows f as lstm, and rows i = −(the same) | f rows − i rows        |
| cifg  W_ch…, W_oh… | rows g, o as lstm                      | same rows of .grad       |
| h0, c0 (B,H)     | h_0[0], c_0[0] of shape (1,B,H)         | .grad[0]                 |
| x (T,B,D)        | input (T,B,D)                           | input.grad               |

lstm_nofg is exact, not approximate: σ(40) rounds to 1.0 in float64, so c_t =
1.0 ⊙ c_{t−1} + i_t ⊙ g_t is our c_{t−1} + i_t ⊙ c̃_t, and σ′ = σ(1 − σ) = 0
sends nothing into the forget rows (the tests check that their gradient is 0).

Where two biases are only ever added (rnn, lstm, and gru's r and z), torch's
pair is one parameter: any split s gives the same outputs, and both halves get
the same gradient, ∂E/∂b.  The default split is s = 0 (bias_hh = 0 there);
`bias_hh` picks another, which the tests use to check the claim.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

class Open:
    """A gate torch has and the cell has not, held open at exactly 1: its
    weights 0, its bias OPEN, so σ(OPEN) rounds to 1.0 and σ′ = σ(1 − σ) is
    exactly 0 — the gate multiplies by one and passes no gradient anywhere."""

    def __repr__(self):
        return "Open()"


@dataclass(frozen=True)
class Negated:
    """torch's gate made from one of ours with every weight and bias negated:
    σ(−a) = 1 − σ(a).  Our gradient is torch's for the gate minus torch's for this slot."""
    gate: tuple


# σ(b) == 1.0 in float64 once e^{−b} ≤ 2^{−53} (half an ulp of 1), i.e. b ≥ 53 ln 2 ≈ 36.74
# (torch.sigmoid agrees: 36.75 gives 1.0, 36.5 does not).  40 leaves e^{−40} ≈ 4e−18, 26×
# below that edge, for exp implementations that are off by a few ulps.
OPEN = 40.0

GATES = {  # torch's gate order inside the stacked buffers, as our names
    "rnn": [("W", "U", "b")],
    "lstm": [("W_ih", "W_ix", "b_i"), ("W_fh", "W_fx", "b_f"),
             ("W_ch", "W_cx", "b_c"), ("W_oh", "W_ox", "b_o")],
    "gru": [("W_rh", "W_rx", "b_r"), ("W_zh", "W_zx", "b_z"), ("W_nh", "W_nx", "b_nx")],
    # torch.nn.LSTM with one gate fixed or tied
    "lstm_nofg": [("W_ih", "W_ix", "b_i"), Open(), ("W_ch", "W_cx", "b_c"), ("W_oh", "W_ox", "b_o")],
    "cifg": [Negated(("W_fh", "W_fx", "b_f")), ("W_fh", "W_fx", "b_f"),
             ("W_ch", "W_cx", "b_c"), ("W_oh", "W_ox", "b_o")],
}
MODULES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "lstm_nofg": "LSTM", "cifg": "LSTM"}
# biases that sit in bias_hh and cannot move to bias_ih (gru: b_hn inside r ⊙ (…))
HH_ONLY = {"gru": {2: "b_nh"}}

# what torch lacks, for the built-in cells it cannot run
LACKS = {
    "lstm_peephole": "torch.nn.LSTM has no peepholes: its gates read h_{t−1} and x_t, never c",
    "gru_cho": "torch.nn.GRU applies its reset after W_hn, r_t ⊙ (W_hn h_{t−1} + b_hn); "
               "it has no W_nh (r_t ⊙ h_{t−1})",
    "mgu": "torch.nn.GRU has no single-gate form, and applies its reset after W_hn, "
           "not to h_{t−1} before W_nh",
}


def unsupported(cell):
    """None when torch.nn can run this cell (a built-in it can express,
    equation for equation), else the reason it cannot: one line for a
    "skipped" row."""
    from ..cells import builtin_name
    try:
        import torch  # noqa: F401
    except ImportError:
        return "torch is not installed; pip install 'lstm-sym[oracle]'"
    name = builtin_name(cell)
    if name in GATES:
        return None
    if name in LACKS:
        return LACKS[name]
    label = getattr(cell, "name", cell)
    own = ", ".join(n for n in GATES)
    if label in LACKS or label in GATES:
        return (f"this {label} is not the built-in {label} cell equation for equation; the torch oracle maps "
                f"only the built-in cells torch.nn expresses ({own})")
    return f"the torch oracle maps only the built-in cells torch.nn expresses ({own}); {label} is not one of them"


def _slots(gates):
    """(k, (wh, wx, b), sign) for every torch slot that holds our parameters."""
    for k, g in enumerate(gates):
        if isinstance(g, Negated):
            yield k, g.gate, -1.0
        elif not isinstance(g, Open):
            yield k, g, 1.0


def _torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError("the PyTorch oracle needs torch (pip install 'lstm-sym[oracle]'): "
                          f"{e}") from None
    return torch


def to_torch(cell_name, params, bias_hh=None):
    """A float64 torch.nn.RNN/LSTM/GRU whose weights are `params` (our names).

    bias_hh: our bias name -> the share s given to bias_hh (bias_ih gets b − s);
    only for biases that are simply added (not gru's b_nh / b_nx)."""
    torch = _torch()
    if cell_name not in GATES:
        why = LACKS.get(cell_name, f"torch.nn has no {cell_name} cell")
        raise ValueError(f"the torch oracle runs {', '.join(GATES)}, not {cell_name!r}: {why}")
    gates, hh_only = GATES[cell_name], HH_ONLY.get(cell_name, {})
    bias_hh = dict(bias_hh or {})
    bad = [b for b in bias_hh if b not in {g[2] for k, g, _ in _slots(gates) if k not in hh_only}]
    if bad:
        raise ValueError(f"cannot split {bad} between torch's two biases for {cell_name}")
    first = next(g for _, g, _ in _slots(gates))
    W_h = np.asarray(params[first[0]])
    H, D = W_h.shape[0], np.asarray(params[first[1]]).shape[1]
    for _, (wh, wx, b), _ in _slots(gates):
        for name, shape in ((wh, (H, H)), (wx, (H, D)), (b, (H,))):
            got = np.shape(params[name])
            if got != shape:
                raise ValueError(f"{name}: expected shape {shape}, got {got}")
    cls = getattr(torch.nn, MODULES[cell_name])
    kw = {"nonlinearity": "tanh"} if cell_name == "rnn" else {}
    module = cls(D, H, num_layers=1, bias=True, batch_first=False, dtype=torch.float64, **kw)
    zero = {"h": np.zeros((H, H)), "x": np.zeros((H, D)), "b": np.zeros(H)}
    w_hh, w_ih, b_ih, b_hh = ([zero["h"]] * len(gates), [zero["x"]] * len(gates),
                              [np.full(H, OPEN)] * len(gates), [zero["b"]] * len(gates))
    for k, (wh, wx, b), sign in _slots(gates):
        share = np.asarray(bias_hh.get(b, np.zeros(H)), dtype=float)
        w_hh[k] = sign * np.asarray(params[wh], dtype=float)
        w_ih[k] = sign * np.asarray(params[wx], dtype=float)
        b_ih[k] = sign * (np.asarray(params[b], dtype=float) - share)
        b_hh[k] = np.asarray(params[hh_only[k]], dtype=float) if k in hh_only else sign * share
    stack = lambda parts: torch.tensor(np.concatenate(parts), dtype=torch.float64)
    with torch.no_grad():
        module.weight_hh_l0.copy_(stack(w_hh))
        module.weight_ih_l0.copy_(stack(w_ih))
        module.bias_ih_l0.copy_(stack(b_ih))
        module.bias_hh_l0.copy_(stack(b_hh))
    return module


def from_torch_grads(cell_name, module):
    """Our parameter gradients (our names and shapes) from a module after
    backward().  A gate held open contributes nothing (its σ′ is exactly 0); a
    negated slot's gradient is subtracted from its gate's."""
    gates, hh_only = GATES[cell_name], HH_ONLY.get(cell_name, {})
    H = module.hidden_size
    rows = lambda t, k: t.grad[k * H:(k + 1) * H].detach().numpy().copy()
    grads = {}
    add = lambda name, value: grads.__setitem__(name, grads[name] + value if name in grads else value)
    for k, (wh, wx, b), sign in _slots(gates):
        add(wh, sign * rows(module.weight_hh_l0, k))
        add(wx, sign * rows(module.weight_ih_l0, k))
        add(b, sign * rows(module.bias_ih_l0, k))
        if k in hh_only:
            grads[hh_only[k]] = rows(module.bias_hh_l0, k)
    return grads


def torch_run(cell_name, params, x, h0, c0=None, G=None, Gc=None, bias_hh=None):
    """Forward and backward in torch.  Returns (h (T,B,H) tensor, module, leaf
    tensors x, h0, c0) with gradients filled in, for tests that look inside."""
    torch = _torch()
    module = to_torch(cell_name, params, bias_hh)
    x = np.asarray(x, dtype=float)
    h0 = np.asarray(h0, dtype=float)
    if x.ndim != 3 or h0.ndim != 2:
        raise ValueError(f"x must be (T,B,D) and h0 (B,H); got {x.shape} and {h0.shape}")
    T, B, D = x.shape
    H = module.hidden_size
    if h0.shape != (B, H) or D != module.input_size:
        raise ValueError(f"shapes disagree: x {x.shape}, h0 {h0.shape}, cell D={module.input_size} H={H}")
    has_c = MODULES[cell_name] == "LSTM"
    if has_c != (c0 is not None):
        raise ValueError(f"c0 is {'required' if has_c else 'meaningless'} for {cell_name}: "
                         "torch.nn.LSTM has a cell state, RNN and GRU have none")
    if Gc is not None and not has_c:
        raise ValueError(f"Gc (dL/dc_T) only exists for cells with a cell state, not {cell_name}")
    leaf = lambda a: torch.tensor(np.asarray(a, dtype=float), dtype=torch.float64, requires_grad=True)
    xt, h0t = leaf(x), leaf(h0[None])
    c0t = leaf(np.asarray(c0, dtype=float)[None]) if c0 is not None else None
    if c0t is not None:
        h, (_, cT) = module(xt, (h0t, c0t))
    else:
        h, _ = module(xt, h0t)
    Gt = torch.ones_like(h) if G is None else torch.tensor(np.asarray(G, dtype=float), dtype=torch.float64)
    if Gt.shape != h.shape:
        raise ValueError(f"G must have shape {tuple(h.shape)}, got {tuple(Gt.shape)}")
    loss = (Gt * h).sum()
    if Gc is not None:
        loss = loss + (torch.tensor(np.asarray(Gc, dtype=float), dtype=torch.float64) * cT[0]).sum()
    loss.backward()
    return h, module, (xt, h0t, c0t)


def torch_gradients(cell_name, params, x, h0, c0=None, G=None, Gc=None, bias_hh=None):
    """torch's h (T,B,H) and the gradient of L = Σ_t ⟨G_t, h_t⟩ + ⟨G_c, c_T⟩
    (summed over the batch) w.r.t. every parameter (our names and shapes), "x"
    (T,B,D), "h0" (B,H) and, for lstm, "c0" — numpy float64.  G defaults to
    ones, Gc to zero."""
    h, module, (xt, h0t, c0t) = torch_run(cell_name, params, x, h0, c0, G, Gc, bias_hh)
    grads = from_torch_grads(cell_name, module)
    grads["x"] = xt.grad.detach().numpy().copy()
    grads["h0"] = h0t.grad[0].detach().numpy().copy()
    if c0t is not None:
        grads["c0"] = c0t.grad[0].detach().numpy().copy()
    return h.detach().numpy().copy(), grads
