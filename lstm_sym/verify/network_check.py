"""`lstm-sym check CELL --layers ... --loss ...`: the generated network module's
gradients against referees that did not derive them — the IR interpreter's
composition (lstm_sym.network.run_network), central differences and the
complex step of the module's own loss, a directional derivative, reverse
accumulation over the network's scalar graph, and torch
(nn.RNN/LSTM/GRU(num_layers=L) + nn.Linear + nn.CrossEntropyLoss)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..codegen.network import compile_network
from ..network import run_network
from .differences import roundoff
from .errors import gradient_floor, relative_error

METHODS = ("derivation", "symbolic", "central", "complex", "directional", "graph", "torch")
ALIASES = {"fd": ("central", "richardson"), "all": METHODS}      # as `check` takes them for a cell
DEFAULT = tuple(m for m in METHODS if m != "symbolic")             # as for a cell: all but the proof
MAX_ENTRIES = 4000       # entry-by-entry differences past this: skipped (the directional check still runs)
MAX_GRAPH = 3_000_000    # parameter entries × T × B past this: the scalar graph is skipped (about 10 s)
MAX_STEPS = 20_000       # T × B × layers past this: the interpreter and torch are skipped (step by step in Python)
# the cell's referees that do not run on a network (yet), and why: said in every report
NOT_ON_NETWORKS = {
    "richardson": "not wired for networks; central differences and the complex step run"}


class CannotRun(Exception):
    """A referee that cannot run on this network (its reason goes in the report).
    Anything else a referee raises is a failure of the module, never a skip."""


@dataclass
class NetworkReport:
    subject: str
    rows: list = field(default_factory=list)       # (method, gradient, rel, tol)
    skipped: list = field(default_factory=list)    # (method, why)
    notes: list = field(default_factory=list)      # lines said under the table

    @property
    def exit_code(self):
        if not [r for r in self.rows if r[0] != "symbolic"]:     # nothing ran the module
            return 2
        return 0 if all(rel <= tol for _, _, rel, tol in self.rows) else 1

    def __str__(self):
        out = [f"check {self.subject}", f"{'method':14s} {'gradient':16s} {'rel. error':>10s}  {'tol':>7s}"]
        for method, name, rel, tol in self.rows:
            out.append(f"{method:14s} {name:16s} {rel:10.1e}  {tol:7.0e}  {'ok' if rel <= tol else 'WRONG'}")
        out += self.notes + [f"{method}: skipped ({why})" for method, why in self.skipped]
        wrong = sorted({name for _, name, rel, tol in self.rows if not rel <= tol})
        out.append("verdict: " + (f"WRONG: {', '.join(wrong)}" if wrong else
                                  "every gradient agrees with every referee" if self.exit_code != 2 else "nothing compared the module"))
        return "\n".join(out)


def _flat(grads):
    """{"layer 1 W_fh": array, ..., "V": ..., "b_y": ..., "x": ...}"""
    out = {f"layer {l + 1} {k}": v for l, g in enumerate(grads["layers"]) for k, v in g.items()}
    out.update({k: grads[k] for k in ("V", "b_y", "x")})
    return out


def _leaves(params, x):
    """The arrays a gradient is taken against, by the names _flat uses (each layer's
    initial states too: a check from h_0 = 0 is blind to a wrong first step's recurrence)."""
    out = {f"layer {l + 1} {k}": v for l, p in enumerate(params["layers"]) for k, v in p.items()}
    out.update({f"layer {l + 1} {s}0": v for l, st in enumerate(params["starts"]) for s, v in st.items()})
    out.update({"V": params["V"], "b_y": params["b_y"], "x": x})
    return out


def _loss(module, params, x, y):
    """module.loss with params' initial states as its h0s, c0s, <state>0s."""
    states = list(params["starts"][0])
    given = {("h0s" if s == states[0] else f"{s}0s"): [st[s] for st in params["starts"]] for s in states}
    return module.loss(_module_params(params), x, y, **given)


def _module_params(params):
    return {k: params[k] for k in ("layers", "V", "b_y")}


def _problem(net, module, D, H, K, T, B, seed):
    """Random weights (the module's init), inputs, targets, and every layer's initial states."""
    rng = np.random.default_rng(seed)
    params = module.init_network(D, H, K, seed=seed)
    params["starts"] = [{s: (0.5 * rng.normal(size=(B, H))).astype(params["V"].dtype) for s in module.STATES}
                        for _ in params["layers"]]
    x = rng.normal(size=(T, B, D))
    steps = T if net.loss_at == "all" else 1
    y = rng.integers(0, K, size=(steps, B)) if net.loss == "xent" else rng.normal(size=(steps, B, K))
    return params, x, (y if net.loss_at == "all" else y[0])


def tolerance(method, dtype="float64"):
    """The cell check's tolerance for the same method (verify.methods' registry); an exact
    referee (the complex step in complex128 too) against a float32 module: EXACT's float32."""
    from .methods import EXACT, REGISTRY
    return REGISTRY[method].tol.get(dtype, EXACT[dtype])


def step(method, dtype="float64"):
    """The cell check's step for a difference method (None: not one); the complex step
    always runs in complex128."""
    from .methods import REGISTRY
    steps = REGISTRY[method].step
    return steps.get(dtype, steps.get("float64"))


OWN = ("central", "directional")     # differentiate the module's own loss, in its dtype


def _cast(params, dtype):
    f = lambda a: np.asarray(a, dtype=dtype)
    return {"layers": [{k: f(v) for k, v in p.items()} for p in params["layers"]],
            "starts": [{k: f(v) for k, v in st.items()} for st in params["starts"]],
            "V": f(params["V"]), "b_y": f(params["b_y"])}


def _widened(params, x):
    return _cast(params, np.float64), np.asarray(x, dtype=np.float64)


def _too_big(method, net, params, x, entries):
    """Why `method` is skipped at these sizes (None: it runs); --no-limit runs it anyway."""
    from .. import cost
    T, B = x.shape[:2]
    if method in ("central", "complex") and entries > MAX_ENTRIES:
        return (f"{entries} entries, two losses each: past {MAX_ENTRIES}; the directional check stands in "
                "(--no-limit runs it)")
    work = sum(a.size for a in _leaves(params, x).values()) * T * B
    if method == "graph" and work > MAX_GRAPH:
        return f"one scalar node per multiply: about {work:.1e} of them, past {MAX_GRAPH:.0e} (--no-limit runs it)"
    if method in ("derivation", "torch") and T * B * net.layers > MAX_STEPS:
        return f"T × B × layers = {T * B * net.layers}, past {MAX_STEPS} steps run one by one (--no-limit runs it)"
    if method == "symbolic":
        from .network_proof import SIZES
        est = cost.network_prove_cost(net.cell, SIZES[0], SIZES[1], SIZES[3], net.layers)
        if not cost.fits(est):
            return f"the proof at {net.layers} layers would take {cost.why(est)} (--no-limit runs it)"
    return None


def check_network(net, methods=DEFAULT, sizes=(3, 4, 4), K=3, batch=2, seed=0, source=None, limit=True,
                  dtype="float64", progress=None):
    """Every referee on one random problem (D, H, T = sizes; every layer H wide, as
    torch's stacked modules are).  source: a module's text to check instead of the
    generated one (the complex step still differentiates the generated forward).
    dtype float32: the float32 module; the exact referees see the same numbers in float64.
    progress(what, done, total, unit): told as each referee starts, and entry by entry."""
    progress = progress or (lambda *a: None)
    D, H, T = sizes
    module = compile_network(net, source=source, dtype=dtype)
    params, x, y = _problem(net, module, D, H, K, T, batch, seed)
    x = x.astype(dtype)
    wide = _widened(params, x)
    E, cache = _loss(module, params, x, y)
    ours = {k: np.asarray(v, dtype=np.float64) for k, v in _flat(module.backward(_module_params(params), cache)).items()}
    floor = gradient_floor(ours)
    report = NetworkReport(f"{net.cell.name}: {net.layers} layers, {net.head} head, {net.loss} at "
                           f"{'every step' if net.loss_at == 'all' else 'step T'}; D, H, T, K, B = "
                           f"{D}, {H}, {T}, {K}, {batch}; seed {seed}" + ("" if dtype == "float64" else f"; {dtype}"))
    methods = list(dict.fromkeys(m for name in methods for m in ALIASES.get(name, (name,))))
    if not methods:
        raise ValueError("--method: no method given; choose from " + ", ".join(METHODS) + " (fd, all)")
    entries = sum(a.size for a in _leaves(params, x).values())
    for method in methods:                      # "directional" may join as it runs
        if method in NOT_ON_NETWORKS:
            continue
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r} for a network: choose from {', '.join(METHODS)} "
                             "(fd, all)")
        why = _too_big(method, net, params, x, entries) if limit else None
        if why:
            report.skipped.append((method, why))
            if method in ("central", "complex") and "directional" not in methods:
                methods.append("directional")            # it stands in, as the note says
            continue
        h, tol = step(method, dtype), tolerance(method, dtype)
        progress(f"check: {method}")
        tell = {"tell": lambda done, total, m=method: progress(f"check: {m}", done, total, "entries")} \
            if method in ("central", "complex") else {}
        try:
            if method == "symbolic":
                theirs = _symbolic(net, report)
            else:
                where = (params, x) if method in OWN else wide
                theirs = REFEREES[method](net, module, *where, y, ours, *([h] if h else []), **tell)
        except CannotRun as e:
            report.skipped.append((method, str(e)))
            continue
        # a difference quotient cannot see below the rounding of E itself: no evidence there
        noise = roundoff(abs(E), h, dtype) / tol if method in OWN else 0.0
        for name, ref in theirs.items():
            got, ref = ref if isinstance(ref, tuple) else (ours[name], ref)
            report.rows.append((method, name, relative_error(got, ref, max(floor, noise)), tol))
    report.skipped += [(m, why) for m, why in NOT_ON_NETWORKS.items() if m in methods or set(methods) >= set(METHODS)]
    if report.rows and report.exit_code == 2:
        report.notes.append("nothing ran the module: symbolic proves the derivation, not the code; "
                            "add derivation or another method")
    return report


def _interpreter(net, module, params, x, y, ours):
    from ..network import check_targets
    T, B, _ = x.shape
    rows = check_targets(net, y, T, B, params["b_y"].shape[0])      # (T', B, K), T' = 1 for step T alone
    starts = {f"layer {l + 1} {s}0" for l, st in enumerate(params["starts"]) for s in st}
    total = {}
    for b in range(B):
        ys = list(rows[:, b])
        init = [{s: v[b] for s, v in st.items()} for st in params["starts"]]
        _, g = run_network(net, params["layers"], {"V": params["V"], "b_y": params["b_y"]}, list(x[:, b]), ys, init)
        keep = lambda l, p: [*p, *(f"{s}0" for s in params["starts"][l])]
        for name, v in _flat({**g, "layers": [{k: g["layers"][l][k] for k in keep(l, p)}
                                               for l, p in enumerate(params["layers"])]}).items():
            if name == "x":
                total.setdefault(name, np.zeros_like(x))[:, b] = np.array(v)
            elif name in starts:                          # per sequence
                total.setdefault(name, np.zeros((B, len(v))))[b] = v
            else:
                total[name] = total.get(name, 0) + v
    return total


def _entrywise(fn, params, x, tell=None):
    """fn(leaves, name, idx) -> ∂E/∂leaf[idx] for every entry of every leaf."""
    out, leaves = {}, _leaves(params, x)
    done, total = 0, sum(a.size for a in leaves.values())
    for name, a in leaves.items():
        out[name] = np.array([fn(a, idx) for idx in np.ndindex(a.shape)]).reshape(a.shape)
        done += a.size
        if tell is not None:
            tell(done, total)
    return out


def _central(net, module, params, x, y, ours, eps=1e-6, tell=None):
    def entry(a, idx):
        keep = a[idx]
        a[idx] = keep + eps
        up = _loss(module, params, x, y)[0]
        a[idx] = keep - eps
        down = _loss(module, params, x, y)[0]
        a[idx] = keep
        return (up - down) / (2 * eps)
    return _entrywise(entry, params, x, tell)


def _complex_step(net, module, params, x, y, ours, h=1e-30, tell=None):
    safe = compile_network(net, complex_safe=True)
    cparams = _cast(params, complex)
    cx = x.astype(complex)

    def entry(a, idx):
        keep = a[idx]
        a[idx] = keep + 1j * h
        value = _loss(safe, cparams, cx, y)[0]
        a[idx] = keep
        return np.imag(value) / h
    return _entrywise(entry, cparams, cx, tell)


def _directional(net, module, params, x, y, ours, eps=1e-6):
    """vᵀJu along one random direction over every leaf: (predicted, measured)."""
    rng = np.random.default_rng(1)
    leaves = _leaves(params, x)
    u = {k: rng.standard_normal(v.shape) for k, v in leaves.items()}
    norm = np.sqrt(sum(np.sum(v * v) for v in u.values()))

    def moved(sign):
        kept = {k: v.copy() for k, v in leaves.items()}     # float32: v + d − d is not v
        for k, v in leaves.items():
            v += (sign * eps * u[k] / norm).astype(v.dtype)
        value = _loss(module, params, x, y)[0]
        for k, v in leaves.items():
            v[...] = kept[k]
        return value
    if any(np.shape(ours[k]) != u[k].shape for k in leaves):
        return {"vᵀJu": (np.array(np.inf), np.array(0.0))}       # a misshapen gradient: no prediction
    predicted = sum(np.sum(ours[k] * u[k]) for k in leaves) / norm
    return {"vᵀJu": (np.array(predicted), np.array((moved(1) - moved(-1)) / (2 * eps)))}


def _symbolic(net, report):
    """The exact proof of the derivation at its own small sizes (verify.network_proof): a row
    per gradient, 0 where every entry agrees exactly, 1 where one does not."""
    from .network_proof import SIZES, prove_network
    try:
        verdict = prove_network(net)
    except ImportError:
        raise CannotRun("the network's exact proof needs symengine: pip install 'lstm-sym[fast]'") from None
    except ValueError as e:              # e.g. relu: no value in the field (the module is not run here)
        raise CannotRun(str(e)) from None
    wrong = [entry for entry in verdict.values() if entry]
    report.notes.append(f"symbolic: the derivation proved exactly at D, H, K, T = {', '.join(map(str, SIZES))}, "
                        "B = 1, over GF(2^61 − 1) (it proves the derivation; the derivation method compares "
                        "the module with it)"
                        + (f"; first wrong entries: {', '.join(wrong[:3])}" if wrong else ""))
    rows = {}
    for name, entry in verdict.items():
        name = "x" if name.startswith("x_") else name
        rows[name] = max(rows.get(name, 0.0), 0.0 if entry is None else 1.0)
    return {name: (np.array(v), np.array(0.0)) for name, v in rows.items()}


def _graph(net, module, params, x, y, ours):
    """Reverse accumulation over the scalar graph of the whole network (verify.graph_oracle)."""
    from ..network import check_targets
    from .graph_oracle import network_graph_gradients
    T, B, _ = x.shape
    targets = check_targets(net, y, T, B, params["b_y"].shape[0])
    return _flat(network_graph_gradients(net, params, x, targets, params["starts"])[1])


def _torch(net, module, params, x, y, ours):
    from .torch_network import torch_network_gradients
    try:
        st = params["starts"]
        _, g = torch_network_gradients(net, params, x, y, [p["h"] for p in st] if "h" in st[0] else None,
                                       [p["c"] for p in st] if "c" in st[0] else None)
    except (ImportError, ValueError) as e:       # no torch here, or a cell torch.nn cannot express
        raise CannotRun(str(e).split("\n")[0]) from None
    return _flat(g)


REFEREES = {"derivation": _interpreter, "central": _central, "complex": _complex_step,
            "directional": _directional, "graph": _graph, "torch": _torch}
