"""Training figures for the note (issue "Whole networks"): one run each.

1. Equivalence: 200 Adam steps of a 1-layer LSTM (H = 32) + linear head on
   the adding problem, T = 30, float64, the generated network module against
   torch on the same batches from the same weights: the largest relative loss
   difference and the replay's verdict; then the same for a 2-layer stack
   (torch's num_layers = 2), and for the GRU (1 and 2 layers, without and with
   global-norm clipping at 1; torch's bias_hh r, z rows held at 0).
2. Learning: LSTM and a same-size tanh RNN, T = 50, 3000 Adam steps of batch
   32 (lr 0.01), with and without global-norm clipping at 1: the mean MSE of
   the last 100 steps, the first step whose 50-step mean is below 0.01, and
   the wall time (target: LSTM below 0.01 in under 3 minutes, RNN not).

    python benchmarks/bench_train.py [--steps N] [--T T] [--png FILE.png]
"""
import argparse
import os

# at these sizes (B = 32, H = 32) a second BLAS thread only contends for the
# other core; one thread ran 4-10x faster on this shared 2-core machine.  The
# same holds for torch's OpenMP pool: with the other core busy, two threads took
# the 200-step replay from 6 s to 108 s; one thread takes about 1.5 s
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from lstm_sym.train.model import Network  # noqa: E402
from lstm_sym.train.plot import smooth, write_curves
from lstm_sym.train.run import Settings, replay_verdict, torch_replay, train


def equivalence(cell, layers, clip=None):
    net = Network(cell, 2, 32, layers=layers)
    s = Settings(T=30, steps=200, batch=32, clip=clip)
    _, hist = train(net, s)
    th = torch_replay(net, s)
    verdict = replay_verdict(net, s, hist, th)
    print(f"equivalence, 200 Adam steps, {cell.upper()} H=32, {layers} layer{'s' if layers > 1 else ''}, T=30"
          f"{f', clip {clip:g}' if clip else ''}, float64: largest relative loss difference "
          f"{max(verdict.torch_rel):.2e} (target ≤ 1e-9); numpy {hist.seconds:.1f} s, torch {th.seconds:.1f} s; "
          f"{verdict.line}")


def learning(steps, T, png):
    histories = []
    for cell in ("lstm", "rnn"):
        for clip in (None, 1.0):
            net = Network(cell, 2, 32)
            _, hist = train(net, Settings(T=T, steps=steps, batch=32, clip=clip))
            hist.label = f"{cell}{', clip 1' if clip else ''}"
            sm = smooth(hist.loss)
            below = np.flatnonzero(sm < 0.01)
            first = f"step {below[0] + 1}" if below.size else "never"
            print(f"{hist.label:12s} T={T}: last-100 mean MSE {np.mean(hist.loss[-100:]):.4g}, "
                  f"50-step mean below 0.01: {first}, {hist.seconds:.1f} s")
            histories.append(hist)
    if png:
        write_curves(histories, png, f"adding problem, T = {T}, H = 32, batch 32, Adam 0.01")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--T", type=int, default=50)
    ap.add_argument("--png", default=None)
    a = ap.parse_args()
    for layers in (1, 2):
        equivalence("lstm", layers)
    for layers in (1, 2):
        for clip in (None, 1.0):
            equivalence("gru", layers, clip)
    learning(a.steps, a.T, a.png)
