"""The training loop over a Network, and its replay in PyTorch.

Both draw the same batches from one seeded generator and start from the
same weights, so in float64 the two loss curves agree step by step — to 1e-9,
or, in a chaotic run, to NumPy's own sensitivity (replay_verdict)."""
from __future__ import annotations

import itertools
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


def train(net, settings, every=0, report=None, label=None, params=None):
    """Train `net` from `params` (default: its seeded initial weights), updated in
    place; returns (params, History).  report(step, loss, norm, steps_per_s) is
    called every `every` steps."""
    if settings.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {settings.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    params = net.init_params(settings.seed) if params is None else params
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


def torch_unsupported(cell):
    """None when the run can be replayed in torch, else why not (one line)."""
    from ..cells import builtin_name
    from ..verify.torch_oracle import GATES, Negated, unsupported
    why = unsupported(cell)
    name = builtin_name(cell)
    if why is None and any(isinstance(g, Negated) for g in GATES[name]):
        replayable = ", ".join(n for n, gates in GATES.items() if not any(isinstance(g, Negated) for g in gates))
        why = (f"the torch equivalence mode runs {replayable}; {cell.name}'s input gate is its forget "
               f"gate negated (one parameter in two torch.nn.LSTM slots), which torch.optim would move apart")
    return why


def _fixed_slots(name):
    """torch part -> the gate slots (rows [k·H, (k+1)·H)) that hold none of our
    parameters: a gate held open (lstm_nofg's forget rows) and every bias_hh slot
    but gru's n (b_hn); torch_oracle puts our one bias per gate in bias_ih."""
    from ..verify.torch_oracle import GATES, HH_ONLY, Open
    gates, hh_only = GATES[name], HH_ONLY.get(name, {})
    held = [k for k, g in enumerate(gates) if isinstance(g, Open)]
    return len(gates), {"weight_ih": held, "weight_hh": held, "bias_ih": held,
                        "bias_hh": [k for k in range(len(gates)) if k not in hh_only]}


def torch_modules(net, params):
    """torch.nn.RNN/LSTM/GRU(num_layers=net.layers) and nn.Linear holding params
    (float64), as the network oracle builds them.  The torch entries that hold
    none of our parameters stay fixed: a part with none of ours (bias_hh of rnn
    and lstm) is no leaf; in a part with some (gru's bias_hh, whose n slot is our
    b_nh; lstm_nofg's forget rows) a gradient hook zeroes the others' rows, and
    torch.optim.Adam/SGD leave an entry whose gradient is always 0 where it is
    (m = v = 0).  The trainable entries are then exactly ours, one for one."""
    import torch
    from ..cells import builtin_name
    from ..verify.torch_network import stacked_torch
    why = torch_unsupported(net.cell)
    if why:
        raise ValueError(why)
    name = builtin_name(net.cell)
    layers = [net.layer_params(params, l) for l in range(net.layers)]
    rnn, head = stacked_torch(name, {"layers": layers, "V": params["V"], "b_y": params["b_y"]})
    n, fixed = _fixed_slots(name)
    H, trainable = rnn.hidden_size, sum(p.numel() for p in head.parameters())
    for l in range(net.layers):
        for part, slots in fixed.items():
            p = getattr(rnn, f"{part}_l{l}")
            if len(slots) == n:
                p.requires_grad_(False)
                continue
            trainable += p.numel() * (n - len(slots)) // n
            if slots:
                rows = torch.cat([torch.arange(k * H, (k + 1) * H) for k in slots])
                p.register_hook(lambda g, rows=rows: g.index_fill(0, rows, 0.0))
    ours = sum(np.size(v) for v in params.values())
    if trainable != ours:
        raise ValueError(f"torch trains {trainable} entries, the network has {ours} parameters")
    return rnn, head


def torch_loss(net, rnn, head, x, y):
    """The mean loss as torch computes it: MSELoss or CrossEntropyLoss per scored step, averaged."""
    import torch
    lossf = torch.nn.MSELoss() if net.loss == "mse" else torch.nn.CrossEntropyLoss()
    h, _ = rnn(torch.from_numpy(np.asarray(x, dtype=np.float64)))
    steps = range(h.shape[0]) if net.loss_at == "all" else [h.shape[0] - 1]
    ys = y if net.loss_at == "all" else [y]
    return sum(lossf(head(h[t]), torch.from_numpy(np.asarray(yt))) for t, yt in zip(steps, ys)) / len(steps)


def torch_replay(net, settings, modules=None):
    """The same run in torch (nn.RNN/LSTM/GRU(num_layers=L) + nn.Linear + MSELoss or
    CrossEntropyLoss, torch.optim.Adam/SGD, clip_grad_norm_/clip_grad_value_);
    returns its History.  modules: torch_modules' pair to train in place
    (default: built from the run's initial weights)."""
    import torch
    rnn, head = modules or torch_modules(net, net.init_params(settings.seed))
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


# The verdict on a replay.  Every step's loss must agree to FLOOR relative —
# unless the run is chaotic: then a rounding-sized change of the weights (torch
# sums in another order) grows step by step whoever makes it, and torch is
# measured against NumPy's own sensitivity: the same NumPy run, on the same
# batches, from its initial weights each scaled by (1 ± NUDGE), random signs.
# A step fails when torch's difference exceeds max(FLOOR, FACTOR × s_k), where
# s_k is the largest of NumPy's own differences up to step k (one step's
# difference of two losses can pass near 0 by chance; the envelope cannot).
# FACTOR = 100, not 10: torch's rounding and the nudge are two random
# perturbations of 1e-16–1e-15, amplified alike, and their effects' ratio is
# heavy-tailed (a ratio of two random projections).  Over 200 nudge draws each,
# on two chaotic runs (rnn 3 layers T=50 lr 0.1 --clip-value 0.001; gru 2
# layers H=16 T=20 lr 0.1 --clip-value 0.01) torch/NumPy's-own had median
# 0.48 / 0.12 but exceeded 10 in 1.5% / 2% of draws (largest 21 / 16), and
# never 100.  A real difference is far past 100: an Adam lr off by 1e-6, 1e-9
# or even 1e-12 relative gave 1e9, 1e6 and 1e3-1e4 times NumPy's own on them.
FLOOR, NUDGE, FACTOR = 1e-9, 1e-15, 100.0


@dataclass
class Verdict:
    ok: bool
    line: str
    torch_rel: list                 # per step, |L_numpy − L_torch| / |L_torch|
    own_rel: list | None = None     # per step, NumPy against its nudged self (None: not needed)


def nudged(params, seed, rel=NUDGE):
    """Each entry times (1 ± rel), the signs drawn from default_rng([seed, 2])."""
    rng = np.random.default_rng([seed, 2])
    return {k: np.asarray(p) * (1.0 + rel * rng.choice([-1.0, 1.0], size=np.shape(p)))
            for k, p in params.items()}


def _relative(a, b, n):
    """|a_k − b_k| / |b_k| for k < n; inf where either is missing or not finite."""
    out = [abs(x - y) / max(abs(y), 1e-300) for x, y in zip(a, b)]
    return [d if math.isfinite(d) else math.inf for d in out] + [math.inf] * (n - len(out))


def replay_verdict(net, settings, hist, th):
    """Does torch's History `th` agree with NumPy's `hist` (see FLOOR, NUDGE, FACTOR)?"""
    n = settings.steps
    d = _relative(hist.loss, th.loss, n)
    worst = max(range(n), key=lambda k: d[k])
    if all(x <= FLOOR for x in d):
        return Verdict(True, f"torch agrees: every step's loss within {d[worst]:.2e} relative "
                             f"(≤ {FLOOR:.0e})", d)
    try:
        _, own = train(net, settings, params=nudged(net.init_params(settings.seed), settings.seed))
    except Diverged as e:
        own = e.history             # the nudged run blew up: its later steps are unbounded
    s = list(itertools.accumulate(_relative(hist.loss, own.loss, n), max))
    bad = next((k for k in range(n) if not d[k] <= max(FLOOR, FACTOR * s[k])), None)
    rule = f"torch ≤ max({FLOOR:.0e}, {FACTOR:g} × NumPy's own difference so far)"
    if bad is not None:
        return Verdict(False, f"torch disagrees from step {bad + 1}: it differs from NumPy by {d[bad]:.2e} "
                              f"relative, NumPy from itself by at most {s[bad]:.2e} after a {NUDGE:.0e} "
                              f"nudge of its initial weights ({rule})", d, s)
    k = next(k for k in range(n) if d[k] > FLOOR)
    return Verdict(True, f"torch agrees to the run's own sensitivity: the run is chaotic from step {k + 1}: "
                         f"NumPy differs from itself by {s[k]:.2e} after a {NUDGE:.0e} nudge of its initial "
                         f"weights, torch by {d[k]:.2e}; at step {worst + 1} (torch's largest) {s[worst]:.2e} "
                         f"and {d[worst]:.2e} ({rule}, at every step)", d, s)
