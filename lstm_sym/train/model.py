"""The network a training run optimises: `layers` stacked layers of a cell, a
linear output head a_t = V h_t + b_y and a loss (MSE, or softmax
cross-entropy) at the last step or at every step.

Everything — the layers, the head, the loss and every gradient — is the
network's generated module (codegen.network, written from the network's
derivation).  Its E sums over the batch and the scored steps, with
½‖a_t − y_t‖² for MSE; training reports torch's conventions instead
(nn.MSELoss and nn.CrossEntropyLoss means, then the mean over the scored
steps), which is E times a constant:

    MSE:  L = 2 E / (S B K),    cross-entropy:  L = E / (S B)

(S scored steps, batch B, K outputs), and so is every gradient.

The optimizers take one flat dict of arrays: the cell's parameter names for a
single layer, with layer l's suffixed _l{l} (as torch names them) when there
are more, then V and b_y."""
from __future__ import annotations

import numpy as np

from ..cells import load_cell
from ..codegen.network import compile_network
from ..network import network

HEAD = ("V", "b_y")


class Network:
    """layers × cell → head → loss.  params holds every layer's parameters and V, b_y."""

    def __init__(self, cell, D, H, K=1, loss="mse", loss_at="last", layers=1):
        for name, v in (("D", D), ("H", H), ("K", K)):
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.cell = load_cell(cell) if isinstance(cell, str) else cell
        # network() checks loss, loss_at and layers, naming the choices
        self.module = compile_network(network(self.cell, layers=layers, loss=loss, loss_at=loss_at))
        self.D, self.H, self.K, self.loss, self.loss_at, self.layers = D, H, K, loss, loss_at, layers

    def key(self, name, layer):
        """The flat params key of layer `layer`'s (0-based) parameter `name`."""
        return name if self.layers == 1 else f"{name}_l{layer}"

    def layer_params(self, params, layer):
        """Layer `layer`'s parameters under the cell's own names."""
        return {name: params[self.key(name, layer)] for name in self.module.PARAMS}

    def _flat(self, nested, scale=1.0):
        """{"layers": [...], "V", "b_y"} (init_network's or backward's) as one flat dict, times scale."""
        flat = {self.key(name, l): scale * g[name] for l, g in enumerate(nested["layers"])
                for name in self.module.PARAMS}
        flat.update({name: scale * nested[name] for name in HEAD})
        return flat

    def init_params(self, seed=0):
        return self._flat(self.module.init_network(self.D, self.H, self.K, seed=seed))

    def loss_and_grads(self, params, x, y):
        """(L, grads) for inputs x (T, B, D) and targets y: (B, K) for MSE,
        (B,) class indices for cross-entropy; with loss_at="all" one more
        leading T axis."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[2] != self.D:
            raise ValueError(f"x: expected shape (T, B, {self.D}), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinity")
        T, B, _ = x.shape
        y = self._targets(y, T, B)
        nested = {"layers": [self.layer_params(params, l) for l in range(self.layers)],
                  "V": params["V"], "b_y": params["b_y"]}
        E, cache = self.module.loss(nested, x, y)
        steps = T if self.loss_at == "all" else 1
        scale = 2.0 / (steps * B * self.K) if self.loss == "mse" else 1.0 / (steps * B)
        return scale * E, self._flat(self.module.backward(nested, cache), scale)

    def _targets(self, y, T, B):
        """y checked against the shape training takes (class indices only, for xent)."""
        y = np.asarray(y)
        lead = (T,) if self.loss_at == "all" else ()
        if self.loss == "mse":
            want = lead + (B, self.K)
            if y.shape != want:
                raise ValueError(f"targets: expected shape {want}, got {y.shape}")
            return y
        want = lead + (B,)
        if y.shape != want or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"targets: expected class indices of shape {want}, got {y.dtype} {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= self.K):
            raise ValueError(f"targets: class indices must be in [0, {self.K}), got {y.min()}..{y.max()}")
        return y
