"""The generated forward(): buffers, the input projections for all steps, then
per step the recurrent GEMMs, the gates' activations and the other equations."""
from __future__ import annotations

from ..ir import Act, MatVec, Neg, OneMinus, Var
from .plan import nodes, precise_sigmoid, runs, terms
from .statements import Assign, Aug, Comment, Function, Into, Listing, Loop, Return, Sub, subscript


def cache_skip(plan):
    """Buffers of the forward pass that the backward pass does not read."""
    return {plan.groups["x"].proj} if "x" in plan.groups and not plan.x_read_back else set()


def _gate(name):
    return Var(name, "inter", ("H",), 0)


class ForwardPass:
    """forward() of the generated module (a part of Emitter)."""

    def forward(self):
        p, cell = self.plan, self.plan.cell
        self.mode = "forward"
        states = cell.states
        doc = ['"""h_t for t = 1..T, shape (T, B, H), and the cache backward() reads (h is a view',
               "of the cache's h_seq: change a copy).  The cache also holds the scratch backward()",
               'fills, so that a forward/backward pair allocates once: one backward at a time per cache."""']
        body = [Assign(("T", "B", "D", "H", "dtype"),
                       "_check(params, x, {" + ", ".join(f'"{s}0": ({s}0, "BH")' for s in states) + "})"),
                self.unpack_params()]
        # stacked weights in one C-ordered block: a run of them, viewed as one
        # (n·H, ·) matrix, is one GEMM
        for key, g in p.groups.items():
            shape = f"({len(g.weights)}, H, {'D' if key == 'x' else 'H'})"
            body.append(Assign(g.stack, f"np.array([{', '.join(self.L(W) for W in g.weights)}])",
                               f"{shape}: {', '.join(g.weights)}"))
        block = self.forward_buffers()
        body += self.allocate(block)
        body += [Assign(Sub(self.L(s + "_seq"), "0"), f"0 if {s}0 is None else {s}0.T") for s in states]
        body += self.input_projections()
        for key, g in p.groups.items():
            if key != "x":
                body.append(Assign(g.proj, f"np.empty(({len(g.weights)}, H, B), dtype)",
                                   f"this step's {', '.join(W + ' ' + self.tp.doprint(g.vec) for W in g.weights)}"))
        step = self.forward_step()       # written first, so that its bindings are known
        body.append(Loop("t", "range(T)", self.bindings() + step))
        cache = ["x"] + [self.L(s + "_seq") for s in states] + [b[0] for b in block if b[0] not in cache_skip(p)]
        self.cache_keys = list(dict.fromkeys(cache))
        seqs = {self.L(s + "_seq") for s in states}
        # the states as (T + 1, B, H) views, as callers read s_T from the cache
        items = [f'"{k}": {k}.transpose(0, 2, 1)' if k in seqs else f'"{k}": {k}' for k in self.cache_keys]
        body.append(Assign("cache", Listing("{", items, "}")))
        body.append(Return(f"{self.L(states[0] + '_seq')}[1:].transpose(0, 2, 1), cache"))
        return Function("forward", f"params, x, {', '.join(s + '0=None' for s in states)}", doc, body)

    def forward_buffers(self):
        """(name, shape, what it holds) of every buffer but the output state's."""
        p, states = self.plan, self.plan.cell.states
        block = [(self.L(s + "_seq"), "(T + 1, H, B)", f"{s}_t") for s in states[1:]]
        if p.stacked_gates:
            block.append(("gate_seq", f"(T, {len(p.stacked_gates)}, H, B)",
                          ", ".join(self.tp.doprint(_gate(g.out)) for g in p.stacked_gates)
                          + (": each starts as its pre-activation" if p.in_place else "")))
        kept = self.kept_complements()
        if kept:
            block.append(("complement_seq", f"(T, {len(kept)}, H, B)",
                          ", ".join(self.tp.doprint(OneMinus(_gate(g))) for g in kept)
                          + ": each σ(−net), computed with its gate"))
        for g, k in p.complements.items():
            if k is None:
                block.append((self.L(("one_minus_seq", g)), "(T, H, B)",
                              self.tp.doprint(OneMinus(_gate(g))) + ", as σ(−net)"))
        if not p.in_place and p.gates:
            block.append(("net_seq", f"(T, {len(p.gates)}, H, B)", "the pre-activations"))
        if p.x_extra:
            block.append((p.groups["x"].proj, f"(T, {len(p.x_extra)}, H, B)",
                          ", ".join(f"{p.groups['x'].weights[k]} x_t" for k in p.x_extra)))
        for name in p.cached_vars:
            block.append((self.L(name + "_seq"), "(T, H, B)", name + "_t"))
        for node, name in p.cached.items():
            block.append((self.L(name + "_seq"), "(T, H, B)", self.tp.doprint(node)))
        if p.factors:
            block.append(("factor_seq", f"(T, {len(p.factors)}, H, B)",
                          ", ".join(self.tp.doprint(f) for f in p.factors) + ": the deltas' forward factors"))
        return block + self.backward_buffers()

    def allocate(self, block):
        """The output state on its own (the caller keeps h), the rest in one block."""
        out_seq = self.L(self.plan.cell.states[0] + "_seq")
        out = [Assign(out_seq, "np.empty((T + 1, H, B), dtype)",
                      f"{out_seq}[t] = {self.plan.cell.states[0]}_t, a column per sequence")]
        if not block:
            return out
        out += [Comment(f"{name}: {note}") for name, _, note in block]
        if len(block) == 1:
            return out + [Assign(block[0][0], f"np.empty({block[0][1]}, dtype)")]
        return out + [Listing(f"{', '.join(b[0] for b in block)} = _buffers(", ["dtype"] + [b[1] for b in block], ")")]

    def forward_step(self):
        p = self.plan
        self.bound, self.materialized = {}, set()
        step = [Into("np.matmul", (f"{g.stack}.reshape(-1, H)", self.var(g.vec)), f"{g.proj}.reshape(-1, B)",
                     note="one GEMM")
                for key, g in p.groups.items() if key != "x"]
        for item in p.schedule:
            step += (self.nets() if item[0] == "nets" else
                     self.activations(item[1]) if item[0] == "acts" else self.equation(item[1]))
        step += self.factor_statements()
        missing = [n for n in p.cached if n not in self.materialized]
        if missing:
            raise ValueError(f"codegen: {self.tp.doprint(missing[0])} is read back but never computed")
        return step

    def factor_statements(self):
        """The deltas' forward factors of step t, computed while its values are at hand."""
        out = []
        for k, (factor, name) in enumerate(self.plan.factors.items()):
            dd = next(dd for dd, e in self.plan.delta_exprs if factor in nodes(e))
            out.append(Comment(f"{self.tp.doprint(factor)}: the forward factor of {self.tp.doprint(dd)}"))
            out += self.assign(f"factor_seq[t, {k}]", self.lower(factor))
        return out

    def unpack_params(self):
        names = tuple(self.L(n) for n in self.plan.cell.params)
        return Assign(names, "(params[name] for name in PARAMS)")

    def input_projections(self):
        """W_gx x_t (+ b_g) for every step at once, written where each pre-activation accumulates."""
        p = self.plan
        g = p.groups.get("x")
        if g is None:
            return []
        n = len(g.weights)
        out = [Assign("x_cols", "x.transpose(0, 2, 1)", "(T, D, B): x_t as columns")]
        dest, size = ("gate_seq", len(p.stacked_gates)) if p.in_place else ("net_seq", len(p.gates))
        stacked = [(k, gate.xslot) for k, gate in enumerate(p.gates)
                   if gate.xslot is not None and not (p.in_place and gate.is_state)]
        for br, xr in runs(stacked):
            nets = ", ".join(self.tp.doprint(_gate(p.gates[k].net)) for k in range(br.start, br.stop))
            products = ", ".join(g.weights[k] + " x_t" for k in range(xr.start, xr.stop))
            out.append(Comment(f"{nets} start as {products} + their biases, for all t: one GEMM per gate"
                               if len(br) > 1 else f"{nets} starts as {products} + its bias, for all t: one GEMM"))
            # the gates' slots are axis 1 of (T, slots, H, B)
            target = Sub(dest) if len(br) > 1 and br.code(size) is None else Sub(dest, f":, {br.code(size) or 0}")
            slots = [Sub(dest, f":, {k}") for k in range(br.start, br.stop)]
            if len(br) > 1:
                out.append(Into("np.matmul", (f"{subscript(g.stack, xr, n)}.reshape(-1, D)", "x_cols"),
                                f"{target}.reshape(T, -1, B)"))
            else:
                out.append(Into("np.matmul", (f"{g.stack}[{xr.start}]", "x_cols"), target))
            out += self.add_biases(target, [p.folded.get(k, []) for k in range(xr.start, xr.stop)], slots)
        if p.in_place:
            for gate in p.gates:
                if gate.is_state and gate.xslot is not None:
                    target = Sub(self.L(gate.out + "_seq"), "1:")
                    out.append(Comment(f"{self.tp.doprint(_gate(gate.net))} starts as "
                                       f"{g.weights[gate.xslot]} x_t + its bias, for all t: one GEMM"))
                    out.append(Into("np.matmul", (f"{g.stack}[{gate.xslot}]", "x_cols"), target))
                    out += self.add_biases(target, [p.folded.get(gate.xslot, [])], [target])
        if p.x_extra:
            xr = runs([(k, k) for k in p.x_extra])[0][0]
            out.append(Comment(f"{', '.join(g.weights[k] + ' x_t' for k in p.x_extra)} for all t: one GEMM each"))
            weights = f"{subscript(g.stack, xr, n)}.reshape(-1, D)"
            out.append(Into("np.matmul", (weights, "x_cols"), f"{g.proj}.reshape(T, -1, B)"))
        return out

    def add_biases(self, target, biases, slots):
        """target (a Sub) += its biases, slots[k] being slot k of it: one stacked
        add when each slot has one bias."""
        if not any(biases):
            return []
        # a bias (H,) broadcast over the steps and sequences of a (T, H, B) block
        names = lambda bs: (f"{self.L(bs[0])}[:, None]" if len(bs) == 1 else
                            f"({' + '.join(self.L(b) for b in bs)})[:, None]")
        add = lambda value: (Aug(target, "+", value) if target.index is None else
                             Into("np.add", (target, value), target))
        if len(slots) == 1:
            return [add(names(biases[0]))]
        if all(len(b) == 1 for b in biases):
            return [add(f"np.stack([{', '.join(self.L(b[0]) for b in biases)}])[:, :, None]")]
        return [Into("np.add", (slot, names(b)), slot) for slot, b in zip(slots, biases) if b]

    def net_target(self, k):
        """The local holding gate k's pre-activation at step t."""
        g = self.plan.gates[k]
        return self.var(Var(g.net, "inter", ("H",), 0))

    def nets(self):
        """The state part of the standard pre-activations, added a run of gates at a time."""
        p = self.plan
        out = []
        for gr, key, hr in p.net_runs:
            out += [self.comment(_gate(p.gates[k].net), p.exprs[p.gates[k].net]) for k in range(gr.start, gr.stop)]
            g = p.groups[key]
            h = subscript(g.proj, hr, len(g.weights))
            if len(gr) == 1:
                out.append(Aug(self.net_target(gr.start), "+", f"{g.proj}[{hr.start}]",
                               "the x_t part is there already"))
            else:
                base, size = ("gate_seq", len(p.stacked_gates)) if p.in_place else ("net_seq", len(p.gates))
                target = subscript(base, gr, size, "t")
                out.append(Into("np.add", (target, h), target, note="the x_t parts are there already"))
        return out

    def kept_complements(self):
        """The stacked sigmoid gates whose 1 − g_t is kept, in complement_seq order."""
        slots = {g: k for g, k in self.plan.complements.items() if k is not None}
        return sorted(slots, key=slots.get)

    def activation_runs(self, level):
        """The gates of a level, in runs that one call covers (same activation, adjacent)."""
        p, comp = self.plan, self.plan.complements
        groups = []
        for k, g in enumerate(p.gates):
            if g.level != level:
                continue
            last = groups[-1][-1] if groups else None
            if last is not None and not g.is_state and not p.gates[last].is_state and \
                    p.gates[last].fn == g.fn and last == k - 1 and (g.out in comp) == (p.gates[last].out in comp):
                groups[-1].append(k)
            else:
                groups.append([k])
        return groups

    def activations(self, level):
        p, comp = self.plan, self.plan.complements
        out = []
        for run in self.activation_runs(level):
            first, final = p.gates[run[0]], p.gates[run[-1]]
            out += [self.comment(_gate(p.gates[k].out), p.exprs[p.gates[k].out],
                                 "    (in place)" if p.in_place else "") for k in run]
            kept = [p.gates[k] for k in run if p.gates[k].out in comp]
            for j, g in enumerate(kept):
                name = self.tp.doprint(_gate(g.out))
                out.append(self.comment(OneMinus(_gate(g.out)), Act(g.fn, Neg(_gate(g.net))),
                                        f"    (with {name}, not as 1 − {name}: that keeps no digits where {name} ≈ 1)"
                                        if j == 0 else ""))
            if len(run) > 1:
                target = f"gate_seq[t, {run[0]}:{run[-1] + 1}]"
                source = target if p.in_place else f"net_seq[t, {run[0]}:{run[-1] + 1}]"
                complement = f"complement_seq[t, {comp[first.out]}:{comp[final.out] + 1}]" if kept else None
                out.append(self.act_into(first.fn, source, target, complement))
            else:
                target = self.var(Var(first.out, "state" if first.is_state else "inter", ("H",), 0))
                out.append(self.act_into(first.fn, self.net_target(run[0]), target,
                                         self.one_minus(first.out) if kept else None))
        return out

    def kept_inside(self, e):
        """The values inside e that the backward pass reads again, computed into their buffers."""
        p = self.plan
        out = []
        inside = [n for n in nodes(e) if n in p.cached and n not in self.materialized]
        inside += [OneMinus(n) for n in nodes(e) if OneMinus(n) in p.cached and OneMinus(n) not in self.materialized]
        for n in sorted(set(inside), key=lambda n: sum(1 for _ in nodes(n))):
            if n in self.materialized:
                continue
            target = self.bind(p.cached[n], f"{self.L(p.cached[n] + '_seq')}[t]")
            pair = OneMinus(n)
            if isinstance(n, Act) and precise_sigmoid(n.fn) and pair in p.cached and not self.complex_safe:
                # σ(u) and 1 − σ(u) = σ(−u) in one call, both to full relative precision
                other = self.bind(p.cached[pair], f"{self.L(p.cached[pair] + '_seq')}[t]")
                out.append(Comment(f"{self.tp.doprint(n)} and {self.tp.doprint(pair)} = "
                                   f"{self.tp.doprint(Act(n.fn, Neg(n.a)))}, kept for the backward pass"))
                out.append(self.act_into(n.fn, self.code(self.lower(n.a)), target, other))
                self.materialized.update((n, pair))
                continue
            out.append(Comment(f"{self.tp.doprint(n)}, kept for the backward pass"))
            out += self.assign(target, self.lower(n))
            self.materialized.add(n)
        return out

    def equation(self, name):
        """A forward equation that is not a gate's activation, with the kept values inside it first."""
        p, cell = self.plan, self.plan.cell
        e = p.exprs[name]
        out = self.kept_inside(e)
        v = Var(name, "state" if name in cell.states else "inter", ("H",), 0)
        k = p.gate_of_net(name)
        if k is not None:
            g = p.gates[k]
            target = self.net_target(k)
            if g.xslot is None:
                return out + [self.comment(v, e)] + self.assign(target, self.lower(e))
            W = p.groups["x"].weights[g.xslot]
            rest = [t for t in terms(e) if not (isinstance(t, MatVec) and isinstance(t.W, Var) and t.W.name == W)
                    and not (isinstance(t, Var) and t.name in p.folded.get(g.xslot, []))]
            out.append(self.comment(v, e, f"    ({W} x_t and its bias are there already)"))
            return out + self.accumulate(target, [self.lower(t) for t in rest])
        out.append(self.comment(v, e))
        if name in cell.states or name in p.cached_vars:
            return out + self.assign(self.var(v), self.lower(e))
        return out + [Assign(self.L(name), self.code(self.lower(e)))]
