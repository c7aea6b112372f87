"""`check --impl` cannot be fooled: nothing a user's module does (exit,
raise, hang, mutate its inputs, return complex or float64 arrays) gives a
pass, and contract problems are one line with exit 2."""
import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from lstm_sym.verify.check import run_check
from lstm_sym.verify.numeric import CheckReport, Row
from lstm_sym.verify.sandbox import ContractError, call

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")


def fixture(name):
    return os.path.join(FIX, name)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "lstm_sym", *args], capture_output=True, text=True, cwd=ROOT)


def line_of(name, text):
    """The number of the last line of fixture `name` containing text (the code, not the docstring)."""
    with open(fixture(name), encoding="utf-8") as f:
        return [n for n, line in enumerate(f, 1) if text in line][-1]


def one_line(r):
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


# --- exits and interrupts: never the verdict ------------------------------------

@pytest.mark.parametrize("name, stage, what, marker", [
    ("hostile_exit_import.py", "importing it", "sys.exit(0)", "sys.exit(0)"),
    ("hostile_exit3_import.py", "importing it", "sys.exit(3)", "sys.exit(3)"),
    ("hostile_exit_forward.py", "forward", "sys.exit(0)", "sys.exit(0)"),
    ("hostile_exit_backward.py", "backward", "sys.exit(3)", "SystemExit(3)"),
    ("hostile_interrupt.py", "backward", "KeyboardInterrupt", "KeyboardInterrupt"),
    ("hostile_os_exit.py", "forward", "os._exit(0)", "os._exit(0)"),
])
def test_exit_or_interrupt_in_user_code_is_one_line_exit_2(name, stage, what, marker):
    r = cli("check", "rnn", "--impl", fixture(name), "--method", "fd")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    line = one_line(r)
    assert line.startswith("lstm-sym: error:") and name in line and what in line, line
    assert f"{stage} " in line and f"{name}:{line_of(name, marker)}" in line, line


# --- exceptions at any stage, with file:line ------------------------------------

@pytest.mark.parametrize("cell, name, methods, stage, marker", [
    ("rnn", "hostile_fd_raise.py", ("fd",), "during central differences", "raise ValueError"),
    ("lstm", "hostile_short_T.py", ("fd",), "during the comparison of your forward", "assert x.shape"),
    ("rnn", "hostile_complex_raise.py", ("complex",), "during the complex step", "raise TypeError"),
])
def test_an_exception_at_any_stage_is_one_line_with_file_and_line(cell, name, methods, stage, marker):
    with pytest.raises(ContractError) as e:
        run_check(cell, impl=fixture(name), methods=methods)
    msg = str(e.value)
    assert "\n" not in msg and stage in msg and f"{name}:{line_of(name, marker)}" in msg, msg


def test_late_exception_through_the_command_is_exit_2_without_traceback():
    r = cli("check", "rnn", "--impl", fixture("hostile_fd_raise.py"), "--method", "fd")
    assert r.returncode == 2 and "ValueError" in one_line(r)


# --- hangs -----------------------------------------------------------------------

def test_a_hanging_forward_is_stopped_and_the_alarm_handler_restored():
    before = signal.getsignal(signal.SIGALRM)
    start = time.monotonic()
    with pytest.raises(ContractError) as e:
        run_check("rnn", impl=fixture("hostile_hang.py"), methods=("fd",), timeout=0.5)
    assert time.monotonic() - start < 20
    msg = str(e.value)
    assert "did not return within 0.5 s" in msg and "hostile_hang.py:" in msg, msg
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_timer_pending_outside_the_check_survives_it():
    seen = []
    old = signal.signal(signal.SIGALRM, lambda *a: seen.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 100.0)
        assert call(lambda: 42, what="a quick call", timeout=1.0) == 42
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 90.0 < left <= 100.0
        assert signal.getsignal(signal.SIGALRM) is not None and not seen
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_the_timeout_cannot_be_swallowed_by_except_exception():
    def stubborn():
        while True:
            try:
                time.sleep(0.05)
            except Exception:
                pass
    with pytest.raises(ContractError, match="did not return within 0.3 s"):
        call(stubborn, what="forward", timeout=0.3)


# --- inputs changed in place ---------------------------------------------------

def test_a_backward_that_moves_the_parameters_never_passes():
    report = run_check("rnn", impl=fixture("hostile_mutate_params.py"))
    assert report.exit_code == 1 and not report.passed
    assert any("params['W']" in f and "backward" in f for f in report.faults), report.faults


@pytest.mark.parametrize("name, stage, what", [
    ("hostile_mutate_dh.py", "backward", "dh"),
    ("hostile_mutate_x.py", "forward", "x"),
])
def test_changing_an_input_fails_even_when_every_gradient_is_right(name, stage, what):
    report = run_check("rnn", impl=fixture(name), methods=("fd", "directional", "graph"))
    assert report.rows and all(r.ok for r in report.rows), str(report)
    assert report.exit_code == 1
    assert any(f.startswith(f"{stage} changes its input") and f": {what} " in f for f in report.faults), report.faults
    assert "FAIL" in str(report)


def test_a_cache_spoiled_by_backward_fails_but_scratch_space_does_not():
    spoiled = run_check("rnn", impl=fixture("hostile_cache_corrupt.py"), methods=("fd",))
    assert spoiled.exit_code == 1 and any("second backward" in f for f in spoiled.faults)
    # the generated kernels keep backward's scratch in the cache: that is no fault
    kernel = run_check("lstm", impl=os.path.join(ROOT, "numeric", "lstm.py"), methods=("fd",))
    assert kernel.faults == [] and kernel.exit_code == 0, str(kernel)


def test_the_checkers_own_arrays_are_verified_at_the_end():
    report = run_check("rnn", impl=fixture("hostile_reach.py"), methods=("fd",))
    assert report.exit_code == 1
    assert any("checker's own arrays changed" in f for f in report.faults), report.faults


# --- what comes back must be real numbers of the inputs' dtype -------------------

@pytest.mark.parametrize("name, words", [
    ("hostile_complex_grad.py", ["gradient 'W' is complex"]),
    ("hostile_object_grad.py", ["gradient 'b'", "object"]),
    ("hostile_string_grad.py", ["gradient 'U'", "not real numbers"]),
    ("hostile_object_h.py", ["forward", "h has dtype object"]),
])
def test_complex_object_or_string_outputs_are_refused_by_name(name, words):
    r = cli("check", "rnn", "--impl", fixture(name), "--method", "fd")
    assert r.returncode == 2, r.stdout + r.stderr
    line = one_line(r)
    assert all(w in line for w in words), line


def test_nan_gradient_is_reported_as_nan():
    report = run_check("rnn", impl=fixture("nan_rnn.py"), methods=("fd", "graph"))
    bad = [r for r in report.rows if not r.ok]
    assert bad and {r.gradient for r in bad} == {"b"}
    assert all(math.isnan(r.rel) and r.note == "NaN" for r in bad), bad
    assert report.exit_code == 1


def test_float64_arrays_from_a_float32_check_fail():
    report = run_check("rnn", impl=fixture("hostile_float64.py"), methods=("fd",), dtype="float32")
    assert report.exit_code == 1
    assert any("float64 h for float32 inputs" in f for f in report.faults), report.faults
    assert any("float64 gradients" in f for f in report.faults), report.faults
    # the same module written to keep the dtype passes the same check
    assert run_check("rnn", impl=fixture("correct_rnn.py"), methods=("fd",), dtype="float32").exit_code == 0


@pytest.mark.parametrize("name, words", [
    ("hostile_complex_unsafe.py", ["COMPLEX_SAFE", "ComplexWarning", "hostile_complex_unsafe.py:"]),
    ("hostile_complex_real.py", ["COMPLEX_SAFE", "float64 h for complex inputs"]),
])
def test_complex_safe_claims_are_checked(name, words):
    with pytest.raises(ContractError) as e:
        run_check("rnn", impl=fixture(name), methods=("complex",))
    assert all(w in str(e.value) for w in words), str(e.value)


def test_no_empty_where_header(monkeypatch):
    from lstm_sym.verify import impl
    monkeypatch.setattr(impl, "diagnose", lambda *a, **k: [])
    report = run_check("lstm", impl=fixture("tutorial_lstm.py"), methods=("fd",))
    assert report.exit_code == 1
    assert not any(n.startswith("where it goes wrong (") for n in report.notes), report.notes
    assert any("agrees with your backward" in n for n in report.notes), report.notes


# --- the module's shape of things -----------------------------------------------

@pytest.mark.parametrize("params, words", [
    ("5", "PARAMS must be a dict"),
    ("{'W': 4}", "PARAMS['W'] must be a shape"),
    ("['W', 'U', 'b']", "PARAMS must be a dict"),
    ("{'W': 'HH', 'U': ('H', 'D'), 'b': ('H',)}", "PARAMS['W'] must be a shape"),
    ("{3: ('H', 'H')}", "PARAMS keys"),
])
def test_malformed_params_are_one_line_exit_2(tmp_path, params, words):
    path = tmp_path / "user.py"
    path.write_text(f"PARAMS = {params}\n\ndef forward(params, x, h0=None):\n    pass\n\n"
                    "def backward(params, dh, cache):\n    pass\n")
    r = cli("check", "rnn", "--impl", str(path), "--method", "fd")
    assert r.returncode == 2, r.stdout + r.stderr
    assert words in one_line(r)


def test_layout_goes_to_the_layouts_adapter(monkeypatch, tmp_path):
    import lstm_sym.layouts as layouts
    seen = []

    def spy(module, cell):
        seen.append((vars(module)["LAYOUT"], cell.name))
        return module
    monkeypatch.setattr(layouts, "adapt", spy)
    path = tmp_path / "user.py"
    path.write_text(f"import sys\nsys.path.insert(0, {FIX!r})\nfrom correct_rnn import *\nLAYOUT = 'mine'\n")
    assert run_check("rnn", impl=str(path), methods=("fd",)).exit_code == 0
    assert seen == [("mine", "rnn")]


def test_unknown_layout_is_one_line_exit_2(tmp_path):
    path = tmp_path / "user.py"
    path.write_text(f"import sys\nsys.path.insert(0, {FIX!r})\nfrom correct_rnn import *\nLAYOUT = 'keras-ish'\n")
    r = cli("check", "rnn", "--impl", str(path), "--method", "fd")
    assert r.returncode == 2 and "LAYOUT" in one_line(r), r.stderr


def test_layout_without_the_layouts_module_is_not_supported(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "lstm_sym.layouts", None)       # import fails
    import lstm_sym
    monkeypatch.delattr(lstm_sym, "layouts", raising=False)
    path = tmp_path / "user.py"
    path.write_text(f"import sys\nsys.path.insert(0, {FIX!r})\nfrom correct_rnn import *\nLAYOUT = 'torch'\n")
    with pytest.raises(ContractError, match="LAYOUT = 'torch' is not supported"):
        run_check("rnn", impl=str(path), methods=("fd",))


# --- optional initial states ----------------------------------------------------

def lstm_variant(tmp_path, *edits):
    """diag_lstm.py (a correct LSTM) with text edits, as a file of its own."""
    with open(fixture("diag_lstm.py"), encoding="utf-8") as f:
        src = f.read()
    for old, new in edits:
        assert old in src, old
        src = src.replace(old, new)
    path = tmp_path / "variant_lstm.py"
    path.write_text(src)
    return str(path)


NO_C0 = [("def forward(params, x, h0=None, c0=None):", "def forward(params, x, h0=None):"),
         ("c = np.zeros((B, H)) if c0 is None else c0", "c = np.zeros((B, H))")]
NO_STATES = [("def forward(params, x, h0=None, c0=None):", "def forward(params, x):"),
             ("h = np.zeros((B, H)) if h0 is None else h0", "h = np.zeros((B, H))"),
             ("c = np.zeros((B, H)) if c0 is None else c0", "c = np.zeros((B, H))")]


@pytest.mark.parametrize("edits, held, why", [
    (NO_C0, ["c0"], "forward takes no c0"),
    ([('grads["x"], grads["h0"], grads["c0"] = dx, dh_next, dc_next', 'grads["x"], grads["h0"] = dx, dh_next')],
     ["c0"], "backward returns no gradient for c0"),
    ([('STATES = ("h", "c")', 'STATES = ("h",)')], ["c0"], "forward takes no c0"),
    (NO_STATES, ["h0", "c0"], "forward takes no h0, c0"),
])
def test_an_initial_state_the_module_does_not_take_is_held_at_zero(tmp_path, edits, held, why):
    report = run_check("lstm", impl=lstm_variant(tmp_path, *edits), methods=("fd", "graph"))
    assert report.exit_code == 0, str(report)
    lines = [n for n in report.notes if "not checked" in n and "held at 0" in n]
    assert len(lines) == 1 and why in lines[0] and all(k in lines[0] for k in held), report.notes
    assert not {r.gradient for r in report.rows} & set(held)
    assert "x" in {r.gradient for r in report.rows}


def test_dcT_without_c_in_the_cache_is_a_note_not_a_crash(tmp_path):
    path = lstm_variant(tmp_path, ("def backward(params, dh, cache):", "def backward(params, dh, cache, dcT=None):"),
                        ("dc_next = np.zeros_like(dh[0])",
                         "dc_next = np.zeros_like(dh[0]) if dcT is None else dcT"))
    report = run_check("lstm", impl=path, methods=("fd",))
    assert report.exit_code == 0, str(report)
    assert any("takes dcT" in n and "not checked" in n for n in report.notes), report.notes


def test_dcT_with_c_in_the_cache_is_checked(tmp_path):
    path = lstm_variant(tmp_path, ("def backward(params, dh, cache):", "def backward(params, dh, cache, dcT=None):"),
                        ("dc_next = np.zeros_like(dh[0])",
                         "dc_next = np.zeros_like(dh[0]) if dcT is None else dcT + 0.5"),     # wrong on purpose
                        ('return np.stack(hs), {"x": x, "steps": steps}',
                         'return np.stack(hs), {"x": x, "steps": steps, "c": np.stack([s["c"] for s in steps])}'))
    report = run_check("lstm", impl=path, methods=("fd",))
    assert report.exit_code == 1, str(report)


# --- no referee, no pass --------------------------------------------------------

def test_nothing_compared_is_exit_2(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)          # as if torch were not installed
    report = run_check("lstm", methods=("torch",))
    assert report.compared == [] and report.exit_code == 2 and not report.passed
    text = str(report)
    assert "torch: skipped" in text and "nothing compared" in text.splitlines()[-1]


def test_symbolic_alone_checks_no_module():
    with pytest.raises(ValueError, match="nothing checked your module"):
        run_check("rnn", impl=fixture("correct_rnn.py"), methods=("symbolic",))
    r = cli("check", "rnn", "--impl", fixture("correct_rnn.py"), "--method", "symbolic")
    assert r.returncode == 2 and "nothing checked your module" in one_line(r)


def test_symbolic_rows_are_counted_apart():
    proof = Row("δh_{t−1}", "symbolic", 0.0, 0.0, 0.0, "one step (2,2,1), exact")
    fd = Row("W", "central", 1e-9, 1e-10, 1e-7)
    report = CheckReport("rnn", (2, 2, 1, 1), "float64", 0, rows=[proof, fd], subject="your module")
    tail = str(report).splitlines()[-1]
    assert re.fullmatch(r"1 passed, 0 failed; derivation: 1 identities proven", tail), tail
    assert "proven" in str(report).splitlines()[2] and report.exit_code == 0
    only_proofs = CheckReport("rnn", (2, 2, 1, 1), "float64", 0, rows=[proof], subject="your module")
    assert only_proofs.exit_code == 2
    kernel = CheckReport("rnn", (2, 2, 1, 1), "float64", 0, rows=[proof])
    assert kernel.exit_code == 0                       # `check CELL --method symbolic` proves the derivation


def test_a_malformed_c_T_for_a_backward_that_takes_dcT_is_one_line(tmp_path):
    path = lstm_variant(tmp_path, ("def backward(params, dh, cache):", "def backward(params, dh, cache, dcT=None):"),
                        ('return np.stack(hs), {"x": x, "steps": steps}',
                         'return np.stack(hs), {"x": x, "steps": steps, "c": [1.0, 2.0]}'))
    with pytest.raises(ContractError, match=r"must end with c_T of shape \(B, H\)"):
        run_check("lstm", impl=path, methods=("fd",))


def test_a_real_ctrl_c_during_user_code_still_interrupts_the_check():
    """A KeyboardInterrupt the module raises is its fault (exit 2); one from
    the terminal is the user's: it must still stop the check (exit 130)."""
    def pressed():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    with pytest.raises(KeyboardInterrupt):
        call(pressed, what="forward", timeout=5.0)
    with pytest.raises(ContractError, match="raised KeyboardInterrupt"):
        call(lambda: (_ for _ in ()).throw(KeyboardInterrupt), what="forward", timeout=5.0)
