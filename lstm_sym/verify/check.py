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
import math
import time

import numpy as np

from .. import cost
from ..derive import derive
from .numeric import (CheckReport, Row, check_numeric, compare, gradient_floor, gradients, loss,
                      make_problem, run_forward)
from .sandbox import during, same

METHODS = ("symbolic", "fd", "central", "richardson", "complex", "directional", "graph", "torch")
DEFAULT = ("fd", "complex", "directional", "graph", "torch")
TOL = {"float64": 1e-9, "float32": 1e-3}       # against exact referees (graph, torch, derivation)
PER_ENTRY = ("central", "richardson", "complex")


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
                         "(fd = central and richardson)")
    return got


def expand(methods):
    """The methods that run: fd becomes central and richardson."""
    out = []
    for m in methods:
        out += ["central", "richardson"] if m == "fd" else [m]
    return tuple(dict.fromkeys(out))


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
    """Every requested referee against one module: the generated kernel of
    `cell` (a built-in name or a Cell), or with impl the user's FILE.py,
    called only through sandbox.Guarded (`timeout` seconds per call).
    Contract problems raise ContractError (a ValueError: one line, exit 2);
    the report's exit_code says the rest.  limit=False runs what was asked
    whatever it costs; progress(what, done, total, unit) hears how it goes."""
    d = derive(cell)
    cell = d.cell
    D, H, T = sizes
    methods = tuple(methods)
    if impl is not None and not set(methods) - {"symbolic"}:
        raise ValueError("--method symbolic proves the derivation, not your code: nothing checked your module; "
                         "add fd, complex, directional, graph or torch (the default runs them all)")
    tell = progress or (lambda *a, **k: None)
    asked = expand(methods)
    methods, plan_notes, _ = plan(cell, methods, sizes, batch, impl is not None, limit)
    notes = []
    if impl is not None:
        from .impl import first_call, load_impl
        module = load_impl(impl, cell, timeout)
        module.dtype = np.dtype(dtype)     # float64 probes of a float32 check do not count against it
        # the complex step needs a complex-analytic forward: the user says so
        complex_module = module if module.COMPLEX_SAFE else None
    else:
        module = kernel(cell)
        complex_module = kernel(cell, complex_safe=True) if "complex" in methods else None
    tell("check: the first call")
    prob = make_problem(module, D, H, T, batch, seed)
    if impl is not None:
        notes += first_call(module, prob)
    pristine = copy.deepcopy(vars(prob))      # a dict: what reaches for Problems misses it
    work = prob.astype(np.float32) if dtype == "float32" else prob
    with during(module, "the first call"):
        grads = gradients(module, work)
    if limit and any(m in PER_ENTRY for m in methods):
        methods, more = _measured_plan(module, work, methods, complex_module, cell, sizes, batch)
        plan_notes += more
    report = CheckReport(cell.name if impl is None else f"{cell.name} --impl {impl}",
                         (D, H, T, batch), dtype, seed, subject="your module" if impl else "the kernel")
    report.notes += notes + plan_notes
    if T < 3:
        report.notes.append("note: T < 3 cannot see some recurrence errors (the tutorial's check was T = 2)")
    numeric = [m for m in ("central", "richardson", "complex", "directional") if m in methods]
    if "complex" in methods and complex_module is None:
        report.notes.append("complex step skipped: it needs a complex-analytic forward; set COMPLEX_SAFE = True "
                            "in your module if it has one (no abs, maximum, comparisons)")
    elif "complex" in methods and dtype != "float64":
        report.notes.append("complex step runs in complex128 on the float64 problem")
    if impl is not None:
        tell("check: comparing your forward with the cell's")
    forward = _forward_verdict(report, module, cell, prob, dtype) if impl is not None else None
    report.rows += check_numeric(module, prob, numeric, dtype, complex_module, seed, grads, progress=tell)
    if dtype == "float32" and complex_module is not None and "complex" in methods:
        report.rows += check_numeric(module, prob, ["complex"], "float64", complex_module, seed,
                                     gradients(module, prob), progress=tell)
    if forward is not None and not forward.matches:
        # a backward of another function: judged only against its own forward
        _backward_verdict(report)
        skipped = [m for m in ("graph", "torch") if m in asked] + ["derivation"]
        report.notes.append(f"{', '.join(skipped)}: skipped: they compare with the {cell.name} cell, and your "
                            "forward is not it (see the first line)")
        report.faults.append(f"your forward is not the {cell.name} cell")
        return _finish(report, module, prob, pristine)
    tol = TOL[dtype]
    checked = set(prob.inputs())
    if "graph" in methods:
        report.rows += _rows_against("graph", grads, _graph_gradients(cell, prob, tell), tol, checked)
    if "torch" in methods:
        tell("check: torch")
        from .torch_oracle import unsupported
        why = unsupported(cell)
        got = None if why else _torch_gradients(cell.name, prob)
        if got is None:
            report.notes.append(f"torch: skipped ({why or 'torch is not installed'})")
        else:
            h_torch, ref = got
            h_mine = run_forward(module, work)[0]
            report.rows.append(Row("h (output)", "torch", *compare(h_mine, h_torch), tol))
            report.rows += _rows_against("torch", grads, ref, tol, checked)
    if impl is not None:
        tell("check: against the derivation")
        _against_derivation(report, d, module, prob, work, grads, tol, checked, seed, limit, tell)
    proofs = []
    if "symbolic" in methods:
        from .symbolic import prove
        try:
            proofs = [prove(d, min(D, 3), min(H, 3), 1, seed=seed, progress=tell),
                      prove(d, min(D, 2), min(H, 2), 2, seed=seed, progress=tell)]
        except ValueError as e:     # relu, softsign: the field has no Max or Abs; the other methods still ran
            if not report.compared:
                raise
            report.notes.append(f"symbolic: skipped ({e})")
    if proofs:
        for r in proofs:
            for c in r.checks:
                report.rows.append(Row(c.name, "symbolic", 0.0 if c.ok else math.inf, 0.0 if c.ok else math.inf,
                                       0.0, f"{r.level} ({r.D},{r.H},{r.T}), exact"))
        report.notes.append("symbolic: proves the derivation, exact over GF(2^61−1), not the code that runs it: "
                            "its identities are counted apart" + ("; they say nothing of your module" if impl else
                                                                  "" if report.compared else
                                                                  "; no other method ran the kernel"))
    if impl is not None:
        _backward_verdict(report)
        return _finish(report, module, prob, pristine)
    return report


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
    own = [r for r in report.rows if r.method in ("central", "richardson", "complex", "directional")]
    if not own:
        report.verdicts.append("backward: not compared with your own forward (fd, complex and directional "
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
    per = {"central": 2, "richardson": 4, "complex": complex_ratio if complex_module is not None else 0}
    per_entry = [m for m in PER_ENTRY if m in methods]
    spent = sum(per[m] for m in per_entry) * n * fwd
    if spent <= cost.PER_ENTRY_SECONDS:
        return methods, []
    methods = [m for m in methods if m not in PER_ENTRY] + (["directional"] if "directional" not in methods else [])
    return methods, [f"{', '.join(per_entry)}: per-entry differences would take ~{cost.seconds_text(spent)} "
                     f"({n} inputs, {fwd * 1e3:.3g} ms a forward, timed); ran the directional check instead "
                     f"(two forwards and one backward, every input at once); {cost.FLAG} runs them"]


def _against_derivation(report, d, module, prob, work, grads, tol, checked, seed, limit=True, tell=None):
    """The derivation as a referee of the user's module, and where it goes wrong."""
    from .impl import diagnose, summarize
    from .reference import reference_module
    reference = reference_module(d)
    with during(module, "the comparison with the derivation's forward"):
        h_mine = run_forward(module, work)[0]
    forward = Row("h (output)", "derivation", *compare(h_mine, run_forward(reference, prob)[0]), tol)
    report.rows.append(forward)
    report.rows += _rows_against("derivation", grads, gradients(reference, prob), tol, checked)
    wrong = {r.gradient for r in report.rows if not r.ok and not r.proof} & checked
    if not wrong:
        return
    if not forward.ok:
        report.notes.append("where it goes wrong: not located, because your forward is not the cell's (its h "
                            "differs from the derivation's): the rows against the derivation, graph and torch "
                            "compare different functions; those against your own forward (fd, complex, "
                            "directional) still judge your backward")
        return
    D, H, T, B = report.sizes
    probes = cost.check_costs(cost.profile(d.cell), D, H, T, B, impl=True)["diagnose"]
    if limit and not cost.fits(probes, cost.DIAGNOSE_SECONDS):
        report.notes.append(f"where it goes wrong: not located: the probes (every T up to {max(T, 3)}, against the "
                            f"derivation) would take {probes}; a shorter --sizes T locates it, or {cost.FLAG}")
        return
    if tell is not None:
        tell("check: locating the wrong gradients")
    found = [f for f in diagnose(module, reference, d.cell, (D, H, T, B), seed, fixed=prob.fixed)
             if f.gradient in wrong]
    if found:
        report.notes.append(f"where it goes wrong (probes against the derivation; {len(found)} gradient(s)):")
        report.notes += ["  " + line for line in summarize(found)]
    else:
        failing = sorted({r.method for r in report.rows if not r.ok and not r.proof})
        report.notes.append("where it goes wrong: the derivation agrees with your backward at every probe; what "
                            f"fails ({', '.join(failing)}) measures your own forward, so your forward and "
                            "backward disagree there")


def _rows_against(method, grads, ref, tol, checked=None):
    rows, floor = [], gradient_floor(ref)
    for name, r in ref.items():
        if checked is not None and name not in checked:
            continue
        g = grads.get(name)
        if g is None:
            rows.append(Row(name, method, math.inf, math.inf, tol, "missing from backward"))
        else:
            rows.append(Row(name, method, *compare(g, r, floor), tol))
    return rows


def _graph_gradients(cell, prob, tell=None):
    """Reverse accumulation over the scalar graph, one sequence at a time."""
    from .graph_oracle import graph_gradients
    total = {}
    B = prob.x.shape[1]
    xs_b, h0_b, c0_b = [], [], []
    for b in range(B):
        if tell is not None:
            tell("check: the scalar graph", b + 1, B, "sequences")
        init = {cell.states[0]: prob.h0[b]}
        if prob.c0 is not None:
            init[cell.states[1]] = prob.c0[b]
        Gc = {cell.states[1]: prob.Gc[b]} if prob.Gc is not None else None
        g = graph_gradients(cell, prob.params, list(prob.x[:, b]), init, list(prob.G[:, b]), Gc)
        for p in prob.params:
            total[p] = total.get(p, 0) + g[p]
        xs_b.append(np.array(g["x"]))
        h0_b.append(g[cell.states[0] + "0"])
        if prob.c0 is not None:
            c0_b.append(g[cell.states[1] + "0"])
    total["x"] = np.stack(xs_b, axis=1)
    total[cell.states[0] + "0"] = np.stack(h0_b)
    if c0_b:
        total[cell.states[1] + "0"] = np.stack(c0_b)
    return total


def _torch_gradients(cell_name, prob):
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    from .torch_oracle import torch_gradients
    return torch_gradients(cell_name, prob.params, prob.x, prob.h0, prob.c0, prob.G, prob.Gc)
