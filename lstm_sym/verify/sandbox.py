"""Running a user's module so that nothing it does can end or fake the verdict.

`Guarded` wraps a module in the kernel contract (PARAMS, STATES, forward,
backward) and is what the checker calls everywhere: first call, finite
differences, complex step, directional check, diagnosis probes.

  - Every call runs through `call`: an exception, sys.exit(), os._exit(),
    KeyboardInterrupt or a call that does not return within `timeout`
    seconds becomes one ContractError line naming the file, the stage and
    the file:line (exit 2).  Nothing the user raises can reach the command.
  - The user's code gets copies of every array (params, x, h0, c0, dh, dcT)
    and a fresh copy of the cache its forward returned; the copies are
    compared afterwards.  Changing an input in place is a fault (exit 1);
    so is changing the cache so that a second backward on it returns
    something else (scratch space that backward overwrites is fine: the
    generated kernels keep theirs in the cache).
  - h and the gradients must be real arrays of the right shape (complex,
    object and string arrays are refused by name, exit 2); a dtype other than
    the inputs' (float64 from float32 inputs) is a fault (exit 1).
  - With complex inputs (the complex step, COMPLEX_SAFE = True) a
    ComplexWarning or a real h means the forward drops imaginary parts: exit 2.

Limits.  The module runs in the checker's process.  The timeout is SIGALRM
(main thread, POSIX): a call stuck in C code that never returns to the
interpreter (a BLAS call on a huge array, a blocking system call that
restarts) cannot be interrupted, and a loop whose bare `except:` swallows
every exception may keep running (the alarm repeats, so it usually gets
out).  Code written to defeat the checker (patching it, disarming the timer,
atexit handlers, threads) is outside what an in-process check can stop: check
untrusted code in a container.
"""
from __future__ import annotations

import contextlib
import copy
import os
import signal
import threading
import time
import traceback
import warnings

import numpy as np

from .same import _changed, same  # noqa: F401  (same: re-exported)
from .signatures import final_keyword, taken_states, with_signature  # noqa: F401  (re-exported)

ComplexWarning = getattr(getattr(np, "exceptions", np), "ComplexWarning")


class ContractError(ValueError):
    """The module does not follow the kernel contract, or its code failed
    (one line, exit 2)."""

    def __init__(self, message):
        text = " ".join(str(message).split())
        super().__init__(text if len(text) <= 400 else text[:397] + "...")


class CallTimeout(BaseException):
    """Raised by the alarm inside user code: `except Exception` cannot swallow it."""


class _UserExit(BaseException):
    """os._exit(n) called by user code (it would end the checker with n)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


# --- one guarded call ---------------------------------------------------------

class _Alarm:
    active = False          # raise only while user code runs
    fired = False
    signalled = False       # a real SIGINT/SIGTERM arrived during the call: not the module's doing


def _relay(handler):
    """A signal handler that notes the signal came from outside, then does what `handler` does."""
    def relay(signum, frame):
        _Alarm.signalled = True
        return handler(signum, frame)
    return relay


def _on_alarm(signum, frame):
    if _Alarm.active:
        _Alarm.fired = True
        raise CallTimeout()


_REAL_EXIT = os._exit
_PID = os.getpid()


def _refuse_exit(code=0):
    if os.getpid() != _PID:         # a forked child of the user's code: let it go
        _REAL_EXIT(code)
    raise _UserExit(code)


def _can_alarm():
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def call(fn, args=(), kwargs=None, what="your code", path="module", timeout=30.0):
    """fn(*args, **kwargs) as user code: anything but a return becomes a
    one-line ContractError.  The alarm is disarmed and the old handler (and
    any pending timer) restored before this returns."""
    kwargs = kwargs or {}
    alarm = bool(timeout) and _can_alarm()
    old_timer, start, error = (0.0, 0.0), time.monotonic(), None
    relayed = {}
    _Alarm.signalled = False
    if alarm:
        old_handler = signal.signal(signal.SIGALRM, _on_alarm)
        _Alarm.fired = False
        # Ctrl-C and SIGTERM during the call still interrupt the check (130, 143), as anywhere else
        for sig in (signal.SIGINT, signal.SIGTERM):
            if callable(signal.getsignal(sig)):
                relayed[sig] = signal.signal(sig, _relay(signal.getsignal(sig)))
    os._exit = _refuse_exit
    try:
        try:
            if alarm:
                _Alarm.active = True
                old_timer = signal.setitimer(signal.ITIMER_REAL, timeout, 0.25)   # repeats until disarmed
            result = fn(*args, **kwargs)
        finally:
            _Alarm.active = False
    except BaseException as e:      # the user's code: whatever it raises is reported, never re-raised
        error = e
    finally:
        os._exit = _REAL_EXIT
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
            for sig, handler in relayed.items():
                signal.signal(sig, handler)
            if old_timer[0] > 0:
                left = max(old_timer[0] - (time.monotonic() - start), 1e-3)
                signal.setitimer(signal.ITIMER_REAL, left, old_timer[1])
    if error is not None and _Alarm.signalled and not isinstance(error, CallTimeout):
        raise error             # the user pressed Ctrl-C (or the check was terminated): not a verdict
    if alarm and _Alarm.fired:
        error = error if isinstance(error, CallTimeout) else CallTimeout()
        failure = ContractError(f"--impl {path}: {what} did not return within {timeout:g} s"
                                f"{_at(error, path, 'stopped at')}; --timeout sets the limit")
    elif error is not None:
        failure = ContractError(f"--impl {path}: {what} {_said(error, path)}")
    else:
        return result
    failure.user_error = error      # what the user's code raised (the traceback is not shown)
    raise failure


def _said(e, path):
    """What the user's code did, in words, with file:line."""
    at = _at(e, path)
    if isinstance(e, SystemExit):
        return f"called sys.exit({e.code!r}){at}: the checker does not stop for it"
    if isinstance(e, _UserExit):
        return f"called os._exit({e.code!r}){at}: the checker does not stop for it"
    if isinstance(e, KeyboardInterrupt):
        return f"raised KeyboardInterrupt{at}"
    if isinstance(e, ComplexWarning):
        return (f"drops the imaginary part of a complex value (ComplexWarning{at.replace(' (at', ',')[:-1] if at else ''}): COMPLEX_SAFE = True "
                "needs a forward that keeps complex values complex (no real buffers, abs, maximum, "
                "comparisons); remove COMPLEX_SAFE or fix the forward")
    return f"raised {where(e, path)}"


def where(e, path):
    """'NameError: ... (at my_lstm.py:42)': the innermost frame in the user's file."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}{': ' + text if text else ''}{_at(e, path)}"


def _at(e, path, word="at"):
    """' (at file.py:42)': the innermost frame in the user's file, else in its folder."""
    if e is None or path is None:
        return ""
    frames = traceback.extract_tb(e.__traceback__)
    mine = os.path.abspath(path)
    for pick in (lambda f: os.path.abspath(f.filename) == mine,
                 lambda f: os.path.dirname(os.path.abspath(f.filename)) == os.path.dirname(mine)):
        hits = [f for f in frames if pick(f)]
        if hits:
            return f" ({word} {os.path.basename(hits[-1].filename)}:{hits[-1].lineno})"
    return ""


# --- the guarded module ----------------------------------------------------------

class GuardedCache:
    """What Guarded.forward returns as the cache: the checker's own copy of
    the user's cache (each backward gets a fresh copy of it), and the final
    second state c_T read from it once (None when it exposes none)."""
    __slots__ = ("value", "x_shape", "dtype", "final")

    def __init__(self, value, x_shape, dtype, final=None):
        self.value, self.x_shape, self.dtype, self.final = value, x_shape, dtype, final


def final_state(cache, state="c"):
    """s_T from a cache: cache["<s>_seq"][-1] (generated kernels keep s_0..s_T
    there) or cache["<s>"][-1]; None when the cache does not expose it."""
    if isinstance(cache, GuardedCache):
        return cache.final
    if isinstance(cache, dict):
        for key in (state + "_seq", state):
            if key in cache:
                return cache[key][-1]
    return None


def _copy(a):
    return None if a is None else np.array(a, copy=True)


def _is_complex(*arrays):
    return any(a is not None and np.iscomplexobj(a) for a in arrays)


@contextlib.contextmanager
def during(module, text):
    """Label the calls made inside (e.g. "central differences for W_fh"), so
    an error says when it happened.  A no-op for modules that are not Guarded."""
    if not isinstance(module, Guarded):
        yield
        return
    old, module.context = module.context, text
    try:
        yield
    finally:
        module.context = old


class Guarded:
    """A user's module behind the contract, safe to call (see the module doc)."""

    def __init__(self, user, cell, path, params, states, timeout=30.0, complex_safe=False):
        self.user, self.path, self.timeout = user, path, timeout
        self.cell_states = tuple(cell.states)
        self.PARAMS = params
        self.STATES = tuple(cell.states)
        self.COMPLEX_SAFE = bool(complex_safe)
        self.CELL = cell.name
        self.faults = {}            # text -> None: an ordered set
        self.context = ""
        self.dtype = None           # the checked dtype: only calls in it are held to returning it
        self._forward, self._backward = user.forward, user.backward
        self.takes = self._call("reading forward's signature", taken_states,
                                (self._forward, self.cell_states, states))
        second = self.cell_states[1] if len(self.cell_states) > 1 else None
        self.final_key = (self._call("reading backward's signature", final_keyword, (self._backward, second))
                          if second else None)
        self.UNTAKEN = tuple(s + "0" for s in self.cell_states if s not in self.takes)
        self.forward = with_signature(self._run_forward, ["params", "x"],
                                       [s + "0" for s in self.cell_states if s in self.takes])
        extra = [f"d{second}T"] if self.final_key else []
        self.backward = with_signature(self._run_backward, ["params", "dh", "cache"], extra)

    # -- plumbing --
    def _what(self, stage):
        return stage + (f" (during {self.context})" if self.context else "")

    def _call(self, stage, fn, args=(), kwargs=None):
        return call(fn, args, kwargs, self._what(stage), self.path, self.timeout)

    def _strict(self, x_or_cache):
        dtype = x_or_cache.dtype if isinstance(x_or_cache, GuardedCache) else np.asarray(x_or_cache).dtype
        return self.dtype is None or dtype == self.dtype

    def fault(self, text):
        self.faults[text] = None

    def _error(self, stage, text):
        """'--impl FILE: forward (during central differences for W): TEXT'"""
        return ContractError(f"--impl {self.path}: {self._what(stage)}: {text}")

    # -- forward --
    def _run_forward(self, params, x, *states):
        given = dict(zip(self.cell_states, states))
        ours = {"params": dict(params), "x": x, **{s + "0": v for s, v in given.items()}}
        copies = {"params": {k: _copy(v) for k, v in params.items()}, "x": _copy(x)}
        args, kwargs = [copies["params"], copies["x"]], {}
        positional = True
        for s in self.cell_states:
            v = given.get(s)
            if s not in self.takes:
                if v is not None and np.any(v != 0):
                    raise RuntimeError(f"internal: nonzero {s}0 for a forward that takes none")
                positional = False
                continue
            copies[s + "0"] = _copy(v)
            if positional:
                args.append(copies[s + "0"])
            else:
                kwargs[s + "0"] = copies[s + "0"]
        cplx = _is_complex(x, *params.values(), *given.values())
        with warnings.catch_warnings():
            if cplx:
                warnings.simplefilter("error", ComplexWarning)
            out = self._call("forward", self._forward, args, kwargs)
        self._inputs_kept("forward", copies, ours)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise self._error("forward", f"it must return (h, cache); got {_kind(out)}")
        h, cache = out
        T, B = np.shape(x)[:2]
        H = next((np.shape(v)[0] for k, v in params.items() if self.PARAMS.get(k, ("",))[0] == "H"), None)
        if not isinstance(h, np.ndarray) or h.shape != (T, B, H):
            raise self._error("forward", f"it must return (h, cache) with h an array of shape (T, B, H) = "
                              f"{(T, B, H)}; got {_kind(h)}")
        if cplx and h.dtype.kind != "c":
            raise self._error("forward", f"it returned {h.dtype} h for complex inputs: with COMPLEX_SAFE = True the "
                              "complex step needs complex values kept complex (no real buffers); remove "
                              "COMPLEX_SAFE or fix the forward")
        _refuse_dtype(self, "forward", "h", h, allow_complex=cplx)
        if not cplx and h.dtype != np.asarray(x).dtype and self._strict(x):
            self.fault(f"forward returns {h.dtype} h for {np.asarray(x).dtype} inputs")
        snapshot = self._call("forward (its cache cannot be copied: keep arrays, tuples, lists and dicts "
                              "in it)", copy.deepcopy, (cache,))
        final = self._final(snapshot, h.shape[1:], cplx) if len(self.cell_states) > 1 else None
        return np.array(h, copy=True), GuardedCache(snapshot, tuple(np.shape(x)), np.asarray(x).dtype, final)

    def _final(self, cache, shape, cplx):
        """c_T from the user's cache, as a checked array; None if it exposes
        none.  Malformed: None, unless backward takes dcT (then exit 2)."""
        s = self.cell_states[1]
        try:
            c = self._call("forward", final_state, (cache, s))
            c = None if c is None else self._call("forward", np.asarray, (c,))
        except ContractError:
            c = False
        if c is None:
            return None
        good = c is not False and c.shape == tuple(shape) and c.dtype.kind in ("biufc" if cplx else "biuf")
        if not good and self.final_key:
            raise self._error("forward", f"its cache[{s + '_seq'!r}] (or cache[{s!r}]) must end with {s}_T of "
                              f"shape (B, H) = {tuple(shape)}, since backward takes {self.final_key}")
        return np.array(c, copy=True) if good else None

    # -- backward --
    def _run_backward(self, params, dh, cache, **final):
        if not isinstance(cache, GuardedCache):
            raise TypeError("Guarded.backward takes the cache its own forward returned")
        key = f"d{self.cell_states[1]}T" if len(self.cell_states) > 1 else None
        dT = final.pop(key, None) if key else None
        if final:
            raise TypeError(f"unexpected keyword(s) {sorted(final)}")
        grads, handed = self._backward_once(params, dh, cache, dT, copy_cache=True)
        if not same(handed, cache.value):
            # backward changed its cache: harmless scratch only if a second backward on it agrees
            try:
                again, _ = self._backward_once(params, dh, GuardedCache(handed, cache.x_shape, cache.dtype), dT,
                                               copy_cache=False)
            except ContractError as e:
                why = str(e).replace(f"--impl {self.path}: ", "", 1)
                self.fault(f"backward changes its cache: a second backward on the same cache fails ({why})")
                return grads
            differ = [k for k in grads if k not in again or not np.allclose(grads[k], again[k], rtol=1e-12,
                                                                             atol=0, equal_nan=True)]
            if differ:
                self.fault("backward changes its cache: a second backward on the same cache returns other "
                           f"gradients ({', '.join(differ)})")
        return grads

    def _backward_once(self, params, dh, cache, dT, copy_cache):
        handed = (self._call("backward (its cache cannot be copied)", copy.deepcopy, (cache.value,))
                  if copy_cache else cache.value)
        copies = {"params": {k: _copy(v) for k, v in params.items()}, "dh": _copy(dh)}
        ours = {"params": dict(params), "dh": dh}
        kwargs = {}
        if dT is not None and self.final_key:
            copies["dcT"], ours["dcT"] = _copy(dT), dT
            kwargs[self.final_key] = copies["dcT"]
        got = self._call("backward", self._backward, (copies["params"], copies["dh"], handed), kwargs)
        self._inputs_kept("backward", copies, ours)
        return self._gradients(got, params, dh, cache), handed

    def _gradients(self, got, params, dh, cache):
        if not isinstance(got, dict):
            raise self._error("backward", f"it must return a dict of gradients, got {_kind(got)}")
        B, H = np.shape(dh)[1:]
        expect = {p: np.shape(v) for p, v in params.items()}
        expect["x"] = cache.x_shape
        expect.update({s + "0": (B, H) for s in self.cell_states})
        for name in expect:
            if name not in got and not (name[:-1] in self.cell_states and name.endswith("0")):
                raise self._error("backward", f"it returned no gradient for {name!r}")
        stray = [k for k in dict.keys(got) if k not in expect]
        unreturned = [s + "0" for s in self.cell_states if not dict.__contains__(got, s + "0")]
        if stray and unreturned:
            # "h0" for a state named y: a misnamed key, not a gradient left out on purpose
            raise self._error("backward", f"it returned {', '.join(map(repr, stray))} but no "
                              f"{', '.join(map(repr, unreturned))}; an initial state s_0's gradient is keyed "
                              f"s + '0' ({', '.join(repr(s + '0') for s in self.cell_states)} for this cell)")
        out, wide = {}, []
        for name, shape in expect.items():
            if not dict.__contains__(got, name):
                continue
            a = self._call(f"backward (gradient {name!r} is not an array)", np.asarray, (dict.__getitem__(got, name),))
            _refuse_dtype(self, "backward", f"gradient {name!r}", a)
            if a.shape != tuple(shape):
                raise self._error("backward", f"gradient {name!r} has shape {a.shape}, expected {tuple(shape)}")
            if a.dtype != cache.dtype and self._strict(cache):
                wide.append((name, a.dtype))
            out[name] = np.array(a, copy=True)
        if wide:
            self.fault(f"backward returns {', '.join(sorted({str(d) for _, d in wide}))} gradients for "
                       f"{cache.dtype} inputs: {', '.join(n for n, _ in wide)}")
        return out

    def _inputs_kept(self, stage, copies, ours):
        changed = _changed({k: (copies[k], ours[k]) for k in copies}, ours)
        if changed:
            self.fault(f"{stage} changes its input(s) in place: {', '.join(changed)} (the checker hands it "
                       "copies; a caller's arrays would be corrupted)")


def _refuse_dtype(g, stage, what, a, allow_complex=False):
    kind = a.dtype.kind
    if kind == "c" and not allow_complex:
        raise g._error(stage, f"{what} is complex ({a.dtype}); it must be real")
    if kind not in "biufc":
        raise g._error(stage, f"{what} has dtype {a.dtype}, not real numbers")


def _kind(v):
    if isinstance(v, np.ndarray):
        return f"array of shape {v.shape}, dtype {v.dtype}"
    if isinstance(v, (tuple, list)):
        return f"{type(v).__name__} of length {len(v)}"
    return type(v).__name__
