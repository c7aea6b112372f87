"""The nodes documents print beside the cell IR's: norms, partials, products
over an index, suprema, transposes, plain names.  They mean nothing to the
engine (no forward, no adjoint); each printer writes them with one
_print_<Node> method (text.py, latex.py), as it writes the IR's nodes.
`Diag` is the bound's own node (lstm_sym.bound.jacobian.Diag, field v).

    Name("β", "f")          β_f            \\beta_f        (Greek, ′, −, ⋯ spelled by the printer)
    Words("paths through ", h)   prose inside a formula; nodes among the words
    Scalar(expr)            a SymPy scalar, through the printer's scalar printer
    Chain(a, b, sep=" ")    side by side: W diag(v) δh; sep "/" a ratio, "" no space
    Paren(a)  Transpose(a)  Norm(a, p=None)  AbsValue(a)  Partial(num, den)
    Over("∏", body, sub="i=k+1", sup="t")   ∏, Σ, sup, max over an index
    Power(base, exp)        (β_f β_W)^(t−k)
    Layer(a, l)             a^(l): a value of layer l of a stacked network
    call(fn, *args)         f′(x): fn then its arguments in parentheses
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Name:
    """A symbol as written in Unicode: base and an optional subscript."""
    base: str
    sub: str = ""


@dataclass(frozen=True)
class Words:
    """Words inside a formula (\\text{…} in LaTeX); items are str or nodes."""
    items: tuple

    def __init__(self, *items):
        object.__setattr__(self, "items", tuple(items))


@dataclass(frozen=True)
class Scalar:
    """A scalar SymPy expression (a number, f′(x) in x)."""
    expr: object


@dataclass(frozen=True)
class Chain:
    """Items side by side, sep between them (a product of matrices: W diag(v))."""
    items: tuple
    sep: str = " "

    def __init__(self, *items, sep=" "):
        object.__setattr__(self, "items", tuple(items))
        object.__setattr__(self, "sep", sep)


@dataclass(frozen=True)
class Layer:
    """a^(l): a of layer l (l an int or a name such as "L")."""
    a: object
    layer: object


@dataclass(frozen=True)
class Paren:
    a: object


@dataclass(frozen=True)
class Transpose:
    a: object


@dataclass(frozen=True)
class Norm:
    """‖a‖, or ‖a‖_p with p (2: the spectral norm)."""
    a: object
    p: object = None


@dataclass(frozen=True)
class AbsValue:
    a: object


@dataclass(frozen=True)
class Partial:
    """∂num/∂den (the fields of lstm_sym.notation's Partial, so one method prints both)."""
    num: object
    den: object


@dataclass(frozen=True)
class Over:
    """A big operator over an index: op one of ∏, Σ, sup, max; sub and sup its limits."""
    op: str
    body: object
    sub: str = ""
    sup: str = ""


@dataclass(frozen=True)
class Power:
    base: object
    exp: object


def call(fn, *args):
    """fn(args…): a function name applied, f′(x), σ_max(W)."""
    inner = args[0] if len(args) == 1 else Chain(*args, sep=", ")
    return Chain(fn, Paren(inner), sep="")
