"""`lstm-sym derive CELL`: print the derivation."""
import sys

from .args import add_cell, cell_of


def register(sub):
    from ..printing import FORMATS, PARTS
    p = sub.add_parser("derive", help="derive and print a cell's gradients")
    add_cell(p)
    p.add_argument("--format", default="text", choices=FORMATS)
    p.add_argument("--part", default="all", choices=PARTS)
    p.add_argument("--notation", default="tutorial", metavar="NOTATION",
                   help="whose notation: tutorial (separate matrices, column vectors; the default), "
                        "d2l (minibatch rows), colah (one matrix per gate over [h_{t−1}, x_t]), "
                        "lecture (the stacked z)")

    def run(args):
        from ..derivation import derive
        from ..notation import get_notation, render
        notation = get_notation(args.notation)     # unknown: one line, exit 2, before deriving
        sys.stdout.write(render(derive(cell_of(args)), notation, args.part, args.format))
        return 0
    p.set_defaults(run=run)
