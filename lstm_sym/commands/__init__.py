"""The `lstm-sym` command: argparse and the glue of each subcommand.

Nothing outside this package imports it.  Each subcommand module has
register(sub), which adds its parser and sets `run`.  Engines raise
ValueError (bad input) or OSError; here they become one line and exit 2.
Exit codes: 0 done, 1 a gradient (or forward) is wrong, 2 bad input or an
I/O error, 130 interrupted (SIGINT), 143 terminated (SIGTERM)."""
from __future__ import annotations

import os
import signal
import sys
import traceback

from ..io import ClosedStream, FallbackStream
from .args import Parser, UsageError, quiet_stdout


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that files being written are
    cleaned up as on SIGINT."""


def _commands():
    from . import bench, bound, check, codegen, derive, docs, graph, prove, train
    return [derive, check, prove, codegen, bench, bound, docs, graph, train]


def entry(argv=None):
    """The process's entry (`lstm-sym`, `python -m lstm_sym`): main(), then SIGINT and
    SIGTERM ignored while the interpreter shuts down, so that a signal arriving as
    the run ends (or a second ^C) cannot turn its exit code into a signal death."""
    _hold_closed_fds()
    try:
        code = main(argv)
    except KeyboardInterrupt:            # a ^C after main() had restored the handlers
        code = 130
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except ValueError:               # not the main thread
            pass
    if code in (130, 143):
        # CPython turns the exit into a SIGINT death when a KeyboardInterrupt ever
        # left C-level evaluation (an extension's PyRun_String), even one caught
        # here: an interrupted run skips the interpreter's teardown instead.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    return code


def _hold_closed_fds():
    """fd 0, 1 or 2 closed at start (>&-): hold it on /dev/null, so that no file
    the run opens (-o FILE's temporary) takes the number that C code or a child
    process writes to as stdout.  sys.stdout stays None: main() still refuses it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                held = os.open(os.devnull, os.O_RDWR)
                if held != fd:
                    os.dup2(held, fd)
                    os.close(held)
            except OSError:
                pass


def _wrap(stream, name):
    return FallbackStream(stream) if stream is not None else ClosedStream(name, fail=name == "stdout")


def main(argv=None):
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _wrap(sys.stdout, "stdout"), _wrap(sys.stderr, "stderr")
    old = _on_sigterm()
    try:
        code = _main(argv)
        try:
            sys.stdout.flush()             # > /dev/full fails here, not silently at exit
        except BrokenPipeError:
            quiet_stdout()
        except OSError as e:
            code = _fail(f"cannot write the output: {e.strerror}", False)
        return code
    finally:
        sys.stdout, sys.stderr = streams
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _parser():
    parser = Parser(prog="lstm-sym", description="Symbolic BPTT for recurrent cells.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in _commands():
        command.register(sub)
    return parser


def _main(argv):
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        # building the parser imports the engines (SymPy: a few tenths of a second);
        # an interrupt then is one line like any other
        args = _parser().parse_args(argv)
        return args.run(args)
    except (UsageError, ValueError) as e:
        return _fail(e, debug)
    except BrokenPipeError:
        quiet_stdout()
        return 0
    except MemoryError as e:
        return _fail("out of memory: try smaller sizes", debug, e)
    except OSError as e:
        where = f"cannot write {e.filename}" if e.filename else "I/O error"
        return _fail(f"{where}: {e.strerror or e}", debug, e)
    except KeyboardInterrupt:
        print("lstm-sym: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("lstm-sym: terminated", file=sys.stderr)
        return 143


def _on_sigterm():
    def handler(signum, frame):
        raise Terminated()
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:                  # not the main thread: leave signals alone
        return None


def _fail(message, debug, error=None):
    error = error if error is not None else message
    if debug and isinstance(error, BaseException):
        traceback.print_exception(error)
    text = message if isinstance(message, str) else (message.args[0] if message.args else str(message))
    print(f"lstm-sym: error: {text}", file=sys.stderr)
    return 2
