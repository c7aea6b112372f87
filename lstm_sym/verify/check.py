"""`lstm-sym check`: every method against one module, as one report.

Without --impl the module is the generated kernel of the cell; with --impl
it is the user's file, and the derivation joins the referees (and the
report says where the user's backward goes wrong)."""
from __future__ import annotations

import math

import numpy as np

from ..derive import derive
from .numeric import (CheckReport, Row, check_numeric, compare, gradient_floor, gradients,
                      make_problem, run_forward)

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


def kernel(cell_name, complex_safe=False):
    from .. import codegen
    return codegen.compile(cell_name, complex_safe=complex_safe)


def run_check(cell_name, impl=None, methods=DEFAULT, sizes=(3, 4, 5), batch=2, dtype="float64", seed=0,
              timeout=30.0):
    d = derive(cell_name)
    cell = d.cell
    D, H, T = sizes
    if impl is not None:
        from .impl import check_outputs, load_impl
        module = load_impl(impl, cell)
        # the complex step needs a complex-analytic forward: the user says so
        complex_module = module if getattr(module, "COMPLEX_SAFE", False) else None
    else:
        module = kernel(cell_name)
        complex_module = kernel(cell_name, complex_safe=True) if "complex" in methods else None
    prob = make_problem(module, D, H, T, batch, seed)
    work = prob.astype(np.float32) if dtype == "float32" else prob
    if impl is not None:
        grads = check_outputs(module, work, impl)
    else:
        grads = gradients(module, work)
    report = CheckReport(cell.name if impl is None else f"{cell.name} --impl {impl}",
                         (D, H, T, batch), dtype, seed)
    if T < 3:
        report.notes.append("note: T < 3 cannot see some recurrence errors (the tutorial's check was T = 2)")
    numeric = [m for m in ("central", "richardson", "complex", "directional")
               if (m in ("central", "richardson") and "fd" in methods) or m in methods]
    if "complex" in methods and complex_module is None:
        report.notes.append("complex step skipped: it needs a complex-analytic forward; set COMPLEX_SAFE = True "
                            "in your module if it has one (no abs, maximum, comparisons)")
    elif "complex" in methods and dtype != "float64":
        report.notes.append("complex step runs in complex128 on the float64 problem")
    report.rows += check_numeric(module, prob, numeric, dtype, complex_module, seed, grads)
    if dtype == "float32" and complex_module is not None and "complex" in methods:
        report.rows += check_numeric(module, prob, ["complex"], "float64", complex_module, seed,
                                     gradients(module, prob))
    tol = TOL[dtype]
    if "graph" in methods:
        report.rows += _rows_against("graph", grads, _graph_gradients(cell, prob), tol)
    if "torch" in methods:
        from .torch_oracle import unsupported
        why = unsupported(cell)
        got = None if why else _torch_gradients(cell.name, prob)
        if got is None:
            report.notes.append(f"torch: skipped ({why})")
        else:
            h_torch, ref = got
            h_mine = run_forward(module, work)[0]
            report.rows.append(Row("h (output)", "torch", *compare(h_mine, h_torch), tol))
            report.rows += _rows_against("torch", grads, ref, tol)
    if impl is not None:
        from .impl import diagnose
        from .reference import reference_module
        reference = reference_module(d)
        report.rows += _rows_against("derivation", grads, gradients(reference, prob), tol)
        wrong = {r.gradient for r in report.rows if not r.ok}
        if wrong:
            from .impl import summarize
            found = [f for f in diagnose(module, reference, cell, (D, H, T, batch), seed) if f.gradient in wrong]
            report.notes.append(f"where it goes wrong (probes against the derivation; {len(found)} gradient(s)):")
            report.notes += ["  " + line for line in summarize(found)]
    if "symbolic" in methods:
        from .symbolic import prove
        for r in (prove(d, min(D, 3), min(H, 3), 1, seed=seed), prove(d, min(D, 2), min(H, 2), 2, seed=seed)):
            for c in r.checks:
                report.rows.append(Row(c.name, "symbolic", 0.0 if c.ok else math.inf, 0.0 if c.ok else math.inf,
                                       0.0, f"{r.level} ({r.D},{r.H},{r.T}), exact"))
        report.notes.append("symbolic: proves the derivation (and so the generated kernel), "
                            "exact over GF(2^61−1)" + ("; it says nothing of --impl code" if impl else ""))
    return report


def _rows_against(method, grads, ref, tol):
    rows, floor = [], gradient_floor(ref)
    for name, r in ref.items():
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
        init = {"h": prob.h0[b]}
        if prob.c0 is not None:
            init[cell.states[1]] = prob.c0[b]
        Gc = {cell.states[1]: prob.Gc[b]} if prob.Gc is not None else None
        g = graph_gradients(cell, prob.params, list(prob.x[:, b]), init, list(prob.G[:, b]), Gc)
        for p in prob.params:
            total[p] = total.get(p, 0) + g[p]
        xs_b.append(np.array(g["x"]))
        h0_b.append(g["h0"])
        if prob.c0 is not None:
            c0_b.append(g["c0"])
    total["x"] = np.stack(xs_b, axis=1)
    total["h0"] = np.stack(h0_b)
    if c0_b:
        total["c0"] = np.stack(c0_b)
    return total


def _torch_gradients(cell_name, prob):
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    from .torch_oracle import torch_gradients
    return torch_gradients(cell_name, prob.params, prob.x, prob.h0, prob.c0, prob.G, prob.Gc)
