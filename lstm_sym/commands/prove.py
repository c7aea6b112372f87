"""`lstm-sym prove CELL`: the exact symbolic proof."""
from .args import print_verdict, add_cell, cell_of, parse_sizes, seed_int


def register(sub):
    p = sub.add_parser("prove", help="exact symbolic proof of a cell's derivation")
    add_cell(p)
    p.add_argument("--sizes", type=str, default=None,
                   help="D,H,T (T=1: the one-step identity); default: both levels")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--backend", choices=("sympy", "symengine"), default=None,
                   help="who differentiates (default: symengine if installed, else sympy)")

    def run(args):
        from ..derive import derive
        from ..verify import prove, prove_cell
        d = derive(cell_of(args))
        if args.sizes is not None:
            D, H, T = parse_sizes(args.sizes, 3)
            reports = [prove(d, D, H, T, seed=args.seed, backend=args.backend)]
        else:
            reports = prove_cell(d, seed=args.seed, backend=args.backend)
        return print_verdict("\n".join(str(r) for r in reports), 0 if all(r.passed for r in reports) else 1)
    p.set_defaults(run=run)
