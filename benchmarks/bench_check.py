"""Targets of the verification layer, measured in one run.

  python benchmarks/bench_check.py

- complex step: max relative error ≤ 1e-12 for every gradient of rnn, lstm,
  gru at (D,H,T) = (3,4,5); central differences ≤ 1e-7;
- `lstm-sym check lstm` (all methods but symbolic, default sizes) < 5 s wall;
- directional check at B=32, D=H=256, T=100 < 2 s."""
import statistics
import subprocess
import sys
import time

from lstm_sym.codegen import compile as compile_kernel
from lstm_sym.verify.numeric import check_numeric, make_problem


def main():
    for name in ("rnn", "lstm", "gru"):
        k, kc = compile_kernel(name), compile_kernel(name, complex_safe=True)
        rows = check_numeric(k, make_problem(k, 3, 4, 5, 2), ["central", "complex"], complex_module=kc)
        worst = {m: max(r.rel for r in rows if r.method == m) for m in ("central", "complex")}
        print(f"{name:<5} (3,4,5): complex step max rel err {worst['complex']:.1e} (target ≤ 1e-12: "
              f"{'met' if worst['complex'] <= 1e-12 else 'MISSED'}), central {worst['central']:.1e} "
              f"(target ≤ 1e-7: {'met' if worst['central'] <= 1e-7 else 'MISSED'})")
    walls = []
    for _ in range(3):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "lstm_sym.cli", "check", "lstm"], capture_output=True)
        walls.append(time.perf_counter() - t)
    wall = statistics.median(walls)
    print(f"lstm-sym check lstm: median {wall:.2f} s wall of 3 (exit {r.returncode}; target < 5 s: "
          f"{'met' if wall < 5 else 'MISSED'})")
    k = compile_kernel("lstm")
    prob = make_problem(k, D=256, H=256, T=100, B=32)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        rows = check_numeric(k, prob, ["directional"])
        times.append(time.perf_counter() - t)
    best = statistics.median(times)
    print(f"directional check, lstm, B=32 D=H=256 T=100: median {best:.2f} s of 3, "
          f"{len(rows)} inputs, all ok: {all(r.ok for r in rows)} (target < 2 s: "
          f"{'met' if best < 2 else 'MISSED'})")


if __name__ == "__main__":
    main()
