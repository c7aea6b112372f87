"""The `lstm-sym` command: argparse and the glue of each subcommand.

Nothing outside this package imports it.  Each subcommand module has
register(sub), which adds its parser and sets `run`.  Engines raise
ValueError (bad input) or OSError; here they become one line and exit 2."""
from __future__ import annotations

import sys
import traceback

from .args import Parser, UsageError


def _commands():
    from . import bench, bound, check, codegen, derive, docs, graph, prove
    return [derive, check, prove, codegen, bench, bound, docs, graph]


def main(argv=None):
    parser = Parser(prog="lstm-sym", description="Symbolic BPTT for recurrent cells.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in _commands():
        command.register(sub)
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except (UsageError, ValueError) as e:
        return _fail(e, debug)
    except BrokenPipeError:
        return 0
    except MemoryError as e:
        return _fail("out of memory: try smaller --sizes", debug, e)
    except OSError as e:
        return _fail(f"{e.strerror or e}{': ' + str(e.filename) if e.filename else ''}", debug, e)


def _fail(message, debug, error=None):
    error = error if error is not None else message
    if debug and isinstance(error, BaseException):
        traceback.print_exception(error)
    text = message if isinstance(message, str) else (message.args[0] if message.args else str(message))
    print(f"lstm-sym: error: {text}", file=sys.stderr)
    return 2
