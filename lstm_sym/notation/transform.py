"""One generic rewrite from the derived IR to a notation's: symbols
renamed, matrices of one gate merged over the concatenation (their
transposed products read off one block, their gradients one outer
product), column vectors turned into the rows of a minibatch.  The
derivation is not redone: every equation is the derived one, rewritten."""
from __future__ import annotations

import dataclasses

from ..ir import (Add, AtTime, Delta, Direct, Expr, MatVec, Next, Outer, TimeSum, Var, add, leaves)
from .layout import NotationMismatch, sites
from .names import Names
from .nodes import BatchSum, Block, Concat, Partial, RowMat, RowOuter, Sym


class Rewriter:
    """Rewrites one derivation's equations into one notation."""

    def __init__(self, derivation, notation):
        self.d, self.n, self.cell = derivation, notation, derivation.cell
        self.sites = sites(self.cell, notation) if notation.weights != "separate" else []
        self.names = Names(self.cell, notation, self.sites)
        self.site_of = {p: (s, k) for s in self.sites for k, (p, _) in enumerate(s.weights)}
        self.by_expr = {s.expr: s for s in self.sites}

    # -- nodes -----------------------------------------------------------------

    def node(self, e):
        if e is None:
            return None
        if isinstance(e, Var):
            return self.names.var(e)
        if isinstance(e, Delta):
            return self.names.delta(e)
        if isinstance(e, Direct):
            return self.names.direct(e)
        if isinstance(e, Next):
            return Sym("δ" + e.name, sup="carry", time=1, ref=("next", e.name))
        if isinstance(e, Add) and e in self.by_expr:
            return self.site(self.by_expr[e], e.terms)
        if isinstance(e, Add) and self.n.order == "input_first":
            return add(*[self.node(t) for t in sorted(e.terms, key=self.input_last)])
        if isinstance(e, MatVec):
            return self.product(e)
        if isinstance(e, Outer):
            if self.n.rows:
                return RowOuter(self.node(e.b), self.node(e.a))
            return Outer(self.node(e.a), self.node(e.b))
        return self.children(e)

    def input_last(self, t):
        """Sort key: products with the input x_t first (X_t W_xf + H_{t−1} W_hf), the rest in place."""
        return not (isinstance(t, MatVec) and not t.transpose and getattr(t.v, "name", None) == self.cell.x)

    def children(self, e):
        """e with each child rewritten (any node type: its Expr fields)."""
        changes = {}
        for f in dataclasses.fields(e):
            v = getattr(e, f.name)
            if isinstance(v, Expr):
                changes[f.name] = self.node(v)
            elif isinstance(v, tuple) and v and all(isinstance(k, Expr) for k in v):
                changes[f.name] = tuple(self.node(k) for k in v)
        return dataclasses.replace(e, **changes) if changes else e

    def product(self, e):
        name = getattr(e.W, "name", None)
        if name in self.site_of:
            s, k = self.site_of[name]
            if not e.transpose:
                return self.merged(s)
            return Block(MatVec(self.names.params["@" + s.owner], self.node(e.v), True), k, s.sizes,
                         self.names.vector(s.labels[k], None, ()))
        if self.n.rows:
            return RowMat(self.node(e.v), self.node(e.W), e.transpose)
        return MatVec(self.node(e.W), self.node(e.v), e.transpose)

    def merged(self, s):
        W = self.names.params["@" + s.owner]
        return MatVec(W, self.stacked(s))

    def stacked(self, s):
        ops = tuple(self.node(op) for _, op in s.weights)
        return ops[0] if len(ops) == 1 else Concat(ops, self.n.sep)

    def site(self, s, terms):
        """A gate's pre-activation: its matrices merged into one, where the first stood."""
        out, done = [], False
        for t in terms:
            if isinstance(t, MatVec) and getattr(t.W, "name", None) in self.site_of:
                if not done:
                    out.append(self.merged(s))
                    done = True
                continue
            out.append(self.node(t))
        return add(*out)

    # -- equations ---------------------------------------------------------------

    def equations(self, eqs):
        return [(self.node(l), self.node(r)) for l, r in eqs if r is not None]

    def forward(self):
        if not self.n.preact:
            return self.equations(self.d.forward_equations())
        stacked = self.stacked_z()
        nets = {s.net for s in self.sites} if stacked else set()
        return stacked + self.equations([(v, e) for v, e in self.cell.equations if v.name not in nets])

    def stacked_z(self):
        """[z^f_t; z^i_t; z_t; z^o_t] = [W^f; W^i; W; W^o] [x^t; h^{t−1}] + [b^f; …]: one line, when
        every pre-activation is its product and one bias (a peephole keeps a line per gate)."""
        if self.n.weights != "stacked" or len(self.sites) < 2:
            return []
        biases = []
        for s in self.sites:
            rest = [t for t in (s.expr.terms if isinstance(s.expr, Add) else (s.expr,)) if not isinstance(t, MatVec)]
            if len(rest) != 1 or not (isinstance(rest[0], Var) and rest[0].kind == "param"):
                return []
            biases.append(self.node(rest[0]))
        if any(not (isinstance(leaf, Var) and (leaf.time == -1 or leaf.kind == "input"))
               for _, op in self.sites[0].weights for leaf in leaves(op)):
            return []
        sep = self.n.sep
        lhs = Concat(tuple(self.names.var(Var(s.net, "inter", ("H",), 0)) for s in self.sites), sep)
        W = Concat(tuple(self.names.params["@" + s.owner] for s in self.sites), sep)
        return [(lhs, add(MatVec(W, self.stacked(self.sites[0])), Concat(tuple(biases), sep)))]

    def gradients(self):
        out = []
        for lhs, rhs in self.d.gradient_equations():
            p = lhs.target
            if lhs.time is not None:          # ∂E/∂h_0
                target = AtTime(self.names.vector(p.name, 0, ("var", p.name)), 0)
                out.append((Partial(self.names.loss(), target), self.node(rhs)))
            elif p.name in self.site_of:
                s, k = self.site_of[p.name]
                if k == 0:
                    out.append((Partial(self.names.loss(), self.names.params["@" + s.owner]),
                                self.merged_gradient(s)))
            else:
                g = self.node(rhs)
                if self.n.rows and len(p.shape) == 1:
                    g = TimeSum(BatchSum(g.a), g.steps)
                out.append((Partial(self.names.loss(), self.names.var(p)), g))
        return out

    def merged_gradient(self, s):
        """Σ_t δ_{g,t} [h_{t−1}, x_t]ᵀ: the gate's matrices' gradients, one outer product."""
        grads = [self.d.param_grads[p] for p, _ in s.weights]
        fronts = {g.a.a if isinstance(g, TimeSum) and isinstance(g.a, Outer) else None for g in grads}
        if len(fronts) != 1 or None in fronts:
            raise NotationMismatch(f"notation {self.n.name} cannot print cell {self.cell.name}: the "
                                   f"gradients of {', '.join(p for p, _ in s.weights)} are not one "
                                   "outer product with the concatenation")
        return TimeSum(Outer(self.node(fronts.pop()), self.stacked(s)), grads[0].steps)
