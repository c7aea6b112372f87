"""The torch oracle for a whole network: torch.nn.LSTM / GRU / RNN with
num_layers = L, then torch.nn.Linear, then torch.nn.CrossEntropyLoss (or the
squared error), summed as our E is; torch's autograd gives every gradient.
Each layer's weights go in through the single-layer mapping of torch_oracle."""
from __future__ import annotations

import types

import numpy as np

from .torch_oracle import MODULES, _torch, from_torch_grads, to_torch


def stacked_torch(name, params):
    """torch's num_layers=L module and nn.Linear holding params (float64): each layer's
    weights through the single-layer mapping of torch_oracle."""
    torch = _torch()
    singles = [to_torch(name, p) for p in params["layers"]]
    sizes = {m.hidden_size for m in singles}
    L = len(singles)
    if len(sizes) != 1:
        raise ValueError(f"torch's {MODULES[name]}(num_layers={L}) has one hidden size; "
                         f"the layers have {sorted(sizes)}")
    H, D = singles[0].hidden_size, singles[0].input_size
    kw = {"nonlinearity": "tanh"} if name == "rnn" else {}
    stacked = getattr(torch.nn, MODULES[name])(D, H, num_layers=L, dtype=torch.float64, **kw)
    head = torch.nn.Linear(H, params["b_y"].shape[0], dtype=torch.float64)
    with torch.no_grad():
        for l, single in enumerate(singles):
            for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(stacked, f"{part}_l{l}").copy_(getattr(single, f"{part}_l0"))
        head.weight.copy_(torch.tensor(np.asarray(params["V"], dtype=np.float64)))
        head.bias.copy_(torch.tensor(np.asarray(params["b_y"], dtype=np.float64)))
    return stacked, head


def torch_network_gradients(net, params, x, targets, h0s=None, c0s=None):
    """(E, grads) as the generated network module's backward() gives them:
    {"layers": [our names per layer, with "h0" (and "c0")], "V", "b_y", "x"}.
    targets: (T, B) class indices or (T, B, K) rows (one step fewer axis for loss_at last)."""
    torch = _torch()
    name = net.cell.name
    stacked, head = stacked_torch(name, params)
    H, L, K = stacked.hidden_size, net.layers, params["b_y"].shape[0]
    T, B, _ = x.shape
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    start = lambda given: torch.tensor(np.stack(given) if given is not None else np.zeros((L, B, H)),
                                       dtype=torch.float64, requires_grad=True)
    h0, c0 = start(h0s), start(c0s)
    out, _ = stacked(xt, (h0, c0) if name in ("lstm", "lstm_nofg", "cifg") else h0)
    z = head(out if net.loss_at == "all" else out[-1:])
    y = np.asarray(targets)
    if net.loss_at == "last":
        y = y[None]
    if net.loss == "xent":
        target = torch.tensor(y.reshape(-1) if y.dtype.kind in "iu" else y.reshape(-1, K))
        E = torch.nn.CrossEntropyLoss(reduction="sum")(z.reshape(-1, K), target)
    else:
        E = 0.5 * torch.nn.MSELoss(reduction="sum")(z, torch.tensor(y, dtype=torch.float64))
    E.backward()
    layers = []
    for l in range(L):
        view = types.SimpleNamespace(hidden_size=H, **{f"{part}_l0": getattr(stacked, f"{part}_l{l}")
                                                       for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
        g = from_torch_grads(name, view)
        g["h0"] = h0.grad[l].numpy().copy()
        if name in ("lstm", "lstm_nofg", "cifg"):
            g["c0"] = c0.grad[l].numpy().copy()
        layers.append(g)
    return float(E.detach()), {"layers": layers, "V": head.weight.grad.numpy().copy(),
                      "b_y": head.bias.grad.numpy().copy(), "x": xt.grad.numpy().copy()}
