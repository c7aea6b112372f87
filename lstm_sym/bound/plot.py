"""The bound's PNG (the `plot` extra): three panels, written atomically."""
from __future__ import annotations

import io
import os
import tempfile

import numpy as np

from ..io import check_target, write_output
from . import report as rp


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'lstm-sym[plot]'") from None
    return Figure, FigureCanvasAgg


def check_plot_path(path, force):
    """Fail before measuring: matplotlib present, a .png name, a writable folder."""
    _matplotlib()
    if not path.lower().endswith(".png"):
        raise ValueError(f"--plot writes PNG: give a file name ending in .png, not {path!r}")
    folder = check_target(path, force)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lstm-sym-", suffix=".png")
    except OSError as e:
        raise ValueError(f"cannot write {path}: {e.strerror}") from None
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
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    write_output(path, buf.getvalue(), force=True, suffix=".png")
