"""Every built-in cell through the three commands a user runs first, each from
a cold start (a fresh `python -m lstm_sym`, imports included), as one table.

  python benchmarks/bench_cells.py              # medians of 3 runs per cell and command
  python benchmarks/bench_cells.py --repeat 5 --cells lstm mgu

Targets, wall time per run:
  derive NAME                                       < 1.5 s
  check NAME (default methods: fd, complex, directional, graph, torch)   < 6 s
  prove NAME --sizes 3,3,1 --backend sympy          < 10 s  (SymPy alone, no symengine)
"""
import argparse
import statistics
import subprocess
import sys
import time

from lstm_sym.cells import NAMES

COMMANDS = {                 # column -> (arguments after the cell name, target in seconds)
    "derive": ([], 1.5),
    "check": ([], 6.0),
    "prove 3,3,1 sympy": (["--sizes", "3,3,1", "--backend", "sympy"], 10.0),
}


def wall(command, name, extra):
    """(seconds, exit code, last line of stdout) of one cold run."""
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "lstm_sym", command, name, *extra], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = [s for s in r.stdout.splitlines() if s.strip()]
    return seconds, r.returncode, (lines[-1] if lines else r.stderr.strip()[-120:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", nargs="+", default=list(NAMES), choices=NAMES)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    head = ["cell"] + [f"{c} (target < {t:g} s)" for c, (_, t) in COMMANDS.items()]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    missed, failed, notes = [], [], []
    for name in args.cells:
        row = [name]
        for column, (extra, target) in COMMANDS.items():
            command = column.split()[0]
            runs = [wall(command, name, extra) for _ in range(args.repeat)]
            median = statistics.median(s for s, _, _ in runs)
            codes = {code for _, code, _ in runs}
            ok = median < target
            row.append(f"{median:.2f} s" + ("" if ok else " (MISSED)") + ("" if codes == {0} else f" exit {codes}"))
            if not ok:
                missed.append(f"{column} {name}")
            if codes != {0}:
                failed.append(f"{column} {name}: {runs[-1][2]}")
            if command == "check":
                notes.append(f"check {name}: {runs[-1][2]}")
        print("| " + " | ".join(row) + " |")
    print(f"\nmedians of {args.repeat} cold runs each (`{sys.executable} -m lstm_sym ...`)")
    for line in notes:
        print("  " + line)
    print("all targets met" if not missed else f"targets missed: {', '.join(missed)}")
    if failed:
        print("nonzero exits:\n  " + "\n  ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
