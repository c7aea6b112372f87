"""`lstm-sym derive CELL`: print the derivation."""
import sys

from .args import add_cell, cell_of


def register(sub):
    from ..printing import FORMATS, PARTS
    p = sub.add_parser("derive", help="derive and print a cell's gradients")
    add_cell(p)
    p.add_argument("--format", default="text", choices=FORMATS)
    p.add_argument("--part", default="all", choices=PARTS)

    def run(args):
        from ..derive import derive
        from ..printing import render
        sys.stdout.write(render(derive(cell_of(args)), args.part, args.format))
        return 0
    p.set_defaults(run=run)
