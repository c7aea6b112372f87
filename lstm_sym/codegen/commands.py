"""The `codegen` and `bench` subcommands (wired into lstm_sym.cli.COMMANDS)."""
from __future__ import annotations

import sys

from .. import cli


def _codegen(sub):
    p = sub.add_parser("codegen", help="generate a stand-alone NumPy module for a cell")
    p.add_argument("cell", type=cli.cell_name)
    p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"),
                   help="init_params' default dtype (the kernel runs in both)")
    p.add_argument("--complex-safe", action="store_true",
                   help="the variant without abs/maximum tricks, for complex-step checks")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")

    def run(args):
        from . import emit
        cli.write_output(args.output, emit(args.cell, complex_safe=args.complex_safe, dtype=args.dtype),
                         force=args.force)
        return 0
    p.set_defaults(run=run)


def _sizes(text):
    return tuple(cli.parse_sizes(text, 4))


def _bench(sub):
    p = sub.add_parser("bench", help="time the generated kernel against textbook NumPy and torch")
    p.add_argument("cell", type=cli.cell_name)
    p.add_argument("--sizes", nargs="+", default=None, metavar="B,D,H,T",
                   help="default: 64,256,256,100 32,128,128,50")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--repeat", type=cli.positive_int, default=7, help="timed runs of each (at least 7)")
    p.add_argument("--threads", type=cli.positive_int, default=2, help="torch's threads")
    p.add_argument("--no-torch", action="store_true", help="leave torch out even when it imports")

    def run(args):
        import numpy as np

        from ..bench import DEFAULT_SIZES, compare, measure, table, versions
        from . import compile as compile_kernel
        if args.repeat < 7:
            raise cli.UsageError(f"--repeat {args.repeat}: medians need at least 7 timed runs")
        sizes = [_sizes(s) for s in args.sizes] if args.sizes else list(DEFAULT_SIZES)
        kernel = compile_kernel(args.cell)
        B, D, H, T = min(sizes, key=lambda s: s[0] * s[1] * s[2] * s[3])
        checks = compare(args.cell, kernel, B, D, H, T)
        if args.no_torch:
            checks.pop("torch", None)
        for other, (name, diff) in checks.items():
            print(f"float64 check at {(B, D, H, T)}: generated vs {other}: largest difference "
                  f"{diff:.1e} (in {name})")
            if diff > 1e-8:
                print(f"lstm-sym: error: the generated kernel and {other} disagree", file=sys.stderr)
                return 1
        rows = measure(args.cell, sizes, dtype=np.dtype(args.dtype).type, repeat=args.repeat,
                       threads=args.threads, use_torch=not args.no_torch,
                       progress=lambda s: print(s, file=sys.stderr, flush=True))
        print(f"\n{args.cell}, {args.dtype}, forward + backward; medians of {args.repeat} interleaved "
              f"runs; {versions(args.threads)}\n")
        print(table(rows))
        return 0
    p.set_defaults(run=run)
