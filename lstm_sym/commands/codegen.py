"""`lstm-sym codegen CELL`: a stand-alone NumPy module."""
from ..io import check_target, write_output
from .args import add_cell, cell_of


def register(sub):
    p = sub.add_parser("codegen", help="generate a stand-alone NumPy module for a cell")
    add_cell(p)
    p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"),
                   help="init_params' default dtype (the kernel runs in both)")
    p.add_argument("--complex-safe", action="store_true",
                   help="the variant without abs/maximum tricks, for complex-step checks")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")

    def run(args):
        from ..codegen import emit
        if args.output not in (None, "-"):
            check_target(args.output, args.force)
        write_output(args.output, emit(cell_of(args), complex_safe=args.complex_safe, dtype=args.dtype),
                     force=args.force)
        return 0
    p.set_defaults(run=run)
