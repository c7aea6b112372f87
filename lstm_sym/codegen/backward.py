"""The generated backward(): the per-step deltas and carries in reverse time,
then the weight gradients as one GEMM per group over all steps."""
from __future__ import annotations

from ..ir import Delta, MatVec, Var
from .plan import runs, terms
from .statements import Assign, Aug, Comment, Function, Guard, Into, Loop, Return, Sub, subscript


class BackwardPass:
    """backward() of the generated module (a part of Emitter)."""

    def backward(self):
        d, cell = self.d, self.plan.cell
        self.mode = "backward"
        states = cell.states
        extra = states[1:]
        doc = ['"""Gradients of E given dh[t] = ∂E/∂h_t for every step (T, B, H): every parameter,',
               f'"x" (T, B, D) and {", ".join(chr(34) + s + "0" + chr(34) for s in states)} (B, H).'
               + (f"  {', '.join('d' + s + 'T' for s in extra)}: ∂E/∂{', '.join(s + '_T' for s in extra)}"
                  " given from outside (zero when omitted)." if extra else "") + '"""']
        body = [Assign("keys", "(" + ", ".join(f'"{k}"' for k in self.cache_keys) + ")"),
                Guard("not isinstance(cache, dict) or any(key not in cache for key in keys)",
                      '"cache is not what forward() returned"'),
                Assign(tuple(self.cache_keys), "(cache[key] for key in keys)"),
                Assign(tuple(self.L(s + "_seq") for s in states) if len(states) > 1 else self.L(states[0] + "_seq"),
                       ", ".join(f"{self.L(s + '_seq')}.transpose(0, 2, 1)" for s in states),
                       "(T + 1, B, H) in the cache; (T + 1, H, B) here"),
                Assign(("T", "B", "D", "H", "dtype"), '_check(params, x, {"dh": (dh, "TBH")' +
                       "".join(f', "d{s}T": (d{s}T, "BH")' for s in extra) + "})"),
                self.unpack_params()]
        body += self.fuse_carries()
        for s in states:
            init = "np.zeros((H, B), dtype)"
            if s != states[0]:
                init = f"np.zeros((H, B), dtype) if d{s}T is None else d{s}T.T.astype(dtype)"
            body.append(Assign(self.L(f"delta_{s}_carried"), init, f"what step t+1 hands back to {s}_t; after step T: "
                               + ("nothing" if s == states[0] else f"d{s}T")))
        body.append(Assign("dh_cols", "np.ascontiguousarray(dh.transpose(0, 2, 1))", "(T, H, B): δh as columns"))
        x_rest = self.fused.get("x", ([], terms(d.input_error)))[1]
        if x_rest:
            body.append(Assign("dx", "np.zeros((T, B, D), dtype)"))
        self.bound = {}
        step = self.backward_step(x_rest)
        body.append(Loop("t", "reversed(range(T))", self.bindings() + step))
        body += self.gradients(x_rest)
        return Function("backward", "params, dh, cache" + "".join(f", d{s}T=None" for s in extra), doc, body)

    def fuse_carries(self):
        """Which stored values meet which stacked weights in the carries and in δx
        (self.fused); the stacks those products need."""
        p, d = self.plan, self.d
        self.fused, out = {}, []
        for key, g in p.groups.items():
            carry = d.input_error if key == "x" else d.carry.get(key)
            pairs, rest = [], []
            for t in terms(carry):
                if (isinstance(t, MatVec) and t.transpose and isinstance(t.W, Var) and t.W.name in g.weights
                        and t.v in p.stored and self.cotangent_ok(key, t.W.name, t.v)):
                    pairs.append((p.stored.index(t.v), g.weights.index(t.W.name)))
                else:
                    rest.append(t)
            self.fused[key] = (runs(sorted(pairs)), rest)
            if key != "x" and any(len(br) > 1 for br, _ in self.fused[key][0]):
                out.append(Assign(g.stack, f"np.array([{', '.join(self.L(W) for W in g.weights)}])",
                                  f"({len(g.weights)}, H, {'D' if key == 'x' else 'H'})"))
        return out

    def backward_buffers(self):
        """What backward() fills for every t.  forward() allocates it with its own
        buffers, so that a forward/backward pair makes one allocation (see _buffers)."""
        p = self.plan
        block = []
        if p.stored:
            # time inside: each δ's columns for every step side by side, as the
            # weight gradients' GEMMs read them
            block.append(("delta_seq", f"({len(p.stored)}, H, T, B)",
                          ", ".join(self.tp.doprint(e) for e in p.stored) + ", filled by backward()"))
        for r, name in p.right.items():
            block.append((self.L(name + "_seq"), "(T, H, B)", self.tp.doprint(r) + ", filled by backward()"))
        return block

    def cotangent_ok(self, key, W, value):
        return any(kind == "outer" and left == value and r == self.plan.groups[key].vec
                   for kind, left, r in self.plan.grad_terms.get(W, []))

    def backward_step(self, x_rest):
        p, d = self.plan, self.d
        out = []
        stored_index = {e: k for k, e in enumerate(p.stored)}
        for (dd, e), (_, grouped) in zip(d.delta_defs, p.delta_exprs):
            name = self.L(("delta", dd.name, dd.gate))
            out.append(self.comment(dd, e))
            if dd in stored_index:
                self.bind(name, f"delta_seq[{stored_index[dd]}, :, t]")
                out += self.assign(name, self.lower(grouped))
            else:
                out.append(Assign(name, self.code(self.lower(grouped))))
        for k, e in enumerate(p.stored):
            if not isinstance(e, Delta):
                name = self.bind(p.stored_names[k], f"delta_seq[{k}, :, t]")
                out.append(Comment(f"{self.tp.doprint(e)}, kept for the weight gradients"))
                out += self.assign(name, self.lower(e))
        for r, name in p.right.items():
            target = self.bind(name, f"{self.L(name + '_seq')}[t]")
            out.append(Comment(f"{self.tp.doprint(r)}, kept for the weight gradients"))
            out += self.assign(target, self.lower(r))
        out += self.carries()
        if x_rest:
            out.append(Comment("the part of δx_t that is not a product with a stacked weight"))
            out += [Aug(Sub("dx", "t"), "+", f"({self.code(self.lower(t))}).T") for t in x_rest]
        return out

    def carries(self):
        """What step t hands back to each s_{t−1}."""
        p, d = self.plan, self.d
        out = []
        for s in p.cell.states:
            carried = self.L(f"delta_{s}_carried")
            carry = d.carry.get(s)
            if carry is None:
                out.append(Assign(carried, "np.zeros((H, B), dtype)", f"step t does not read {s}_(t−1)"))
                continue
            out.append(Comment(f"(δ{s} carried to step t−1) = {self.tp.doprint(carry)}"))
            fused, rest = self.fused.get(s, ([], terms(carry)))
            g = p.groups.get(s)
            products = [self.slot_product(br, sr, g) for br, sr in fused]
            parts = [f"{a} @ {b}" for a, b in products] + [self.code(self.lower(t)) for t in rest]
            if products and not any(carried in q for q in parts):
                # into the carry's own buffer: nothing else holds it, and step t has read it
                out.append(Into("np.matmul", products[0], carried))
            else:
                out.append(Assign(carried, parts[0]))
            out += [Aug(carried, "+", q) for q in parts[1:]]
        return out

    def slot_product(self, br, sr, g):
        """Σ over a run of slots of Wᵀ δ as one GEMM's two operands, the slots side
        by side in its inner dimension."""
        if len(br) == 1:
            return f"{self.L(g.weights[sr.start])}.T", self.plan.stored_names[br.start]
        code = br.code(len(self.plan.stored))
        deltas = f"delta_seq[{code or ':'}, :, t]"
        return f"{subscript(g.stack, sr, len(g.weights))}.reshape(-1, H).T", f"{deltas}.reshape(-1, B)"

    def right_rows(self, r, rows):
        """The rows (T·B, ·) of a weight gradient's right factor r, named in rows."""
        p = self.plan
        for key, g in p.groups.items():
            if r == g.vec:
                rows.setdefault(g.rows, "x.reshape(T * B, D)" if key == "x" else
                                f"{self.L(key + '_seq')}[:T].transpose(0, 2, 1).reshape(T * B, H)")
                return g.rows
        name = p.right[r] + "_rows"
        rows.setdefault(name, f"{self.L(p.right[r] + '_seq')}.transpose(0, 2, 1).reshape(T * B, H)")
        return name

    def stacked_gradients(self, eqs, rows):
        """Weight gradients with one term, sharing their right factor: one stacked GEMM per run."""
        p = self.plan
        single, out, done = {}, [], set()
        for prm, ts in p.grad_terms.items():
            if len(ts) == 1 and ts[0][0] == "outer":
                single.setdefault(ts[0][2], []).append((p.stored.index(ts[0][1]), prm))
        for r, items in single.items():
            items.sort()
            rr = self.right_rows(r, rows)
            for br, _ in runs([(k, k) for k, _ in items]):
                prms = [prm for k, prm in items if br.start <= k < br.stop]
                out += [self.comment(*eqs[prm]) for prm in prms]
                if len(prms) == 1:
                    out.append(Assign(Sub("grads", f'"{prms[0]}"'), f"delta_rows[{br.start}] @ {rr}"))
                else:
                    rows_run = subscript("delta_rows", br, len(p.stored))
                    out.append(Assign("dW", f"np.matmul({rows_run}, {rr})",
                                      f"({len(prms)}, H, {'D' if rr == 'x_rows' else 'H'})"))
                    out.append(Assign(tuple(Sub("grads", f'"{q}"') for q in prms), "dW"))
                done.update(prms)
        return out, done

    def gradients(self, x_rest):
        p, d, cell = self.plan, self.d, self.plan.cell
        head = [Assign("grads", "{}")]
        if p.stored:
            head.append(Assign("delta_rows", f"delta_seq.reshape({len(p.stored)}, H, T * B)"))
        rows = {}
        eqs = {g.target.name: (g, e) for g, e in d.gradient_equations() if g.time is None}
        body, done = self.stacked_gradients(eqs, rows)
        if any(kind == "sum" for ts in p.grad_terms.values() for kind, _, _ in ts):
            body.append(Comment("Σ over every step and sequence, as a product with ones (faster than .sum)"))
            body.append(Assign("delta_sums", "delta_rows @ np.ones(T * B, dtype)"))
        for prm, ts in p.grad_terms.items():
            if prm not in done:
                body.append(self.comment(*eqs[prm]))
                parts = [f"delta_rows[{p.stored.index(left)}] @ {self.right_rows(r, rows)}" if kind == "outer"
                         else f"delta_sums[{p.stored.index(left)}]" for kind, left, r in ts]
                body.append(Assign(Sub("grads", f'"{prm}"'), " + ".join(parts)))
        for prm in cell.params:
            if prm not in p.grad_terms:
                body.append(Assign(Sub("grads", f'"{prm}"'), f"np.zeros_like({self.L(prm)})",
                                   f"E does not depend on {prm}"))
        body += self.input_gradient(x_rest)
        for g, e in d.gradient_equations():
            if g.time is not None:
                body.append(self.comment(g, e, ": what step 1 handed back"))
        body += [Assign(Sub("grads", f'"{s}0"'), f"{self.L(f'delta_{s}_carried')}.T") for s in cell.states]
        body.append(Return("{name: grads[name] for name in (*PARAMS, \"x\", " +
                           ", ".join(f'"{s}0"' for s in cell.states) + ")}"))
        return head + [Assign(k, v) for k, v in rows.items()] + body

    def input_gradient(self, x_rest):
        """δx_t for every t at once: one GEMM per slot over all T·B rows, accumulated."""
        p, d = self.plan, self.d
        out = []
        if d.input_error is not None:
            out.append(Comment(f"δx_t = {self.tp.doprint(d.input_error)}, for every t at once"))
        pairs = [(b, sl) for br, sr in self.fused.get("x", ([], []))[0]
                 for b, sl in zip(range(br.start, br.stop), range(sr.start, sr.stop))]
        parts = [f"delta_rows[{b}].T @ {self.L(p.groups['x'].weights[sl])}" for b, sl in pairs]
        if not parts and not x_rest:
            return out + [Assign(Sub("grads", '"x"'), "np.zeros((T, B, D), dtype)", "E does not depend on x")]
        # accumulated: no (slots, T·B, D) temporary
        if x_rest:
            out.append(Assign("dx", "dx.reshape(T * B, D)"))
        for k, q in enumerate(parts):
            out.append(Aug("dx", "+", q) if x_rest or k else Assign("dx", q))
        return out + [Assign(Sub("grads", '"x"'), "dx.reshape(T, B, D)")]
