"""The `lstm-sym` command.  Each subcommand module has register(sub), which
adds its parser and sets `run`.  Bad input: one line on stderr, exit 2."""
from __future__ import annotations

import argparse
import sys


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def positive_int(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return n


def cell_name(text):
    from .cells import NAMES
    if text not in NAMES:
        raise argparse.ArgumentTypeError(f"unknown cell {text!r}; the built-in cells are: {', '.join(NAMES)}")
    return text


def plain_mode(tmp, path):
    """mkstemp makes files owner-only; give tmp the mode a plain open() would
    (or the mode of the file it replaces)."""
    import os
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o666 & ~umask)


def write_output(path, text, force=False):
    """Write text to path atomically; refuse to overwrite without force."""
    import os
    import tempfile
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    if not path.strip():
        raise UsageError("the output file name is empty; give a file name, or leave -o out for stdout")
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path}: it is a folder; give a file name")
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lstm-sym-", suffix=".tmp")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        plain_mode(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _derive(sub):
    from .printing import FORMATS, PARTS
    p = sub.add_parser("derive", help="derive and print a cell's gradients")
    p.add_argument("cell", type=cell_name)
    p.add_argument("--format", default="text", choices=FORMATS)
    p.add_argument("--part", default="all", choices=PARTS)

    def run(args):
        from .derive import derive
        from .printing import render
        sys.stdout.write(render(derive(args.cell), args.part, args.format))
        return 0
    p.set_defaults(run=run)


def _prove(sub):
    p = sub.add_parser("prove", help="exact symbolic proof of a cell's derivation")
    p.add_argument("cell", type=cell_name)
    p.add_argument("--sizes", type=str, default=None,
                   help="D,H,T (T=1: the one-step identity); default: both levels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=("sympy", "symengine"), default=None,
                   help="who differentiates (default: symengine if installed, else sympy)")

    def run(args):
        from .derive import derive
        from .verify import prove, prove_cell
        d = derive(args.cell)
        if args.sizes:
            D, H, T = parse_sizes(args.sizes, 3)
            reports = [prove(d, D, H, T, seed=args.seed, backend=args.backend)]
        else:
            reports = prove_cell(d, seed=args.seed, backend=args.backend)
        print("\n".join(str(r) for r in reports))
        return 0 if all(r.passed for r in reports) else 1
    p.set_defaults(run=run)


def _docs(sub):
    p = sub.add_parser("docs", help="regenerate derivations/ (and numeric/) from the engine")
    p.add_argument("--out", default=".", help="project folder holding derivations/")
    p.add_argument("--check", action="store_true", help="exit 1 if a committed file differs")

    def run(args):
        import os
        from .docs import regenerate
        if not os.path.isdir(args.out):
            raise UsageError(f"--out {args.out!r} is not a folder; give the lstm-sym checkout")
        if not os.path.isfile(os.path.join(args.out, "lstm_sym", "cells", "lstm.py")):
            raise UsageError(f"{os.path.abspath(args.out)} is not an lstm-sym checkout (no lstm_sym/cells/); "
                             "run this in the project folder or pass --out PROJECT_DIR")
        stale = regenerate(args.out, check=args.check)
        for path in stale:
            missing = not os.path.exists(os.path.join(args.out, path))
            print(("missing: " if missing else "differs: ") if args.check else "wrote: ", path, sep="")
        return 1 if (args.check and stale) else 0
    p.set_defaults(run=run)


def parse_sizes(text, n):
    parts = text.split(",")
    if len(parts) != n:
        raise UsageError(f"--sizes takes {n} comma-separated positive integers, got {text!r}")
    try:
        return [positive_int(s) for s in parts]
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"--sizes: {e}") from None


def _check(sub):
    p = sub.add_parser("check", help="check a cell's gradients (or your own backward pass) every way")
    p.add_argument("cell", type=cell_name)
    p.add_argument("--impl", default=None, help="your module: PARAMS, forward, backward (see README)")
    p.add_argument("--method", default=None,
                   help="comma-separated: symbolic,fd,complex,directional,graph,torch, or all "
                        "(default: all but symbolic)")
    p.add_argument("--sizes", default="3,4,5", help="D,H,T (default 3,4,5)")
    p.add_argument("--batch", type=positive_int, default=2)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--seed", type=int, default=0)

    def run(args):
        from .verify.check import DEFAULT, parse_methods, run_check
        methods = parse_methods(args.method) if args.method is not None else DEFAULT
        sizes = parse_sizes(args.sizes, 3)
        report = run_check(args.cell, args.impl, methods, tuple(sizes), args.batch, args.dtype, args.seed)
        print(report)
        return 0 if report.passed else 1
    p.set_defaults(run=run)


def _graph(sub):
    from .graph import register_graph
    register_graph(sub)


def _bound(sub):
    from .bound import register_bound
    register_bound(sub)


def _codegen(sub):
    from .codegen.commands import _codegen as register
    register(sub)


def _bench(sub):
    from .codegen.commands import _bench as register
    register(sub)


COMMANDS = [_derive, _check, _prove, _codegen, _bench, _bound, _docs, _graph]


def main(argv=None):
    parser = Parser(prog="lstm-sym", description="Symbolic BPTT for recurrent cells.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for register in COMMANDS:
        register(sub)
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except UsageError as e:
        print(f"lstm-sym: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, KeyError) as e:
        msg = e.args[0] if e.args else str(e)
        print(f"lstm-sym: error: {msg}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except MemoryError:
        print("lstm-sym: error: out of memory: try smaller --sizes", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"lstm-sym: error: {e.strerror or e}{': ' + e.filename if e.filename else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # run the imported lstm_sym.cli, not this __main__ copy: subcommand modules
    # raise lstm_sym.cli.UsageError, which main() must recognise
    from lstm_sym.cli import main as _main
    sys.exit(_main())
