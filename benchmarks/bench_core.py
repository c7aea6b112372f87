"""Targets of the symbolic core, measured in one run.

  python benchmarks/bench_core.py            # derive wall time + proofs at the target sizes
  python benchmarks/bench_core.py --scan     # also: the largest sizes whose proof stays under 60 s

Targets: `lstm-sym derive lstm --part all` < 1.5 s wall (Python start and SymPy
import included); each proof (one-step at (D,H)=(3,3), unrolled at (2,2,2))
< 10 s with SymPy alone."""
import argparse
import statistics
import subprocess
import sys
import time

from lstm_sym import derive
from lstm_sym.verify import prove


def derive_wall(repeats=7):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lstm_sym.cli", "derive", "lstm", "--part", "all"],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def backends():
    try:
        import symengine  # noqa: F401
        return ["sympy", "symengine"]
    except ImportError:
        return ["sympy"]


def scan(cell, backend, limit=60.0):
    """Grow one size at a time; stop before the next size would, extrapolating
    the growth of the last two, pass `limit`.  Returns the largest measured
    sizes under it."""
    d = derive(cell)
    best = {}
    ladders = (("one-step", [(n, n, 1) for n in (2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64)]),
               ("unrolled", [(2, 2, T) for T in range(2, 41)]))
    for level, sizes in ladders:
        last = None
        for D, H, T in sizes:
            r = prove(d, D, H, T, backend=backend)
            print(f"    {cell:<5} {level:<9} {backend:<9} (D,H,T)=({D},{H},{T}) {r.seconds:7.2f} s", flush=True)
            if r.seconds > limit:
                break
            best[level] = (D, H, T)
            growth = r.seconds / last if last and last > 0.05 else 1.5
            if r.seconds * growth > limit:
                break
            last = r.seconds
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scan", action="store_true")
    args = ap.parse_args()
    wall = derive_wall()
    print(f"derive lstm --part all: median {wall:.2f} s wall over 7 runs (target < 1.5 s: "
          f"{'met' if wall < 1.5 else 'MISSED'})")
    for backend in backends():
        for cell in ("rnn", "lstm", "gru"):
            d = derive(cell)
            one, unrolled = prove(d, 3, 3, 1, backend=backend), prove(d, 2, 2, 2, backend=backend)
            for r in (one, unrolled):
                print(f"proof {cell:<5} {r.level:<18} ({r.D},{r.H},{r.T}) {backend:<9} "
                      f"{r.seconds:6.2f} s  {'PROVEN' if r.passed else 'FAILED'}  "
                      f"(target < 10 s: {'met' if r.seconds < 10 else 'MISSED'})")
    if args.scan:
        for backend in backends():
            for cell in ("rnn", "lstm", "gru"):
                print(f"largest under 60 s, {cell}, {backend}: {scan(cell, backend)}", flush=True)


if __name__ == "__main__":
    main()
