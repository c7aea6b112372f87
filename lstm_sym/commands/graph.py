"""`lstm-sym graph CELL`: the unrolled computation graph."""
from ..io import write_output
from .args import add_cell, cell_of, positive_int


def register(sub):
    from ..graph import FORMATS
    p = sub.add_parser("graph", help="export the unrolled computation graph (DOT, GraphML, JSON)")
    add_cell(p)
    p.add_argument("--T", type=positive_int, default=3, help="number of unrolled steps (default 3)")
    p.add_argument("--format", default="dot", choices=FORMATS)
    p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")

    def run(args):
        from ..graph import export, unroll
        write_output(args.output, export(unroll(cell_of(args), args.T), args.format), args.force)
        return 0
    p.set_defaults(run=run)
