"""`lstm-sym bound CELL`: the gradient-flow bound, derived and measured."""
import sys

from .args import UsageError, add_cell, add_limits, cell_of, positive_float, positive_int, progress_of, seed_int


def register(sub):
    from ..bound.analysis import ACTIVATIONS
    p = sub.add_parser("bound", help="derive and measure the gradient-flow bound ‖δ_k‖ ≤ ‖δ_t‖ (β_f β_W)^(t−k)")
    add_cell(p)
    p.add_argument("--T", type=positive_int, default=50, help="sequence length (default 50)")
    p.add_argument("--trials", type=positive_int, default=1000, help="random instances (default 1000)")
    p.add_argument("--hidden", type=positive_int, default=64, help="hidden size H (default 64)")
    p.add_argument("--scale", type=positive_float, default=1.0, help="recurrent weights s·G/√H (default 1)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--activation", choices=ACTIVATIONS, default=None, help="the rnn's f (default tanh)")
    p.add_argument("--format", choices=("text", "latex"), default="text")
    p.add_argument("--plot", metavar="FILE.png", default=None, help="also draw a PNG (needs matplotlib)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")
    add_limits(p, "the measurement")

    def run(args):
        from ..bound import report as rp
        from ..bound.analysis import analyse
        from ..bound.plot import check_plot_path, write_plot
        from ..cells import builtin_name
        cell = cell_of(args)
        if args.activation and builtin_name(cell) != "rnn":
            raise UsageError(f"--activation applies to the rnn only, not {cell.name}")
        if args.plot is not None:
            check_plot_path(args.plot, args.force)
        if not args.no_limit:
            _refuse_if_too_big(cell, args)
        with progress_of(args) as progress:
            blocks, figure = analyse(cell, args.activation or "tanh", args.T, args.trials, args.hidden,
                                     args.scale, args.seed, progress=progress)
        if args.plot is not None:
            write_plot(figure, args.plot)
        sys.stdout.write(rp.render(blocks, args.format))
        return 0
    p.set_defaults(run=run)


def _refuse_if_too_big(cell, args):
    from .. import cost
    est = lambda trials=args.trials, T=args.T, H=args.hidden: cost.bound_cost(cell, T, trials, H)
    fits = [f"--{flag} {n}" for flag, n in (("trials", cost.largest(lambda n: est(trials=n), args.trials)),
                                          ("T", cost.largest(lambda n: est(T=n), args.T)),
                                          ("hidden", cost.largest(lambda n: est(H=n), args.hidden))) if n]
    cost.refuse(f"bound {cell.name} with --trials {args.trials}, --T {args.T}, --hidden {args.hidden}", est(),
                f"{' or '.join(fits)} fits (the others as given)" if fits else "smaller --trials, --T and --hidden")
