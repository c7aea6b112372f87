"""`lstm-sym derive CELL`: print the derivation."""
import sys

from .args import add_cell, add_network, cell_of, network_of, wants_network


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

    add_network(p)

    def run(args):
        if wants_network(args):
            return run_network(args)
        from ..derivation import derive
        from ..notation import get_notation, render
        notation = get_notation(args.notation)     # unknown: one line, exit 2, before deriving
        sys.stdout.write(render(derive(cell_of(args)), notation, args.part, args.format))
        return 0
    p.set_defaults(run=run)


def run_network(args):
    """The network's derivation: head, loss, the links between layers, then the cell's BPTT."""
    from ..network_document import render_network
    if args.part != "all":
        raise ValueError(f"--part {args.part} is a part of a cell's derivation; a network prints whole "
                         "(drop --part, or drop --layers/--head/--loss/--loss-at for the cell alone)")
    if args.notation != "tutorial":
        raise ValueError(f"--notation {args.notation} prints a cell; a network prints in the tutorial's "
                         "notation only (drop --notation)")
    sys.stdout.write(render_network(network_of(args), args.format))
    return 0
