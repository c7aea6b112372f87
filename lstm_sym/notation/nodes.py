"""The nodes a notation's formulas are written in, beside the cell IR's:
a named symbol in the notation's spelling, the concatenation [h_{t−1}, x_t],
one block of a product with a concatenated matrix, and the row-vector
products of a minibatch (X_t W, Xᵀ δ, 1ᵀ δ)."""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Expr


@dataclass(frozen=True)
class Sym(Expr):
    """A symbol as the notation writes it: base, subscript (text or a Sym), superscript and
    (for per-step symbols) a time offset.  ref names what it stands for, for
    the evaluator: ("param", name), ("var", name), ("delta", name, gate),
    ("direct", name); it is not printed."""
    base: str
    sub: str = ""
    sup: str = ""
    time: int | None = None
    vector: bool = True
    ref: tuple = ()
    delta: bool = False         # printed δ<base>…; a gate delta δ_{f,t} is base "δ", sub Sym("f")
    tilde: bool = False         # c̃, C̃
    time_sub: bool = False      # the time as a subscript even where the notation puts it up (z^f_t, z_t)


@dataclass(frozen=True)
class Partial(Expr):
    """∂num/∂den (both Sym)."""
    num: Sym
    den: Sym


@dataclass(frozen=True)
class Concat(Expr):
    """Blocks stacked into one vector: [h_{t−1}, x_t] (sep ", ") or [x^t; h^{t−1}] (sep "; ")."""
    items: tuple
    sep: str = ", "

    def children(self):
        return self.items


@dataclass(frozen=True)
class Block(Expr):
    """Block `index` of a vector that has the blocks `sizes` ("H" or "D"
    each), printed [a]_label: the h-block of W_fᵀ δ_{f,t}."""
    a: Expr
    index: int
    sizes: tuple
    label: str

    def children(self):
        return (self.a,)


@dataclass(frozen=True)
class RowMat(Expr):
    """A W (rows times a matrix), or A Wᵀ when transpose is set."""
    A: Expr
    W: Expr
    transpose: bool = False

    def children(self):
        return (self.A, self.W)


@dataclass(frozen=True)
class RowOuter(Expr):
    """Aᵀ B: a weight gradient over a minibatch, the sum over its rows inside the product."""
    A: Expr
    B: Expr

    def children(self):
        return (self.A, self.B)


@dataclass(frozen=True)
class BatchSum(Expr):
    """1ᵀ A: the rows of A summed (a bias's gradient over a minibatch)."""
    a: Expr

    def children(self):
        return (self.a,)


def rebuild(e, kids):
    """These nodes rebuilt with new children (ir.transform knows only its own)."""
    if isinstance(e, Concat):
        return Concat(tuple(kids), e.sep)
    if isinstance(e, Block):
        return Block(kids[0], e.index, e.sizes, e.label)
    if isinstance(e, RowMat):
        return RowMat(kids[0], kids[1], e.transpose)
    if isinstance(e, RowOuter):
        return RowOuter(*kids)
    if isinstance(e, BatchSum):
        return BatchSum(kids[0])
    return None
