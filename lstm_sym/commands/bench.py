"""`lstm-sym bench CELL`: time the generated kernel."""
import sys

from .args import UsageError, add_cell, cell_of, parse_sizes, positive_int


def register(sub):
    p = sub.add_parser("bench", help="time the generated kernel against textbook NumPy and torch")
    add_cell(p)
    p.add_argument("--sizes", nargs="+", default=None, metavar="B,D,H,T",
                   help="default: 64,256,256,100 32,128,128,50")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--repeat", type=positive_int, default=7, help="timed runs of each (at least 7)")
    p.add_argument("--threads", type=positive_int, default=2, help="torch's threads")
    p.add_argument("--no-torch", action="store_true", help="leave torch out even when it imports")
    p.add_argument("--no-limit", action="store_true",
                   help="run even when the benchmark is estimated to take over 10 minutes or more memory than is free")

    def run(args):
        import numpy as np

        from ..bench import DEFAULT_SIZES, compare, measure, skipped, table, versions
        from ..codegen import compile as compile_kernel
        if args.repeat < 7:
            raise UsageError(f"--repeat {args.repeat}: medians need at least 7 timed runs")
        sizes = [tuple(parse_sizes(s, 4)) for s in args.sizes] if args.sizes else list(DEFAULT_SIZES)
        cell = cell_of(args)
        if not args.no_limit:
            from .. import cost
            shown = " ".join(",".join(map(str, s)) for s in sizes)
            cost.refuse(f"bench {cell.name} --sizes {shown} --repeat {args.repeat}",
                        cost.bench_cost(cell, sizes, args.repeat, not args.no_torch), "smaller --sizes or --repeat")
        kernel = compile_kernel(cell)
        B, D, H, T = min(sizes, key=lambda s: s[0] * s[1] * s[2] * s[3])
        checks = compare(cell, kernel, B, D, H, T)
        if args.no_torch:
            checks.pop("torch", None)
        for other, (name, diff) in checks.items():
            print(f"float64 check at {(B, D, H, T)}: generated vs {other}: largest difference "
                  f"{diff:.1e} (in {name})")
            if diff > 1e-8:
                print(f"lstm-sym: error: the generated kernel and {other} disagree", file=sys.stderr)
                return 1
        rows = measure(cell, sizes, dtype=np.dtype(args.dtype).type, repeat=args.repeat,
                       threads=args.threads, use_torch=not args.no_torch,
                       progress=lambda s: print(s, file=sys.stderr, flush=True))
        print(f"\n{cell.name}, {args.dtype}, forward + backward; medians of {args.repeat} interleaved "
              f"runs; {versions(args.threads, not args.no_torch)}\n")
        print(table(rows))
        for line in skipped(cell, not args.no_torch):
            print(line)
        return 0
    p.set_defaults(run=run)
