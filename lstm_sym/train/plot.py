"""Loss curves as a PNG (the `plot` extra), written atomically."""
from __future__ import annotations

import io

import numpy as np

from ..bound.plot import _matplotlib, check_plot_path
from ..io import write_output
from .tasks import BASELINE_MSE

__all__ = ["check_plot_path", "write_curves"]


def smooth(values, width=50):
    """Running mean over `width` steps (the first steps average what exists)."""
    v = np.asarray(values, dtype=float)
    c = np.cumsum(np.insert(v, 0, 0.0))
    i = np.arange(1, len(v) + 1)
    k = np.minimum(i, width)
    return (c[i] - c[i - k]) / k


def write_curves(histories, path, title, baseline=True):
    # a diverged run's losses near 1e308: matplotlib's log axis overflows in exp while
    # it draws (harmlessly, the ticks clip); its RuntimeWarning is not the command's to print
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        buf = _draw(histories, title, baseline)
    write_output(path, buf.getvalue(), force=True, suffix=".png")


def _draw(histories, title, baseline):
    Figure, Canvas = _matplotlib()
    fig = Figure(figsize=(6.5, 4.2))
    Canvas(fig)
    ax = fig.add_subplot(1, 1, 1)
    for hist in histories:
        steps = np.arange(1, len(hist.loss) + 1)
        ax.semilogy(steps, hist.loss, alpha=0.25, lw=0.6)
        ax.semilogy(steps, smooth(hist.loss), lw=1.6, color=ax.lines[-1].get_color(),
                    label=f"{hist.label} (mean of 50 steps)")
    if baseline:
        ax.axhline(BASELINE_MSE, ls="--", color="gray", lw=1, label="predict 1.0 (MSE 1/6)")
        ax.axhline(0.01, ls=":", color="black", lw=1, label="MSE 0.01")
    ax.set(xlabel="training step", ylabel="loss", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf
