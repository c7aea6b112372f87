"""`lstm-sym check`: every method against one module, as one report.

Without --impl the module is the generated kernel of the cell; with --impl
it is the user's file, run only through sandbox.Guarded, and the derivation
joins the referees (and the report says where the user's backward goes
wrong).  Exit codes (CheckReport.exit_code): 0 every compared row passed;
1 a gradient or the forward is wrong, or the module changed its inputs or
returned another dtype; 2 nothing was compared (no referee, no pass) or the
module broke the contract (ContractError).

Method names: fd is central and richardson together; all is every method.
What each costs is estimated first (lstm_sym.cost): with limit=True a check
that would go past the limits even in its cheapest form is refused before
any work (ValueError), per-entry differences that would take longer than
cost.PER_ENTRY_SECONDS give way to the directional check, and the scalar
graph past cost.GRAPH_SECONDS is skipped, each with a note."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from .. import cost
from ..derivation import derive
from .methods import (ALIASES, DEFAULT, EXACT, METHODS, OWN, PER_ENTRY, REGISTRY,  # noqa: F401  (re-exported)
                      check_numeric, expand, parse_methods, spoken, with_aliases)
from .problem import gradients, loss, make_problem
from .referees import graph_gradients as _graph_gradients, rows_against as _rows_against  # noqa: F401
from .report import CheckReport
from .sandbox import during, same

TOL = EXACT         # the exact referees' tolerances, by dtype (methods.EXACT)


@dataclass
class Context:
    """What a method's run(ctx) reads: the check as it stands."""
    d: object
    cell: object
    module: object
    prob: object
    work: object
    grads: dict
    report: CheckReport
    dtype: str
    seed: int
    sizes: tuple
    impl: object
    limit: bool
    tell: object
    checked: set = field(default_factory=set)
    asked: tuple = ()               # what was asked for, before the plan dropped anything
    tol: float = 0.0                # the running method's tolerance at dtype

    def locate_refused(self):
        """Why locating a wrong gradient is left out (its probes cost too
        much), or None."""
        D, H, T, B = self.report.sizes
        probes = cost.check_costs(cost.profile(self.cell), D, H, T, B, impl=True)["diagnose"]
        if self.limit and not cost.fits(probes, cost.DIAGNOSE_SECONDS):
            return (f"where it goes wrong: not located: the probes (every T up to {max(T, 3)}, against the "
                    f"derivation) would take {probes}; a shorter --sizes T locates it, or {cost.FLAG}")
        return None


def plan(cell, methods, sizes, batch, impl=False, limit=True):
    """(methods to run, notes, Estimate) for a check, or ValueError when even
    its cheapest form is past the limits (see lstm_sym.cost)."""
    D, H, T = sizes
    p = cost.profile(cell)
    wanted = expand(methods)
    where = f"({D},{H},{T})"
    costs = cost.check_costs(p, D, H, T, batch, impl)
    run, notes, over, total = cost.check_plan(costs, wanted, impl, limit, where)
    if not over and set(wanted) - {"symbolic"} and not set(run) - {"symbolic"}:
        raise ValueError(f"check {cell.name} at (D,H,T) = {where}: nothing left to compare: "
                         + "; ".join(notes))
    if over:
        cheapest = [m for m in run if m not in PER_ENTRY]
        alone = (" even with the directional check in place of per-entry differences"
                 if any(m in PER_ENTRY for m in wanted) else "")
        at = lambda t: cost.check_plan(cost.check_costs(p, D, H, t, batch, impl), wanted, impl, True, where)[3]
        best = cost.largest(at, T)
        fit = (f"T ≤ ~{best} fits (--sizes {D},{H},{best})" if best else
               "no T fits at this D, H and batch: make them smaller")
        raise ValueError(f"check {cell.name} at (D,H,T) = {where}, batch {batch} ({', '.join(cheapest) or 'no method'})"
                         f" would take {over}{alone}; {fit}; {cost.FLAG} runs it anyway")
    return run, notes, total


def kernel(cell, complex_safe=False):
    from .. import codegen
    return codegen.compile(cell, complex_safe=complex_safe)


def run_check(cell, impl=None, methods=DEFAULT, sizes=(3, 4, 5), batch=2, dtype="float64", seed=0,
              timeout=30.0, *, limit=True, progress=None):
    """Every requested method (methods.REGISTRY) against one module: the
    generated kernel of `cell` (a built-in name or a Cell), or with impl the
    user's FILE.py, called only through sandbox.Guarded (`timeout` seconds
    per call).  Contract problems raise ContractError (a ValueError: one
    line, exit 2); the report's exit_code says the rest.  limit=False runs
    what was asked whatever it costs; progress(what, done, total, unit)
    hears how it goes."""
    d = derive(cell)
    cell = d.cell
    methods = tuple(methods)
    if impl is not None and all(REGISTRY[m].proves for m in expand(methods)):
        raise ValueError(f"--method {','.join(methods)} proves the derivation, not your code: nothing checked your "
                         f"module; add {spoken(DEFAULT, 'or')} (the default runs them all)")
    tell = progress or (lambda *a, **k: None)
    asked = expand(methods)
    methods, plan_notes, _ = plan(cell, methods, sizes, batch, impl is not None, limit)
    module, complex_module, notes = _modules(cell, impl, methods, dtype, timeout)
    tell("check: the first call")
    prob = make_problem(module, *sizes, batch, seed)
    if impl is not None:
        from .impl import first_call
        notes += first_call(module, prob)
    pristine = copy.deepcopy(vars(prob))      # a dict: what reaches for Problems misses it
    work = prob.astype(np.float32) if dtype == "float32" else prob
    with during(module, "the first call"):
        grads = gradients(module, work)
    if limit and any(m in PER_ENTRY for m in methods):
        methods, more = _measured_plan(module, work, methods, complex_module, cell, sizes, batch)
        plan_notes += more
    report = CheckReport(cell.name if impl is None else f"{cell.name} --impl {impl}",
                         (*sizes, batch), dtype, seed, subject="your module" if impl else "the kernel")
    ctx = Context(d, cell, module, prob, work, grads, report, dtype, seed, tuple(sizes), impl, limit, tell,
                  set(prob.inputs()), asked)
    report.notes += notes + plan_notes
    if sizes[2] < 3:
        report.notes.append("note: T < 3 cannot see some recurrence errors (the tutorial's check was T = 2)")
    if not _own_forward(ctx, [m for m in methods if m in OWN], complex_module):
        return _finish(report, module, prob, pristine)
    for m in REGISTRY.values():
        if m.own or m.proves or not (m.name in methods or not m.option):
            continue
        _run(ctx, m)
    for m in REGISTRY.values():
        if m.proves and m.name in methods:
            _run(ctx, m)
    if impl is not None:
        _backward_verdict(report)
        return _finish(report, module, prob, pristine)
    return report


def _modules(cell, impl, methods, dtype, timeout):
    """(the module checked, its complex-safe twin or None, notes)."""
    if impl is None:
        twin, notes = None, []
        if "complex" in methods:
            from ..codegen.values import NotAnalytic
            try:
                twin = kernel(cell, complex_safe=True)
            except NotAnalytic as e:        # an |x| activation: the other methods still run
                notes = [REGISTRY["complex"].skip.format(name="complex", why=e.args[0])]
        return kernel(cell), twin, notes
    from .impl import load_impl
    module = load_impl(impl, cell, timeout)
    module.dtype = np.dtype(dtype)     # float64 probes of a float32 check do not count against it
    # the complex step needs a complex-analytic forward: the user says so
    return module, module if module.COMPLEX_SAFE else None, []


def _run(ctx, m):
    """One referee or proof: its rows and notes, or the note why it cannot run."""
    if m.option is False and m.supports(ctx.cell, ctx.module) is not None:
        return          # joins by itself only where it applies (derivation: with --impl)
    why = m.supports(ctx.cell, ctx.module)
    if why is not None:
        ctx.report.notes.append(m.skip.format(name=m.name, why=why))
        return
    ctx.tol = m.tolerance(ctx.dtype)
    m.run(ctx)


def _own_forward(ctx, own, complex_module):
    """The methods that differentiate the module's own forward, after the
    question whether that forward is the cell; False when it is not (then
    the referees of the cell have nothing to say)."""
    report, dtype = ctx.report, ctx.dtype
    for name in own:
        m = REGISTRY[name]
        why = m.supports(ctx.cell, ctx.module)
        if why is not None:
            report.notes.append(m.skip.format(name=m.name, why=why))
        elif dtype not in m.tol and m.float64_note:
            report.notes.append(m.float64_note)
    if ctx.impl is not None:
        ctx.tell("check: comparing your forward with the cell's")
    forward = _forward_verdict(report, ctx.module, ctx.cell, ctx.prob, dtype) if ctx.impl is not None else None
    report.rows += check_numeric(ctx.module, ctx.prob, own, dtype, complex_module, ctx.seed, ctx.grads,
                                 progress=ctx.tell)
    on64 = [m for m in own if dtype not in REGISTRY[m].tol and (complex_module is not None or not REGISTRY[m].complex)]
    if on64:
        report.rows += check_numeric(ctx.module, ctx.prob, on64, "float64", complex_module, ctx.seed,
                                     gradients(ctx.module, ctx.prob), progress=ctx.tell)
    if forward is None or forward.matches:
        return True
    # a backward of another function: judged only against its own forward
    _backward_verdict(report)
    skipped = [m.name for m in REGISTRY.values() if not (m.own or m.proves)
               and (m.name in ctx.asked if m.option else m.supports(ctx.cell, ctx.module) is None)]
    report.notes.append(f"{', '.join(skipped)}: skipped: they compare with the {ctx.cell.name} cell, and your "
                        "forward is not it (see the first line)")
    report.faults.append(f"your forward is not the {ctx.cell.name} cell")
    return False


def _finish(report, module, prob, pristine):
    report.faults += list(module.faults)
    if not same(vars(prob), pristine):
        report.faults.append("the checker's own arrays changed while your module ran")
    return report


def _forward_verdict(report, module, cell, prob, dtype):
    """Question (a): is the user's forward the cell?  Its answer is the first line."""
    from .forward_match import match_forward
    with during(module, "the comparison of your forward with the cell's"):
        verdict = match_forward(module, cell, prob.params, prob.x, prob.h0, prob.c0,
                                tol=1e-6 if dtype == "float64" else 1e-4)
    report.verdicts.append(verdict.line())
    return verdict


def _backward_verdict(report):
    """Question (b): is the user's backward the derivative of the user's own
    forward?  Only the methods that differentiate that forward answer it."""
    own = [r for r in report.rows if r.method in OWN]
    if not own:
        report.verdicts.append(f"backward: not compared with your own forward ({spoken(with_aliases(OWN))} "
                               "were not requested)")
        return
    bad = sorted({r.gradient for r in own if not r.ok} - {"all inputs"})
    if bad or any(not r.ok for r in own):
        report.verdicts.append(f"backward: NOT the derivative of your own forward: {', '.join(bad) or 'all inputs'} "
                               f"disagree with {', '.join(sorted({r.method for r in own if not r.ok}))}")
    else:
        methods = ", ".join(dict.fromkeys(r.method for r in own))
        report.verdicts.append(f"backward: the derivative of your own forward ({len(own)} checks: {methods})")


def _measured_plan(module, work, methods, complex_module, cell, sizes, batch):
    """The per-entry decision again, from one timed forward of the module
    itself (a user's module may be far slower than the kernel the estimate
    assumes): (methods, notes)."""
    t0 = time.perf_counter()
    with during(module, "a timed forward"):
        loss(module, work)
    fwd = time.perf_counter() - t0
    n = sum(int(np.size(a)) for a in work.inputs().values())
    p, (D, H, T) = cost.profile(cell), sizes
    complex_ratio = cost.kernel_forward(p, batch, D, H, T, True) / cost.kernel_forward(p, batch, D, H, T)
    ratio = lambda m: (complex_ratio if complex_module is not None else 0) if m.complex else 1
    per = {m.name: m.forwards * ratio(m) for m in REGISTRY.values() if m.entry is not None}
    per_entry = [m for m in PER_ENTRY if m in methods]
    spent = sum(per[m] for m in per_entry) * n * fwd
    if spent <= cost.PER_ENTRY_SECONDS:
        return methods, []
    methods = [m for m in methods if m not in PER_ENTRY] + (["directional"] if "directional" not in methods else [])
    return methods, [f"{', '.join(per_entry)}: per-entry differences would take ~{cost.seconds_text(spent)} "
                     f"({n} inputs, {fwd * 1e3:.3g} ms a forward, timed); ran the directional check instead "
                     f"(two forwards and one backward, every input at once); {cost.FLAG} runs them"]
