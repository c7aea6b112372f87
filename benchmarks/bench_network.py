"""The generated 2-layer network module (`lstm-sym codegen lstm --layers 2 --loss xent`)
against torch.nn.LSTM(num_layers=2) + nn.Linear + nn.CrossEntropyLoss(reduction="sum"),
forward + backward, float32, interleaved in one process (lstm_sym.bench.settle between
runs); the same weights and inputs, the losses compared first in float64.

    python benchmarks/bench_network.py [--sizes B,D,H,T] [--classes K] [--repeat N]
"""
import argparse
import statistics
import time

import numpy as np
import torch

from lstm_sym.bench import SETTLE, settle
from lstm_sym.network import network
from lstm_sym.codegen.network import compile_network
from lstm_sym.verify.torch_network import stacked_torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="32,64,128,50")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=9)
    a = ap.parse_args()
    B, D, H, T = map(int, a.sizes.split(","))
    K, L = a.classes, 2
    torch.set_num_threads(2)
    net = network("lstm", layers=L, loss="xent")
    mod = compile_network(net)
    rng = np.random.default_rng(0)
    params64 = mod.init_network(D, H, K, seed=0)
    x64, y = rng.standard_normal((T, B, D)), rng.integers(0, K, size=(T, B))
    lstm, head = stacked_torch("lstm", params64)
    xt = torch.tensor(x64, requires_grad=True)
    yt = torch.tensor(y.reshape(-1))
    ours = mod.loss(params64, x64, y)[0]
    theirs = float(torch.nn.CrossEntropyLoss(reduction="sum")(head(lstm(xt)[0]).reshape(-1, K), yt).detach())
    print(f"float64 loss: generated {ours:.12g}, torch {theirs:.12g}, relative difference "
          f"{abs(ours - theirs) / abs(theirs):.1e}")
    f32 = lambda p: p.astype(np.float32)
    params = {"layers": [{k: f32(v) for k, v in p.items()} for p in params64["layers"]],
              "V": f32(params64["V"]), "b_y": f32(params64["b_y"])}
    x = f32(x64)
    lstm, head = lstm.float(), head.float()
    xt32 = torch.tensor(x, requires_grad=True)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")

    def generated():
        E, cache = mod.loss(params, x, y)
        mod.backward(params, cache)

    def torch_run():
        lstm.zero_grad()
        head.zero_grad()
        loss_fn(head(lstm(xt32)[0]).reshape(-1, K), yt).backward()

    runs = {"generated": generated, "torch": torch_run}
    times = {k: [] for k in runs}
    names = list(runs)
    for r in range(a.repeat):
        for k in names[r % 2:] + names[:r % 2]:
            settle(runs[k], SETTLE)
            start = time.perf_counter()
            runs[k]()
            times[k].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    low = {k: min(v) for k, v in times.items()}
    print(f"2-layer LSTM network, float32, (B, D, H, T) = {(B, D, H, T)}, K = {K}: "
          f"generated {med['generated'] * 1e3:.1f} ms, torch {med['torch'] * 1e3:.1f} ms, "
          f"generated / torch {med['generated'] / med['torch']:.2f}x (median of {a.repeat}; "
          f"minimums {low['generated'] / low['torch']:.2f}x; target ≤ 1.3x)")


if __name__ == "__main__":
    main()
