"""`lstm-sym bound CELL`: the derivation, the measurement, and (with the
`plot` extra) a PNG."""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile

import numpy as np

from ..derive import derive
from . import experiments as ex
from . import report as rp
from .jacobian import rnn_cell, rnn_factor
from ..cli import plain_mode

ACTIVATIONS = ("tanh", "sigmoid", "relu", "softsign")
PASCANU_TRIALS = 200
INSTANCES = ("Random instances: W = s·G/√H (every recurrent weight; G standard normal, s = --scale), "
             "input weights G/√8 with x_t ∈ ℝ⁸ standard normal, biases 0, h_0 (and c_0) = 0.5·G, "
             "cotangent g on h_T standard normal.  A given seed gives every cell the same x, h_0 and g.  "
             "The step-1 weight-gradient term multiplies h_0, which is drawn rather than made by the cell, "
             "so at t−k = T−1 it sits on another scale (the jump at the end of the plot); read trends from k ≥ 2.")


def analyse(cell_name, activation="tanh", T=50, trials=1000, hidden=64, scale=1.0, seed=0, fmt=rp.plain):
    """(blocks, figure data) for one cell: what the command prints.  Trials
    that overflow float64 (huge --scale) are counted, not warned about."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _analyse(cell_name, activation, T, trials, hidden, scale, seed, fmt)


def _analyse(cell_name, activation, T, trials, hidden, scale, seed, fmt):
    from ..activations import BUILTIN
    d = derive(rnn_cell(BUILTIN[activation]) if cell_name == "rnn" else cell_name)
    blocks = rp.derivation_blocks(d)
    inst = ex.random_instance(d.cell, trials, hidden, T, scale, seed)
    m = ex.measure(d, inst)
    blocks += [rp.Heading(f"Measured ({d.cell.name}): {trials} random instances, T = {T}, H = {hidden}, scale {scale:g}, "
                          f"seed {seed}"), rp.Para(INSTANCES)]
    blocks += rp.measurement_blocks(m, fmt) + rp.regime_para(m, fmt)
    figure = {"cell": d.cell.name, "main": m}
    if rnn_factor(d):
        n = min(trials, PASCANU_TRIALS)
        blocks += [rp.Heading(f"Pascanu's regimes: W rescaled so that β_f β_W = ρ exactly ({n} trials, "
                              f"T = {T}, H = {hidden})"),
                   rp.pascanu_table(d, n, hidden, T, seed, fmt=fmt), rp.nilpotent_para(d, fmt)]
    if cell_name == "lstm":
        rnn_d = derive("rnn")
        rnn_m = ex.measure(rnn_d, ex.random_instance(rnn_d.cell, trials, hidden, T, scale, seed), bounds=False)
        high = ex.FORGET_BIAS["high"]
        opened = ex.Instance({**inst.params, "b_f": np.full((trials, hidden), high)}, inst.xs, inst.init, inst.g)
        open_m = ex.measure(d, opened, bounds=False)
        lstms = [(0.0, m), (high, open_m)]
        paths = [(b, *ex.cell_state_path(d, inst, b)) for b in ex.FORGET_BIAS.values()]
        blocks += [rp.Heading("RNN against LSTM: per-step weight-gradient terms ∇_{W_k}E, same inputs")]
        blocks += rp.comparison_blocks(rnn_m, lstms, fmt)
        blocks += [rp.Heading("The LSTM cell-state path: ‖∂c_t/∂c_k‖ with the forget-gate bias high and low")]
        blocks += rp.cell_path_blocks(paths, fmt)
        figure.update(rnn=rnn_m, lstms=lstms, paths=paths)
    return blocks, figure


def positive_float(text):
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return v


def seed_int(text):
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"--seed {text!r} is not a non-negative integer")
    return n


def register_bound(sub):
    from ..cli import UsageError, cell_name, positive_int
    p = sub.add_parser("bound", help="derive and measure the gradient-flow bound ‖δ_k‖ ≤ ‖δ_t‖ (β_f β_W)^(t−k)")
    p.add_argument("cell", type=cell_name)
    p.add_argument("--T", type=positive_int, default=50, help="sequence length (default 50)")
    p.add_argument("--trials", type=positive_int, default=1000, help="random instances (default 1000)")
    p.add_argument("--hidden", type=positive_int, default=64, help="hidden size H (default 64)")
    p.add_argument("--scale", type=positive_float, default=1.0, help="recurrent weights s·G/√H (default 1)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--activation", choices=ACTIVATIONS, default=None, help="the rnn's f (default tanh)")
    p.add_argument("--format", choices=("text", "latex"), default="text")
    p.add_argument("--plot", metavar="FILE.png", default=None, help="also draw a PNG (needs matplotlib)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")

    def run(args):
        if args.activation and args.cell != "rnn":
            raise UsageError(f"--activation applies to the rnn only, not {args.cell}")
        if args.plot is not None:
            check_plot_path(args.plot, args.force)
        blocks, figure = analyse(args.cell, args.activation or "tanh", args.T, args.trials, args.hidden,
                                 args.scale, args.seed)
        if args.plot is not None:
            write_plot(figure, args.plot)
        sys.stdout.write(rp.render(blocks, args.format))
        return 0
    p.set_defaults(run=run)


def _matplotlib():
    from ..cli import UsageError
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'lstm-sym[plot]'") from None
    return Figure, FigureCanvasAgg


def check_plot_path(path, force):
    """Fail before measuring: matplotlib present, a .png name, a writable folder."""
    from ..cli import UsageError
    _matplotlib()
    if not path.lower().endswith(".png"):
        raise UsageError(f"--plot writes PNG: give a file name ending in .png, not {path!r}")
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lstm-sym-", suffix=".png")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
    os.close(fd)
    os.unlink(tmp)


def write_plot(figure, path):
    """Draw to a temporary file in the same folder, then rename: never half a PNG."""
    Figure, Canvas = _matplotlib()
    m = figure["main"]
    panels = 3 if "rnn" in figure else 1
    fig = Figure(figsize=(5.5 * panels, 4.2))
    Canvas(fig)
    ax = fig.add_subplot(1, panels, 1)
    d = np.arange(m.T + 1)
    med = lambda logs: np.exp(np.median(logs, axis=1))
    ax.semilogy(d, med(m.log_ratio), label=r"$\|\delta_k\|/\|\delta_t\|$, median")
    ax.semilogy(d, np.exp(m.log_ratio.max(axis=1)), label="max")
    ax.semilogy(d, med(m.log_data_bound), "--", label="data bound, median")
    if m.log_beta_bound is not None:
        ax.semilogy(d, med(m.log_beta_bound), ":", label=r"$(\beta_f\beta_W)^{t-k}$, median")
    ax.set(xlabel="t − k", title=rf"{figure['cell']}: $\|\delta_k\|/\|\delta_t\|$ against the bound")
    ax.legend(fontsize=8)
    if "rnn" in figure:
        ax = fig.add_subplot(1, 3, 2)
        g = np.arange(m.T)
        ax.semilogy(g, med(figure["rnn"].log_grad - figure["rnn"].log_grad[0]), "o-", ms=3, label="rnn")
        for b, lm in figure["lstms"]:
            ax.semilogy(g, med(lm.log_grad - lm.log_grad[0]), "o-", ms=3, label=f"lstm, $b_f = {rp.signed(b)}$")
        ax.set(xlabel="t − k", title=r"$\|\nabla_{W_k}E\| / \|\nabla_{W_t}E\|$, median")
        ax.legend(fontsize=8)
        ax = fig.add_subplot(1, 3, 3)
        for (b, direct, total), color in zip(figure["paths"], ("C0", "C3")):
            b = rp.signed(b)
            ax.semilogy(d, med(direct), "--", color=color, label=rf"$\|\prod\,\mathrm{{diag}}(f_i)\|$, $b_f = {b}$")
            ax.semilogy(d, med(total), color=color, label=rf"$\|\partial c_t/\partial c_k\|_2$, $b_f = {b}$")
        ax.set(xlabel="t − k", title="LSTM cell-state path, median")
        ax.legend(fontsize=8)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lstm-sym-", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=100)
        plain_mode(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
