"""`lstm-sym docs`: regenerate derivations/ and numeric/."""
import os

from .args import UsageError



def register(sub):
    p = sub.add_parser("docs", help="regenerate derivations/ (and numeric/) from the engine")
    p.add_argument("--out", default=".", help="project folder holding derivations/")
    p.add_argument("--check", action="store_true", help="exit 1 if a committed file differs")

    def run(args):
        from ..docs import regenerate
        if not os.path.isdir(args.out):
            raise UsageError(f"--out {args.out!r} is not a folder; give the lstm-sym checkout")
        if not os.path.isfile(os.path.join(args.out, "lstm_sym", "cells", "lstm.py")):
            raise UsageError(f"{os.path.abspath(args.out)} is not an lstm-sym checkout (no lstm_sym/cells/); "
                             "run this in the project folder or pass --out PROJECT_DIR")
        stale = regenerate(args.out, check=args.check)
        for path in stale:
            missing = not os.path.exists(os.path.join(args.out, path))
            print(("missing: " if missing else "differs: ") if args.check else "wrote: ", path, sep="")
        return 1 if (args.check and stale) else 0
    p.set_defaults(run=run)
