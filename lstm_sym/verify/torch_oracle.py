"""PyTorch autograd as an outside oracle for the built-in cells (optional).

torch is imported only when a function here runs; without it they raise
ImportError with the reason.  Everything runs in float64 on torch.nn.RNN
(nonlinearity="tanh"), LSTM and GRU: one layer, batch_first=False.

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
| h0, c0 (B,H)     | h_0[0], c_0[0] of shape (1,B,H)         | .grad[0]                 |
| x (T,B,D)        | input (T,B,D)                           | input.grad               |

Where two biases are only ever added (rnn, lstm, and gru's r and z), torch's
pair is one parameter: any split s gives the same outputs, and both halves get
the same gradient, ∂E/∂b.  The default split is s = 0 (bias_hh = 0 there);
`bias_hh` picks another, which the tests use to check the claim.
"""
from __future__ import annotations

import numpy as np

GATES = {  # torch's gate order inside the stacked buffers, as our names
    "rnn": [("W", "U", "b")],
    "lstm": [("W_ih", "W_ix", "b_i"), ("W_fh", "W_fx", "b_f"),
             ("W_ch", "W_cx", "b_c"), ("W_oh", "W_ox", "b_o")],
    "gru": [("W_rh", "W_rx", "b_r"), ("W_zh", "W_zx", "b_z"), ("W_nh", "W_nx", "b_nx")],
}
# biases that sit in bias_hh and cannot move to bias_ih (gru: b_hn inside r ⊙ (…))
HH_ONLY = {"gru": {2: "b_nh"}}


def unsupported(cell):
    """None when torch.nn can run this cell (a built-in it has, equation for
    equation), else the reason it cannot: one line for a "skipped" row."""
    from ..cells import builtin_name
    try:
        import torch  # noqa: F401
    except ImportError:
        return "torch is not installed; pip install 'lstm-sym[oracle]'"
    if builtin_name(cell) not in GATES:
        return f"torch.nn has no {getattr(cell, 'name', cell)} cell"
    return None


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
        raise ValueError(f"the torch oracle knows rnn, lstm and gru, not {cell_name!r}")
    gates, hh_only = GATES[cell_name], HH_ONLY.get(cell_name, {})
    bias_hh = dict(bias_hh or {})
    bad = [b for b in bias_hh if b not in {g[2] for k, g in enumerate(gates) if k not in hh_only}]
    if bad:
        raise ValueError(f"cannot split {bad} between torch's two biases for {cell_name}")
    W_h = np.asarray(params[gates[0][0]])
    H, D = W_h.shape[0], np.asarray(params[gates[0][1]]).shape[1]
    for wh, wx, b in gates:
        for name, shape in ((wh, (H, H)), (wx, (H, D)), (b, (H,))):
            got = np.shape(params[name])
            if got != shape:
                raise ValueError(f"{name}: expected shape {shape}, got {got}")
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell_name]
    kw = {"nonlinearity": "tanh"} if cell_name == "rnn" else {}
    module = cls(D, H, num_layers=1, bias=True, batch_first=False, dtype=torch.float64, **kw)
    b_ih, b_hh = [], []
    for k, (wh, wx, b) in enumerate(gates):
        share = np.asarray(bias_hh.get(b, np.zeros(H)), dtype=float)
        b_ih.append(np.asarray(params[b], dtype=float) - share)
        b_hh.append(np.asarray(params[hh_only[k]], dtype=float) if k in hh_only else share)
    stack = lambda parts: torch.tensor(np.concatenate([np.asarray(p, dtype=float) for p in parts]),
                                       dtype=torch.float64)
    with torch.no_grad():
        module.weight_hh_l0.copy_(stack([params[g[0]] for g in gates]))
        module.weight_ih_l0.copy_(stack([params[g[1]] for g in gates]))
        module.bias_ih_l0.copy_(stack(b_ih))
        module.bias_hh_l0.copy_(stack(b_hh))
    return module


def from_torch_grads(cell_name, module):
    """Our parameter gradients (our names and shapes) from a module after backward()."""
    gates, hh_only = GATES[cell_name], HH_ONLY.get(cell_name, {})
    H = module.hidden_size
    rows = lambda t, k: t.grad[k * H:(k + 1) * H].detach().numpy().copy()
    grads = {}
    for k, (wh, wx, b) in enumerate(gates):
        grads[wh] = rows(module.weight_hh_l0, k)
        grads[wx] = rows(module.weight_ih_l0, k)
        grads[b] = rows(module.bias_ih_l0, k)
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
    if (cell_name == "lstm") != (c0 is not None):
        raise ValueError("c0 is required for lstm and meaningless for rnn and gru")
    if Gc is not None and cell_name != "lstm":
        raise ValueError("Gc (dL/dc_T) only exists for lstm")
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
