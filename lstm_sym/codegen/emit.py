"""Print a derivation as a stand-alone NumPy module.

The emitter builds the module as statements (statements.py) and prints them
with one printer: the forward pass (forward.py), the backward pass through
time and the weight gradients (backward.py), each statement under a comment
with the equation it implements.  Values are printed by values.NumpyPrinter;
what goes where (buffer order, GEMM groups, what is kept) is decided in plan.py.
"""
from __future__ import annotations

import sympy

from .. import activations
from ..derivation import Derivation, derive
from ..ir import Act, Add, Had, MatVec, Neg, OneMinus, Var, shape_of, transform
from . import runtime
from .backward import BackwardPass
from .forward import ForwardPass
from .plan import make_plan, nodes, sigmoid_complement
from .statements import Assign, Aug, Comment, Into, PythonPrinter, Sub
from .values import (MUL, CommentPrinter, NotAnalytic, NumpyPrinter, Ref, factor_out, not_analytic, scalar_code,
                     substitute)


class Emitter(ForwardPass, BackwardPass):
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
        if v.kind == "param":      # a vector (H,) broadcasts over the columns of an (H, B) block
            return self.L(v.name) + ("[:, None]" if len(v.shape) == 1 else "")
        if v.kind == "input":
            if v.time != 0:
                raise ValueError(f"codegen: x at step t{v.time:+d} is not supported")
            return "x[t].T"
        if v.kind == "state" and v.time == -1:
            return self.bind(self.L(v.name + "_prev"), f"{self.L(v.name + '_seq')}[t]")
        if v.time != 0:
            raise ValueError(f"codegen: {v.name} at step t{v.time:+d} is not kept")
        if v.name in cell.states:
            return self.bind(self.L(v.name), f"{self.L(v.name + '_seq')}[t + 1]")
        k = p.gate_index.get(v.name)
        if k is not None:
            return self.bind(self.L(v.name), f"gate_seq[t, {k}]")
        k = p.gate_of_net(v.name)
        if k is not None:
            if p.in_place:      # the pre-activation lives where its gate's output will
                g = p.gates[k]
                return self.var(Var(g.out, "state" if g.is_state else "inter", ("H",), 0))
            return self.bind(self.L(v.name), f"net_seq[t, {k}]")
        if v.name in p.cached_vars:
            return self.bind(self.L(v.name), f"{self.L(v.name + '_seq')}[t]")
        if self.mode == "backward":
            raise ValueError(f"codegen: the backward pass reads {v.name}_t, which is not kept")
        return self.L(v.name)

    def one_minus(self, gate):
        """The local holding 1 − g_t for a sigmoid gate g (kept beside g_t)."""
        k = self.plan.complements[gate]
        name = self.L(("one_minus", gate))
        return self.bind(name, f"complement_seq[t, {k}]" if k is not None else
                         f"{self.L(('one_minus_seq', gate))}[t]")

    def complement(self, n):
        """1 − g_t of a sigmoid gate g, as the complement kept beside g_t; else None."""
        if (isinstance(n, OneMinus) and isinstance(n.a, Var) and n.a.time == 0
                and n.a.name in self.plan.complements):
            return Ref(self.one_minus(n.a.name))
        return None

    def act_name(self, fn):
        return "np.tanh" if fn.name == "tanh" else self.plan.helpers[fn.name]

    def act(self, fn, arg):
        """The activation fn of the code arg, as an expression."""
        return f"{self.act_name(fn)}({arg})"

    def act_into(self, fn, arg, out, complement=None, note=""):
        """The activation fn of arg written into out (and 1 − σ into complement)."""
        return Into(self.act_name(fn), (arg,), out, (("complement", complement),), note)

    def code(self, e):
        return self.printer.doprint(e)

    def comment(self, lhs, rhs, note=""):
        return Comment(f"{self.tp.doprint(lhs)} = {self.tp.doprint(rhs)}{note}")

    # -- statements -----------------------------------------------------------------

    def assign(self, target, e):
        """Statements writing the value of e into the existing array `target`."""
        c = self.code
        if isinstance(e, Act):
            return [self.act_into(e.fn, c(e.a), target)]
        if isinstance(e, Had):
            first, second, *rest = e.factors
            return [Into("np.multiply", (c(first), c(second)), target)] + [Aug(target, "*", c(f)) for f in rest]
        if isinstance(e, Add):
            first, second, *rest = e.terms
            if isinstance(first, (Had, Act, MatVec)):
                out, rest = self.assign(target, first), [second] + rest
            elif isinstance(second, Neg):
                out = [Into("np.subtract", (c(first), c(second.a)), target)]
            else:
                out = [Into("np.add", (c(first), c(second)), target)]
            return out + self.accumulate(target, rest)
        if isinstance(e, OneMinus) and sigmoid_complement(e) and not self.complex_safe:
            return [self.act_into(e.a.fn, "-" + self.printer.paren(e.a.a, MUL + 1), target)]    # σ(−u)
        if isinstance(e, OneMinus):
            return [Into("np.subtract", ("1", c(e.a)), target)]
        if isinstance(e, Neg):
            return [Into("np.negative", (c(e.a),), target)]
        if isinstance(e, MatVec):
            return [Into("np.matmul", (f"{c(e.W)}{'.T' if e.transpose else ''}", c(e.v)), target)]
        return [Assign(Sub(str(target), "..."), c(e))]

    def accumulate(self, target, more):
        return [Aug(target, "-", self.code(t.a)) if isinstance(t, Neg) else Aug(target, "+", self.code(t))
                for t in more]

    def lower(self, e):
        """e with kept subexpressions and grouped products replaced by the names holding them."""
        p = self.plan
        mapping = {n: Ref(name) for n, name in p.cached.items()
                   if self.mode == "backward" or n in self.materialized}
        if self.mode == "backward":
            mapping.update({n: Ref(f"{p.groups['x'].proj}[t, {k}]") for n, k in p.x_read_back.items()})
            mapping.update({n: Ref(name) for n, name in p.factors.items()})
        e = substitute(e, mapping)
        held = {m.code for m in nodes(e) if isinstance(m, Ref)}
        for n, name in p.cached.items():
            if n in mapping and name in held:
                self.bind(name, f"{self.L(name + '_seq')}[t]")
        if self.mode == "backward":
            for k, name in enumerate(p.factors.values()):
                if name in held:
                    self.bind(name, f"factor_seq[t, {k}]")
        e = transform(e, self.complement)

        def project(n):
            if isinstance(n, MatVec) and isinstance(n.W, Var) and not n.transpose:
                for key, g in p.groups.items():
                    if n.v == g.vec and n.W.name in g.weights:
                        k = g.weights.index(n.W.name)
                        if key == "x":
                            return Ref(f"{g.proj}[t, {p.x_extra.index(k)}]")
                        return Ref(f"{g.proj}[{k}]")
            return None
        return transform(e, project) if self.mode == "forward" else transform(e, factor_out)

    def bindings(self):
        """Assignments for the names the loop body uses: a whole step of a stacked
        buffer unpacked at once, the rest a few to a line."""
        out = []
        stacked = {"gate_seq": [self.L(g.out) for g in self.plan.stacked_gates],
                   "net_seq": [self.L(g.net) for g in self.plan.gates],
                   "delta_seq": list(self.plan.stored_names),
                   "factor_seq": list(self.plan.factors.values()),
                   "complement_seq": [self.L(("one_minus", g)) for g in self.kept_complements()]}
        for base, names in stacked.items():
            if any(code.startswith(base + "[") for code in self.bound.values()):
                out.append(Assign(tuple(names), Sub(base, ":, :, t" if base == "delta_seq" else "t")))
        rest = [(n, c) for n, c in self.bound.items() if not c.startswith(tuple(b + "[" for b in stacked))]
        for k in range(0, len(rest), 3):
            chunk = rest[k:k + 3]
            out.append(Assign(tuple(n for n, _ in chunk) if len(chunk) > 1 else chunk[0][0],
                              ", ".join(c for _, c in chunk)))
        return out

    # -- the module -------------------------------------------------------------------

    def module(self, docstring=None, prefix=""):
        """The module's source; a network's module passes its own docstring and
        names the cell's functions prefix + forward, prefix + backward."""
        p, cell = self.plan, self.plan.cell
        shapes = ",\n          ".join(f'"{n}": {tuple(v.shape)!r}' for n, v in cell.params.items())
        head = [docstring or self.docstring(), "import numpy as np", "",
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
        printer = PythonPrinter()
        for function in (self.forward(), self.backward()):
            function.name = prefix + function.name
            text += "\n\n" + printer.source([function]) + "\n"
        return text

    def helper(self, fn):
        builtin = activations.BUILTIN.get(fn.name)
        if builtin is not None and builtin.expr == fn.expr:
            key = fn.name + "/complex"
            return runtime.ACTIVATIONS[key if self.complex_safe and key in runtime.ACTIVATIONS else fn.name]
        if self.complex_safe and not_analytic(fn.expr):
            raise NotAnalytic(f"activation {fn.name} = {fn.expr} is not complex-analytic (Abs, Max, "
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
                 "regenerate it rather than edit it.  Needs only NumPy.  x is (T, B, D),",
                 f"{states0} are (B, H) (zeros when omitted), h is (T, B, H); parameters are named",
                 "and shaped as printed.  Inside, each step's vectors are column blocks (H, B),",
                 "a column per sequence (feature-major), so W v is W @ v and one GEMM covers",
                 "a stack of weights.",
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


def emitter(cell, complex_safe=False, dtype="float64"):
    """The Emitter for a cell (a Cell, a built-in name or a Derivation), its input refused
    with a ValueError when the kernel cannot hold it."""
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
    return Emitter(d, complex_safe=complex_safe, dtype=dtype)


def emit(cell, complex_safe=False, dtype="float64"):
    """The generated module's source for a cell (a Cell, a built-in name or a Derivation)."""
    return emitter(cell, complex_safe, dtype).module()


def _refuse_clashing_names(cell):
    """The kernel names its buffers after the cell's (h_seq, h_prev, delta_f,
    W_x_stack, ...): a cell name of that form would share a variable."""
    names = set(cell.params) | {v.name for v, _ in cell.equations} | set(cell.states) | {cell.x}
    derived = ("_seq", "_prev", "_carried", "_rows", "_cols", "_stack", "_proj")
    arguments = {s + "0" for s in cell.states} | {"params", "cache", "dh", "dcT", "grads"}
    bad = sorted(n for n in names if n.startswith("delta_") or n in arguments - {cell.x}
                 or any(n == m + tail for m in names | {"W_x", "W_h", "x"} for tail in derived))
    if bad:
        raise ValueError(f"cell {cell.name}: {', '.join(bad)} would clash with a name the kernel uses "
                         "(its arguments params, cache, dh, dcT, h0, ...; buffers …_seq, …_prev, delta_…); rename it")
