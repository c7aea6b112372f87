"""How a notation spells the cell's symbols: a vector's name, a weight's
and a bias's by the gate and vector they belong to, deltas, the loss."""
from __future__ import annotations

import dataclasses

from ..ir import Add, MatVec, Var
from .layout import label, owners, products
from .nodes import Partial, Sym


def parse(text, **kw):
    """'W_xf' -> Sym(W, sub=xf); 'W^f' -> Sym(W, sup=f); 'C_tilde' -> C with a tilde."""
    tilde = text.endswith("_tilde")
    text = text[:-6] if tilde else text
    for mark, key in (("^", "sup"), ("_", "sub")):
        if mark in text:
            base, _, rest = text.partition(mark)
            return Sym(base, **{key: rest}, tilde=tilde, **kw)
    return Sym(text, tilde=tilde, **kw)


class Names:
    """The spelling of one cell's symbols in one notation."""

    def __init__(self, cell, notation, sites=()):
        self.cell, self.n = cell, notation
        self.owner = owners(cell)
        self.params = self._params(sites)

    def letter(self, gate):
        return self.n.letters.get(gate, gate[:-6] if gate.endswith("_tilde") else gate)

    def vector_name(self, name):
        name = self.n.names.get(name, name)
        if self.n.upper:
            name = name[0].upper() + name[1:]
        return name

    def vector(self, name, time, ref):
        if self.n.preact and name in self.owner:
            sym = parse(self.n.preact.format(g=self.letter(self.owner[name])))
            return Sym(sym.base, sym.sub, sym.sup, time, True, ref, time_sub=True)
        if self.n.upper and name in self.owner:      # a pre-activation: net_{G,t}, the gate capitalised
            gate = self.vector(self.owner[name], None, ())
            return Sym("net", Sym(gate.base, vector=False, tilde=gate.tilde), "", time, True, ref)
        base = parse(self.vector_name(name))
        return Sym(base.base, base.sub, base.sup, time, True, ref, tilde=base.tilde)

    def var(self, v):
        if v.kind == "param":
            if v.name in self.params:
                return self.params[v.name]
            own = parse(v.name, vector=len(v.shape) == 1, ref=("param", v.name))
            if self.n.time == "sup" and own.sub and not own.sup:     # p_f -> p^f, as W^f and b^f
                own = dataclasses.replace(own, sub="", sup=own.sub)
            return own
        if v.name in self.owner and not self.n.preact:
            # a pre-activation written inline in the forward pass: the argument of g_t's activation
            return self.vector(v.name, v.time, ("net", self.owner[v.name]))
        return self.vector(v.name, v.time, ("var", v.name))

    def delta(self, d):
        ref = ("delta", d.name, d.gate)
        if not d.gate:
            s = self.vector(d.name, d.time, ref)
            return Sym(s.base, s.sub, s.sup, d.time, True, ref, delta=True, tilde=s.tilde)
        net = next((n for n, g in self.cell.gates.items() if g == d.name), None)
        if self.n.gate_delta == "preact" and net is not None:
            s = self.vector(net, d.time, ref)
            return Sym(s.base, s.sub, s.sup, d.time, True, ref, delta=True, time_sub=True)
        if self.n.gate_delta == "prefix" and d.name not in self.cell.states:
            s = self.vector(d.name, d.time, ref)
            return Sym(s.base, s.sub, s.sup, d.time, True, ref, delta=True, tilde=s.tilde)
        inner = self.vector(d.name, None, ())
        return Sym("δ", Sym(inner.base, vector=False, tilde=inner.tilde), "", d.time, False, ref)

    def loss(self):
        return Sym(self.n.loss, vector=False)

    def direct(self, e):
        return Partial(Sym("ℓ", time=e.time, vector=False), self.vector(e.name, e.time, ("direct", e.name)))

    # -- weights and biases -------------------------------------------------

    def _params(self, sites):
        """param -> its Sym, named by the gate and vector it belongs to; a
        merged gate matrix under the key '@' + owner.  A name two
        parameters would share stays each one's own."""
        want = {}
        if sites:
            for s in sites:
                want["@" + s.owner] = self._weight(s.owner, "")
                for p in self._biases(s.expr):
                    want.setdefault(p, []).append(self._bias(s.owner))
        else:
            for v, e in self.cell.equations:
                g = self.owner.get(v.name, v.name)
                for m in products(e):
                    lab = label(m.v, self.cell)
                    if lab is not None:
                        want.setdefault(m.W.name, []).append(self._weight(g, lab))
                for p in self._biases(e):
                    want.setdefault(p, []).append(self._bias(g))
        chosen = {k: v if isinstance(v, str) else (v[0] if len(set(v)) == 1 else k) for k, v in want.items()}
        counts = {}
        for name in chosen.values():
            counts[name] = counts.get(name, 0) + 1
        out = {}
        for k, name in chosen.items():
            name = name if counts[name] == 1 else k.lstrip("@")
            vector = k in self.cell.params and len(self.cell.params[k].shape) == 1
            out[k] = parse(name, vector=vector, ref=("param", k))
        return out

    def _weight(self, g, s):
        return self.n.weight.format(g=self.letter(g), s=s)

    def _bias(self, g):
        return self.n.bias.format(g=self.letter(g))

    def _biases(self, e):
        terms = e.terms if isinstance(e, Add) else (e,)
        for t in terms:
            if isinstance(t, Var) and t.kind == "param" and len(t.shape) == 1:
                yield t.name
            if isinstance(t, MatVec) or not isinstance(t, Var):
                for k in t.children():
                    if isinstance(k, Add):
                        yield from self._biases(k)
