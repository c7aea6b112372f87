"""`lstm-sym graph CELL`: the unrolled computation graph."""
import sys

from ..io import check_target, encodable, write_output
from .args import add_cell, add_limits, add_network, cell_of, network_of, positive_int, progress_of, wants_network


def register(sub):
    from ..graph import FORMATS
    p = sub.add_parser("graph", help="export the unrolled computation graph (DOT, GraphML, JSON)")
    add_cell(p)
    p.add_argument("--T", type=positive_int, default=3, help="number of unrolled steps (default 3)")
    p.add_argument("--format", default="dot", choices=FORMATS)
    p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_limits(p, "the graph")
    add_network(p)

    def run(args):
        from .. import cost
        from ..graph import export, unroll
        cell = cell_of(args)
        if args.output not in (None, "-"):
            check_target(args.output, args.force)      # before the unrolling, not after
        layers = network_of(args).layers if wants_network(args) else 1
        if not args.no_limit:
            est = lambda T: cost.graph_cost(cell, T, args.format, layers)
            best = cost.largest(est, args.T)
            cost.refuse(f"graph {cell.name} --T {args.T} --format {args.format}"
                        + (f" --layers {layers}" if layers > 1 else ""), est(args.T),
                        f"the largest --T that fits is ~{best} (--T {best})" if best else "")
        with progress_of(args) as progress:
            if wants_network(args):
                from ..graph import unroll_network
                g = unroll_network(network_of(args), args.T, progress)
            else:
                g = unroll(cell, args.T, progress)
            progress(f"graph: writing {args.format}")
            text = export(g, args.format)
            del g
            if args.output in (None, "-") and not encodable(text, sys.stdout):
                from ..graph import ascii_refs
                text = ascii_refs(text)      # DOT on an ASCII stdout: &#N; references, not transliteration
            write_output(args.output, text, args.force)
        return 0
    p.set_defaults(run=run)
