"""Target of the gradient-flow measurement, measured in one run.

  python benchmarks/bench_bound.py            # 1000 trials, T = 50, H = 64
  python benchmarks/bench_bound.py --trials 200 --T 20 --hidden 16

Target: 1000 trials of T = 50, H = 64 in under 5 s (every trial at once:
forward, backward, the data-dependent bound and the weight-gradient terms).
Printed: the measurement alone (warm: the derivation and SymPy's β_f already
computed, median of 3), the first call (cold: derivation and β_f included),
and the whole `lstm-sym bound CELL` command in a fresh process."""
import argparse
import statistics
import subprocess
import sys
import time

from lstm_sym.bound import experiments as ex
from lstm_sym.bound.jacobian import beta_f, rnn_factor
from lstm_sym.derivation import derive

TARGET = 5.0
RUNNER = "import sys; from lstm_sym.commands import main; sys.exit(main(sys.argv[1:]))"


def measurement(cell, trials, T, H, repeats=3):
    t = time.perf_counter()
    d = derive(cell)
    if rnn_factor(d):
        beta_f(rnn_factor(d)[0])
    inst = ex.random_instance(d.cell, trials, H, T, 1.0, 0)
    m = ex.measure(d, inst)
    cold = time.perf_counter() - t
    times = []
    for seed in range(1, repeats + 1):
        inst = ex.random_instance(d.cell, trials, H, T, 1.0, seed)
        t = time.perf_counter()
        m = ex.measure(d, inst)
        times.append(time.perf_counter() - t)
    return statistics.median(times), cold, m


def command(cell, trials, T, H):
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", RUNNER, "bound", cell, "--trials", str(trials), "--T", str(T),
                    "--hidden", str(H)], check=True, capture_output=True)
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--T", type=int, default=50)
    p.add_argument("--hidden", type=int, default=64)
    a = p.parse_args()
    print(f"gradient-flow measurement: {a.trials} trials, T = {a.T}, H = {a.hidden} (target < {TARGET:g} s)")
    for cell in ("rnn", "lstm"):
        warm, cold, m = measurement(cell, a.trials, a.T, a.hidden)
        pairs = m.trials * m.T
        print(f"  {cell:<4} measurement {warm:6.2f} s  ({warm / TARGET:.2f} of target; cold, with derive and "
              f"β_f: {cold:.2f} s)  violations {m.violations(m.log_data_bound)} of {pairs}")
    for cell in ("rnn", "lstm"):
        wall = command(cell, a.trials, a.T, a.hidden)
        extra = ("derivation, measurement, Pascanu table" if cell == "rnn" else
                 "derivation, measurement, rnn + open-gate lstm comparison, cell-state path")
        print(f"  lstm-sym bound {cell:<4} wall {wall:6.2f} s  ({wall / TARGET:.2f} of target; {extra}; "
              f"Python start included)")


if __name__ == "__main__":
    main()
