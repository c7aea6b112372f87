"""A corpus of bad and extreme invocations of every command.

Each case runs `python -m lstm_sym ...` in a subprocess and must: finish
within its timeout (no hang), print no traceback, exit with a code from its
expected set, and, when it exits 2, print exactly one line on stderr
starting "lstm-sym: error:".  Interrupts (SIGINT / SIGTERM after 1 s) must
exit 130 / 143 with one line; under PYTHONIOENCODING=ascii or cp1252 the
exit code is the UTF-8 run's and the output is ASCII.  Extreme sizes are
expected to be refused up front (that is what keeps this file fast: the
whole corpus runs in parallel, in about a minute and a half).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
CELLS = os.path.join(FIX, "cells")
TIMEOUT = 60.0
ERR, OK, FAIL = {2}, {0}, {1}


@dataclass
class Case:
    id: str
    args: tuple
    codes: set
    env: dict = field(default_factory=dict)
    signal: int | None = None           # sent after `after` seconds
    after: float = 1.0
    timeout: float = TIMEOUT
    says: str = ""                      # text the stderr (or, on success, stdout) must contain
    fifo_reader: bool | None = False    # {fifo} is made (None) and gets a reader thread (True)


def F(name):
    return os.path.join(FIX, name)


def C(name):
    return os.path.join(CELLS, name)


def _cases():
    cases = []

    def add(id_, *args, codes=ERR, **kw):
        cases.append(Case(id_, tuple(args), set(codes), **kw))

    # --- the command line itself ------------------------------------------------
    add("no-args")
    add("unknown-command", "frobnicate")
    add("debug-no-command", "--debug", codes=ERR)       # --debug shows a traceback by design: not here
    add("empty-command", "")
    add("help", "--help", codes=OK)
    add("unknown-flag", "derive", "lstm", "--frobnicate")

    # --- CELL, for every command ---------------------------------------------------
    for cmd in ("derive", "check", "prove", "codegen", "bound", "graph", "bench"):
        add(f"{cmd}-missing-cell", cmd)
        add(f"{cmd}-unknown-cell", cmd, "nosuch", says="unknown cell")
        add(f"{cmd}-empty-cell", cmd, "")
        add(f"{cmd}-missing-file", cmd, "/nonexistent/cell.py")
        add(f"{cmd}-folder-as-cell", cmd, "{tmp}")
    for bad in ("bad_cycle.cell", "bad_hostile.cell", "bad_number.cell", "bad_param.cell", "bad_shape.cell",
                "bad_states.cell", "bad_unknown_function.cell", "bad_use_before.cell", "exits_at_import.py",
                "no_cell.py", "raises_at_import.py"):
        add(f"derive-{bad}", "derive", C(bad))
    add("derive-bad-python", "derive", F("bad_syntax.py"))
    add("derive-dev-null", "derive", "/dev/null")
    add("derive-non-ascii-cell", "derive", "δ-cell")
    add("derive-user-cell", "derive", C("janet.cell"), codes=OK)

    # --- derive -----------------------------------------------------------------
    add("derive-bad-format", "derive", "lstm", "--format", "pdf")
    add("derive-empty-format", "derive", "lstm", "--format", "")
    add("derive-bad-part", "derive", "lstm", "--part", "nope")
    add("derive-ok-latex", "derive", "gru", "--format", "latex", codes=OK)

    # --- check ------------------------------------------------------------------
    for label, sizes in (("zero", "0,4,5"), ("negative", "-1,4,5"), ("letters", "a,b,c"), ("two", "3,4"),
                         ("four", "3,4,5,6"), ("empty", ""), ("float", "3,4,5.5"), ("exp", "3,4,1e3"),
                         ("commas", ",,"), ("huge-int", "3,4," + "9" * 40)):
        add(f"check-sizes-{label}", "check", "rnn", "--sizes", sizes)
    add("check-sizes-spaces", "check", "rnn", "--sizes", " 3, 4, 5", "--method", "directional", codes=OK)
    for flag, values in (("--batch", ("0", "-2", "x", "")), ("--seed", ("-1", "x", "")),
                         ("--timeout", ("0", "-1", "nan", "inf", "x"))):
        for v in values:
            add(f"check{flag}-{v or 'empty'}", "check", "rnn", flag, v)
    for m in ("nope", "", "fd,,graph", "Richardson", "fd;graph"):
        add(f"check-method-{m or 'empty'}", "check", "rnn", "--method", m, says="unknown method")
    add("check-method-richardson", "check", "rnn", "--method", "richardson", codes=OK)
    add("check-method-central", "check", "rnn", "--method", "central", codes=OK)
    add("check-dtype-float16", "check", "rnn", "--dtype", "float16")
    add("check-impl-missing", "check", "rnn", "--impl", "/nonexistent/impl.py")
    add("check-impl-folder", "check", "rnn", "--impl", "{tmp}")
    add("check-impl-dev-null", "check", "rnn", "--impl", "/dev/null")
    add("check-impl-empty", "check", "rnn", "--impl", "")
    add("check-impl-bad-syntax", "check", "rnn", "--impl", F("bad_syntax.py"))
    add("check-impl-no-backward", "check", "rnn", "--impl", F("no_backward.py"))
    add("check-impl-wrong-cell", "check", "lstm", "--impl", F("correct_rnn.py"), codes={1, 2})
    add("check-impl-symbolic-only", "check", "rnn", "--impl", F("correct_rnn.py"), "--method", "symbolic")
    add("check-impl-exit", "check", "rnn", "--impl", F("hostile_exit_import.py"))
    add("check-impl-hang", "check", "rnn", "--impl", F("hostile_hang.py"), "--timeout", "1", "--method", "fd")
    add("check-impl-correct", "check", "rnn", "--impl", F("correct_rnn.py"), "--method", "fd", codes=OK)
    add("check-impl-tutorial", "check", "lstm", "--impl", F("tutorial_lstm.py"), "--method", "fd", codes=FAIL)
    add("check-huge-T", "check", "lstm", "--sizes", "3,4,100000000", says="--no-limit")
    add("check-huge-H", "check", "lstm", "--sizes", "3,100000,5", says="--no-limit")
    add("check-huge-batch", "check", "lstm", "--batch", "1000000000", says="--no-limit")
    add("check-huge-all", "check", "lstm", "--sizes", "100000,100000,100000", says="--no-limit")
    add("check-50-50-50", "check", "lstm", "--sizes", "50,50,50", codes=OK, says="directional check instead")
    add("check-graph-alone-too-big", "check", "lstm", "--sizes", "10,32,20", "--method", "graph",
        says="nothing left to compare")
    add("check-nothing-compared", "check", "lstm_peephole", "--method", "torch", says="nothing compared")

    # --- prove ------------------------------------------------------------------
    for label, sizes in (("zero", "0,1,1"), ("negative", "1,-1,1"), ("letters", "x,y,z"), ("two", "1,1"),
                         ("empty", ""), ("float", "1,1,1.5")):
        add(f"prove-sizes-{label}", "prove", "rnn", "--sizes", sizes)
    add("prove-seed-negative", "prove", "rnn", "--seed", "-3")
    add("prove-backend-nope", "prove", "rnn", "--backend", "maxima")
    add("prove-relu", "prove", "{relu}", says="through tanh")
    add("prove-T150", "prove", "rnn", "--sizes", "1,1,150", codes=OK, says="PROVEN")
    add("prove-huge-T", "prove", "rnn", "--sizes", "1,1,100000", says="the largest T that fits")
    add("prove-network-huge", "prove", "lstm", "--layers", "3", "--sizes", "9,9,9,9", says="would take")
    add("prove-network-relu", "prove", "{relu}", "--layers", "2", says="through tanh")
    add("prove-lstm-50", "prove", "lstm", "--sizes", "50,50,50", says="--no-limit")
    add("prove-sympy-deep", "prove", "lstm", "--sizes", "3,3,8", "--backend", "sympy", says="--no-limit")
    add("prove-huge-everything", "prove", "gru", "--sizes", "1000000,1000000,1000000", says="--no-limit")

    # --- codegen ----------------------------------------------------------------
    add("codegen-ok", "codegen", "rnn", codes=OK)
    add("codegen-out-folder", "codegen", "rnn", "-o", "{tmp}", says="folder")
    add("codegen-out-empty", "codegen", "rnn", "-o", "")
    add("codegen-out-dev-full", "codegen", "rnn", "-o", "/dev/full")
    add("codegen-out-dev-null", "codegen", "rnn", "-o", "/dev/null", codes=OK)
    add("codegen-out-exists", "codegen", "rnn", "-o", "{existing}", says="--force")
    add("codegen-out-no-folder", "codegen", "rnn", "-o", "/nonexistent/dir/k.py")
    add("codegen-out-long-name", "codegen", "rnn", "-o", "{tmp}/" + "k" * 300 + ".py")
    add("codegen-out-fifo-read", "codegen", "rnn", "-o", "{fifo}", codes=OK, fifo_reader=True)
    add("codegen-dtype-float16", "codegen", "rnn", "--dtype", "float16")

    # --- bench ------------------------------------------------------------------
    for label, sizes in (("zero", "0,1,1,1"), ("letters", "a,b,c,d"), ("three", "1,2,3"), ("empty", "")):
        add(f"bench-sizes-{label}", "bench", "rnn", "--sizes", sizes)
    add("bench-repeat-3", "bench", "rnn", "--repeat", "3")
    add("bench-repeat-0", "bench", "rnn", "--repeat", "0")
    add("bench-threads-0", "bench", "rnn", "--threads", "0")
    add("bench-huge-T", "bench", "lstm", "--sizes", "64,256,256,10000000", says="--no-limit")
    add("bench-huge-repeat", "bench", "lstm", "--repeat", "1000000000", says="--no-limit")
    add("bench-tiny", "bench", "rnn", "--sizes", "2,2,2,2", "--no-torch", codes=OK)

    # --- bound ------------------------------------------------------------------
    for flag, values in (("--T", ("0", "-1", "x", "")), ("--trials", ("0", "1.5")), ("--hidden", ("0", "-4")),
                         ("--scale", ("0", "-1", "nan", "inf", "x")), ("--seed", ("-1",))):
        for v in values:
            add(f"bound{flag}-{v or 'empty'}", "bound", "rnn", flag, v)
    add("bound-activation-nope", "bound", "rnn", "--activation", "gelu")
    add("bound-activation-on-lstm", "bound", "lstm", "--activation", "sigmoid")
    add("bound-format-nope", "bound", "rnn", "--format", "html")
    add("bound-plot-folder", "bound", "rnn", "--plot", "{tmp}")
    add("bound-plot-exists", "bound", "rnn", "--plot", "{existing}")
    add("bound-plot-no-folder", "bound", "rnn", "--plot", "/nonexistent/dir/p.png")
    add("bound-plot-empty", "bound", "rnn", "--plot", "")
    add("bound-huge-trials", "bound", "lstm", "--trials", "100000000", says="--no-limit")
    add("bound-huge-T", "bound", "rnn", "--T", "100000000", says="--no-limit")
    add("bound-huge-hidden", "bound", "gru", "--hidden", "1000000", says="--no-limit")
    add("bound-small", "bound", "rnn", "--T", "5", "--trials", "10", "--hidden", "4", codes=OK)
    add("bound-overflow-scale", "bound", "rnn", "--T", "5", "--trials", "10", "--hidden", "4", "--scale", "1e300",
        codes=OK)

    # --- docs -------------------------------------------------------------------
    add("docs-out-missing", "docs", "--out", "/nonexistent")
    add("docs-out-file", "docs", "--out", "{existing}")
    add("docs-out-not-checkout", "docs", "--out", "{tmp}")
    add("docs-out-empty", "docs", "--out", "")

    # --- graph ------------------------------------------------------------------
    for v in ("0", "-1", "x", "", "1.5"):
        add(f"graph-T-{v or 'empty'}", "graph", "rnn", "--T", v)
    add("graph-format-nope", "graph", "rnn", "--format", "svg")
    add("graph-out-folder", "graph", "rnn", "-o", "{tmp}", says="folder")
    add("graph-out-empty", "graph", "rnn", "-o", "")
    add("graph-out-dev-full", "graph", "rnn", "-o", "/dev/full")
    add("graph-out-dev-null", "graph", "rnn", "-o", "/dev/null", codes=OK)
    add("graph-out-exists", "graph", "rnn", "-o", "{existing}", says="--force")
    add("graph-out-fifo-read", "graph", "lstm", "--format", "json", "-o", "{fifo}", codes=OK, fifo_reader=True)
    add("graph-out-fifo-no-reader", "graph", "rnn", "-o", "{fifo}", timeout=8.0, fifo_reader=None,
        says="nobody is reading")
    add("graph-huge-T", "graph", "lstm", "--T", "10000000", says="(--T ")
    add("graph-huge-T-graphml", "graph", "lstm", "--T", "5000000", "--format", "graphml", says="--no-limit")
    add("graph-ok-graphml", "graph", "gru", "--format", "graphml", codes=OK)
    add("graph-user-cell", "graph", C("mgu.cell"), "--T", "2", codes=OK)

    # --- interrupts: one line, 130 / 143 ---------------------------------------
    long_runs = {"prove": ("prove", "rnn", "--sizes", "1,1,400"),
                 "check": ("check", "lstm", "--sizes", "10,32,20"),
                 "bound": ("bound", "lstm"),
                 "graph": ("graph", "lstm", "--T", "50000", "-o", "/dev/null"),
                 "bench": ("bench", "lstm"),
                 "check-impl-hang": ("check", "rnn", "--impl", F("hostile_hang.py"), "--method", "fd")}
    for name, args in long_runs.items():
        add(f"sigint-{name}", *args, codes={130}, signal=signal.SIGINT, says="lstm-sym: interrupted")
    for name in ("prove", "check", "graph"):
        add(f"sigterm-{name}", *long_runs[name], codes={143}, signal=signal.SIGTERM, says="lstm-sym: terminated")

    # --- encodings: the UTF-8 run's exit code, ASCII output ------------------------
    runs = [("derive", ("derive", "lstm"), OK), ("check", ("check", "rnn", "--method", "fd,graph"), OK),
            ("prove", ("prove", "lstm"), OK), ("codegen", ("codegen", "gru"), OK),
            ("bound", ("bound", "rnn", "--T", "5", "--trials", "10", "--hidden", "4"), OK),
            ("graph", ("graph", "lstm", "--T", "2"), OK), ("error", ("derive", "δ"), ERR),

            ("refusal", ("prove", "lstm", "--sizes", "50,50,50"), ERR),
            ("progress", ("check", "rnn", "--method", "central", "--progress"), OK),
            ("failing", ("check", "lstm", "--impl", F("tutorial_lstm.py"), "--method", "fd"), FAIL)]
    for encoding in ("ascii", "cp1252"):
        for name, args, codes in runs:
            add(f"{encoding}-{name}", *args, codes=codes, env={"PYTHONIOENCODING": encoding})
    # a network's head (ŷ, ⟨ ⟩, ½) in ASCII: cp1252 has ½ and ⟨ ⟩ adds nothing here
    add("ascii-network", "derive", "rnn", "--layers", "2", "--loss", "xent", codes=OK,
        env={"PYTHONIOENCODING": "ascii"})
    add("ascii-network-mse", "derive", "rnn", "--loss", "mse", "--loss-at", "last", codes=OK,
        env={"PYTHONIOENCODING": "ascii"})
    return cases


CASES = _cases()


def _substitute(case, where):
    return [a.format(**where) if "{" in a and "}" in a else a for a in case.args]


def _run(case, where):
    env = dict(os.environ, **case.env)
    env.pop("PYTHONUTF8", None)
    args = [sys.executable, "-m", "lstm_sym", *_substitute(case, where)]
    reader = None
    if case.fifo_reader is True:
        got = []

        def read():
            with open(where["fifo"], "rb") as f:
                got.append(f.read())
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
    t0 = time.monotonic()
    p = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if case.signal is not None:
            try:
                p.wait(case.after)
            except subprocess.TimeoutExpired:
                p.send_signal(case.signal)
        out, err = p.communicate(timeout=case.timeout)
        hung = False
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        hung = True
    if reader is not None:
        reader.join(5)
    return dict(code=p.returncode, out=out, err=err, seconds=time.monotonic() - t0, hung=hung)


@pytest.fixture(scope="module")
def results():
    tmp = tempfile.mkdtemp(prefix="lstm-sym-corpus-")
    where = {"tmp": tmp, "existing": os.path.join(tmp, "existing.txt"), "relu": os.path.join(tmp, "relu.cell")}
    with open(where["existing"], "w") as f:
        f.write("a user's file\n")
    with open(where["relu"], "w") as f:
        f.write("states: h\nh = relu(W @ h + U @ x + b)\n")
    fifos = {}

    def run(case):
        local = dict(where)
        if case.fifo_reader is not False:
            local["fifo"] = fifos[case.id] = os.path.join(tmp, f"{case.id}.fifo")
            os.mkfifo(local["fifo"])
        return case.id, _run(case, local)

    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=max(3, (os.cpu_count() or 2) + 1)) as pool:
            out = dict(pool.map(run, CASES))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["_wall"] = time.monotonic() - t0
    return out


def test_the_corpus_is_big_and_fast(results):
    assert len(CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)
    assert results["_wall"] < 240, f"the corpus took {results['_wall']:.0f} s"


KNOWN = {}    # case id -> why it is expected to fail (strict xfail); none today


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(reason=KNOWN[c.id], strict=True))
                                  if c.id in KNOWN else c for c in CASES], ids=[c.id for c in CASES])
def test_case(case, results):
    r = results[case.id]
    err = r["err"].decode("utf-8", "replace")
    out = r["out"].decode("utf-8", "replace")
    shown = f"exit {r['code']} after {r['seconds']:.1f} s\nstderr: {err[-1500:]}\nstdout: {out[-500:]}"
    assert not r["hung"], f"no answer within {case.timeout:g} s\n" + shown
    assert "Traceback" not in err or "--debug" in case.args, shown
    assert r["code"] in case.codes, shown
    lines = err.splitlines()
    if r["code"] == 2 and "--debug" not in case.args:
        assert len(lines) == 1 and lines[0].startswith("lstm-sym: error:"), shown
    if case.signal is not None:
        assert lines == [case.says], shown
    elif case.says:
        assert case.says in (err if r["code"] else out), shown
    encoding = case.env.get("PYTHONIOENCODING")
    if encoding:
        for stream in (r["out"], r["err"]):
            assert all(b < 128 for b in stream), f"non-ASCII output under {encoding}\n" + shown
    if r["code"] == 0 and "--progress" not in case.args:
        assert err == "" or case.args[0] == "bench", shown
