"""Print a derivation as a stand-alone NumPy module.

`NumpyPrinter` prints one value as a NumPy expression, one `_print_<Node>`
method per node (the shape of SymPy's printers); `Emitter` writes the module:
the forward pass, the backward pass through time and the weight gradients,
each statement under a comment with the equation it implements.  What goes
where (buffer order, GEMM groups, what is kept) is decided in plan.py.
"""
from __future__ import annotations

import textwrap

import sympy
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.printer import Printer

from .. import activations
from ..derivation import Derivation, derive
from ..ir import Act, Add, Delta, Expr, Had, MatVec, Neg, OneMinus, Pow, Scale, Var, shape_of, transform
from ..printing.text import TextPrinter
from . import runtime
from .plan import make_plan, nodes, precise_sigmoid, runs, sigmoid_complement, terms

# Python's precedence, loosest first
ADD, NEG, MUL, POW, ATOM = 10, 15, 20, 30, 50


class Ref(Expr):
    """A value the generated code already holds, by name or subscript."""

    def __init__(self, code):
        self.code = code

    def __eq__(self, other):
        return isinstance(other, Ref) and other.code == self.code

    def __hash__(self):
        return hash(("Ref", self.code))


class ScalarPrinter(NumPyPrinter):
    """SymPy's NumPy printer, writing np.* (and Heaviside(0) = 1/2, as SymPy has it)."""

    def _module_format(self, fqn, register=True):
        if fqn.startswith("numpy."):
            return "np." + fqn[len("numpy."):]
        return super()._module_format(fqn, register)

    def _print_Heaviside(self, e):
        return f"np.heaviside({self._print(e.args[0])}, 0.5)"


def scalar_code(expr):
    try:
        return ScalarPrinter().doprint(expr)
    except Exception as e:       # SymPy raises its own error types for functions NumPy lacks
        raise ValueError(f"codegen cannot write {expr} with NumPy functions ({type(e).__name__})") from None


def _not_analytic(expr):
    return expr.has(sympy.Piecewise, sympy.Heaviside, sympy.Abs, sympy.sign, sympy.Max, sympy.Min)


class NumpyPrinter(Printer):
    """One value as a NumPy expression over the names the generated code holds.
    Batched rows: W v for every row of v is v @ W.T, and Wᵀ v is v @ W."""
    printmethod = "_numpy_code"

    def __init__(self, emitter):
        super().__init__()
        self.em = emitter

    @staticmethod
    def prec(e):
        if isinstance(e, (Add, OneMinus)):
            return ADD
        if isinstance(e, Neg):
            return NEG
        if isinstance(e, (Had, Scale, MatVec)):
            return MUL
        return POW if isinstance(e, Pow) else ATOM

    def paren(self, e, level):
        s = self._print(e)
        return f"({s})" if self.prec(e) < level else s

    def _print_Ref(self, e):
        return e.code

    def _print_Var(self, e):
        return self.em.var(e)

    def _print_Delta(self, e):
        return self.em.plan.local[("delta", e.name, e.gate)]

    def _print_Direct(self, e):
        return "dh[t]"

    def _print_Next(self, e):
        return self.em.plan.local[f"delta_{e.name}_carried"]

    def _print_Add(self, e):
        out = self.paren(e.terms[0], ADD)
        for t in e.terms[1:]:
            out += f" - {self.paren(t.a, MUL)}" if isinstance(t, Neg) else f" + {self.paren(t, ADD + 1)}"
        return out

    def _print_Neg(self, e):
        return "-" + self.paren(e.a, MUL + 1)

    def _print_Had(self, e):
        return " * ".join(self.paren(f, MUL + 1) for f in e.factors)

    def _print_OneMinus(self, e):
        if sigmoid_complement(e) and not self.em.complex_safe:
            # 1 − σ(u) = σ(−u): no digits lost where σ(u) ≈ 1
            return self.em.act(e.a.fn, "-" + self.paren(e.a.a, MUL + 1))
        return "1 - " + self.paren(e.a, MUL)

    def _print_Pow(self, e):
        return f"{self.paren(e.a, ATOM)} ** {e.n}"

    def _print_Scale(self, e):
        k = sympy.nsimplify(e.k)
        return f"{int(k) if k.is_Integer else repr(float(k))} * {self.paren(e.a, MUL + 1)}"

    def _print_MatVec(self, e):
        return f"{self.paren(e.v, MUL + 1)} @ {self._print(e.W)}{'' if e.transpose else '.T'}"

    def _print_Act(self, e):
        return self.em.act(e.fn, self._print(e.a))

    def _print_Map(self, e):
        arg = self._print(e.a)
        if self.em.complex_safe and _not_analytic(e.expr):
            arg = f"np.real({arg})"      # piecewise constant near the real axis: the real part decides
        return f"{self.em.plan.maps[e.expr, e.x]}({arg})"


class CommentPrinter(TextPrinter):
    """The text printer, writing a gate's pre-activation net_g as net_{g,t}."""

    def __init__(self, gates=()):
        super().__init__()
        self.nets = {g.net: g.out for g in gates if g.net == "net_" + g.out}

    def _print_Var(self, e):
        if e.name in self.nets and e.time is not None:
            gate = self.indexed(self.nets[e.name], 0).rsplit("_", 1)[0]
            return f"net_{{{gate},{self.time(e.time)}}}"
        return super()._print_Var(e)


def factor_out(n):
    """a ⊙ b − a ⊙ c as a ⊙ (b − c): one multiplication fewer, the same value."""
    if not isinstance(n, Add) or len(n.terms) < 2:
        return None
    signs, bodies = [], []
    for t in n.terms:
        sign, body = (-1, t.a) if isinstance(t, Neg) else (1, t)
        if not isinstance(body, Had):
            return None
        signs.append(sign)
        bodies.append(list(body.factors))
    common = [f for f in bodies[0] if all(f in b for b in bodies[1:])]
    if not common:
        return None
    f = common[0]
    rest = []
    for sign, b in zip(signs, bodies):
        b = b.copy()
        b.remove(f)
        term = b[0] if len(b) == 1 else Had(tuple(b))
        rest.append(term if sign > 0 else Neg(term))
    return Had((f, Add(tuple(rest))))


def substitute(e, mapping):
    """e with every occurrence of a key of mapping (a node) replaced by its value."""
    # keys are rewritten with the smaller keys inside them first, so that the
    # bottom-up rebuild of e meets each in the form it builds
    inner = {}
    for key in sorted(mapping, key=lambda k: sum(1 for _ in nodes(k))):
        inner[transform(key, lambda n: inner.get(n))] = mapping[key]
    return transform(e, lambda n: inner.get(n))


def _subscript(base, run, size, tail=""):
    """base[run] (base[run, t] with tail ", t"), or the whole of base."""
    code = run.code(size)
    if code is None:
        return f"{base}[:{tail}]" if tail else base
    return f"{base}[{code}{tail}]"


class Emitter:
    """Writes the module for one derivation."""

    def __init__(self, derivation, complex_safe=False, dtype="float64"):
        self.d = derivation
        self.plan = make_plan(derivation, precise=not complex_safe)
        self.complex_safe = complex_safe
        self.dtype = dtype
        self.printer = NumpyPrinter(self)
        self.tp = CommentPrinter(self.plan.gates)
        self.bound = {}          # local name -> code it is bound to at the top of the loop body
        self.mode = "forward"

    # -- names --------------------------------------------------------------------

    def L(self, key):
        return self.plan.local[key]

    def bind(self, name, code):
        self.bound.setdefault(name, code)
        return name

    def var(self, v):
        """The code for a forward variable at step t (time 0) or t−1."""
        p, cell = self.plan, self.plan.cell
        if v.kind == "param":
            return self.L(v.name)
        if v.kind == "input":
            if v.time != 0:
                raise ValueError(f"codegen: x at step t{v.time:+d} is not supported")
            return "x[t]"
        if v.kind == "state" and v.time == -1:
            return self.bind(self.L(v.name + "_prev"), f"{self.L(v.name + '_seq')}[t]")
        if v.time != 0:
            raise ValueError(f"codegen: {v.name} at step t{v.time:+d} is not kept")
        if v.name in cell.states:
            return self.bind(self.L(v.name), f"{self.L(v.name + '_seq')}[t + 1]")
        k = p.gate_index.get(v.name)
        if k is not None:
            return self.bind(self.L(v.name), f"gate_seq[{k}, t]")
        k = p.gate_of_net(v.name)
        if k is not None:
            if p.in_place:      # the pre-activation lives where its gate's output will
                g = p.gates[k]
                return self.var(Var(g.out, "state" if g.is_state else "inter", ("H",), 0))
            return self.bind(self.L(v.name), f"net_seq[{k}, t]")
        if v.name in p.cached_vars:
            return self.bind(self.L(v.name), f"{self.L(v.name + '_seq')}[t]")
        if self.mode == "backward":
            raise ValueError(f"codegen: the backward pass reads {v.name}_t, which is not kept")
        return self.L(v.name)

    def one_minus(self, gate):
        """The local holding 1 − g_t for a sigmoid gate g (kept beside g_t)."""
        k = self.plan.complements[gate]
        name = self.L(("one_minus", gate))
        return self.bind(name, f"complement_seq[{k}, t]" if k is not None else
                         f"{self.L(('one_minus_seq', gate))}[t]")

    def complement(self, n):
        """1 − g_t of a sigmoid gate g, as the complement kept beside g_t; else None."""
        if (isinstance(n, OneMinus) and isinstance(n.a, Var) and n.a.time == 0
                and n.a.name in self.plan.complements):
            return Ref(self.one_minus(n.a.name))
        return None

    def act(self, fn, arg, out=None, complement=None):
        tail = (f", out={out}" if out else "") + (f", complement={complement}" if complement else "")
        if fn.name == "tanh":
            return f"np.tanh({arg}{tail})"
        return f"{self.plan.helpers[fn.name]}({arg}{tail})"

    def code(self, e):
        return self.printer.doprint(e)

    def comment(self, lhs, rhs, note=""):
        return f"# {self.tp.doprint(lhs)} = {self.tp.doprint(rhs)}{note}"

    # -- statements -----------------------------------------------------------------

    def assign(self, target, e):
        """Statements writing the value of e into the existing array `target`."""
        c = self.code
        if isinstance(e, Act):
            return [self.act(e.fn, c(e.a), out=target)]
        if isinstance(e, Had):
            first, second, *rest = e.factors
            return ([f"np.multiply({c(first)}, {c(second)}, out={target})"] +
                    [f"{target} *= {c(f)}" for f in rest])
        if isinstance(e, Add):
            first, second, *rest = e.terms
            if isinstance(first, (Had, Act, MatVec)):
                lines, rest = self.assign(target, first), [second] + rest
            elif isinstance(second, Neg):
                lines = [f"np.subtract({c(first)}, {c(second.a)}, out={target})"]
            else:
                lines = [f"np.add({c(first)}, {c(second)}, out={target})"]
            return lines + self.accumulate(target, rest)
        if isinstance(e, OneMinus) and sigmoid_complement(e) and not self.complex_safe:
            return [self.act(e.a.fn, "-" + self.printer.paren(e.a.a, MUL + 1), out=target)]    # σ(−u)
        if isinstance(e, OneMinus):
            return [f"np.subtract(1, {c(e.a)}, out={target})"]
        if isinstance(e, Neg):
            return [f"np.negative({c(e.a)}, out={target})"]
        if isinstance(e, MatVec):
            return [f"np.matmul({c(e.v)}, {c(e.W)}{'' if e.transpose else '.T'}, out={target})"]
        return [f"{target}[...] = {c(e)}"]

    def accumulate(self, target, more):
        return [f"{target} -= {self.code(t.a)}" if isinstance(t, Neg) else f"{target} += {self.code(t)}"
                for t in more]

    # -- the module -------------------------------------------------------------------

    def module(self):
        p, cell = self.plan, self.plan.cell
        shapes = ",\n          ".join(f'"{n}": {tuple(v.shape)!r}' for n, v in cell.params.items())
        head = [self.docstring(), "import numpy as np", "",
                f'CELL = "{cell.name}"',
                f"PARAMS = {{{shapes}}}".replace("'", '"'),
                f"STATES = {tuple(cell.states)!r}".replace("'", '"'),
                f"GATES = {tuple(g.out for g in p.stacked_gates)!r}    # their order in gate_seq".replace("'", '"'),
                f"COMPLEX_SAFE = {self.complex_safe!r}",
                f"DTYPE = np.{self.dtype}    # init_params' default; forward and backward take both"]
        text = "\n".join(head) + "\n"
        for name in p.helpers:
            text += self.helper(p.acts[name])
        for (expr, x), name in p.maps.items():
            a = sympy.Symbol("a", real=True)
            body = scalar_code(expr.subs(x, a))
            where = "input" if x == activations.x else "output"
            text += (f'\n\ndef {name}(a):\n    """{sympy.sstr(expr.subs(x, a))} elementwise: an activation\'s '
                     f'derivative (or a factor of it) in terms of its {where}."""\n'
                     f"    return {body if expr.has(x) else f'np.full_like(a, {body})'}\n")
        text += runtime.CHECKS + (runtime.MIXED_DTYPE if self.complex_safe else runtime.STRICT_DTYPE)
        text += runtime.BUFFERS + runtime.INIT_PARAMS
        text += "\n\n" + "\n".join(tidy(self.forward())) + "\n"
        text += "\n\n" + "\n".join(tidy(self.backward())) + "\n"
        return text

    def helper(self, fn):
        builtin = activations.BUILTIN.get(fn.name)
        if builtin is not None and builtin.expr == fn.expr:
            key = fn.name + "/complex"
            return runtime.ACTIVATIONS[key if self.complex_safe and key in runtime.ACTIVATIONS else fn.name]
        if self.complex_safe and _not_analytic(fn.expr):
            raise ValueError(f"activation {fn.name} = {fn.expr} is not complex-analytic (Abs, Max, "
                             "Piecewise, ...); the complex-safe variant needs an analytic formula")
        a = sympy.Symbol("a", real=True)
        body = scalar_code(fn.expr.subs(activations.x, a))
        name = self.plan.helpers[fn.name]
        return (f'\n\ndef {name}(a, out=None):\n    """{name}(a) = {sympy.sstr(fn.expr.subs(activations.x, a))}, '
                f'elementwise."""\n    value = {body}\n    if out is None:\n        return value\n'
                f"    out[...] = value\n    return out\n")

    def docstring(self):
        from ..printing import render
        cell = self.plan.cell
        body = render(self.d, "all", "text").rstrip("\n")
        body = "\n".join(("    " + line) if line.strip() else "" for line in body.splitlines())
        states0 = ", ".join(s + "0" for s in cell.states)
        lines = [f'"""{cell.title or cell.name}: forward pass and backpropagation through time in NumPy.',
                 "",
                 f"Generated by lstm-sym (`lstm-sym codegen {cell.name}`) from the derivation below;",
                 "regenerate it rather than edit it.  Needs only NumPy.  Batched rows: x is (T, B, D),",
                 f"{states0} are (B, H) (zeros when omitted), h is (T, B, H); parameters are named",
                 "and shaped as printed (column vectors: W v is v @ W.T for a row v).",
                 "Comments above each statement give the equation it implements."]
        if self.complex_safe:
            lines += ["", "Complex-safe variant: no abs/maximum tricks, so that a complex step",
                      "through forward() gives derivatives (the complex-step check)."]
        extra = "".join(f", d{s}T=None" for s in cell.states[1:])
        lines += ["", f"    forward(params, x, {', '.join(s + '0=None' for s in cell.states)}) -> (h, cache)",
                  f"    backward(params, dh, cache{extra}) -> {{parameter: gradient, \"x\": ..., "
                  + ", ".join(f'"{s}0": ...' for s in cell.states) + "}",
                  "", body, '"""']
        return "\n".join(lines)

    # -- forward --------------------------------------------------------------------------

    def forward(self):
        p, cell = self.plan, self.plan.cell
        self.mode = "forward"
        states = cell.states
        out_state = states[0]
        G, gates = len(p.stacked_gates), p.gates
        L = [f"def forward(params, x, {', '.join(s + '0=None' for s in states)}):",
             '    """h_t for t = 1..T, shape (T, B, H), and the cache backward() reads (h is a view',
             "    of the cache's h_seq: change a copy).  The cache also holds the scratch backward()",
             '    fills, so that a forward/backward pair allocates once: one backward at a time per cache."""',
             "    T, B, D, H, dtype = _check(params, x, {" +
             ", ".join(f'"{s}0": ({s}0, "BH")' for s in states) + "})"]
        L += ["    " + line for line in self.unpack_params()]
        # stacked weights, transposed once and copied: np.array lays them out in C
        # order (np.stack would keep the transposed strides, which BLAS handles slower)
        for key, g in p.groups.items():
            shape = f"({len(g.weights)}, {'D' if key == 'x' else 'H'}, H)"
            L.append(f"    {g.stack} = np.array([{', '.join(self.L(W) + '.T' for W in g.weights)}])"
                     f"    # {shape}: {', '.join(g.weights)}, transposed")
        # buffers: the output state on its own (the caller keeps h), the rest in one block
        L.append(f"    {self.L(out_state + '_seq')} = np.empty((T + 1, B, H), dtype)"
                 f"    # {self.L(out_state + '_seq')}[t] = {out_state}_t")
        block = [(self.L(s + "_seq"), "(T + 1, B, H)", f"{s}_t") for s in states[1:]]
        if G:
            block.append(("gate_seq", f"({G}, T, B, H)", ", ".join(self.tp.doprint(Var(g.out, "inter", ("H",), 0))
                                                                   for g in p.stacked_gates)
                          + (": each starts as its pre-activation" if p.in_place else "")))
        kept = self.kept_complements()
        if kept:
            block.append(("complement_seq", f"({len(kept)}, T, B, H)",
                          ", ".join(self.tp.doprint(OneMinus(Var(g, "inter", ("H",), 0))) for g in kept)
                          + ": each σ(−net), computed with its gate"))
        for g, k in p.complements.items():
            if k is None:
                block.append((self.L(("one_minus_seq", g)), "(T, B, H)",
                              self.tp.doprint(OneMinus(Var(g, "inter", ("H",), 0))) + ", as σ(−net)"))
        if not p.in_place and gates:
            block.append(("net_seq", f"({len(gates)}, T, B, H)", "the pre-activations"))
        if p.x_extra:
            block.append((p.groups["x"].proj, f"({len(p.x_extra)}, T, B, H)",
                          ", ".join(f"{p.groups['x'].weights[k]} x_t" for k in p.x_extra)))
        for name in p.cached_vars:
            block.append((self.L(name + "_seq"), "(T, B, H)", name + "_t"))
        for node, name in p.cached.items():
            block.append((self.L(name + "_seq"), "(T, B, H)", self.tp.doprint(node)))
        block += self.backward_buffers()
        if block:
            L += [f"    # {name}: {note}" for name, _, note in block]
            if len(block) == 1:
                L.append(f"    {block[0][0]} = np.empty({block[0][1]}, dtype)")
            else:
                L += wrap(f"    {', '.join(b[0] for b in block)} = _buffers(", ["dtype"] + [b[1] for b in block], ")")
        for s in states:
            L.append(f"    {self.L(s + '_seq')}[0] = 0 if {s}0 is None else {s}0")
        L += ["    " + line for line in self.input_projections()]
        for key, g in p.groups.items():
            if key != "x":
                L.append(f"    {g.proj} = np.empty(({len(g.weights)}, B, H), dtype)"
                         f"    # this step's {', '.join(W + ' ' + self.tp.doprint(g.vec) for W in g.weights)}")
        # the loop body, written first so that its bindings are known
        self.bound, self.materialized = {}, set()
        body = []
        for key, g in p.groups.items():
            if key != "x":
                body.append(f"np.matmul({self.var(g.vec)}, {g.stack}, out={g.proj})    # one GEMM")
        for item in p.schedule:
            body += (self.nets() if item[0] == "nets" else
                     self.activations(item[1]) if item[0] == "acts" else self.equation(item[1]))
        missing = [n for n in p.cached if n not in self.materialized]
        if missing:
            raise ValueError(f"codegen: {self.tp.doprint(missing[0])} is read back but never computed")
        L.append("    for t in range(T):")
        L += ["        " + line for line in self.bindings() + body]
        cache = ["x"] + [self.L(s + "_seq") for s in states] + [b[0] for b in block if b[0] not in cache_skip(p)]
        self.cache_keys = list(dict.fromkeys(cache))
        L += wrap("    cache = {", [f'"{k}": {k}' for k in self.cache_keys], "}")
        L.append(f"    return {self.L(out_state + '_seq')}[1:], cache")
        return L

    def unpack_params(self):
        names = [self.L(n) for n in self.plan.cell.params]
        return [f"{', '.join(names)}{',' if len(names) == 1 else ''} = (params[name] for name in PARAMS)"]

    def input_projections(self):
        """W_gx x_t (+ b_g) for every step at once, written where each pre-activation accumulates."""
        p = self.plan
        g = p.groups.get("x")
        if g is None:
            return []
        n = len(g.weights)
        out = ["x_rows = x.reshape(T * B, D)"]
        stacked = [(k, gate.xslot) for k, gate in enumerate(p.gates) if gate.xslot is not None and not gate.is_state]
        dest = "gate_seq" if p.in_place else "net_seq"
        if not p.in_place:
            stacked = [(k, gate.xslot) for k, gate in enumerate(p.gates) if gate.xslot is not None]
        for br, xr in runs(stacked):
            nets = ", ".join(self.tp.doprint(Var(p.gates[k].net, "inter", ("H",), 0)) for k in range(br.start, br.stop))
            products = ", ".join(g.weights[k] + " x_t" for k in range(xr.start, xr.stop))
            out.append(f"# {nets} start as {products} + their biases, for all t: one GEMM per gate"
                       if len(br) > 1 else f"# {nets} starts as {products} + its bias, for all t: one GEMM")
            target = _subscript(dest, br, len(p.gates) if not p.in_place else len(p.stacked_gates))
            if len(br) > 1:
                out.append(f"np.matmul(x_rows, {_subscript(g.stack, xr, n)}, "
                           f"out={target}.reshape({len(br)}, T * B, H))")
            else:
                out.append(f"np.matmul(x_rows, {g.stack}[{xr.start}], out={target}.reshape(T * B, H))")
            out += self.add_biases(target, [p.folded.get(k, []) for k in range(xr.start, xr.stop)], len(br) > 1)
        if p.in_place:
            for gate in p.gates:
                if gate.is_state and gate.xslot is not None:
                    target = f"{self.L(gate.out + '_seq')}[1:]"
                    out.append(f"# {self.tp.doprint(Var(gate.net, 'inter', ('H',), 0))} starts as "
                               f"{g.weights[gate.xslot]} x_t + its bias, for all t: one GEMM")
                    out.append(f"np.matmul(x_rows, {g.stack}[{gate.xslot}], out={target}.reshape(T * B, H))")
                    out += self.add_biases(target, [p.folded.get(gate.xslot, [])], False)
        if p.x_extra:
            xr = runs([(k, k) for k in p.x_extra])[0][0]
            out.append(f"# {', '.join(g.weights[k] + ' x_t' for k in p.x_extra)} for all t: one GEMM each")
            shape = f"{len(xr)}, T * B, H" if len(xr) > 1 else "T * B, H"
            out.append(f"np.matmul(x_rows, {_subscript(g.stack, xr, n) if len(xr) > 1 else f'{g.stack}[{xr.start}]'}, "
                       f"out={g.proj}.reshape({shape}))")
        return out

    def add_biases(self, target, biases, stacked):
        if not any(biases):
            return []
        names = lambda bs: " + ".join(self.L(b) for b in bs)
        if not stacked:
            return [f"{target} += {names(biases[0])}" if "[" not in target else
                    f"np.add({target}, {names(biases[0])}, out={target})"]
        if all(len(b) == 1 for b in biases):
            stack = f"np.stack([{', '.join(self.L(b[0]) for b in biases)}])[:, None, None, :]"
            return [f"{target} += {stack}" if "[" not in target else f"np.add({target}, {stack}, out={target})"]
        base, _, sub = target.partition("[")
        start = int(sub.split(":")[0]) if sub else 0
        return [f"np.add({base}[{start + k}], {names(b)}, out={base}[{start + k}])" for k, b in enumerate(biases) if b]

    def net_target(self, k):
        """The local holding gate k's pre-activation at step t."""
        g = self.plan.gates[k]
        return self.var(Var(g.net, "inter", ("H",), 0))

    def nets(self):
        """The state part of the standard pre-activations, added a run of gates at a time."""
        p = self.plan
        lines = []
        for gr, key, hr in p.net_runs:
            for k in range(gr.start, gr.stop):
                lines.append(self.comment(Var(p.gates[k].net, "inter", ("H",), 0), p.exprs[p.gates[k].net]))
            g = p.groups[key]
            h = _subscript(g.proj, hr, len(g.weights))
            if len(gr) == 1:
                lines.append(f"{self.net_target(gr.start)} += {g.proj}[{hr.start}]"
                             "    # the x_t part is there already")
            else:
                base = "gate_seq" if p.in_place else "net_seq"
                size = len(p.stacked_gates) if p.in_place else len(p.gates)
                target = _subscript(base, gr, size, ", t")
                lines.append(f"np.add({target}, {h}, out={target})    # the x_t parts are there already")
        return lines

    def kept_complements(self):
        """The stacked sigmoid gates whose 1 − g_t is kept, in complement_seq order."""
        slots = {g: k for g, k in self.plan.complements.items() if k is not None}
        return sorted(slots, key=slots.get)

    def activations(self, level):
        p = self.plan
        comp = p.complements
        lines, groups = [], []
        for k, g in enumerate(p.gates):
            if g.level != level:
                continue
            last = groups[-1][-1] if groups else None
            if last is not None and not g.is_state and not p.gates[last].is_state and \
                    p.gates[last].fn == g.fn and last == k - 1 and (g.out in comp) == (p.gates[last].out in comp):
                groups[-1].append(k)
            else:
                groups.append([k])
        for run in groups:
            first, final = p.gates[run[0]], p.gates[run[-1]]
            for k in run:
                g = p.gates[k]
                lines.append(self.comment(Var(g.out, "inter", ("H",), 0), p.exprs[g.out],
                                          "    (in place)" if p.in_place else ""))
            kept = [p.gates[k] for k in run if p.gates[k].out in comp]
            for j, g in enumerate(kept):
                out = self.tp.doprint(Var(g.out, "inter", ("H",), 0))
                lines.append(self.comment(OneMinus(Var(g.out, "inter", ("H",), 0)),
                                          Act(g.fn, Neg(Var(g.net, "inter", ("H",), 0))),
                                          f"    (with {out}, not as 1 − {out}: that keeps no digits where {out} ≈ 1)"
                                          if j == 0 else ""))
            if len(run) > 1:
                target = f"gate_seq[{run[0]}:{run[-1] + 1}, t]"
                source = target if p.in_place else f"net_seq[{run[0]}:{run[-1] + 1}, t]"
                complement = f"complement_seq[{comp[first.out]}:{comp[final.out] + 1}, t]" if kept else None
                lines.append(self.act(first.fn, source, out=target, complement=complement))
            else:
                target = self.var(Var(first.out, "state" if first.is_state else "inter", ("H",), 0))
                lines.append(self.act(first.fn, self.net_target(run[0]), out=target,
                                      complement=self.one_minus(first.out) if kept else None))
        return lines

    def lower(self, e):
        """e with kept subexpressions and grouped products replaced by the names holding them."""
        p = self.plan
        mapping = {n: Ref(name) for n, name in p.cached.items()
                   if self.mode == "backward" or n in self.materialized}
        if self.mode == "backward":
            mapping.update({n: Ref(f"{p.groups['x'].proj}[{k}, t]") for n, k in p.x_read_back.items()})
        e = substitute(e, mapping)
        for n, name in p.cached.items():
            if n in mapping and any(isinstance(m, Ref) and m.code == name for m in nodes(e)):
                self.bind(name, f"{self.L(name + '_seq')}[t]")
        e = transform(e, self.complement)

        def project(n):
            if isinstance(n, MatVec) and isinstance(n.W, Var) and not n.transpose:
                for key, g in p.groups.items():
                    if n.v == g.vec and n.W.name in g.weights:
                        k = g.weights.index(n.W.name)
                        if key == "x":
                            return Ref(f"{g.proj}[{p.x_extra.index(k)}, t]")
                        return Ref(f"{g.proj}[{k}]")
            return None
        return transform(e, project) if self.mode == "forward" else transform(e, factor_out)

    def equation(self, name):
        """A forward equation that is not a gate's activation, with the kept values inside it first."""
        p, cell = self.plan, self.plan.cell
        e = p.exprs[name]
        lines = []
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
                lines.append(f"# {self.tp.doprint(n)} and {self.tp.doprint(pair)} = "
                             f"{self.tp.doprint(Act(n.fn, Neg(n.a)))}, kept for the backward pass")
                lines.append(self.act(n.fn, self.code(self.lower(n.a)), out=target, complement=other))
                self.materialized.update((n, pair))
                continue
            lines.append(f"# {self.tp.doprint(n)}, kept for the backward pass")
            lines += self.assign(target, self.lower(n))
            self.materialized.add(n)
        v = Var(name, "state" if name in cell.states else "inter", ("H",), 0)
        k = p.gate_of_net(name)
        if k is not None:
            g = p.gates[k]
            target = self.net_target(k)
            if g.xslot is None:
                lines.append(self.comment(v, e))
                return lines + self.assign(target, self.lower(e))
            W = p.groups["x"].weights[g.xslot]
            rest = [t for t in terms(e) if not (isinstance(t, MatVec) and isinstance(t.W, Var) and t.W.name == W)
                    and not (isinstance(t, Var) and t.name in p.folded.get(g.xslot, []))]
            lines.append(self.comment(v, e, f"    ({W} x_t and its bias are there already)"))
            return lines + self.accumulate(target, [self.lower(t) for t in rest])
        lines.append(self.comment(v, e))
        if name in cell.states or name in p.cached_vars:
            return lines + self.assign(self.var(v), self.lower(e))
        return lines + [f"{self.L(name)} = {self.code(self.lower(e))}"]

    def bindings(self):
        """Assignments for the names the loop body uses: a whole step of a stacked
        buffer unpacked at once, the rest a few to a line."""
        lines = []
        stacked = {"gate_seq": [self.L(g.out) for g in self.plan.stacked_gates],
                   "net_seq": [self.L(g.net) for g in self.plan.gates],
                   "delta_seq": list(self.plan.stored_names),
                   "complement_seq": [self.L(("one_minus", g)) for g in self.kept_complements()]}
        for base, names in stacked.items():
            if any(code.startswith(base + "[") for code in self.bound.values()):
                lines.append(f"{', '.join(names)}{',' if len(names) == 1 else ''} = {base}[:, t]")
        rest = [(n, c) for n, c in self.bound.items() if not c.startswith(tuple(b + "[" for b in stacked))]
        for k in range(0, len(rest), 3):
            chunk = rest[k:k + 3]
            lines.append(f"{', '.join(n for n, _ in chunk)} = {', '.join(c for _, c in chunk)}")
        return lines

    # -- backward -------------------------------------------------------------------------

    def backward(self):
        p, d, cell = self.plan, self.d, self.plan.cell
        self.mode = "backward"
        states = cell.states
        extra = states[1:]
        S = len(p.stored)
        L = [f"def backward(params, dh, cache{''.join(f', d{s}T=None' for s in extra)}):",
             '    """Gradients of E given dh[t] = ∂E/∂h_t for every step (T, B, H): every parameter,',
             f'    "x" (T, B, D) and {", ".join(chr(34) + s + "0" + chr(34) for s in states)} (B, H).'
             + (f"  {', '.join('d' + s + 'T' for s in extra)}: ∂E/∂{', '.join(s + '_T' for s in extra)}"
                " given from outside (zero when omitted)." if extra else "") + '"""',
             "    keys = (" + ", ".join(f'"{k}"' for k in self.cache_keys) + ")",
             "    if not isinstance(cache, dict) or any(key not in cache for key in keys):",
             '        raise ValueError("cache is not what forward() returned")',
             "    " + ", ".join(self.cache_keys) + " = (cache[key] for key in keys)",
             '    T, B, D, H, dtype = _check(params, x, {"dh": (dh, "TBH")' +
             "".join(f', "d{s}T": (d{s}T, "BH")' for s in extra) + "})"]
        L += ["    " + line for line in self.unpack_params()]
        # which stored values meet which stacked weights in the carries and in δx
        self.fused = {}
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
                L.append(f"    {g.stack} = np.stack([{', '.join(self.L(W) for W in g.weights)}])"
                         f"    # ({len(g.weights)}, H, {'D' if key == 'x' else 'H'})")
        for s in states:
            init = "np.zeros((B, H), dtype)"
            if s != states[0]:
                init = f"np.zeros((B, H), dtype) if d{s}T is None else d{s}T.astype(dtype)"
            L.append(f"    {self.L(f'delta_{s}_carried')} = {init}"
                     f"    # what step t+1 hands back to {s}_t; after step T: "
                     + ("nothing" if s == states[0] else f"d{s}T"))
        x_rest = self.fused.get("x", ([], terms(d.input_error)))[1]
        if x_rest:
            L.append("    dx = np.zeros((T, B, D), dtype)")
        self.bound = {}
        body = self.backward_step(x_rest)
        L.append("    for t in reversed(range(T)):")
        L += ["        " + line for line in self.bindings() + body]
        L += ["    " + line for line in self.gradients(x_rest)]
        return L

    def backward_buffers(self):
        """What backward() fills for every t.  forward() allocates it with its own
        buffers, so that a forward/backward pair makes one allocation (see _buffers)."""
        p = self.plan
        block = []
        if p.stored:
            block.append(("delta_seq", f"({len(p.stored)}, T, B, H)",
                          ", ".join(self.tp.doprint(e) for e in p.stored) + ", filled by backward()"))
        for r, name in p.right.items():
            block.append((self.L(name + "_seq"), "(T, B, H)", self.tp.doprint(r) + ", filled by backward()"))
        return block

    def cotangent_ok(self, key, W, value):
        return any(kind == "outer" and left == value and r == self.plan.groups[key].vec
                   for kind, left, r in self.plan.grad_terms.get(W, []))

    def backward_step(self, x_rest):
        p, d, cell = self.plan, self.d, self.plan.cell
        lines = []
        stored_index = {e: k for k, e in enumerate(p.stored)}
        for dd, e in d.delta_defs:
            name = self.L(("delta", dd.name, dd.gate))
            lines.append(self.comment(dd, e))
            if dd in stored_index:
                self.bind(name, f"delta_seq[{stored_index[dd]}, t]")
                lines += self.assign(name, self.lower(e))
            else:
                lines.append(f"{name} = {self.code(self.lower(e))}")
        for k, e in enumerate(p.stored):
            if not isinstance(e, Delta):
                name = self.bind(p.stored_names[k], f"delta_seq[{k}, t]")
                lines.append(f"# {self.tp.doprint(e)}, kept for the weight gradients")
                lines += self.assign(name, self.lower(e))
        for r, name in p.right.items():
            target = self.bind(name, f"{self.L(name + '_seq')}[t]")
            lines.append(f"# {self.tp.doprint(r)}, kept for the weight gradients")
            lines += self.assign(target, self.lower(r))
        for s in cell.states:
            carried = self.L(f"delta_{s}_carried")
            carry = d.carry.get(s)
            if carry is None:
                lines.append(f"{carried} = np.zeros((B, H), dtype)    # step t does not read {s}_(t−1)")
                continue
            lines.append(f"# (δ{s} carried to step t−1) = {self.tp.doprint(carry)}")
            fused, rest = self.fused.get(s, ([], terms(carry)))
            g = p.groups.get(s)
            parts = [self.slot_product(br, sr, g, ", t") for br, sr in fused]
            parts += [self.code(self.lower(t)) for t in rest]
            lines.append(f"{carried} = {parts[0]}")
            lines += [f"{carried} += {q}" for q in parts[1:]]
        if x_rest:
            lines.append("# the part of δx_t that is not a product with a stacked weight")
            lines += [f"dx[t] += {self.code(self.lower(t))}" for t in x_rest]
        return lines

    def slot_product(self, br, sr, g, tail):
        """Σ over a run of slots of Wᵀ v: one stacked matmul and a sum over the slots."""
        if len(br) == 1:
            v = self.plan.stored_names[br.start] if tail else f"delta_rows[{br.start}]"
            return f"{v} @ {self.L(g.weights[sr.start])}"
        base = _subscript("delta_seq" if tail else "delta_rows", br, len(self.plan.stored), tail)
        return f"np.matmul({base}, {_subscript(g.stack, sr, len(g.weights))}).sum(axis=0)"

    def gradients(self, x_rest):
        p, d, cell = self.plan, self.d, self.plan.cell
        L = ["grads = {}"]
        if p.stored:
            L.append(f"delta_rows = delta_seq.reshape({len(p.stored)}, T * B, H)")
        rows = {}

        def right_rows(r):
            for key, g in p.groups.items():
                if r == g.vec:
                    rows.setdefault(g.rows, "x.reshape(T * B, D)" if key == "x" else
                                    f"{self.L(key + '_seq')}[:T].reshape(T * B, H)")
                    return g.rows
            name = p.right[r] + "_rows"
            rows.setdefault(name, f"{self.L(p.right[r] + '_seq')}.reshape(T * B, H)")
            return name

        body = []
        eqs = {g.target.name: (g, e) for g, e in d.gradient_equations() if g.time is None}
        # weight gradients with one term, sharing their right factor: one stacked GEMM per run
        single = {}
        for prm, ts in p.grad_terms.items():
            if len(ts) == 1 and ts[0][0] == "outer":
                single.setdefault(ts[0][2], []).append((p.stored.index(ts[0][1]), prm))
        done = set()
        for r, items in single.items():
            items.sort()
            rr = right_rows(r)
            for br, _ in runs([(k, k) for k, _ in items]):
                prms = [prm for k, prm in items if br.start <= k < br.stop]
                body += [self.comment(*eqs[prm]) for prm in prms]
                if len(prms) == 1:
                    body.append(f'grads["{prms[0]}"] = delta_rows[{br.start}].T @ {rr}')
                else:
                    rows_run = _subscript("delta_rows", br, len(p.stored))
                    body.append(f"dW = np.matmul({rows_run}.transpose(0, 2, 1), {rr})"
                                f"    # ({len(prms)}, H, {'D' if rr == 'x_rows' else 'H'})")
                    body.append(", ".join(f'grads["{q}"]' for q in prms) + " = dW")
                done.update(prms)
        if any(kind == "sum" for ts in p.grad_terms.values() for kind, _, _ in ts):
            body.append("# Σ over every step and row, as a product with ones (a GEMM: faster than .sum)")
            body.append("delta_sums = np.ones(T * B, dtype) @ delta_rows")
        for prm, ts in p.grad_terms.items():
            if prm not in done:
                body.append(self.comment(*eqs[prm]))
                parts = [f"delta_rows[{p.stored.index(left)}].T @ {right_rows(r)}" if kind == "outer"
                         else f"delta_sums[{p.stored.index(left)}]" for kind, left, r in ts]
                body.append(f'grads["{prm}"] = {" + ".join(parts)}')
        for prm in cell.params:
            if prm not in p.grad_terms:
                body.append(f'grads["{prm}"] = np.zeros_like({self.L(prm)})    # E does not depend on {prm}')
        if d.input_error is not None:
            body.append(f"# δx_t = {self.tp.doprint(d.input_error)}, for every t at once")
        pairs = [(b, sl) for br, sr in self.fused.get("x", ([], []))[0]
                 for b, sl in zip(range(br.start, br.stop), range(sr.start, sr.stop))]
        parts = [f"delta_rows[{b}] @ {self.L(p.groups['x'].weights[sl])}" for b, sl in pairs]
        if not parts and not x_rest:
            body.append('grads["x"] = np.zeros((T, B, D), dtype)    # E does not depend on x')
        else:
            # one GEMM per slot over all T·B rows, accumulated: no (slots, T·B, D) temporary
            if x_rest:
                body.append("dx = dx.reshape(T * B, D)")
            body += [f"dx {'+=' if x_rest or k else '='} {q}" for k, q in enumerate(parts)]
            body.append('grads["x"] = dx.reshape(T, B, D)')
        for g, e in d.gradient_equations():
            if g.time is not None:
                body.append(self.comment(g, e, ": what step 1 handed back"))
        body += [f'grads["{s}0"] = {self.L(f"delta_{s}_carried")}' for s in cell.states]
        L += [f"{k} = {v}" for k, v in rows.items()] + body
        L.append("return {name: grads[name] for name in (*PARAMS, \"x\", " +
                 ", ".join(f'"{s}0"' for s in cell.states) + ")}")
        return L


def wrap(head, items, tail, width=110):
    """head + items joined by commas + tail, on one line or, if too long, with
    the items on indented continuation lines."""
    one = head + ", ".join(items) + tail
    if len(one) <= width:
        return [one]
    indent = head[:len(head) - len(head.lstrip())] + "    "
    lines = [indent]
    for k, item in enumerate(items):
        piece = item + (", " if k < len(items) - 1 else tail)
        if len(lines[-1]) + len(piece.rstrip()) > width and lines[-1].strip():
            lines[-1] = lines[-1].rstrip()
            lines.append(indent)
        lines[-1] += piece
    return [head.rstrip()] + lines


def tidy(lines, width=110):
    """Long lines made readable: a trailing comment moves above its statement,
    a long comment wraps."""
    out = []
    for line in lines:
        indent = line[:len(line) - len(line.lstrip())]
        code, sep, note = line.partition("    # ")
        if len(line) > width and sep and code.strip():
            out += tidy([f"{indent}# {note}", code], width)
        elif len(line) > width and line.lstrip().startswith("# "):
            out += textwrap.wrap(line.lstrip()[2:], width, initial_indent=indent + "# ",
                                 subsequent_indent=indent + "#     ", break_long_words=False)
        else:
            out.append(line)
    return out


def cache_skip(plan):
    """Buffers of the forward pass that the backward pass does not read."""
    return {plan.groups["x"].proj} if "x" in plan.groups and not plan.x_read_back else set()


def emit(cell, complex_safe=False, dtype="float64"):
    """The generated module's source for a cell (a Cell, a built-in name or a Derivation)."""
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    d = cell if isinstance(cell, Derivation) else derive(cell)
    wide = [v.name for v, e in d.cell.equations if v.shape != ("H",)
             or any(not isinstance(n, Var) and shape_of(n) != ("H",) for n in nodes(e) if n.children())]
    if wide:
        # the kernel's buffers are (T, B, H): a value of length D computed from x has no place in them
        raise ValueError(f"cell {d.cell.name}: codegen needs every computed vector to have length H, but "
                         f"{', '.join(wide)} computes one of length D from x; only W x_t may read x "
                         "(derive and prove still work on this cell)")
    _refuse_clashing_names(d.cell)
    return Emitter(d, complex_safe=complex_safe, dtype=dtype).module()


def _refuse_clashing_names(cell):
    """The kernel names its buffers after the cell's (h_seq, h_prev, delta_f,
    W_x_stack, ...): a cell name of that form would share a variable."""
    names = set(cell.params) | {v.name for v, _ in cell.equations} | set(cell.states) | {cell.x}
    derived = ("_seq", "_prev", "_carried", "_rows", "_stack", "_proj")
    arguments = {s + "0" for s in cell.states} | {"params", "cache", "dh", "dcT", "grads"}
    bad = sorted(n for n in names if n.startswith("delta_") or n in arguments - {cell.x}
                 or any(n == m + tail for m in names | {"W_x", "W_h", "x"} for tail in derived))
    if bad:
        raise ValueError(f"cell {cell.name}: {', '.join(bad)} would clash with a name the kernel uses "
                         "(its arguments params, cache, dh, dcT, h0, ...; buffers …_seq, …_prev, delta_…); rename it")
