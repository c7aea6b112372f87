"""Where a cell's matrices sit, and whether a notation's layout can write
them: one matrix per gate over a concatenation (colah), one stacked input
shared by every gate (the lecture notes).  Rows (d2l) fit every cell."""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Act, Add, MatVec, Var, leaves, shape_of


class NotationMismatch(ValueError):
    """The notation's layout cannot express this cell (one line: notation and reason)."""


@dataclass
class Site:
    """A gate's pre-activation: the matrices it adds up, in the notation's block order."""
    owner: str              # the gate (or state) it makes: f, i, c_tilde, o; h for the RNN's net
    net: str                # the equation that holds it (net_f)
    expr: object            # its right-hand side
    weights: tuple          # ((param, operand), ...) in block order
    labels: tuple           # the operand each block holds: h, x, …
    sizes: tuple            # "H" or "D" per block


def owners(cell):
    """net equation -> the gate it makes: net_f -> f; an RNN's named net -> h."""
    out = dict(cell.gates)
    for v, e in cell.equations:
        if isinstance(e, Act) and isinstance(e.a, Var) and e.a.kind == "inter":
            out.setdefault(e.a.name, v.name)
    return out


def label(operand, cell):
    """The vector a matrix multiplies, by name: x, h (also for r_t ⊙ h_{t−1})."""
    if isinstance(operand, Var):
        return operand.name
    names = [leaf.name for leaf in leaves(operand) if isinstance(leaf, Var) and leaf.kind in ("state", "input")
             and leaf.time is not None]
    return names[0] if len(set(names)) == 1 else None


def products(e):
    """Every matrix product inside e."""
    if isinstance(e, MatVec):
        yield e
    for k in e.children():
        yield from products(k)


def sites(cell, notation):
    """The cell's gate pre-activations, checked against a concatenating layout.
    Raises NotationMismatch with the reason when the layout cannot write one."""
    own = owners(cell)
    input_first = notation.order == "input_first"
    found, placed = [], {}

    def refuse(reason):
        raise NotationMismatch(f"notation {notation.name} cannot print cell {cell.name}: {reason}")

    for v, e in cell.equations:
        terms = e.terms if isinstance(e, Add) else (e,)
        top = [t for t in terms if isinstance(t, MatVec)]
        for m in products(e):
            name = getattr(m.W, "name", "?")
            if v.name not in own or not any(m is t for t in top):
                refuse(f"{name} multiplies inside {_where(v, own)} (not as one of its terms), "
                       "so it cannot be a block of one matrix over the concatenation")
            if name in placed:
                refuse(f"{name} is used twice ({placed[name]} and {own[v.name]}); one matrix per gate "
                       "cannot share it")
            placed[name] = own[v.name]
        if not top:
            continue
        labelled = [(m, label(m.v, cell)) for m in top]
        if len({lab for _, lab in labelled}) != len(labelled) or None in (lab for _, lab in labelled):
            refuse(f"the pre-activation of {own[v.name]} has two matrices on the same vector")
        labelled.sort(key=lambda ml: (ml[1] == cell.x) != input_first)
        found.append(Site(own[v.name], v.name, e, tuple((m.W.name, m.v) for m, _ in labelled),
                          tuple(lab for _, lab in labelled), tuple(shape_of(m.v)[0] for m, _ in labelled)))
    if notation.weights == "stacked":
        _one_input(found, cell, refuse)
    return found


def _one_input(found, cell, refuse):
    first = found[0]
    for s in found[1:]:
        if tuple(op for _, op in s.weights) != tuple(op for _, op in first.weights):
            odd = next(((p, op) for p, op in s.weights if op not in [o for _, o in first.weights]),
                       s.weights[0])
            reads = "reads " + ", ".join(_say(op) for _, op in s.weights)
            refuse(f"its gates read different inputs ({s.owner} {reads}, through {odd[0]}; "
                   f"{first.owner} reads {', '.join(_say(op) for _, op in first.weights)}), and the "
                   "lecture notes stack one input for all gates")


def _say(op):
    from ..printing import text
    return text(op)


def _where(v, own):
    if v.name in own:
        return f"a product in the pre-activation of {own[v.name]}"
    return f"the equation of {v.name}, which is no gate's pre-activation"
