"""Crashes and hangs: long sequences prove, long runs are estimated first
(refused past the limits, or run in their cheap form), progress is reported,
and every numeric method can be asked for by name."""
import io
import os
import re
import subprocess
import sys

import pytest

from lstm_sym import cost, derive
from lstm_sym.progress import Progress, line
from lstm_sym.verify import prove
from lstm_sym.verify.check import expand, parse_methods, plan, run_check
from lstm_sym.verify.field import P, Oracle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "lstm_sym", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, **kw)


def one_error_line(r):
    lines = r.stderr.splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("lstm-sym: error:"), (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    return lines[0]


# --- 1. long sequences prove (they raised RecursionError from T ≈ 150) -------------

def test_prove_rnn_at_T_150_works():
    r = cli("prove", "rnn", "--sizes", "1,1,150")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "PROVEN" in r.stdout.splitlines()[0] and "x_150" in r.stdout


def test_prove_deeper_than_the_recursion_limit_in_process():
    limit = sys.getrecursionlimit()
    report = prove(derive("rnn"), 1, 1, 200)
    assert report.passed and sys.getrecursionlimit() == limit


def test_prove_past_the_limits_is_refused_with_the_largest_T():
    line_ = one_error_line(cli("prove", "rnn", "--sizes", "1,1,100000"))
    assert "the largest T that fits at D = 1, H = 1 is ~" in line_ and "--no-limit" in line_, line_
    best = int(line_.split("is ~")[1].split()[0])
    assert 100 <= best < 100000 and cost.fits(cost.prove_cost("rnn", 1, 1, best))


def test_prove_lstm_50_50_50_is_refused_up_front():
    r = cli("prove", "lstm", "--sizes", "50,50,50")
    line_ = one_error_line(r)
    assert "would take" in line_ and "--no-limit runs it anyway" in line_ and r.stdout == ""


def test_the_field_tanh_is_odd_so_a_negated_pre_activation_proves(tmp_path):
    """SymPy and symengine rewrite tanh(−u) as −tanh(u): a tanh oracle that is
    not odd made a correct derivation of such a cell FAIL."""
    o = Oracle(7)
    for v in (1, 2, 12345, P // 2, P // 2 + 1, P - 1):
        assert (o.tanh(v) + o.tanh(P - v)) % P == 0
    assert o.tanh(0) == 0
    spec = tmp_path / "neg.cell"
    spec.write_text("states: h\nh = tanh(-(W @ h + U @ x + b))\n")
    for backend in ("symengine", "sympy"):
        r = cli("prove", str(spec), "--backend", backend)
        assert r.returncode == 0 and "WRONG" not in r.stdout, r.stdout


def test_prove_is_interruptible_while_the_worker_runs():
    import signal
    import time
    p = subprocess.Popen([sys.executable, "-m", "lstm_sym", "prove", "rnn", "--sizes", "1,1,500"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130 and err == "lstm-sym: interrupted\n", (p.returncode, err)


# --- 2. estimates and refusals --------------------------------------------------

def test_check_at_T_100000_plans_directional_instead_of_months_of_differences():
    methods, notes, total = plan("lstm", ("fd", "complex", "directional", "graph", "torch"), (3, 4, 100000), 2)
    assert "central" not in methods and "richardson" not in methods and "complex" not in methods
    assert "directional" in methods and "graph" not in methods
    assert any("ran the directional check instead" in n and "--no-limit" in n for n in notes), notes
    costs = cost.check_costs("lstm", 3, 4, 100000, 2)
    assert costs["central"].seconds + costs["richardson"].seconds > 30 * 86400      # fd: months
    assert total.seconds < cost.LIMIT_SECONDS


def test_check_switches_and_says_so_through_the_command():
    r = cli("check", "lstm", "--sizes", "3,4,3000", "--method", "fd")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "ran the directional check instead" in r.stdout and " central " not in r.stdout
    assert "directional" in r.stdout


def test_check_50_50_50_runs_cheap_and_notes_why():
    r = cli("check", "lstm", "--sizes", "50,50,50", "--method", "fd,graph")
    assert r.returncode == 0, r.stdout[-1000:] + r.stderr
    assert "ran the directional check instead" in r.stdout
    assert "graph: skipped: the scalar graph at (50,50,50) would take ~" in r.stdout


def test_check_past_the_limits_even_directional_is_refused_with_what_fits():
    line_ = one_error_line(cli("check", "lstm", "--sizes", "3,4,100000000"))
    assert "even with the directional check" in line_ and "fits (--sizes 3,4," in line_ and "--no-limit" in line_


def test_graph_refusal_names_T_never_sizes():
    line_ = one_error_line(cli("graph", "lstm", "--T", "10000000"))
    assert "--T " in line_ and "--sizes" not in line_ and "--no-limit runs it anyway" in line_, line_
    best = int(line_.split("(--T ")[1].rstrip(");").split(")")[0])
    assert cost.fits(cost.graph_cost("lstm", best, "dot")) and best < 10_000_000


def test_bound_and_bench_refuse_huge_runs():
    line_ = one_error_line(cli("bound", "lstm", "--trials", "100000000", "--T", "1000", "--hidden", "512"))
    assert "bound lstm" in line_ and "--no-limit" in line_
    line_ = one_error_line(cli("bench", "lstm", "--sizes", "64,256,256,1000000"))
    assert "bench lstm" in line_ and "--no-limit" in line_


def test_estimates_grow_with_the_sizes_and_the_limit_helpers():
    assert cost.check_costs("lstm", 3, 4, 100, 2)["central"].seconds > 10 * \
        cost.check_costs("lstm", 3, 4, 10, 2)["central"].seconds        # ~T²
    assert cost.prove_cost("lstm", 3, 3, 10).seconds < cost.prove_cost("lstm", 3, 3, 20).seconds
    assert cost.prove_cost("lstm", 2, 2, 3, "sympy").seconds > 10 * cost.prove_cost("lstm", 2, 2, 3).seconds
    assert cost.graph_cost("lstm", 1000).bytes < cost.graph_cost("lstm", 2000).bytes
    assert cost.largest(lambda n: cost.Estimate(n * 1.0), 10 ** 6) == 600
    assert cost.largest(lambda n: cost.Estimate(1e9), 10) == 0
    assert cost.round_down(339764) == 330000 and cost.round_down(57) == 57
    assert cost.seconds_text(90 * 86400) == "3 months" and cost.seconds_text(30) == "30 s"
    assert cost.memory_free() is None or cost.memory_free() > 0


def test_the_estimates_are_the_right_order_of_magnitude_here():
    """The model against one real run of each kind (a loose band: a shared
    machine; the point is months against seconds)."""
    import time

    import numpy as np

    from lstm_sym.verify.check import kernel
    from lstm_sym.verify.numeric import loss, make_problem
    k = kernel("lstm")
    prob = make_problem(k, 3, 16, 200, 2)
    loss(k, prob)
    t0 = time.perf_counter()
    for _ in range(5):
        loss(k, prob)
    measured = (time.perf_counter() - t0) / 5
    model = cost.kernel_forward(cost.profile("lstm"), 2, 3, 16, 200)
    assert model / 10 < measured < model * 10, (measured, model)
    t0 = time.perf_counter()
    prove(derive("lstm"), 2, 2, 4)
    measured = time.perf_counter() - t0
    model = cost.prove_cost("lstm", 2, 2, 4).seconds
    assert model / 20 < measured < model * 10, (measured, model)
    assert np.isfinite(model)


def test_no_limit_runs_what_was_asked():
    report = run_check("lstm", methods=("graph",), sizes=(3, 4, 5), limit=False)
    assert any(r.method == "graph" for r in report.rows)


def test_graph_alone_past_its_threshold_is_one_line_not_an_empty_report():
    line_ = one_error_line(cli("check", "lstm", "--sizes", "10,32,20", "--method", "graph"))
    assert "nothing left to compare" in line_ and "graph: skipped: the scalar graph at (10,32,20)" in line_
    assert "--method graph --no-limit runs it" in line_


def test_an_empty_report_exit_2_has_its_one_error_line():
    r = cli("check", "lstm_peephole", "--method", "torch")
    assert one_error_line(r).startswith("lstm-sym: error: nothing compared the kernel")
    assert "nothing compared" in r.stdout.splitlines()[-1]


# --- 5. moderate sizes: the threshold picks -------------------------------------------

def test_the_plan_at_moderate_sizes_keeps_differences_and_skips_the_graph():
    methods, notes, _ = plan("lstm", ("fd", "complex", "directional", "graph", "torch"), (10, 32, 20), 2)
    assert {"central", "richardson", "complex"} <= set(methods) and "graph" not in methods
    assert notes == [n for n in notes if n.startswith("graph: skipped: the scalar graph at (10,32,20) would take ~")]
    assert notes and notes[0].endswith("; --method graph --no-limit runs it")
    methods, notes, _ = plan("lstm", ("fd", "graph"), (3, 4, 5), 2)
    assert set(methods) == {"central", "richardson", "graph"} and notes == []


def test_check_plan_thresholds():
    costs = {m: cost.Estimate(1.0) for m in ("base", "directional", "central", "richardson", "complex", "graph",
                                              "torch", "symbolic")}
    run, notes, over, _ = cost.check_plan(costs, ["central", "graph"], where="(1,1,1)")
    assert run == ["central", "graph"] and not notes and not over
    costs["central"] = cost.Estimate(cost.PER_ENTRY_SECONDS + 1)
    costs["graph"] = cost.Estimate(cost.GRAPH_SECONDS + 1)
    run, notes, over, _ = cost.check_plan(costs, ["central", "graph"], where="(1,1,1)")
    assert run == ["directional"] and len(notes) == 2 and not over
    run, notes, over, _ = cost.check_plan(costs, ["central", "graph"], limit=False)
    assert run == ["central", "graph"] and not notes


def test_a_slow_module_is_timed_and_switched(tmp_path):
    """The kernel-speed estimate says fine; one timed forward of the user's
    module says per-entry differences would be too slow."""
    slow = tmp_path / "slow_rnn.py"
    with open(os.path.join(ROOT, "tests", "fixtures", "correct_rnn.py"), encoding="utf-8") as f:
        src = f.read()
    src += "\n\nimport time as _t\n_fwd = forward\n\ndef forward(params, x, h0=None):\n    _t.sleep(0.02)\n" \
           "    return _fwd(params, x, h0)\n"
    slow.write_text(src)
    report = run_check("rnn", impl=str(slow), methods=("fd",), sizes=(3, 40, 5))
    assert any("timed" in n and "ran the directional check instead" in n for n in report.notes), report.notes
    assert {r.method for r in report.rows} <= {"directional", "derivation"}


# --- 3. progress --------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class TTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_waits_2_s_rewrites_one_line_and_erases_it():
    clock, out = Clock(), TTY()
    p = Progress(out, clock=clock)
    p("check: central differences", 1, 15, "gradients")
    assert out.getvalue() == ""                     # quick work shows nothing
    clock.t = 2.5
    p("check: central differences", 3, 15, "gradients")
    clock.t = 3.0
    p("check: central differences", 4, 15, "gradients")
    p.close()
    text = out.getvalue()
    assert text.startswith("\rcheck: central differences 3/15 gradients…\033[K")
    assert "4/15" in text and "\n" not in text and text.endswith("\r\033[K")


def test_progress_to_a_pipe_is_silent_unless_asked_then_plain_lines():
    out = io.StringIO()
    p = Progress(out)
    p("prove: differentiating", 1, 2)
    p.close()
    assert out.getvalue() == ""
    clock, out = Clock(), io.StringIO()
    p = Progress(out, force=True, clock=clock)
    for k in range(1, 101):
        clock.t = k * 0.01
        p("bound: measuring", k, 100, "trials")
    p("bound: the memory path")
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "bound: measuring 1/100 trials…" and "bound: measuring 100/100 trials…" in lines
    assert lines[-1] == "bound: the memory path…" and len(lines) < 10 and "\r" not in out.getvalue()
    assert line("graph: writing dot") == "graph: writing dot…"


@pytest.mark.parametrize("args, expect", [
    (("check", "lstm", "--method", "fd,graph"), "check: central differences, richardson 15/15 gradients…"),
    (("prove", "rnn", "--sizes", "1,1,20"), "prove rnn: unrolled BPTT at (1,1,20): differentiating 24/24 symbols…"),
    (("bound", "lstm", "--T", "5", "--trials", "20", "--hidden", "4"),
     "bound: measuring 20 trials of T = 5, H = 4 1/2 stages…"),
    (("graph", "rnn", "--T", "200"), "graph: unrolling 200/200 steps…"),
])
def test_progress_flag_through_a_pipe(args, expect):
    r = cli(*args, "--progress")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert expect in lines and all(line_.endswith("…") for line_ in lines), lines
    quiet = cli(*args)
    timeless = lambda text: re.sub(r"\d+\.\d+ s", "", text)          # prove says how long it took
    assert quiet.stderr == "" and timeless(quiet.stdout) == timeless(r.stdout)


# --- 4. every method by name ----------------------------------------------------------

def test_method_names():
    assert parse_methods("richardson") == ("richardson",) and parse_methods("central,graph") == ("central", "graph")
    assert expand(("fd", "richardson", "complex")) == ("central", "richardson", "complex")
    assert set(expand(parse_methods("all"))) >= {"central", "richardson", "complex", "directional", "graph",
                                                 "torch", "symbolic"}
    for bad in ("", "fd,,graph", "magic", "Richardson"):
        with pytest.raises(ValueError, match="unknown method"):
            parse_methods(bad)


@pytest.mark.parametrize("method, rows", [("richardson", {"richardson"}), ("central", {"central"}),
                                          ("fd", {"central", "richardson"})])
def test_richardson_and_central_alone(method, rows):
    report = run_check("rnn", methods=parse_methods(method))
    assert {r.method for r in report.rows} == rows and report.passed
    r = cli("check", "rnn", "--method", method)
    assert r.returncode == 0 and r.stderr == ""


def test_progress_on_a_real_terminal_is_one_rewritten_line_erased_at_the_end():
    """stderr a pty, no --progress: a run longer than 2 s shows \\r-updated
    lines and erases them; stdout (a pipe) is the plain report."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "lstm_sym", "prove", "rnn", "--sizes", "1,1,200"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    out = p.stdout.read()
    p.wait(timeout=120)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    text = seen.decode("utf-8", "replace")
    assert p.returncode == 0 and "PROVEN" in out
    assert "\rprove rnn: unrolled BPTT at (1,1,200):" in text and "\n" not in text     # one line, rewritten
    assert text.endswith("\r\033[K")
