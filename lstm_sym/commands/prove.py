"""`lstm-sym prove CELL`: the exact symbolic proof."""
from .args import add_cell, add_limits, cell_of, parse_sizes, print_verdict, progress_of, seed_int


def register(sub):
    p = sub.add_parser("prove", help="exact symbolic proof of a cell's derivation")
    add_cell(p)
    p.add_argument("--sizes", type=str, default=None,
                   help="D,H,T (T=1: the one-step identity); default: both levels")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--backend", choices=("sympy", "symengine"), default=None,
                   help="who differentiates (default: symengine if installed, else sympy)")
    add_limits(p, "the proof")

    def run(args):
        from .. import cost
        from ..derivation import derive
        from ..verify import prove, prove_cell
        from ..verify.symbolic import default_backend
        cell = cell_of(args)
        sizes = [tuple(parse_sizes(args.sizes, 3))] if args.sizes is not None else [(3, 3, 1), (2, 2, 2)]
        backend = args.backend or default_backend()
        if not args.no_limit:
            for D, H, T in sizes:
                est = lambda t, D=D, H=H: cost.prove_cost(cell, D, H, t, backend)
                best = cost.largest(est, T)
                fit = (f"the largest T that fits at D = {D}, H = {H} is ~{best} (--sizes {D},{H},{best})" if best
                       else f"no T fits at D = {D}, H = {H}: make them smaller")
                cost.refuse(f"prove {cell.name} at (D,H,T) = ({D},{H},{T}) with {backend}", est(T), fit)
        d = derive(cell)
        with progress_of(args) as progress:
            if args.sizes is not None:
                D, H, T = sizes[0]
                reports = [prove(d, D, H, T, seed=args.seed, backend=args.backend, progress=progress)]
            else:
                reports = prove_cell(d, seed=args.seed, backend=args.backend, progress=progress)
        return print_verdict("\n".join(str(r) for r in reports), 0 if all(r.passed for r in reports) else 1)
    p.set_defaults(run=run)
