"""`lstm-sym check`: every method against one module, as one report.

Without --impl the module is the generated kernel of the cell; with --impl
it is the user's file, run only through sandbox.Guarded, and the derivation
joins the referees (and the report says where the user's backward goes
wrong).  Exit codes (CheckReport.exit_code): 0 every compared row passed;
1 a gradient or the forward is wrong, or the module changed its inputs or
returned another dtype; 2 nothing was compared (no referee, no pass) or the
module broke the contract (ContractError)."""
from __future__ import annotations

import copy
import math

import numpy as np

from ..derive import derive
from .numeric import (CheckReport, Row, check_numeric, compare, gradient_floor, gradients,
                      make_problem, run_forward)
from .sandbox import during, same

METHODS = ("symbolic", "fd", "complex", "directional", "graph", "torch")
DEFAULT = ("fd", "complex", "directional", "graph", "torch")
TOL = {"float64": 1e-9, "float32": 1e-3}       # against exact referees (graph, torch, derivation)


def parse_methods(text):
    if text == "all":
        return METHODS
    got = tuple(m.strip() for m in text.split(","))
    bad = [m for m in got if m not in METHODS]
    if bad or not got:
        raise ValueError(f"unknown method(s) {bad or [text]}; choose from {', '.join(METHODS)} or all")
    return got


def kernel(cell, complex_safe=False):
    from .. import codegen
    return codegen.compile(cell, complex_safe=complex_safe)


def run_check(cell, impl=None, methods=DEFAULT, sizes=(3, 4, 5), batch=2, dtype="float64", seed=0,
              timeout=30.0):
    """Every requested referee against one module: the generated kernel of
    `cell` (a built-in name or a Cell), or with impl the user's FILE.py,
    called only through sandbox.Guarded (`timeout` seconds per call).
    Contract problems raise ContractError (a ValueError: one line, exit 2);
    the report's exit_code says the rest."""
    d = derive(cell)
    cell = d.cell
    D, H, T = sizes
    methods = tuple(methods)
    if impl is not None and not set(methods) - {"symbolic"}:
        raise ValueError("--method symbolic proves the derivation, not your code: nothing checked your module; "
                         "add fd, complex, directional, graph or torch (the default runs them all)")
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
    prob = make_problem(module, D, H, T, batch, seed)
    if impl is not None:
        notes += first_call(module, prob)
    pristine = copy.deepcopy(vars(prob))      # a dict: what reaches for Problems misses it
    work = prob.astype(np.float32) if dtype == "float32" else prob
    with during(module, "the first call"):
        grads = gradients(module, work)
    report = CheckReport(cell.name if impl is None else f"{cell.name} --impl {impl}",
                         (D, H, T, batch), dtype, seed, subject="your module" if impl else "the kernel")
    report.notes += notes
    if T < 3:
        report.notes.append("note: T < 3 cannot see some recurrence errors (the tutorial's check was T = 2)")
    numeric = [m for m in ("central", "richardson", "complex", "directional")
               if (m in ("central", "richardson") and "fd" in methods) or m in methods]
    if "complex" in methods and complex_module is None:
        report.notes.append("complex step skipped: it needs a complex-analytic forward; set COMPLEX_SAFE = True "
                            "in your module if it has one (no abs, maximum, comparisons)")
    elif "complex" in methods and dtype != "float64":
        report.notes.append("complex step runs in complex128 on the float64 problem")
    forward = _forward_verdict(report, module, cell, prob, dtype) if impl is not None else None
    report.rows += check_numeric(module, prob, numeric, dtype, complex_module, seed, grads)
    if dtype == "float32" and complex_module is not None and "complex" in methods:
        report.rows += check_numeric(module, prob, ["complex"], "float64", complex_module, seed,
                                     gradients(module, prob))
    if forward is not None and not forward.matches:
        # a backward of another function: judged only against its own forward
        _backward_verdict(report)
        skipped = [m for m in ("graph", "torch") if m in methods] + ["derivation"]
        report.notes.append(f"{', '.join(skipped)}: skipped: they compare with the {cell.name} cell, and your "
                            "forward is not it (see the first line)")
        report.faults.append(f"your forward is not the {cell.name} cell")
        return _finish(report, module, prob, pristine)
    tol = TOL[dtype]
    checked = set(prob.inputs())
    if "graph" in methods:
        report.rows += _rows_against("graph", grads, _graph_gradients(cell, prob), tol, checked)
    if "torch" in methods:
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
        _against_derivation(report, d, module, prob, work, grads, tol, checked, seed)
    if "symbolic" in methods:
        from .symbolic import prove
        for r in (prove(d, min(D, 3), min(H, 3), 1, seed=seed), prove(d, min(D, 2), min(H, 2), 2, seed=seed)):
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


def _against_derivation(report, d, module, prob, work, grads, tol, checked, seed):
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


def _graph_gradients(cell, prob):
    """Reverse accumulation over the scalar graph, one sequence at a time."""
    from .graph_oracle import graph_gradients
    total = {}
    B = prob.x.shape[1]
    xs_b, h0_b, c0_b = [], [], []
    for b in range(B):
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
