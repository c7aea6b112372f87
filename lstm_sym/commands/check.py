"""`lstm-sym check CELL [--impl FILE.py]`: every referee, one report."""
import sys

from .args import (add_cell, add_limits, add_network, cell_of, network_of, parse_sizes, positive_float,
                   positive_int, print_verdict, progress_of, seed_int, wants_network)


def register(sub):
    from ..verify.methods import help_text
    p = sub.add_parser("check", help="check a cell's gradients (or your own backward pass) every way")
    add_cell(p)
    p.add_argument("--impl", default=None, help="your module: PARAMS, forward, backward (see README)")
    p.add_argument("--method", default=None, help=help_text())
    p.add_argument("--sizes", default="3,4,5", help="D,H,T (default 3,4,5)")
    p.add_argument("--batch", type=positive_int, default=2)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--timeout", type=positive_float, default=30.0,
                   help="seconds one call of your forward or backward may take (default 30)")
    add_limits(p, "the check")
    add_network(p)

    def run(args):
        if wants_network(args):
            return run_network_check(args)
        from ..verify.check import DEFAULT, parse_methods, run_check
        methods = parse_methods(args.method) if args.method is not None else DEFAULT
        sizes = parse_sizes(args.sizes, 3)
        with progress_of(args) as progress:
            report = run_check(cell_of(args), args.impl, methods, tuple(sizes), args.batch, args.dtype,
                               args.seed, timeout=args.timeout, limit=not args.no_limit, progress=progress)
        code = print_verdict(str(report), report.exit_code)
        if code == 2:       # the report says why in its notes; an exit 2 always has its one error line
            print(f"lstm-sym: error: nothing compared {report.subject} against a referee (see the notes above)",
                  file=sys.stderr)
        return code
    p.set_defaults(run=run)


def run_network_check(args):
    """The generated network module against every referee that runs on a network."""
    from ..verify.network_check import DEFAULT, check_network
    if args.impl is not None:
        raise ValueError("--impl checks a cell's module; a network's module is checked as generated "
                         "(drop --impl, or drop --layers/--head/--loss/--loss-at)")
    methods = DEFAULT if args.method is None else [m.strip() for m in args.method.split(",") if m.strip()]
    with progress_of(args) as progress:
        report = check_network(network_of(args), methods, tuple(parse_sizes(args.sizes, 3)), batch=args.batch,
                               seed=args.seed, limit=not args.no_limit, dtype=args.dtype, progress=progress)
    code = print_verdict(str(report), report.exit_code)
    if code == 2:
        print("lstm-sym: error: nothing compared the network against a referee (see the skipped lines above)",
              file=sys.stderr)
    return code
