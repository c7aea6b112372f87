"""The generated module's statements as data, and the printer that writes them.

The emitter builds a list of these nodes; `PythonPrinter` writes each with a
`_print_<Node>` method, the way SymPy's printers write expressions.  Values
inside statements are code already printed by `values.NumpyPrinter`, or a
`Sub` (a buffer subscript, kept as parts so that nothing re-parses it).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from sympy.printing.printer import Printer

WIDTH = 110


@dataclass(frozen=True)
class Sub:
    """base[index] (the whole of base when index is None)."""
    base: str
    index: str = None

    def __str__(self):
        return self.base if self.index is None else f"{self.base}[{self.index}]"


def subscript(base, run, size, step=None):
    """base[run] (base[t, run] with step "t"), or the whole of base (base[t])."""
    code = run.code(size)
    if code is None:
        return Sub(base, step)
    return Sub(base, f"{step}, {code}" if step else code)



@dataclass
class Comment:
    text: str


@dataclass
class Assign:
    """target = value, target a name, a subscript or several names (unpacked)."""
    target: object
    value: object
    note: str = ""


@dataclass
class Into:
    """fn(args, out=target, kw...): a NumPy call writing into an existing array."""
    fn: str
    args: tuple
    out: object
    kw: tuple = ()          # (name, code) pairs after out=
    note: str = ""


@dataclass
class Aug:
    """target op= value."""
    target: object
    op: str
    value: object
    note: str = ""


@dataclass
class Listing:
    """head + items joined by commas + tail: one line, or wrapped when long."""
    head: str
    items: list
    tail: str


@dataclass
class Loop:
    var: str
    over: str
    body: list


@dataclass
class Guard:
    """if condition: raise ValueError(message)."""
    condition: str
    message: str


@dataclass
class Return:
    value: object


@dataclass
class Function:
    name: str
    args: str
    doc: list              # the docstring's lines, quotes included
    body: list = field(default_factory=list)


def _note(note):
    return f"    # {note}" if note else ""


class PythonPrinter(Printer):
    """Statements as lines of Python, indented; a long line's trailing comment
    moves above it and a long comment wraps, so that the file stays readable."""
    printmethod = "_python_code"

    def __init__(self):
        super().__init__()
        self.indent = ""

    def lines(self, statements, deeper=""):
        outer, self.indent = self.indent, self.indent + deeper
        try:
            return [line for s in statements for line in self._print(s)]
        finally:
            self.indent = outer

    def source(self, statements):
        return "\n".join(tidy(self.lines(statements)))

    def line(self, text):
        return [self.indent + text]

    def _print_str(self, s):        # a statement the emitter wrote as code
        return self.line(s)

    def _print_Comment(self, s):
        return self.line(f"# {s.text}")

    def _print_Assign(self, s):
        target = s.target
        if isinstance(target, (tuple, list)):
            target = ", ".join(map(str, target)) + ("," if len(target) == 1 else "")
        if isinstance(s.value, Listing):
            return wrap(f"{self.indent}{target} = {s.value.head}", s.value.items, s.value.tail)
        return self.line(f"{target} = {s.value}{_note(s.note)}")

    def _print_Into(self, s):
        args = ", ".join(map(str, s.args))
        kw = "".join(f", {k}={v}" for k, v in s.kw if v is not None)
        return self.line(f"{s.fn}({args}, out={s.out}{kw}){_note(s.note)}")

    def _print_Aug(self, s):
        return self.line(f"{s.target} {s.op}= {s.value}{_note(s.note)}")

    def _print_Listing(self, s):
        return wrap(self.indent + s.head, s.items, s.tail)

    def _print_Loop(self, s):
        return self.line(f"for {s.var} in {s.over}:") + self.lines(s.body, "    ")

    def _print_Guard(self, s):
        return self.line(f"if {s.condition}:") + self.line(f"    raise ValueError({s.message})")

    def _print_Return(self, s):
        if isinstance(s.value, Listing):
            return wrap(f"{self.indent}return {s.value.head}", s.value.items, s.value.tail)
        return self.line(f"return {s.value}")

    def _print_Function(self, s):
        head = self.line(f"def {s.name}({s.args}):")
        return head + [self.indent + "    " + line if line else line for line in s.doc] + self.lines(s.body, "    ")


def wrap(head, items, tail, width=WIDTH):
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


def tidy(lines, width=WIDTH):
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
