"""Targets of the code generator, measured in one run.

  python benchmarks/bench_codegen.py                 # all three cells, float32, both sizes
  python benchmarks/bench_codegen.py --cells lstm --repeat 15

Targets (float32, two cores; every ratio from one interleaved run, see lstm_sym/bench.py):
  generated lstm ≤ 1.3× torch at (B,D,H,T) = (64,256,256,100), ≤ 1.8× at (32,128,128,50),
  and ≥ 1.5× faster than the textbook NumPy version at (32,128,128,50); gru and rnn the same
  against torch's GRU and RNN; generating every built-in kernel < 2 s wall, SymPy import included.
"""
import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

from lstm_sym.bench import DEFAULT_SIZES, compare, measure, table, versions
from lstm_sym.codegen import compile as compile_kernel

BIG, SMALL = DEFAULT_SIZES
LIMITS = {BIG: 1.3, SMALL: 1.8}


def generation_wall(repeats=5):
    """Wall time of a fresh Python generating numeric/ for every built-in cell."""
    code = "from lstm_sym.codegen import numeric_files; numeric_files()"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    wall = generation_wall()
    print(f"generating numeric/ (rnn, lstm, gru) in a fresh interpreter: median {wall:.2f} s wall "
          f"(target < 2 s: {'met' if wall < 2 else 'MISSED'})")
    print(f"{versions(args.threads)}; float32; medians of {args.repeat} interleaved runs\n")
    for cell in args.cells:
        checks = compare(cell, compile_kernel(cell), 4, 8, 8, 6)
        print(f"{cell}: float64 agreement " +
              ", ".join(f"vs {k} {v[1]:.1e}" for k, v in checks.items()))
        rows = measure(cell, DEFAULT_SIZES, dtype=np.float32, repeat=args.repeat, threads=args.threads)
        print(table(rows))
        for r in rows:
            m = r["median"]
            if "torch" in m:
                limit = LIMITS[r["sizes"]]
                ratio = m["generated"] / m["torch"]
                print(f"  {r['sizes']}: generated / torch = {ratio:.2f}× "
                      f"(target ≤ {limit}×: {'met' if ratio <= limit else 'MISSED'})")
            if r["sizes"] == SMALL and cell == "lstm":      # the issue sets this one for the lstm
                speedup = m["textbook"] / m["generated"]
                print(f"  {r['sizes']}: textbook / generated = {speedup:.2f}× "
                      f"(target ≥ 1.5×: {'met' if speedup >= 1.5 else 'MISSED'})")
        print()


if __name__ == "__main__":
    main()
