"""The referees that know the cell, not just the module's forward: the scalar
graph, PyTorch autograd, the derivation itself (with --impl), and the exact
proof of the derivation.  Each is the `run` of its entry in methods.REGISTRY:
run(ctx) adds rows and notes to ctx.report (ctx: methods.Context)."""
from __future__ import annotations

import math


from .batch import over_batch, sequence
from .errors import compare, gradient_floor
from .problem import gradients, run_forward
from .report import Row
from .sandbox import during


def rows_against(method, grads, ref, tol, checked=None):
    """One row per gradient of ref: the module's `grads` against it."""
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


def graph_gradients(cell, prob, tell=None):
    """Reverse accumulation over the scalar graph, one sequence at a time."""
    from .graph_oracle import graph_gradients as one
    B = prob.x.shape[1]
    states = tuple(cell.states[:2 if prob.c0 is not None else 1])

    def per_sequence(b):
        if tell is not None:
            tell("check: the scalar graph", b + 1, B, "sequences")
        xs, init, G, Gc = sequence(prob, b, cell.states)
        return one(cell, prob.params, xs, init, G, Gc)
    return over_batch(per_sequence, B, states)


def graph(ctx):
    ctx.report.rows += rows_against("graph", ctx.grads, graph_gradients(ctx.cell, ctx.prob, ctx.tell),
                                    ctx.tol, ctx.checked)


def torch_supports(cell, module):
    from .torch_oracle import unsupported
    why = unsupported(cell)
    if why:
        return why
    try:
        import torch  # noqa: F401
    except ImportError:
        return "torch is not installed"
    return None


def torch(ctx):
    from .torch_oracle import torch_gradients
    ctx.tell("check: torch")
    p = ctx.prob
    h_torch, ref = torch_gradients(ctx.cell.name, p.params, p.x, p.h0, p.c0, p.G, p.Gc)
    h_mine = run_forward(ctx.module, ctx.work)[0]
    ctx.report.rows.append(Row("h (output)", "torch", *compare(h_mine, h_torch), ctx.tol))
    ctx.report.rows += rows_against("torch", ctx.grads, ref, ctx.tol, ctx.checked)


def derivation_supports(cell, module):
    from .sandbox import Guarded
    return None if isinstance(module, Guarded) else "it referees your module (--impl); the kernel is the derivation"


def derivation(ctx):
    """The derivation as a referee of the user's module, and where it goes wrong."""
    from .reference import reference_module
    ctx.tell("check: against the derivation")
    report, prob = ctx.report, ctx.prob
    reference = reference_module(ctx.d)
    with during(ctx.module, "the comparison with the derivation's forward"):
        h_mine = run_forward(ctx.module, ctx.work)[0]
    forward = Row("h (output)", "derivation", *compare(h_mine, run_forward(reference, prob)[0]), ctx.tol)
    report.rows.append(forward)
    report.rows += rows_against("derivation", ctx.grads, gradients(reference, prob), ctx.tol, ctx.checked)
    wrong = {r.gradient for r in report.rows if not r.ok and not r.proof} & ctx.checked
    if wrong:
        report.notes += _where_it_goes_wrong(ctx, reference, forward.ok, wrong)


def _where_it_goes_wrong(ctx, reference, forward_ok, wrong):
    """Notes locating the wrong gradients by probes against the derivation."""
    from .impl import diagnose, summarize
    report = ctx.report
    if not forward_ok:
        return ["where it goes wrong: not located, because your forward is not the cell's (its h "
                "differs from the derivation's): the rows against the derivation, graph and torch "
                "compare different functions; those against your own forward (fd, complex, "
                "directional) still judge your backward"]
    refused = ctx.locate_refused()
    if refused:
        return [refused]
    ctx.tell("check: locating the wrong gradients")
    found = [f for f in diagnose(ctx.module, reference, ctx.cell, report.sizes, ctx.seed, fixed=ctx.prob.fixed)
             if f.gradient in wrong]
    if found:
        return ([f"where it goes wrong (probes against the derivation; {len(found)} gradient(s)):"]
                + ["  " + line for line in summarize(found)])
    failing = sorted({r.method for r in report.rows if not r.ok and not r.proof})
    return ["where it goes wrong: the derivation agrees with your backward at every probe; what "
            f"fails ({', '.join(failing)}) measures your own forward, so your forward and "
            "backward disagree there"]


def symbolic(ctx):
    """The exact proof of the derivation at two small sizes: its rows prove
    the derivation, not the code that runs it, and are counted apart."""
    from .symbolic import prove
    report, d, seed = ctx.report, ctx.d, ctx.seed
    D, H, _ = ctx.sizes
    try:
        proofs = [prove(d, min(D, 3), min(H, 3), 1, seed=seed, progress=ctx.tell),
                  prove(d, min(D, 2), min(H, 2), 2, seed=seed, progress=ctx.tell)]
    except ValueError as e:     # relu, softsign: the field has no Max or Abs; the other methods still ran
        if not report.compared:
            raise
        report.notes.append(f"symbolic: skipped ({e})")
        return
    for r in proofs:
        for c in r.checks:
            report.rows.append(Row(c.name, "symbolic", 0.0 if c.ok else math.inf, 0.0 if c.ok else math.inf,
                                   0.0, f"{r.level} ({r.D},{r.H},{r.T}), exact"))
    report.notes.append("symbolic: proves the derivation, exact over GF(2^61−1), not the code that runs it: "
                        "its identities are counted apart" + ("; they say nothing of your module" if ctx.impl else
                                                              "" if report.compared else
                                                              "; no other method ran the kernel"))
