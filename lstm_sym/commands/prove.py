"""`lstm-sym prove CELL`: the exact symbolic proof."""
from .args import (add_cell, add_limits, add_network, cell_of, network_of, parse_sizes, print_verdict, progress_of,
                   seed_int, wants_network)


def register(sub):
    p = sub.add_parser("prove", help="exact symbolic proof of a cell's derivation")
    add_cell(p)
    p.add_argument("--sizes", type=str, default=None,
                   help="D,H,T (T=1: the one-step identity); default: both levels.  "
                        "A network's: D,H,K,T (default 2,2,2,2)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--backend", choices=("sympy", "symengine"), default=None,
                   help="who differentiates (default: symengine if installed, else sympy)")
    add_limits(p, "the proof")
    add_network(p)

    def run(args):
        if wants_network(args):
            return _network(args)
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


def _network(args):
    """The network's derivation, proved exactly (verify.network_proof)."""
    from .. import cost
    from ..verify.network_proof import SIZES, prove_network
    net = network_of(args)
    D, H, K, T = tuple(parse_sizes(args.sizes, 4)) if args.sizes is not None else SIZES
    if args.backend == "sympy":
        raise ValueError("a network's exact proof runs on symengine (SymPy's nested tanh took 390 s at "
                         "2,2,2,2); drop --backend sympy")
    try:
        __import__("symengine")
    except ImportError:
        raise ValueError("a network's exact proof needs symengine: pip install 'lstm-sym[fast]'") from None
    what = f"prove {net.cell.name} --layers {net.layers} at (D,H,K,T) = ({D},{H},{K},{T})"
    if not args.no_limit:
        cost.refuse(what, cost.network_prove_cost(net.cell, D, H, T, net.layers), "make the sizes smaller")
    verdict = prove_network(net, (D, H, K, T), seed=args.seed)
    wrong = [entry for entry in verdict.values() if entry]
    lines = [f"prove {net.cell.name}: {net.layers} layer{'s' if net.layers > 1 else ''}, {net.head} head, "
             f"{net.loss} at {'every step' if net.loss_at == 'all' else 'step T'}; D, H, K, T = {D}, {H}, {K}, {T}",
             "method: exact: symengine differentiates E; the derivation (every layer's rules, the "
             "head's, the loss op's) runs over GF(2^61 − 1) at 2 random points; tanh, exp, log uninterpreted",
             *(f"  {name:16s} {'ok' if v is None else 'WRONG at ' + v}" for name, v in verdict.items()),
             "verdict: " + (f"WRONG: {', '.join(wrong)}" if wrong else "the network's derivation is exact")]
    return print_verdict("\n".join(lines), 1 if wrong else 0)
