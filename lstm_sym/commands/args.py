"""Argument types shared by the subcommands."""
from __future__ import annotations

import argparse
import math
import re


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        # "-1,4,5" or "-1e-3" is a value (then refused by its type with a reason), not an
        # unknown option: argparse's own pattern takes only -N and -N.N (3.13 widened it so)
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message):
        raise UsageError(message)


CELL_HELP = "a built-in cell name, a .py file defining `cell`, or a .cell text spec"


def positive_int(text):
    try:
        if not text.isascii():            # int() reads other scripts' digits: "٢" is 2
            raise ValueError
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return n


def positive_float(text):
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return v


def seed_int(text):
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"--seed {text!r} is not a non-negative integer")
    return n


def cell_arg(text):
    """CELL: resolved to a Cell while parsing, so every error is one line."""
    from ..cells import load_cell
    return load_cell(text)


def add_cell(p):
    p.add_argument("cell", type=str, help=CELL_HELP)


def cell_of(args):
    return cell_arg(args.cell)


def add_network(p):
    """--layers, --head, --loss, --loss-at: any of them makes CELL a network's layers."""
    g = p.add_argument_group("a network (cells, an output head and a loss)")
    g.add_argument("--layers", type=positive_int, help="stacked layers of CELL (layer l's h_t is layer l+1's x_t)")
    g.add_argument("--head", help="the output head: linear (a_t = V h_t + b_y) or softmax (ŷ_t = softmax(a_t))")
    g.add_argument("--loss", help="mse (½‖a_t − y_t‖², with a linear head) or xent (softmax cross-entropy)")
    g.add_argument("--loss-at", dest="loss_at", help="all (a loss at every step; the default) or last (step T only)")


def wants_network(args):
    return any(getattr(args, k, None) is not None for k in ("layers", "head", "loss", "loss_at"))


def network_of(args):
    from ..network import network
    loss = args.loss or ("xent" if args.head == "softmax" else "mse")
    return network(cell_of(args), layers=args.layers or 1, head=args.head, loss=loss,
                   loss_at=args.loss_at or "all")


def parse_sizes(text, n):
    parts = text.split(",")
    if len(parts) != n:
        raise UsageError(f"--sizes takes {n} comma-separated positive integers, got {text!r}")
    try:
        return [positive_int(s) for s in parts]
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"--sizes: {e}") from None


def print_verdict(text, code):
    """Print a report whose exit code is its verdict: a reader that stops
    early (| head -1) must not turn a failing check into exit 0."""
    import sys
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_stdout()
    return code


def quiet_stdout():
    """The reader went away (| head): drop what is still buffered."""
    import os
    import sys
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())
    except (OSError, ValueError, AttributeError):
        pass

def add_limits(p, what="the run"):
    """--no-limit and --progress, the same on every command that can run long."""
    p.add_argument("--no-limit", action="store_true",
                   help=f"run even when {what} is estimated to take over 10 minutes or more memory than is free")
    p.add_argument("--progress", action="store_true",
                   help="report progress on stderr (shown anyway on a terminal after 2 s)")


def progress_of(args):
    """The Progress line of a command (a context manager that erases it at the end)."""
    from ..progress import Progress
    return Progress(force=getattr(args, "progress", False))
