"""The cell IR: ordered SSA equations over shaped vector and matrix symbols.

A cell file builds its equations with ordinary operators:
``W @ v`` is a matrix-vector product, ``a + b`` a sum (bias add included),
``a * b`` the Hadamard product, ``1 - v`` one minus v, ``sigmoid(v)`` an
elementwise activation.  The same node classes also carry the derivation's
results (transposed products, outer products, named deltas), so printers,
the code emitter and the interpreter read one data structure.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields, is_dataclass, replace

import sympy

# metadata of a field holding a tuple of operands (Add.terms, Had.factors);
# a field annotated Expr holds one operand; every other field is a parameter
OPERANDS = {"operands": True}


class Expr:
    """Base of every node.  Operators build forward expressions."""

    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __sub__(self, other):
        return add(self, neg(other))

    def __rsub__(self, other):
        if other == 1:
            return OneMinus(self)
        raise TypeError("only 1 - v is an op; write the difference as a + (-b)")

    def __neg__(self):
        return neg(self)

    def __mul__(self, other):
        return had(self, other)

    def __matmul__(self, other):
        return MatVec(self, other)

    def children(self):
        """The operands, read off the dataclass fields (see OPERANDS)."""
        out = []
        for name, many in operand_fields(type(self)):
            v = getattr(self, name)
            out.extend(v) if many else out.append(v)
        return tuple(out)

    def rebuild(self, kids):
        """The same node over new operands (in children() order)."""
        kids = iter(kids)
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, many in operand_fields(type(self)):
            kw[name] = tuple(next(kids) for _ in kw[name]) if many else next(kids)
        return type(self).make(**kw)

    @classmethod
    def make(cls, **kw):
        """Construct from fields; Add, Had and Neg flatten through add, had, neg."""
        return cls(**kw)


@functools.lru_cache(maxsize=None)
def operand_fields(cls):
    """((field name, is a tuple of operands), ...) of a node class."""
    if not is_dataclass(cls):
        return ()
    return tuple((f.name, bool(f.metadata.get("operands"))) for f in fields(cls)
                 if f.metadata.get("operands") or f.type in ("Expr", Expr))


# --- leaves -----------------------------------------------------------------

@dataclass(frozen=True)
class Var(Expr):
    """A named symbol.  kind: param | input | state | inter.

    time is relative to the current step t (0 = t, -1 = t-1); None for
    parameters, which are shared by every step.
    """
    name: str
    kind: str
    shape: tuple
    time: int | None = 0

    def at(self, time):
        return Var(self.name, self.kind, self.shape, time)


@dataclass(frozen=True)
class Delta(Expr):
    """δ of a named forward variable: ∂E/∂var at step t+time (total)."""
    name: str
    time: int = 0
    gate: bool = False      # δ_{f,t} = ∂E/∂net_{f,t} (the gate's pre-activation)


@dataclass(frozen=True)
class Direct(Expr):
    """∂ℓ_t/∂s_t: the loss term of step t+time differentiated w.r.t. state s."""
    name: str
    time: int = 0


@dataclass(frozen=True)
class Next(Expr):
    """The adjoint of state s_t handed back by step t+1 (the carry)."""
    name: str


# --- forward ops ------------------------------------------------------------

@dataclass(frozen=True)
class Add(Expr):
    terms: tuple = field(metadata=OPERANDS)

    @classmethod
    def make(cls, terms):
        return add(*terms)



@dataclass(frozen=True)
class Neg(Expr):
    a: Expr

    @classmethod
    def make(cls, a):
        return neg(a)



@dataclass(frozen=True)
class Had(Expr):
    """Hadamard (elementwise) product, printed ⊙."""
    factors: tuple = field(metadata=OPERANDS)

    @classmethod
    def make(cls, factors):
        return had(*factors)



@dataclass(frozen=True)
class OneMinus(Expr):
    a: Expr



@dataclass(frozen=True)
class MatVec(Expr):
    """W v, or Wᵀ v when transpose is set."""
    W: Expr
    v: Expr
    transpose: bool = False



@dataclass(frozen=True)
class Act(Expr):
    """An elementwise activation applied to a vector."""
    fn: object          # activations.Activation
    a: Expr



# --- nodes that only derivations produce -----------------------------------

@dataclass(frozen=True)
class Outer(Expr):
    """a bᵀ: a weight gradient's contribution at one step."""
    a: Expr
    b: Expr



@dataclass(frozen=True)
class Pow(Expr):
    """Elementwise power with a positive integer exponent."""
    a: Expr
    n: int



@dataclass(frozen=True)
class Scale(Expr):
    """A scalar constant times a vector."""
    k: object           # sympy Rational
    a: Expr



@dataclass(frozen=True)
class Map(Expr):
    """A scalar SymPy expression in x applied elementwise to a (fallback form)."""
    expr: object
    x: object
    a: Expr



# --- smart constructors: flatten, drop nothing-terms ------------------------

def add(*terms):
    out = []
    for t in terms:
        if t is None or t == 0:
            continue
        out.extend(t.terms if isinstance(t, Add) else (t,))
    if not out:
        return None
    return out[0] if len(out) == 1 else Add(tuple(out))


def factor_common(e):
    """a ⊙ b − a ⊙ c  ->  a ⊙ (b − c): pull a shared leading factor out of a sum."""
    if not isinstance(e, Add):
        return e
    parts = []
    for t in e.terms:
        sign, body = (-1, t.a) if isinstance(t, Neg) else (1, t)
        if not isinstance(body, Had):
            return e
        parts.append((sign, body.factors))
    first = parts[0][1][0]
    if any(f[0] != first for _, f in parts):
        return e
    rest = [had(*f[1:]) if s > 0 else neg(had(*f[1:])) for s, f in parts]
    return had(first, add(*rest))


def neg(a):
    if isinstance(a, Neg):
        return a.a
    return Neg(a)


def had(*factors):
    out, sign = [], 1
    for f in factors:
        if isinstance(f, Neg):
            sign, f = -sign, f.a
        out.extend(f.factors if isinstance(f, Had) else (f,))
    e = out[0] if len(out) == 1 else Had(tuple(out))
    return e if sign > 0 else Neg(e)


def transform(e, fn):
    """Rebuild e bottom-up, replacing each node n by fn(n) (identity if None)."""
    kids = e.children()
    new = [transform(k, fn) for k in kids]
    if any(n is not k for n, k in zip(new, kids)):
        e = e.rebuild(new)
    r = fn(e)
    return e if r is None else r


def shift(e, k):
    """Move every time-indexed leaf of e by k steps (t -> t+k)."""
    def move(n):
        if isinstance(n, Var) and n.time is not None:
            return n.at(n.time + k)
        if isinstance(n, (Delta, Direct)):
            return replace(n, time=n.time + k)
        return None
    return transform(e, move)


def leaves(e):
    if isinstance(e, (Var, Delta, Direct, Next)):
        yield e
    for k in e.children():
        yield from leaves(k)


# --- the cell ----------------------------------------------------------------

@dataclass
class Cell:
    """A recurrent cell: parameters, one input x_t, states, ordered equations."""
    name: str
    states: tuple
    title: str = ""
    params: dict = field(default_factory=dict)       # name -> Var
    equations: list = field(default_factory=list)    # [(Var, Expr)]
    gates: dict = field(default_factory=dict)        # net var name -> gate name
    # what the tools need to know of the cell, declared (or inferred by
    # check()) instead of guessed from names: "memory" (a state carried by
    # ⊙ gate alone, the LSTM's c), "forget_gate" (that gate), "forget_bias"
    # (its bias: set very negative, it cuts the memory path)
    roles: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise ValueError(f"cell name {self.name!r} must be an identifier (letters, digits, _)")
        if isinstance(self.states, str) or not self.states or not all(
                isinstance(s, str) and s.isidentifier() for s in self.states):
            raise ValueError(f"cell {self.name}: states must be a tuple of names, e.g. states=('h', 'c'); "
                             f"got {self.states!r}")
        if len(set(self.states)) != len(self.states):
            raise ValueError(f"cell {self.name}: a state is named twice in {self.states}")
        self.states = tuple(self.states)

    def param(self, name, *shape):
        if not (isinstance(name, str) and name.isidentifier()):
            raise ValueError(f"parameter name {name!r} must be an identifier")
        if name in self.params:
            raise ValueError(f"parameter {name} declared twice")
        if name in self.states or name == getattr(self, "input_name", None):
            raise ValueError(f"parameter {name} has the name of a state or of the input; rename it")
        if shape not in (("H", "H"), ("H", "D"), ("H",)):
            dims = ", ".join(map(repr, shape))
            raise ValueError(f"parameter {name} has shape ({dims}); a cell's parameters are "
                             "(\"H\", \"H\"), (\"H\", \"D\") or (\"H\",): H the state size, D the input size")
        v = Var(name, "param", tuple(shape), None)
        self.params[name] = v
        return v

    def input(self, name="x"):
        if hasattr(self, "input_name"):
            raise ValueError(f"cell {self.name} already has the input {self.input_name}: a cell has one "
                             "input x_t; call cell.input() once and reuse what it returns")
        if not (isinstance(name, str) and name.isidentifier()) or name in self.states or name in self.params:
            raise ValueError(f"input name {name!r} must be an identifier that no state or parameter uses")
        self.input_name = name
        return Var(name, "input", ("D",), 0)

    def declare(self, memory=None, forget_gate=None):
        """Say which state is the memory and which gate forgets it; the
        forget gate's bias is read off its pre-activation."""
        if memory is not None:
            self.roles["memory"] = memory
        if forget_gate is not None:
            self.roles["forget_gate"] = forget_gate
        return self

    def prev(self, state):
        if state not in self.states:
            raise ValueError(f"{state} is not a state of {self.name}: {self.states}")
        return Var(state, "state", ("H",), -1)

    def let(self, name, expr):
        """name_t = expr.  An activation of a compound argument gets its
        argument named net_<name>, whose delta is the gate's δ_{name,t}."""
        if any(v.name == name for v, _ in self.equations):
            raise ValueError(f"{name} is assigned twice in {self.name}")
        if isinstance(expr, Act) and not isinstance(expr.a, Var):
            net = self.let("net_" + name, expr.a)
            self.gates[net.name] = name
            expr = Act(expr.fn, net)
        kind = "state" if name in self.states else "inter"
        shape = shape_of(expr)
        if kind == "state" and shape != ("H",):
            raise ValueError(f"state {name} must have length H, but its expression has length {shape[0]}")
        v = Var(name, kind, shape, 0)
        self.equations.append((v, expr))
        return v

    @property
    def x(self):
        return getattr(self, "input_name", "x")

    def check(self):
        """Every state must be assigned; every symbol used must exist."""
        assigned = {v.name for v, _ in self.equations}
        missing = [s for s in self.states if s not in assigned]
        if missing:
            raise ValueError(f"cell {self.name}: state(s) {missing} never assigned")
        known = set()
        for v, e in self.equations:
            for leaf in leaves(e):
                if leaf.time == 0 and leaf.kind in ("inter", "state") and leaf.name not in known:
                    raise ValueError(f"cell {self.name}: {leaf.name}_t used before it is assigned")
            known.add(v.name)
        used = {leaf.name for _, e in self.equations for leaf in leaves(e) if leaf.kind == "param"}
        unused = [p for p in self.params if p not in used]
        if unused:
            raise ValueError(f"cell {self.name}: parameter(s) {unused} declared but never used")
        if not hasattr(self, "input_name"):
            raise ValueError(f"cell {self.name}: no input; x = cell.input() gives the input x_t")
        self.roles = _roles(self)
        return self


def _roles(cell):
    """Declared roles, checked; undeclared ones inferred: the memory is a
    state other than the output whose equation multiplies its previous
    value by a gate (c_t = f_t ⊙ c_{t−1} + …); the forget gate is that gate;
    its bias is the (H,) parameter of the gate's pre-activation."""
    roles = dict(cell.roles)
    eqs = {v.name: e for v, e in cell.equations}
    for key, names in (("memory", cell.states[1:]), ("forget_gate", eqs)):
        if key in roles and roles[key] not in names:
            raise ValueError(f"cell {cell.name}: declared {key} {roles[key]!r} is not "
                             f"{'a state after the output' if key == 'memory' else 'an equation'} of the cell")
    for s in ([roles["memory"]] if "memory" in roles else cell.states[1:]):
        for e in _products(eqs[s]):
            gates = [f.name for f in e.factors if isinstance(f, Var) and f.time == 0 and f.kind == "inter"]
            if any(isinstance(f, Var) and f.name == s and f.time == -1 for f in e.factors) and len(gates) == 1:
                roles.setdefault("memory", s)
                roles.setdefault("forget_gate", gates[0])
                break
        if "memory" in roles:
            break
    gate = roles.get("forget_gate")
    net = eqs.get("net_" + gate) if gate else None
    # the bias is added to the pre-activation (a peephole p_f ⊙ c_{t−1} is multiplied)
    terms = net.terms if isinstance(net, Add) else (net,) if net is not None else ()
    biases = [t.name for t in terms if isinstance(t, Var) and t.kind == "param" and t.shape == ("H",)]
    if len(biases) == 1:
        roles.setdefault("forget_bias", biases[0])
    return roles


def _products(e):
    """Every Hadamard product inside e."""
    if isinstance(e, Had):
        yield e
    for k in e.children():
        yield from _products(k)


def shape_of(e):
    """The shape of a forward expression, checking that operands agree."""
    if isinstance(e, Var):
        return e.shape
    if isinstance(e, MatVec):
        W, v = shape_of(e.W), shape_of(e.v)
        rows, cols = (W[1], W[0]) if e.transpose else W
        if v != (cols,):
            raise ValueError(f"matrix of shape ({', '.join(W)}) cannot multiply a vector of length {v[0]}")
        return (rows,)
    shapes = {shape_of(k) for k in e.children()}
    if len(shapes) != 1:
        raise ValueError(f"elementwise operands of different lengths: {sorted(s[0] for s in shapes)}")
    return shapes.pop()


def sym(name):
    """A plain SymPy scalar symbol (used for activation definitions)."""
    return sympy.Symbol(name, real=True)


# --- nodes for printing and evaluating gradients -----------------------------

@dataclass(frozen=True)
class GradOf(Expr):
    """∂E/∂target (the left side of a gradient equation)."""
    target: Var
    time: int | None = None      # absolute step for initial states (h_0)


@dataclass(frozen=True)
class TimeSum(Expr):
    """Σ_{t=1}^{T} a.  steps="last" keeps only t = T (the tutorial's slip)."""
    a: Expr
    steps: str = "all"



@dataclass(frozen=True)
class AtTime(Expr):
    """a evaluated at the absolute step `step` (for ∂E/∂h_0 = carry at t = 1)."""
    a: Expr
    step: int

