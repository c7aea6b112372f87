"""`lstm-sym codegen CELL`: a stand-alone NumPy module."""
from ..io import check_target, write_output
from .args import add_cell, add_network, cell_of, network_of, wants_network


def register(sub):
    p = sub.add_parser("codegen", help="generate a stand-alone NumPy module for a cell")
    add_cell(p)
    p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"),
                   help="init_params' default dtype (the kernel runs in both)")
    p.add_argument("--complex-safe", action="store_true",
                   help="the variant without abs/maximum tricks, for complex-step checks")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    add_network(p)

    def run(args):
        from ..codegen import emit
        if args.output not in (None, "-"):
            check_target(args.output, args.force)
        if wants_network(args):
            from ..codegen.network import emit_network
            source = emit_network(network_of(args), complex_safe=args.complex_safe, dtype=args.dtype)
        else:
            source = emit(cell_of(args), complex_safe=args.complex_safe, dtype=args.dtype)
        write_output(args.output, source, force=args.force)
        return 0
    p.set_defaults(run=run)
