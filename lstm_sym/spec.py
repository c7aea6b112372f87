"""`.cell` text specs -> ir.Cell, built without executing the text.

    # JANET: a forget-gate-only LSTM      (# starts a comment, anywhere)
    name: janet                 optional; default: the file's stem
    title: JANET                optional
    states: h                   required; the first state is the output
    param b_f: (H,)             optional; (H, H), (H, D) or (H,)
    f = sigmoid(W_fh @ h + W_fx @ x + b_f)
    h = f * h + (1 - f) * tanh(W_ch @ h + W_cx @ x + b_c)

Each right-hand side goes through ast.parse and a walk over a whitelist of
node types; nothing is evaluated.  x is the input.  A state means the
previous step's value until the line that assigns it, the new value after.
Any other name that no line assigns is a parameter: `P @ v` makes it (H, len v),
any other use (H,).  Parameters are ordered by first mention (a `param` line
or a use, whichever comes first), so a spec that mentions them in the order a
.py cell declares them builds the identical Cell.  The only number is the 1
of `1 - v`: the forward IR has no scalar-times-vector op (ir.Scale is made
by derivations only, and the verifiers do not expand it).
"""
from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass
from pathlib import Path

from . import activations
from .ir import Cell

MAX_LINE = 2000      # real equations are < 200 characters; refuse floods before ast sees them
MAX_DEPTH = 100      # keeps our walk, Cell.let and derive far from the recursion limit
SHAPES = {("H", "H"), ("H", "D"), ("H",)}
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"   # ASCII only: names become identifiers in generated code
ALLOWED = "names, + - * @, unary -, parentheses, activation calls and the 1 of `1 - v`"
OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.MatMult: "@", ast.Pow: "**", ast.Div: "/",
       ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
       ast.BitAnd: "&", ast.BitXor: "^"}
NODES = {ast.Attribute: "attribute access", ast.Subscript: "a subscript", ast.Lambda: "a lambda",
         ast.IfExp: "a conditional expression", ast.Compare: "a comparison",
         ast.BoolOp: "`and`/`or`", ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict",
         ast.Set: "a set", ast.NamedExpr: "`:=`", ast.JoinedStr: "an f-string",
         ast.Starred: "`*` unpacking", ast.Slice: "a slice", ast.Await: "`await`"}


class SpecError(ValueError):
    """A bad spec: `FILE:LINE:COL: what is wrong`, always one line."""

    def __init__(self, filename, line, col, msg):
        self.filename, self.line, self.col, self.msg = str(filename), line, col, msg
        text = f"{filename}:{line}:{col}: {msg}"
        super().__init__(re.sub(r"[\x00-\x1f\x7f\x85\u2028\u2029]", lambda m: repr(m.group())[1:-1], text))


def load_spec(path) -> Cell:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise SpecError(path, 1, 1, f"cannot read the spec: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        head = data[:e.start]
        col = len(head[head.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
        raise SpecError(path, head.count(b"\n") + 1, col,
                        f"byte 0x{data[e.start]:02x} is not UTF-8; save the file as UTF-8") from None
    return parse_spec(text, str(path))


def parse_spec(text: str, filename: str = "<spec>") -> Cell:
    return _Spec(text, filename).build()


@dataclass
class _Eq:
    name: str
    line: int
    col: int        # 1-based column of the name
    col0: int       # 0-based column where the right-hand side starts
    rhs: str
    tree: ast.Expression = None
    length: str = ""    # H or D, once pass 1 has read the line


def _shape(s):
    return f"({', '.join(s)}{',' if len(s) == 1 else ''})"


class _Spec:
    def __init__(self, text, filename):
        self.file = filename
        self.keys, self.decls, self.eqs, self.at = {}, {}, [], {}   # at: name -> index of its _Eq
        for n, raw in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
            self.statement(raw.removesuffix("\r"), n)

    def fail(self, line, col, msg):
        raise SpecError(self.file, line, col, msg)

    # --- lines ----------------------------------------------------------------

    def statement(self, line, n):
        if len(line) > MAX_LINE:
            self.fail(n, MAX_LINE + 1, f"line is {len(line)} characters long; the limit is {MAX_LINE}")
        bad = re.search(r"[\x00-\x08\x0a-\x1f\x7f]", line)   # also keeps ast on one line
        if bad:
            self.fail(n, bad.start() + 1, f"control character {bad.group()!r} in the line; remove it")
        code = line.split("#", 1)[0]
        s = code.strip()
        if not s:
            return
        off = len(code) - len(code.lstrip())
        if m := re.match(rf"({IDENT})\s*=(?!=)(\s*)", s):
            return self.assign(m.group(1), s[m.end():], n, off + 1, off + m.end())
        if m := re.match(rf"({IDENT})\s*:(\s*)", s):
            key, col = m.group(1), off + m.end() + 1
            if key not in ("name", "title", "states"):
                self.fail(n, off + 1, f"unknown key `{key}:`; the keys are name:, title:, states: "
                          f"(declare a parameter as `param {key}: (H, H)`)")
            if key in self.keys:
                self.fail(n, off + 1, f"`{key}:` given twice (first on line {self.keys[key][1]})")
            self.keys[key] = (s[m.end():], n, col)
            return
        if m := re.fullmatch(rf"param\s+({IDENT})\s*:\s*(\(.*\))", s):
            return self.declare(m.group(1), m.group(2), n, off + m.start(1) + 1, off + m.start(2))
        what = "a `param` line" if s.startswith("param") else "the line"
        self.fail(n, off + 1, f"cannot read {what}: expected `name = expression`, `key: value` "
                  f"or `param NAME: (H, H)` / `(H, D)` / `(H,)`")

    def check_name(self, name, n, col, role):
        if name.startswith("__"):       # __builtins__ & co. mean something to Python; keep them out of generated code
            self.fail(n, col, f"`{name}`: names starting with __ are reserved; pick another {role} name")
        if keyword.iskeyword(name):
            self.fail(n, col, f"`{name}` is a Python keyword; pick another {role} name")
        if name == "x":
            self.fail(n, col, f"x is the input; it cannot be a {role}")
        if name in activations.BUILTIN:
            self.fail(n, col, f"{name} is an activation; pick another {role} name")

    def declare(self, name, text, n, col, col0):
        self.check_name(name, n, col, "parameter")
        if name in self.decls:
            self.fail(n, col, f"parameter {name} declared twice (first on line {self.decls[name][1]})")
        parts, dims, pos = text[1:-1].split(","), [], col0 + 2
        if len(parts) > 1 and not parts[-1].strip():
            parts.pop()                       # (H,) has a trailing comma
        for p in parts:
            d = p.strip()
            if d not in ("H", "D"):
                self.fail(n, pos + len(p) - len(p.lstrip()),
                          f"unknown dim `{d}` in the shape of {name}; dims are H and D" if d
                          else f"missing dim in the shape of {name}")
            dims.append(d)
            pos += len(p) + 1
        if tuple(dims) not in SHAPES:
            self.fail(n, col0 + 1, f"shape {text} is not supported; a parameter is (H, H), (H, D) or (H,)")
        self.decls[name] = (tuple(dims), n, col)

    def assign(self, name, rhs, n, col, col0):
        self.check_name(name, n, col, "variable")
        if name in self.at:
            self.fail(n, col, f"{name} is assigned twice (first on line {self.eqs[self.at[name]].line}); "
                      "give one of them another name")
        col0 += len(rhs) - len(rhs.lstrip())
        rhs = rhs.strip()
        if not rhs:
            self.fail(n, col0 + 1, f"nothing after `{name} =`")
        if bad := re.search(r"[^\x00-\x7f]", rhs):    # names are ASCII; ast would NFKC-fold them
            self.fail(n, col0 + bad.start() + 1, f"non-ASCII character {bad.group()!r}; names are "
                      "ASCII letters, digits and _")
        try:
            tree = ast.parse(rhs, mode="eval")
        except SyntaxError as e:
            at = e.offset if e.offset and 0 < e.offset <= len(rhs) else len(rhs) + 1
            self.fail(n, col0 + at, f"syntax error: {e.msg}")
        except (ValueError, RecursionError, MemoryError):
            self.fail(n, col0 + 1, "expression too deeply nested; split it over several lines")
        self.at[name] = len(self.eqs)
        self.eqs.append(_Eq(name, n, col, col0, rhs, tree))

    # --- whole spec -----------------------------------------------------------

    def header(self):
        if not (self.keys or self.decls or self.eqs):
            self.fail(1, 1, "empty spec: expected `states: h` and equations `name = expression`")
        if "states" not in self.keys:
            self.fail(1, 1, "no `states:` line; add one, e.g. `states: h, c` (the first is the output)")
        text, n, col = self.keys["states"]
        states = []
        for m in re.finditer(r"[^,\s]+", text):
            s, c = m.group(), col + m.start()
            if not re.fullmatch(IDENT, s):
                self.fail(n, c, f"`{s}` is not a state name; list names separated by commas")
            self.check_name(s, n, c, "state")
            if s in states:
                self.fail(n, c, f"state {s} listed twice")
            if s not in self.at:
                self.fail(n, c, f"state {s} is never assigned; add a line `{s} = ...`")
            states.append(s)
        if not states:
            self.fail(n, col, "`states:` lists no state; e.g. `states: h, c`")
        name, n, col = self.keys.get("name", (None, 0, 0))
        if name is None:
            name = re.sub(r"[^A-Za-z0-9_]+", "_", Path(self.file).stem).strip("_") or "cell"
            name = "cell_" + name if name[0].isdigit() or keyword.iskeyword(name) else name
        elif not re.fullmatch(IDENT, name) or keyword.iskeyword(name):
            self.fail(n, col, f"cell name `{name}` must be an identifier (letters, digits, _)")
        return name, tuple(states)

    def reserve(self):
        """Cell.let names an activation's compound argument net_<name> (and
        recurses): those names must be free, or let/derive would collide."""
        self.reserved = {}
        for eq in self.eqs:
            name, node = eq.name, eq.tree.body
            while (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                   and node.func.id in activations.BUILTIN and len(node.args) == 1
                   and not isinstance(node.args[0], ast.Name)):
                name, node = "net_" + name, node.args[0]
                self.reserved[name] = eq
        for name, eq in self.reserved.items():
            if name in self.at or name in self.decls:
                other = self.eqs[self.at[name]] if name in self.at else None
                line, col = (other.line, other.col) if other else self.decls[name][1:]
                self.fail(line, col, self.reserved_msg(name))

    def reserved_msg(self, name):
        eq = self.reserved[name]
        return (f"{name} is the name lstm-sym gives the compound argument of the activation on "
                f"line {eq.line} ({eq.name} = ...); rename it, or assign `{name} = ...` yourself "
                "and apply the activation to it")

    def build(self):
        name, self.states = self.header()
        self.reserve()
        self.shapes, self.first = {}, {}      # param -> (shape, line, how); param -> first mention
        for p, (shape, n, col) in self.decls.items():
            self.first[p] = (n, col)
        for i, eq in enumerate(self.eqs):
            self.i, self.eq = i, eq
            length = self.infer(eq.tree.body, 0)
            if eq.name in self.states and length != "H":
                self.fail(eq.line, eq.col0 + 1, f"state {eq.name} must have length H, but its "
                          f"right-hand side has length {length}")
            eq.length = length
        for p, (shape, n, col) in self.decls.items():
            if p not in self.shapes:
                self.fail(n, col, f"parameter {p} is declared but never used; remove the line")
        title = self.keys.get("title", ("",))[0]
        cell = Cell(name, states=self.states, title=title)
        env = {"x": cell.input("x"), **{s: cell.prev(s) for s in self.states}}
        for p in sorted(self.first, key=self.first.get):
            env[p] = cell.param(p, *self.decls.get(p, self.shapes.get(p))[0])
        for eq in self.eqs:
            try:
                env[eq.name] = cell.let(eq.name, self.make(eq.tree.body, env))
            except (ValueError, TypeError, RecursionError) as e:   # pass 1 should have caught it
                self.fail(eq.line, eq.col0 + 1, f"cannot build {eq.name}: {e}")
        try:
            return cell.check()
        except ValueError as e:
            self.fail(1, 1, str(e))

    # --- pass 1: names, whitelist, lengths, parameter shapes ------------------

    def col(self, node, offset=None):
        # ast offsets are UTF-8 bytes, but the right-hand side is ASCII (checked above)
        return self.eq.col0 + (node.col_offset if offset is None else offset) + 1

    def seg(self, node):
        s = ast.get_source_segment(self.eq.rhs, node) or ""
        return s if len(s) <= 40 else s[:37] + "..."

    def here(self, node, msg, offset=None):
        if isinstance(node, ast.Attribute) and offset is None:
            offset = node.end_col_offset - len(node.attr)     # point at the attribute's name
        self.fail(self.eq.line, self.col(node, offset), msg)

    def resolve(self, node):
        """What a name means on the current line: input, state_prev, var or param."""
        name = node.id
        if name == "x":
            return "input"
        if name in activations.BUILTIN:
            self.here(node, f"{name} is an activation; call it, as in {name}(v)")
        if name in self.at:
            j = self.at[name]
            if j < self.i:
                return "var"
            if name in self.states:
                return "state_prev"
            return self.forward_use(node, j)
        if name in self.reserved:
            self.here(node, self.reserved_msg(name))
        self.check_name(name, self.eq.line, self.col(node), "parameter")
        return "param"

    def forward_use(self, node, j):
        name, me, later = node.id, self.eq.name, self.eqs[j]
        if j == self.i:
            self.here(node, f"{name} is used in its own definition; only a state may use itself "
                      "(meaning its previous value)")
        path, todo = {name: None}, [name]      # search name's uses for a way back to this line
        while todo:
            k = self.at[todo.pop()]
            for m in ast.walk(self.eqs[k].tree):
                u = m.id if isinstance(m, ast.Name) else None
                if u in self.at and u not in path and (self.at[u] < k or u not in self.states):
                    path[u] = self.eqs[k].name
                    todo.append(u)
        if me in path:
            chain = [me]
            while chain[-1] != name:
                chain.append(path[chain[-1]])
            loop = " -> ".join([me] + chain[::-1])
            self.here(node, f"cycle: {loop}; {me} uses {name} (assigned on line {later.line}), "
                      f"which depends on {me}; break the cycle")
        self.here(node, f"{name} is used before it is assigned (on line {later.line}); "
                  f"move line {later.line} above line {self.eq.line}")

    def use_param(self, node, shape, how):
        name, line = node.id, self.eq.line
        self.first[name] = min(self.first.get(name, (line, self.col(node))), (line, self.col(node)))
        if name in self.decls and self.decls[name][0] != shape:
            want, n, _ = self.decls[name]
            self.here(node, f"{name} is declared {_shape(want)} on line {n}, but {how} needs {_shape(shape)}")
        have = self.shapes.setdefault(name, (shape, line, how))
        if have[0] != shape:
            self.here(node, f"parameter {name} is used as {_shape(shape)} here ({how}) but as "
                      f"{_shape(have[0])} on line {have[1]} ({have[2]}); a parameter has one shape")

    def infer(self, node, depth):
        """The length (H or D) of a vector expression; refuses anything else."""
        if depth > MAX_DEPTH:
            self.here(node, f"expression nested more than {MAX_DEPTH} levels deep; split it over several lines")
        if isinstance(node, ast.Name):
            kind = self.resolve(node)
            if kind == "param":
                self.use_param(node, ("H",), "its use as a vector")
                return "H"
            if kind == "var":
                return self.eqs[self.at[node.id]].length
            return "D" if kind == "input" else "H"
        if isinstance(node, ast.BinOp):
            op = OPS.get(type(node.op), type(node.op).__name__)
            gap = self.eq.rhs[node.left.end_col_offset:node.right.col_offset]
            at = node.left.end_col_offset + max(gap.find(op), 0)     # point at the operator
            if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.MatMult)):
                self.here(node, f"`{op}` is not supported; an expression may use {ALLOWED}", at)
            if isinstance(node.op, ast.MatMult):
                W = node.left
                if not isinstance(W, ast.Name):
                    self.infer(W, depth + 1)          # refuse W[0], x.T, ... by name first
                    self.here(W, f"the left side of @ must be a parameter (a weight matrix), not `{self.seg(W)}`")
                kind = self.resolve(W)
                if kind != "param":
                    what = "the input" if kind == "input" else "a state" if kind == "state_prev" else "a vector"
                    self.here(W, f"the left side of @ must be a parameter (a weight matrix), but {W.id} is {what}")
                length = self.infer(node.right, depth + 1)
                self.use_param(W, ("H", length), f"`{self.seg(node)}`")
                return "H"
            if isinstance(node.op, ast.Sub) and isinstance(node.left, ast.Constant) and self.is_one(node.left):
                return self.infer(node.right, depth + 1)     # 1 - v: OneMinus
            a, b = self.infer(node.left, depth + 1), self.infer(node.right, depth + 1)
            if a != b:
                p = next((s.id for s in (node.left, node.right)
                          if isinstance(s, ast.Name) and self.resolve(s) == "param"), None)
                why = (f"{p} would need shape (D,), but a vector parameter is (H,)" if p else
                       "x has length D; states and parameters used as vectors have length H")
                self.here(node, f"`{op}` of vectors of lengths {a} and {b} in `{self.seg(node)}`: {why}", at)
            return a
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub):
                sym = {ast.UAdd: "unary +", ast.Not: "`not`", ast.Invert: "`~`"}[type(node.op)]
                self.here(node, f"{sym} is not supported; an expression may use {ALLOWED}")
            return self.infer(node.operand, depth + 1)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self.here(node, f"the number {self.seg(node)} is not supported here: the only number a "
                          "cell may use is the 1 of `1 - v` (the IR has no scalar-times-vector op)")
            what = {str: "a string", bytes: "a bytes literal", complex: "a complex number"}.get(type(v), repr(v))
            self.here(node, f"{what} is not allowed; an expression may use {ALLOWED}")
        what = NODES.get(type(node), f"`{type(node).__name__}`")
        if isinstance(node, ast.Attribute):
            what += f" `.{node.attr}`"
        elif isinstance(node, (ast.Subscript, ast.Lambda, ast.IfExp)):
            what += f" `{self.seg(node)}`"
        self.here(node, f"{what} is not allowed; an expression may use {ALLOWED}")

    @staticmethod
    def is_one(node):
        return type(node.value) in (int, float) and node.value == 1

    def call(self, node, depth):
        f = node.func
        if not isinstance(f, ast.Name):
            if isinstance(f, ast.Attribute):
                self.here(f, f"attribute access `.{f.attr}` is not allowed; only activations can be called")
            self.here(f, "only an activation can be called, by its name, as in tanh(v)")
        if f.id not in activations.BUILTIN:
            self.here(f, f"unknown function `{f.id}`; the activations are {', '.join(sorted(activations.BUILTIN))}")
        for k in node.keywords:
            self.here(k, f"keyword argument `{self.seg(k)}`: {f.id} takes one positional argument")
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.here(a, f"`*` unpacking is not allowed: {f.id} takes one positional argument")
        if len(node.args) != 1:
            self.here(node, f"{f.id} takes exactly one argument, got {len(node.args)}")
        return self.infer(node.args[0], depth + 1)

    # --- pass 2: the IR, with the same operators a .py cell uses ---------------

    def make(self, node, env):
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.UnaryOp):
            return -self.make(node.operand, env)
        if isinstance(node, ast.Call):
            return activations.BUILTIN[node.func.id](self.make(node.args[0], env))
        b = self.make(node.right, env)
        if isinstance(node.left, ast.Constant):
            return 1 - b
        a = self.make(node.left, env)
        op = type(node.op)
        return a + b if op is ast.Add else a - b if op is ast.Sub else a * b if op is ast.Mult else a @ b
