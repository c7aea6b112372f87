"""Reverse mode over a cell's equations: per-step deltas, BPTT recurrences,
the input error and the weight gradients as sums over time."""
from __future__ import annotations

from dataclasses import dataclass, replace

from .ir import (Act, AtTime, Delta, Direct, GradOf, Next, TimeSum, Var, add, factor_common,
                 leaves, shift, transform)
from .ops import backprop


@dataclass(frozen=True)
class Derivation:
    cell: object
    delta_defs: tuple      # ((Delta, Expr), ...) in the order one backward step evaluates them
    carry: dict            # state -> adjoint of s_{t-1} that step t hands back
    input_error: object    # δx_t
    param_grads: dict      # param name -> TimeSum of the per-step contribution

    # -- views used by printers ------------------------------------------------

    def expand_next(self, e):
        """Replace Next(s) by the carry of step t+1 written out (kept as Next
        when an edited derivation has no carry for s)."""
        return transform(e, lambda n: shift(self.carry[n.name], 1)
                         if isinstance(n, Next) and self.carry.get(n.name) is not None else None)

    def delta_of(self, name, gate=False):
        return dict(self.delta_defs)[Delta(name, 0, gate)]

    def forward_equations(self):
        """The forward pass as printed: gate pre-activations written inline."""
        nets = {v.name: e for v, e in self.cell.equations if v.name in self.cell.gates}
        inline = lambda n: nets.get(n.name) if isinstance(n, Var) and n.time == 0 else None
        return [(v, transform(e, inline)) for v, e in self.cell.equations
                if v.name not in self.cell.gates]

    def gate_deltas(self):
        states = set(self.cell.states)
        return [(d, e) for d, e in self.delta_defs if not (d.name in states and not d.gate)]

    def recurrences(self):
        """δs_{t−1} for every state, written with the step-t deltas."""
        out = []
        for d, e in self.delta_defs:
            if d.name in self.cell.states and not d.gate:
                out.append((Delta(d.name, -1), shift(self.expand_next(e), -1)))
        out.reverse()          # h before c, as the cell declares them
        return sorted(out, key=lambda de: self.cell.states.index(de[0].name))

    def gradient_equations(self):
        eqs = [(GradOf(self.cell.params[p]), g) for p, g in self.param_grads.items()]
        for s in self.cell.states:
            if self.carry.get(s) is not None:
                eqs.append((GradOf(Var(s, "state", ("H",), None), 0), AtTime(self.carry[s], 1)))
        return eqs

    def part(self, name):
        from .printing import Part
        return Part.of(self, name)

    forward = property(lambda self: self.part("forward"))
    deltas = property(lambda self: self.part("deltas"))
    bptt = property(lambda self: self.part("bptt"))
    grads = property(lambda self: self.part("grads"))

    def __str__(self):
        return str(self.part("all"))

    def _repr_latex_(self):
        return self.part("all")._repr_latex_()

    # -- edits, for the tutorial's variant and for tests of the prover ----------

    def with_delta(self, name, expr, gate=False):
        defs = tuple((d, expr if d == Delta(name, 0, gate) else e) for d, e in self.delta_defs)
        return replace(self, delta_defs=defs)

    def with_grad(self, param, grad):
        return replace(self, param_grads={**self.param_grads, param: grad})

    def with_carry(self, state, expr):
        return replace(self, carry={**self.carry, state: expr})


def derive(cell):
    """Derive the backward pass of `cell` (a Cell or a built-in cell's name)."""
    if isinstance(cell, str):
        from .cells import get_cell
        cell = get_cell(cell)
    cell.check()
    output = cell.states[0]
    # deltas get a name for states and for every activation's argument (the
    # gate's pre-activation); everything else is written inline
    named = {e.a.name for _, e in cell.equations if isinstance(e, Act) and isinstance(e.a, Var)}
    named |= set(cell.states)
    prev_used = {leaf.name for _, e in cell.equations for leaf in leaves(e)
                 if isinstance(leaf, Var) and leaf.time == -1}

    acc, defs = {}, []
    for v, e in reversed(cell.equations):
        terms = acc.pop(v, [])[::-1]     # forward order reads better
        if v.name in cell.states:
            if v.name == output:
                terms = [Direct(v.name)] + terms
            if v.name in prev_used:
                terms = terms + [Next(v.name)]
        cot = factor_common(add(*terms))
        if cot is None:
            continue
        if v.name in named:
            d = Delta(cell.gates.get(v.name, v.name), 0, v.name in cell.gates)
            defs.append((d, cot))
            cot = d
        backprop(e, cot, v, acc)

    got = lambda leaf: add(*acc.get(leaf, [])[::-1])
    carry = {s: got(Var(s, "state", ("H",), -1)) for s in cell.states}
    x_error = got(Var(cell.x, "input", ("D",), 0))
    grads = {p: TimeSum(got(pv)) for p, pv in cell.params.items()}
    return Derivation(cell, tuple(defs), carry, x_error, grads)

