"""`lstm-sym check CELL [--impl FILE.py]`: every referee, one report."""
from .args import print_verdict, add_cell, cell_of, parse_sizes, positive_float, positive_int, seed_int


def register(sub):
    p = sub.add_parser("check", help="check a cell's gradients (or your own backward pass) every way")
    add_cell(p)
    p.add_argument("--impl", default=None, help="your module: PARAMS, forward, backward (see README)")
    p.add_argument("--method", default=None,
                   help="comma-separated: symbolic,fd,complex,directional,graph,torch, or all "
                        "(default: all but symbolic)")
    p.add_argument("--sizes", default="3,4,5", help="D,H,T (default 3,4,5)")
    p.add_argument("--batch", type=positive_int, default=2)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--timeout", type=positive_float, default=30.0,
                   help="seconds one call of your forward or backward may take (default 30)")

    def run(args):
        from ..verify.check import DEFAULT, parse_methods, run_check
        methods = parse_methods(args.method) if args.method is not None else DEFAULT
        sizes = parse_sizes(args.sizes, 3)
        report = run_check(cell_of(args), args.impl, methods, tuple(sizes), args.batch, args.dtype,
                           args.seed, timeout=args.timeout)
        return print_verdict(str(report), report.exit_code)
    p.set_defaults(run=run)
