"""The training loop over a Network, and its replay in PyTorch.

Both draw the same batches from one seeded generator and start from the
same weights, so in float64 the two loss curves agree step by step."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .optim import OPTIMIZERS, clip_by_global_norm, clip_by_value, global_norm
from .tasks import task as task_of


class Diverged(ValueError):
    """The loss became NaN or infinite; the history up to it is kept."""

    def __init__(self, step, last_norm, history):
        super().__init__(f"the loss is not finite at step {step} (last finite gradient norm "
                         f"{last_norm:.4g}); lower --lr or set --clip")
        self.step, self.history = step, history


@dataclass
class History:
    label: str
    loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Settings:
    task: str = "adding"
    T: int = 50
    steps: int = 3000
    batch: int = 32
    optimizer: str = "adam"
    lr: float = 1e-2
    clip: float | None = None           # global-norm clipping
    clip_value: float | None = None     # per-element clipping
    seed: int = 0


def batches(settings):
    """The sequence of (x, y) every run of these settings sees."""
    rng = np.random.default_rng(settings.seed)
    make = task_of(settings.task)
    for _ in range(settings.steps):
        yield make(rng, settings.T, settings.batch)


def train(net, settings, every=0, report=None, label=None):
    """Train `net` in place; returns (params, History).  report(step, loss,
    norm, steps_per_s) is called every `every` steps."""
    if settings.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {settings.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    params = net.init_params(settings.seed)
    opt = OPTIMIZERS[settings.optimizer](params, lr=settings.lr)
    hist = History(label or net.cell.name)
    start = last = time.perf_counter()
    last_norm = math.nan
    for step, (x, y) in enumerate(batches(settings), 1):
        with np.errstate(all="ignore"):      # a blow-up is reported below, as one line
            L, grads = _loss_and_grads(net, params, x, y)
            norm = math.nan if grads is None else (
                clip_by_global_norm(grads, settings.clip) if settings.clip else global_norm(grads))
        if not (math.isfinite(L) and math.isfinite(norm)):
            hist.seconds = time.perf_counter() - start
            raise Diverged(step, last_norm, hist)
        if settings.clip_value:
            clip_by_value(grads, settings.clip_value)
        with np.errstate(all="ignore"):      # an overflow here is the next step's Diverged
            opt.step(grads)
        hist.loss.append(L)
        hist.grad_norm.append(norm)
        last_norm = norm
        if report and every and step % every == 0:
            now = time.perf_counter()
            report(step, L, norm, every / max(now - last, 1e-9))
            last = now
    hist.seconds = time.perf_counter() - start
    return params, hist


def _loss_and_grads(net, params, x, y):
    """net.loss_and_grads, or (nan, None) when a step has overflowed a parameter to
    infinity (the network module refuses non-finite parameters): that is divergence."""
    try:
        return net.loss_and_grads(params, x, y)
    except ValueError:
        if all(np.all(np.isfinite(p)) for p in params.values()):
            raise
        return math.nan, None


TORCH_CELLS = ("rnn", "lstm")        # one torch slot per parameter of ours


def torch_unsupported(cell):
    """None when the run can be replayed in torch, else why not (one line)."""
    from ..cells import builtin_name
    from ..verify.torch_oracle import unsupported
    why = unsupported(cell)
    if why is None and builtin_name(cell) not in TORCH_CELLS:
        why = (f"the torch equivalence mode runs {', '.join(TORCH_CELLS)}; "
               f"{cell.name} has no one-to-one torch.nn parameters")
    return why


def torch_modules(net, params):
    """torch.nn.RNN/LSTM(num_layers=net.layers) and nn.Linear holding params
    (float64), as the network oracle builds them; bias_hh is frozen at 0, our one
    bias per gate living in bias_ih."""
    from ..cells import builtin_name
    from ..verify.torch_network import stacked_torch
    why = torch_unsupported(net.cell)
    if why:
        raise ValueError(why)
    layers = [net.layer_params(params, l) for l in range(net.layers)]
    rnn, head = stacked_torch(builtin_name(net.cell), {"layers": layers, "V": params["V"], "b_y": params["b_y"]})
    for l in range(net.layers):
        getattr(rnn, f"bias_hh_l{l}").detach_().zero_().requires_grad_(False)
    return rnn, head


def torch_loss(net, rnn, head, x, y):
    """The mean loss as torch computes it: MSELoss or CrossEntropyLoss per scored step, averaged."""
    import torch
    lossf = torch.nn.MSELoss() if net.loss == "mse" else torch.nn.CrossEntropyLoss()
    h, _ = rnn(torch.from_numpy(np.asarray(x, dtype=np.float64)))
    steps = range(h.shape[0]) if net.loss_at == "all" else [h.shape[0] - 1]
    ys = y if net.loss_at == "all" else [y]
    return sum(lossf(head(h[t]), torch.from_numpy(np.asarray(yt))) for t, yt in zip(steps, ys)) / len(steps)


def torch_replay(net, settings):
    """The same run in torch (nn.RNN/LSTM(num_layers=L) + nn.Linear + MSELoss or
    CrossEntropyLoss, torch.optim.Adam/SGD, clip_grad_norm_/clip_grad_value_);
    returns its History."""
    import torch
    rnn, head = torch_modules(net, net.init_params(settings.seed))
    leaves = [p for p in (*rnn.parameters(), *head.parameters()) if p.requires_grad]
    opt = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[settings.optimizer](leaves, lr=settings.lr)
    hist = History(f"{net.cell.name} (torch)")
    start = time.perf_counter()
    for x, y in batches(settings):
        opt.zero_grad()
        L = torch_loss(net, rnn, head, x, y)
        L.backward()
        norm = (torch.nn.utils.clip_grad_norm_(leaves, settings.clip) if settings.clip
                else torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in leaves])))
        if settings.clip_value:
            torch.nn.utils.clip_grad_value_(leaves, settings.clip_value)
        opt.step()
        hist.loss.append(L.item())
        hist.grad_norm.append(float(norm))
    hist.seconds = time.perf_counter() - start
    return hist
