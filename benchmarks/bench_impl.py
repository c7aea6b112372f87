"""Targets of `check --impl` (verdicts you can trust), measured in one run.

  python benchmarks/bench_impl.py

- no false alarm: correct fixtures (their forward the cell or not) over 200
  random seeds and sizes: how many got a wrong verdict (target 0);
- gate-order slip: of the 23 wrong gate orders of a stacked LSTM, how many
  are named with the right permutation (target 23);
- `lstm-sym check lstm --impl numeric/lstm.py`: median wall of 3 (target < 5 s);
- every false-pass route (hostile fixtures): the exit code of each (target:
  none exits 0)."""
import itertools
import pathlib
import statistics
import subprocess
import sys
import time
import types

import numpy as np

from lstm_sym.cells import get_cell
from lstm_sym.verify.check import run_check
from lstm_sym.verify.forward_match import match_forward

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
CORRECT = [("lstm", "real_stacked_ifog", True), ("lstm", "real_torch_lstm", True),
           ("lstm", "real_course_lstm", True), ("rnn", "real_rnn_every_step", True),
           ("gru", "real_gru_cho", False), ("lstm", "real_stacked_ifog_torch_order", False),
           ("lstm", "real_lstm_no_output_tanh", False)]
FLAGS = {"hostile_float64": ["--dtype", "float32"], "hostile_complex_unsafe": ["--method", "complex"]}
HOSTILE = {"hostile_exit_import": "rnn", "hostile_exit3_import": "rnn", "hostile_exit_forward": "rnn",
           "hostile_exit_backward": "rnn", "hostile_os_exit": "rnn", "hostile_interrupt": "rnn",
           "hostile_mutate_params": "rnn", "hostile_mutate_x": "rnn", "hostile_mutate_dh": "rnn",
           "hostile_cache_corrupt": "rnn", "hostile_complex_grad": "rnn", "hostile_object_grad": "rnn",
           "hostile_string_grad": "rnn", "hostile_float64": "rnn", "hostile_hang": "rnn",
           "hostile_complex_unsafe": "rnn"}


def false_alarms(n=200, seed=0):
    rng = np.random.default_rng(seed)
    bad = 0
    for _ in range(n):
        cell, name, same = CORRECT[rng.integers(len(CORRECT))]
        D, H, T, B = (int(rng.integers(1, k)) for k in (5, 6, 6, 4))
        r = run_check(cell, impl=str(FIX / f"{name}.py"), methods=("directional",), sizes=(D, H, T),
                      batch=B, seed=int(rng.integers(2**31)))
        ok = r.verdicts[1].startswith("backward: the derivative of your own forward")
        ok &= r.verdicts[0].startswith("forward: the" if same else "forward: NOT") and "where it goes wrong" not in str(r)
        bad += not ok
    return bad


def stacked(read):
    """A stacked LSTM reading its (4H, ·) blocks in the order `read` (ours: i, f, g, o)."""
    from lstm_sym import layouts
    m = types.ModuleType("stacked")
    m.PARAMS = {p: v.shape for p, v in get_cell("lstm").params.items()}
    m.GATE_ORDER = "ifgo"          # the order its stack is packed in: slips are said against it
    sig = lambda a: 0.5 * (1 + np.tanh(0.5 * a))

    def forward(p, x, h0=None, c0=None):
        Wh, Wx, b = (layouts.pack("lstm", p, k, "ifgo") for k in ("h", "x", "b"))
        H = Wh.shape[1]
        h, c, hs = h0, c0, []
        for t in range(len(x)):
            a = h @ Wh.T + x[t] @ Wx.T + b
            blk = {read[k]: a[:, k * H:(k + 1) * H] for k in range(4)}
            c = sig(blk["f"]) * c + sig(blk["i"]) * np.tanh(blk["g"])
            h = sig(blk["o"]) * np.tanh(c)
            hs.append(h)
        return np.stack(hs), {}
    m.forward = forward
    return m


def gate_orders():
    rng = np.random.default_rng(1)
    cell = get_cell("lstm")
    params = {p: 0.5 * rng.standard_normal([{"H": 4, "D": 3}[d] for d in v.shape]) for p, v in cell.params.items()}
    x, h0, c0 = rng.standard_normal((4, 2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    pretty = {"i": "i", "f": "f", "g": "c̃", "o": "o"}
    named = 0
    for read in ("".join(p) for p in itertools.permutations("ifgo")):
        if read == "ifgo":
            continue
        v = match_forward(stacked(read), cell, params, x, h0, c0)
        named += bool(v.cause) and v.cause.startswith(
            "the gates are used in the order " + ", ".join(pretty[k] for k in read)
            + " where the layout's order is i, f, c̃, o")
    return named


def main():
    t = time.perf_counter()
    print(f"no false alarm: {false_alarms()} wrong verdicts over 200 random seeds and sizes on correct fixtures "
          f"(target 0; {time.perf_counter() - t:.1f} s)")
    print(f"gate-order slip: {gate_orders()} of 23 wrong orders named with the right permutation (target 23)")
    walls = []
    for _ in range(3):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "lstm_sym", "check", "lstm", "--impl", str(ROOT / "numeric/lstm.py")],
                           capture_output=True, cwd=ROOT)
        walls.append(time.perf_counter() - t)
    print(f"check lstm --impl numeric/lstm.py: median {statistics.median(walls):.2f} s wall of 3 "
          f"(exit {r.returncode}; target < 5 s)")
    codes = {}
    for name, cell in HOSTILE.items():
        r = subprocess.run([sys.executable, "-m", "lstm_sym", "check", cell, "--impl", str(FIX / f"{name}.py"),
                            *FLAGS.get(name, ["--method", "fd"]), "--timeout", "3"], capture_output=True, cwd=ROOT)
        codes[name] = r.returncode
    zero = [n for n, c in codes.items() if c == 0]
    print(f"false-pass routes: {len(codes)} hostile modules, exit codes "
          f"{dict(sorted(codes.items()))}; exit 0: {zero or 'none'} (target none)")


if __name__ == "__main__":
    main()
