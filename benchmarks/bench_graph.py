"""Cost of the graph gradient and of the torch oracle, from one run.

    python benchmarks/bench_graph.py [D,H,T] [B]

For each built-in cell at (D,H,T) (default 3,4,5, the check's sizes) it
prints: scalar-graph size, time to build it, the first reverse accumulation
(includes SymPy differentiating and compiling each distinct node expression),
a second one (compiled), the reference interpreter's forward+backward at the
same size, and their ratio; then torch_gradients at batch B (default 32),
with torch's import time apart.  Wall-clock, one run each: a shared 2-core
machine is noisy, read the figures as orders of magnitude.
"""
import sys
import time

import numpy as np

from lstm_sym.cells import NAMES, get_cell
from lstm_sym.derivation import derive
from lstm_sym.evaluate import run_backward, run_forward
from lstm_sym.verify.graph_oracle import reverse_accumulate, scalar_graph


def timed(f):
    t0 = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t0


def problem(cell, D, H, T, B, seed=0):
    rng = np.random.default_rng(seed)
    dims = {"H": H, "D": D}
    params = {p: 0.5 * rng.standard_normal(tuple(dims[s] for s in v.shape)) for p, v in cell.params.items()}
    x = rng.standard_normal((T, B, D))
    init = {s: rng.standard_normal((B, H)) for s in cell.states}
    G = rng.standard_normal((T, B, H))
    Gc = {s: rng.standard_normal((B, H)) for s in cell.states[1:]}
    return params, x, init, G, Gc


def main():
    D, H, T = (int(v) for v in (sys.argv[1] if len(sys.argv) > 1 else "3,4,5").split(","))
    B = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    print(f"scalar graph at (D,H,T) = ({D},{H},{T}); one sequence")
    print(f"{'cell':<5} {'nodes':>6} {'edges':>6} {'build s':>8} {'1st acc s':>9} {'2nd acc s':>9} "
          f"{'interp s':>8} {'2nd/interp':>10}")
    for name in NAMES:
        cell = get_cell(name)
        params, x, init, G, Gc = problem(cell, D, H, T, 1)
        xs, G1 = list(x[:, 0]), list(G[:, 0])
        init1 = {s: v[0] for s, v in init.items()}
        Gc1 = {s: v[0] for s, v in Gc.items()}
        sg, t_build = timed(lambda: scalar_graph(cell, D, H, T))
        _, t_first = timed(lambda: reverse_accumulate(sg, params, xs, init1, G1, Gc1))
        _, t_second = timed(lambda: reverse_accumulate(sg, params, xs, init1, G1, Gc1))
        d = derive(cell)
        _, t_ref = timed(lambda: run_backward(d, run_forward(cell, params, xs, init1), G1, Gc1))
        print(f"{name:<5} {sg.graph.number_of_nodes():>6} {sg.graph.number_of_edges():>6} {t_build:>8.3f} "
              f"{t_first:>9.3f} {t_second:>9.3f} {t_ref:>8.4f} {t_second / t_ref:>10.1f}")

    try:
        _, t_import = timed(lambda: __import__("torch"))
    except ImportError as e:
        print(f"torch oracle: skipped ({e})")
        return
    from lstm_sym.verify.torch_oracle import torch_gradients
    print(f"\ntorch oracle at (D,H,T,B) = ({D},{H},{T},{B}); import torch {t_import:.2f} s")
    for name in NAMES:
        cell = get_cell(name)
        params, x, init, G, Gc = problem(cell, D, H, T, B)
        run = lambda: torch_gradients(name, params, x, init["h"], init.get("c"), G, Gc.get("c"))
        _, t_first = timed(run)
        _, t_second = timed(run)
        print(f"{name:<5} first {t_first:.3f} s, second {t_second:.3f} s")


if __name__ == "__main__":
    main()
