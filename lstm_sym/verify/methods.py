"""The check methods: one registry entry each.

An entry says what the method compares, its tolerance (and step) per dtype,
whether it differentiates the module's own forward (`own`) or referees it
against the cell, when it cannot run (`supports(cell, module)`: None, or
why not: the report then says "skipped: …") and how it runs.  `check` loops
over the entries; --method's help and the README table come from here.

Own-forward methods run together (check_numeric): `entry` gives one
gradient by differences of the forward (per-entry methods, interleaved per
gradient), `whole` gives rows for every input at once (directional).  The
others have `run(ctx)`, adding rows and notes to ctx.report, in registry
order after them; the proof (`proves`) runs last."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import referees
from .differences import central, complex_step, directional, richardson, roundoff
from .errors import compare, gradient_floor
from .problem import gradients, loss
from .report import Row
from .sandbox import Guarded, during

EXACT = {"float64": 1e-9, "float32": 1e-3}      # against exact referees (graph, torch, derivation)


def _always(cell, module):
    return None


@dataclass(frozen=True)
class Method:
    name: str
    what: str                       # what it compares, one line (help, README)
    tol: dict                       # dtype -> tolerance on the relative error; a dtype not here runs on float64
    step: dict = field(default_factory=dict)    # dtype -> step of the difference quotient
    own: bool = False               # differentiates the module's own forward (answers "backward:")
    default: bool = True            # runs without --method
    option: bool = True             # asked for by --method; False: joins by itself when supported
    proves: bool = False            # proves the derivation, not the code that runs it
    entry: Callable | None = None   # (module, prob, name, step) -> reference gradient of `name`
    whole: Callable | None = None   # (module, prob, grads, dtype, rng, level) -> rows
    run: Callable | None = None     # (ctx) -> None
    supports: Callable = _always    # (cell, module) -> None or why it cannot run
    skip: str = "{name}: skipped ({why})"       # the note when supports says no
    forwards: float = 0             # forwards per input entry (per-entry methods; complex: in complex arithmetic)
    quotients: int = 1              # difference quotients whose rounding adds up (0: exact, no rounding)
    complex: bool = False           # runs the complex-safe module on the float64 problem
    doing: str = ""                 # what was running, in a Guarded module's error
    label: str = ""                 # what was running, in --progress
    called: str = ""                # its name in prose (README)
    float64_note: str = ""          # said when the check's dtype is not in tol

    @property
    def prose(self):
        return self.called or self.name

    def tolerance(self, dtype):
        return self.tol.get(dtype, self.tol["float64"])


def _complex_supports(cell, module):
    if isinstance(module, Guarded) and not module.COMPLEX_SAFE:
        return ("it needs a complex-analytic forward; set COMPLEX_SAFE = True in your module if it has one "
                "(no abs, maximum, comparisons)")
    return None


REGISTRY = {m.name: m for m in (
    Method("symbolic", "the derivation itself, exactly: SymPy differentiates the scalar-expanded forward and "
           "every gate delta, recurrence and gradient must equal it over GF(2^61−1), one step and two steps",
           {"float64": 0.0, "float32": 0.0}, default=False, proves=True, run=referees.symbolic),
    Method("central", "central differences of the forward, entry by entry",
           {"float64": 1e-7, "float32": 2e-2}, {"float64": 1e-6, "float32": 1e-2}, own=True, entry=central, forwards=2,
           doing="central differences", label="central differences", called="central differences"),
    Method("richardson", "Richardson extrapolation of central differences (cancels the ε² term)",
           {"float64": 1e-9, "float32": 2e-2}, {"float64": 1e-3, "float32": 4e-2}, own=True, entry=richardson,
           forwards=4, quotients=3, doing="richardson differences", label="richardson", called="Richardson"),
    Method("complex", "the complex step Im L(θ + ih)/h, entry by entry: no subtraction, no cancellation",
           {"float64": 1e-12}, {"float64": 1e-20}, own=True, entry=complex_step, forwards=1, quotients=0,
           complex=True, supports=_complex_supports, skip="complex step skipped: {why}", doing="the complex step",
           label="complex step", called="complex step",
           float64_note="complex step runs in complex128 on the float64 problem"),
    Method("directional", "vᵀJu along one random direction over all inputs (two forwards, one backward); "
           "one more per input at small sizes or when it fails",
           {"float64": 1e-7, "float32": 2e-2}, {"float64": 1e-5, "float32": 1e-2}, own=True,
           whole=lambda *a: _directional_rows(*a), doing="the directional check", label="directional"),
    Method("graph", "reverse accumulation over the networkx graph of the unrolled scalar computation",
           EXACT, run=referees.graph),
    Method("torch", "PyTorch autograd on the same cell (torch.nn where it can express it)",
           EXACT, run=referees.torch, supports=referees.torch_supports),
    Method("derivation", "the derivation run by the interpreter; with --impl only, and it says where your "
           "backward goes wrong", EXACT, option=False, run=referees.derivation,
           supports=referees.derivation_supports),
)}

ALIASES = {"fd": ("central", "richardson")}
OWN = tuple(m.name for m in REGISTRY.values() if m.own)
PER_ENTRY = tuple(m.name for m in REGISTRY.values() if m.entry is not None)
SMALL = 20_000      # inputs with fewer entries in all get one direction each

# compatibility views: (method, dtype) -> step / tolerance of the own-forward methods
STEPS = {(m.name, dt): s for m in REGISTRY.values() for dt, s in m.step.items()}
TOLERANCES = {(m.name, dt): t for m in REGISTRY.values() if m.own for dt, t in m.tol.items()}


def with_aliases(names):
    """names with each alias in place of its members where all of them are there."""
    out = list(names)
    for alias, members in ALIASES.items():
        if all(m in out for m in members):
            at = out.index(members[0])
            out = [m for m in out if m not in members]
            out.insert(at, alias)
    return tuple(out)


def _listed():
    """--method's names: every option, each alias before its members."""
    out = []
    for m in REGISTRY.values():
        if m.option:
            out += [a for a, members in ALIASES.items() if members[0] == m.name] + [m.name]
    return tuple(out)


METHODS = _listed()
DEFAULT = with_aliases([m.name for m in REGISTRY.values() if m.option and m.default])


def spoken(names, word="and"):
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def parse_methods(text):
    """'fd,graph' -> ('fd', 'graph'); 'all' -> METHODS.  fd means central and
    richardson; each can also be asked for alone."""
    if text.strip() == "all":
        return METHODS
    got = tuple(m.strip() for m in text.split(","))
    bad = [m for m in got if m not in METHODS]
    if bad or not got:
        shown = ", ".join(repr(m) for m in bad) if bad else repr(text)
        raise ValueError(f"unknown method(s) {shown}; choose from {', '.join(METHODS)} or all "
                         f"({_alias_text()})")
    return got


def expand(methods):
    """The methods that run: fd becomes central and richardson."""
    out = []
    for m in methods:
        out += list(ALIASES.get(m, (m,)))
    return tuple(dict.fromkeys(out))


def _alias_text():
    return "; ".join(f"{a} = {spoken(ms)}" for a, ms in ALIASES.items())


def help_text():
    """--method's help."""
    left = [m for m in REGISTRY.values() if m.option and not m.default]
    return (f"comma-separated: {','.join(METHODS)}, or all ({_alias_text()}; default: all but "
            f"{spoken([m.name for m in left])})")


def check_numeric(module, prob, methods, dtype="float64", complex_module=None, seed=0, grads=None,
                  progress=None):
    """Rows comparing the module's backward with each own-forward method.
    progress(what, done, total, unit), if given, hears each gradient begin."""
    rows = []
    work = prob.astype(np.float32) if dtype == "float32" else prob
    grads = gradients(module, work) if grads is None else grads
    floor = gradient_floor(grads)
    level = abs(float(loss(module, work)))
    rng = np.random.default_rng(seed + 1)
    chosen = [REGISTRY[m] for m in methods]
    for m in chosen:
        if m.whole is not None:
            if progress is not None:
                progress(f"check: {m.label}")
            rows += m.whole(module, work, grads, dtype, rng, level)
    per_entry = [m for m in chosen if m.entry is not None]
    names = list(work.inputs())
    for k, name in enumerate(names):
        if progress is not None and per_entry:
            progress(f"check: {', '.join(m.label for m in per_entry)}", k + 1, len(names), "gradients")
        rows += [r for m in per_entry
                 for r in _entry_row(m, module, complex_module, work, prob, name, grads, dtype, floor, level)]
    return rows


def _entry_row(m, module, complex_module, work, prob, name, grads, dtype, floor, level):
    """[] or one Row: gradient `name` against method m's per-entry differences."""
    runs = complex_module if m.complex else module
    if runs is None or dtype not in m.tol:
        return []
    tol, step = m.tol[dtype], m.step[dtype]
    noise = roundoff(level, step, dtype, m.quotients)
    g = grads.get(name)
    if g is None:
        return [Row(name, m.name, math.inf, math.inf, tol, "missing from backward")]
    with during(runs, f"{m.doing} for {name}"):
        ref = m.entry(runs, prob if m.complex else work, name, step)
    return [Row(name, m.name, *compare(g, ref, max(floor, noise / tol)), tol)]


def _directional_rows(module, prob, grads, dtype, rng, level):
    """One joint direction over every input (two forwards, one backward);
    then one direction per input when the problem is small or the joint
    check failed, to say which gradient is wrong."""
    me = REGISTRY["directional"]
    tol, step = me.tol[dtype], me.step[dtype]
    inputs = prob.inputs()
    missing = [n for n in inputs if grads.get(n) is None or np.shape(grads[n]) != inputs[n].shape]
    rows = [Row(n, "directional", math.inf, math.inf, tol, "missing or misshapen in backward") for n in missing]
    names = [n for n in inputs if n not in missing]
    # a small gradient is judged on 1% of the whole gradient's scale (see compare)
    floor = 1e-2 * math.sqrt(sum(float(np.sum(np.asarray(grads[n], dtype=float) ** 2)) for n in names))
    floor = max(floor, roundoff(level, step, dtype) / tol)

    def row(label, group):
        m, p, scale = directional(module, prob, group, grads, step, rng)
        scale = max(scale, floor) if math.isfinite(floor) else scale
        err = abs(m - p) if math.isfinite(m) and math.isfinite(p) else math.nan if (m != m or p != p) else math.inf
        return Row(label, "directional", err, err / max(scale, 1e-300) if err else 0.0, tol)
    joint = row("all inputs", names)
    rows.append(joint)
    if not joint.ok or sum(inputs[n].size for n in names) < SMALL:
        rows += [row(n, [n]) for n in names]
    return rows


# --- the README's table of methods --------------------------------------------------

BEGIN = ("<!-- check methods: generated from lstm_sym.verify.methods.REGISTRY by "
         "`python -m lstm_sym.verify.methods`; tests/test_methods.py fails when they differ -->")
END = "<!-- /check methods -->"


def _short(v):
    return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")


def _per_dtype(values):
    if not values:
        return "—"
    if not any(values.values()):
        return "exact"
    text = _short(values["float64"])
    return text + (f" (float32: {_short(values['float32'])})" if "float32" in values else "")


def _by_default(m):
    if not m.option:
        return "with `--impl`"
    alias = [a for a, members in ALIASES.items() if m.name in members]
    return ("yes" if m.default else "no") + (f" (`{alias[0]}`)" if alias else "")


def readme_table():
    """The README's table of check methods, between BEGIN and END."""
    rows = [BEGIN, "",
            "| method | compares | against | tolerance | step | by default |",
            "|---|---|---|---|---|---|"]
    for m in REGISTRY.values():
        judges = ("proves the derivation, not the code" if m.proves else "the module's own forward" if m.own
                  else "the cell")
        rows.append(f"| `{m.name}` | {m.what} | {judges} | {_per_dtype(m.tol)} | {_per_dtype(m.step)} | "
                    f"{_by_default(m)} |")
    exact = [m for m in REGISTRY.values() if m.tol is EXACT]
    said = [f"{m.prose} {_per_dtype(m.tol)}" for m in REGISTRY.values() if m.own]
    said.append(f"{spoken(m.name for m in exact)} {_per_dtype(EXACT)}")
    notes = [m.float64_note for m in REGISTRY.values() if m.float64_note]
    rows += ["", f"Tolerances on the relative error: {'; '.join(said)}. "
             + " ".join(f"Under `--dtype float32` the {n}." for n in notes)
             + " " + " ".join(f"`{a}` is {spoken(f'`{x}`' for x in ms)} together; each can be asked for alone."
                              for a, ms in ALIASES.items()), "", END]
    return "\n".join(rows)


def readme_section(readme):
    """The generated part of the README text: (start, end) offsets, or None."""
    a, b = readme.find(BEGIN), readme.find(END)
    return None if a < 0 or b < a else (a, b + len(END))


if __name__ == "__main__":      # python -m lstm_sym.verify.methods [README.md]: rewrite the table in place
    import sys
    path = sys.argv[1] if len(sys.argv) > 1 else "README.md"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    at = readme_section(text)
    if at is None:
        sys.exit(f"{path}: no {BEGIN!r} … {END!r} section")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:at[0]] + readme_table() + text[at[1]:])
