"""Up-front estimates of what a command will cost, in seconds and bytes.

A run that would take longer than LIMIT_SECONDS, or more memory than the
machine has free, is refused before any work, in one line that gives the
estimate, what would fit, and the flag that runs it anyway (--no-limit).
`check` uses the same estimates to choose: past PER_ENTRY_SECONDS it runs the
directional check instead of per-entry differences, past GRAPH_SECONDS it
skips the scalar graph, and says so.

Each estimate counts the work's units from the sizes (forwards of the
generated kernel, scalar-graph edges, unrolled vector nodes, batched matrix
products ...) and multiplies by a unit cost measured on the machine this was
written on.  The estimates aim at the right order of magnitude, on the side
of too much rather than too little; they are not benchmarks.

Calibration (2 cores, 23 GB, Python 3.11.7, NumPy 2.4.6 with OpenBLAS, SymPy
1.14, symengine 0.15, networkx 3.6, torch 2.13 CPU; a shared machine, so
each figure is the slower end of a few runs).  `python -m lstm_sym.cost`
measures the unit costs again and prints them beside these:

  kernel      a forward of the generated kernel costs T·(KERNEL_OP·ops +
              (KERNEL_W + KERNEL_MAC·B)·macs), ops the cell's vector
              operations per step, macs its weights (multiply-adds per step
              and sequence): 0.85 µs per op (lstm, 21 ops: 18 µs a step at
              B = 2, H = 4), 1 ns per weight read (few rows are memory-bound:
              lstm (3,200,50), B = 2: 5.3 ms; (3,1000,20): 125 ms) and 0.03 ns
              per multiply-add (lstm (64,256,256,100): 50 ms).  Forward +
              backward is 1.7 to 3.7 forwards (3 here); the complex-safe
              forward in complex128 is 1.3× the dispatch (lstm (10,32,20):
              0.58 ms against 0.45 ms) and 4× the multiply-adds ((3,200,50):
              14.5 ms against 5.3 ms).  Forward and backward keep 7 B per
              scalar of each vector op and step (lstm (3,64,20000), B = 8:
              1.3 GB; (256,256,2000), B = 64: 4.8 GB).
  graph       the scalar graph (check --method graph): 6 µs per scalar edge
              per sequence, plus 8 µs per (operands of the loss node)²,
              n = 2H(T + 1): SymPy differentiates L = Σ G h once per operand,
              each time over all n terms (lstm (3,16,40): 115 000 edges, n² =
              1.7 M, 13.6 s; (10,32,5): 1.6 s; (10,32,20), batch 2: 465 000
              edges, n² = 1.8 M, 16 s here, 20 s in the issue); about 1 kB
              per edge while it lives.
  interpreter the derivation's reference module (check --impl): 1.8 µs per
              vector op per step and sequence forward (3 µs here), and
              (1 + 3)× that for the forward and the backward.
  torch       the PyTorch oracle: 150 µs a step, forward and backward
              (lstm (3,4,100000): 15 s).
  unroll      graph --format dot: 0.5 ms and 55 kB per lstm step (21 vector
              nodes, 49 edges: 7 µs and 780 B per node or edge); graphml
              27 µs and 2.6 kB; json 10 µs and 1.6 kB (lstm T = 20000:
              9.6 s, 1.1 GB as DOT; 38 s, 3.7 GB as GraphML).
  prove       the exact proof (symengine): 1.5 µs·V·E·T^1.56, V the symbols
              differentiated, E the scalar edges of one step, and 2 B·V·E·T²
              of memory (a least-squares fit over 30 runs of rnn, lstm and
              gru from 0.05 s to 154 s, within ×4 of every run: rnn (1,1,150)
              3.5 s, (1,1,300) 19 s, (1,1,600) 154 s and 2.6 GB; lstm
              (3,3,10) 1.3 s).  SymPy alone is 30× slower at T = 1 and its
              derivative trees grow by a factor 1.03 + 0.6·(r − 1) per step,
              r the reads of the previous states in one step (lstm (2,2,T):
              0.28 s, 3.9 s, 44 s for T = 1, 2, 3; rnn (1,1,60): 58 s).
  bound       one trial and step of the batched forward and backward:
              0.2 µs per vector op plus 4.5 ns per multiply-add; 1.2 ns·H³
              per trial and SVD; the memory path's Jacobians 1.1 ns·H³ per
              trial and step; 6 B per vector op, trial, step and H (lstm,
              1000 trials, T = 50: H = 16 0.9 s, H = 64 6 s and 0.5 GB,
              T = 200 20 s and 1.2 GB, 4000 trials 22 s and 1.7 GB; 200
              trials at H = 128 14 s; rnn 200 trials at H = 256 20 s, of
              which Pascanu's SVDs 16 s; lstm 200 trials at H = 256 141 s).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

LIMIT_SECONDS = 600.0          # refuse past 10 minutes ...
MEMORY_SHARE = 0.8             # ... or past 80% of the memory free now
PER_ENTRY_SECONDS = 30.0       # check: directional instead of per-entry differences past this
GRAPH_SECONDS = 10.0           # check: the scalar graph is skipped past this
DIAGNOSE_SECONDS = 60.0        # check --impl: where-it-goes-wrong probes are left out past this
FLAG = "--no-limit"

KERNEL_OP = 0.85e-6            # s per vector op per step (NumPy dispatch)
KERNEL_W = 1.0e-9              # s per weight per step (reading the weights: a product of few rows is memory-bound)
KERNEL_MAC = 0.03e-9           # s per multiply-add per sequence (the GEMM itself)
BACKWARD = 3.0                 # forward + backward, in forwards
COMPLEX = 4.0                  # complex128 multiply-adds, in real ones (the complex-safe kernel)
COMPLEX_OP = 1.3               # its per-op dispatch, in the real kernel's
KERNEL_BYTES = 7.0             # bytes per scalar per vector op and step (forward + backward buffers, float64)
GRAPH_EDGE = 6e-6              # s per scalar edge per sequence (build + accumulate)
GRAPH_LOSS = 8e-6              # s per (operands of the loss node)²: SymPy differentiates it once per operand
GRAPH_EDGE_BYTES = 1000.0
INTERP_OP = 3e-6               # s per vector op per step per sequence (the reference module's forward)
INTERP_BYTES = 400.0           # bytes per vector value it keeps (array + dict entry)
TORCH_STEP = 150e-6            # s per step, forward + backward
UNROLL = {"dot": (7e-6, 780.0), "graphml": (27e-6, 2600.0), "json": (10e-6, 1600.0)}   # per node or edge
PROVE_SCALE = 1.5e-6           # s per symbol · edge · T^PROVE_T
PROVE_T = 1.56
PROVE_BYTES = 2.0              # bytes per symbol · edge · T² (rnn (1,1,600): 2.6 GB)
SYMPY_SLOWER = 30.0            # SymPy against symengine at T = 1, and per further step
SYMPY_GROWTH = 0.6             # × (1.03 + 0.6·(reads − 1)): SymPy's derivative trees share nothing
BOUND_OP = 0.2e-6              # s per vector op per trial and step (batched: the dispatch is shared)
BOUND_MAC = 4.5e-9             # s per multiply-add per trial and step (forward, backward, norms)
BOUND_SVD = 1.2e-9             # s per H³ of one trial's SVD
BOUND_PATH = 1.1e-9            # s per trial, step and H³ of the memory path's Jacobians
BOUND_BYTES = 6.0              # bytes per vector op, trial, step and H kept
BASE = 1.0                     # interpreter start, imports, derivation


@dataclass(frozen=True)
class Estimate:
    seconds: float
    bytes: float = 0.0

    def __add__(self, other):
        return Estimate(self.seconds + other.seconds, max(self.bytes, other.bytes))

    def __mul__(self, k):
        return Estimate(self.seconds * k, self.bytes)

    __rmul__ = __mul__

    def __str__(self):
        """The time; the memory too when it is past the limit."""
        limit = memory_limit()
        big = limit is not None and self.bytes > limit
        return f"~{seconds_text(self.seconds)}" + (f" and ~{bytes_text(self.bytes)} of memory" if big else "")


# --- limits ---------------------------------------------------------------------

def memory_free():
    """Bytes the machine can give without swapping (MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for row in f:
                if row.startswith("MemAvailable:"):
                    return int(row.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_limit():
    free = memory_free()
    return None if free is None else MEMORY_SHARE * free


def fits(est, seconds=LIMIT_SECONDS):
    limit = memory_limit()
    return est.seconds <= seconds and (limit is None or est.bytes <= limit)


def largest(estimate, upto, seconds=LIMIT_SECONDS):
    """The largest n in 1..upto with fits(estimate(n)) (estimate grows with n),
    rounded down to two significant digits, or 0 when even n = 1 does not fit."""
    if not fits(estimate(1), seconds):
        return 0
    lo, hi = 1, upto
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(estimate(mid), seconds) else (lo, mid - 1)
    return round_down(lo)


def round_down(n):
    """n to two significant digits, never up (what fits stays what fits)."""
    if n < 100:
        return n
    k = 10 ** (len(str(n)) - 2)
    return n // k * k


def why(est, seconds=LIMIT_SECONDS):
    """What goes past the limits, in words ('' when it fits)."""
    parts = []
    limit = memory_limit()
    if est.seconds > seconds:
        parts.append(f"~{seconds_text(est.seconds)} (limit {seconds_text(seconds)})")
    if limit is not None and est.bytes > limit:
        parts.append(f"~{bytes_text(est.bytes)} of memory ({bytes_text(memory_free())} free here)")
    return " and ".join(parts)


def refuse(what, est, fits_text=""):
    """Raise the one-line refusal when est is past the limits."""
    over = why(est)
    if over:
        raise ValueError(f"{what} would take {over}{'; ' + fits_text if fits_text else ''}; "
                         f"{FLAG} runs it anyway")


def seconds_text(s):
    if s < 1:
        return f"{max(s, 0.1):.1g} s"
    for unit, size in (("years", 365 * 86400), ("months", 30 * 86400), ("days", 86400), ("h", 3600),
                       ("min", 60)):
        if s >= (2 if unit in ("years", "months", "days") else 1) * size:
            return f"{_round(s / size)} {unit}"
    return f"{_round(s)} s"


def bytes_text(b):
    if b is None:
        return "unknown"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= size:
            return f"{_round(b / size)} {unit}"
    return f"{int(b)} B"


def _round(v):
    """Two significant digits: 3.1, 17, 340, 16000, 1.1e+05."""
    if v >= 1e5:
        return f"{v:.1e}"
    return f"{float(f'{v:.2g}'):g}" if v >= 1 else f"{v:.2g}"


# --- what a cell costs per step ----------------------------------------------------

@dataclass(frozen=True)
class Profile:
    """Per step and sequence: vector ops, multiply-adds (H·H and H·D products),
    elementwise operand slots (× H scalars each); and the parameters."""
    name: str
    ops: int
    hh: int
    hd: int
    elementwise: int
    states: int
    p_hh: int
    p_hd: int
    p_h: int
    gates: int
    state_matvecs: int = 0        # matrix-vector products of a previous state, per step
    state_elementwise: int = 0    # elementwise reads of a previous state, per step

    def macs(self, D, H):
        return self.hh * H * H + self.hd * H * D

    def entries(self, D, H):
        return self.p_hh * H * H + self.p_hd * H * D + self.p_h * H

    def reads(self, H):
        """How often one step reads the previous states' entries."""
        return self.state_matvecs * H + self.state_elementwise

    def edges(self, D, H):
        """Scalar edges of one step of the scalar graph."""
        return 2 * self.macs(D, H) + self.elementwise * H


def profile(cell):
    """The Profile of a cell (a built-in name, a file, a Cell; a Profile is returned as is)."""
    if isinstance(cell, Profile):
        return cell
    from .cells import load_cell
    from .graph import _walk
    cell = load_cell(cell).check()
    shapes = {p: v.shape for p, v in cell.params.items()}
    hh = hd = elementwise = state_mv = state_ew = 0
    ops = _walk(cell, 1)
    previous = {f"{s}_0" for s in cell.states}
    for op in ops:
        if op.op == "matvec":
            shape = shapes.get(op.operands[0], ("H", "H"))
            hh, hd = (hh + 1, hd) if tuple(shape) == ("H", "H") else (hh, hd + 1)
            state_mv += op.operands[1] in previous
        else:
            elementwise += len(op.operands)
            state_ew += sum(o in previous for o in op.operands)
    kinds = {op.id: op.op for op in ops}
    gates = sum(1 for op in ops if op.op not in ("matvec", "add", "hadamard", "one_minus", "neg", "identity",
                                                  "scale", "pow", "map")
                and any(kinds.get(o) == "add" for o in op.operands))     # an activation of a pre-activation
    count = lambda s: sum(1 for v in shapes.values() if tuple(v) == s)
    return Profile(cell.name, len(ops), hh, hd, elementwise, len(cell.states), count(("H", "H")),
                   count(("H", "D")), count(("H",)), gates, state_mv, state_ew)


def kernel_forward(p, B, D, H, T, complex_=False):
    dispatch, products = KERNEL_OP * p.ops, p.macs(D, H) * (KERNEL_W + KERNEL_MAC * B)
    if complex_:
        return T * (COMPLEX_OP * dispatch + COMPLEX * products)
    return T * (dispatch + products)


def kernel_bytes(p, B, D, H, T):
    return KERNEL_BYTES * T * B * (p.ops * H + D) + 8.0 * p.entries(D, H)


def inputs(p, B, D, H, T):
    """Entries of every input a check differentiates: parameters, x, initial states."""
    return p.entries(D, H) + T * B * D + p.states * B * H


# --- check ------------------------------------------------------------------------

def check_costs(cell, D, H, T, B, impl=False, prove_sizes=((3, 3, 1), (2, 2, 2))):
    """Estimate per part of `check`: name -> Estimate.  'base' always runs
    (compile, the first call, the problem); 'directional' is the two-forward
    check (plus one direction per input when the inputs are few);
    'central', 'richardson', 'complex' the per-entry differences; 'graph',
    'torch', 'symbolic'; with impl, 'impl' (the forward's comparison with the
    cell, the derivation as a referee) and 'diagnose' (the probes that locate
    a wrong gradient, run only when one is wrong).  The user's module is
    taken to be as fast as the generated kernel."""
    from .verify.numeric import SMALL
    p = profile(cell)
    fwd = kernel_forward(p, B, D, H, T)
    mem = kernel_bytes(p, B, D, H, T)
    n = inputs(p, B, D, H, T)
    names = p.p_hh + p.p_hd + p.p_h + 1 + p.states
    costs = {"base": Estimate(BASE + BACKWARD * fwd + 2 * fwd, 3 * mem)}
    costs["directional"] = Estimate((2 + (2 * names if n < SMALL else 0)) * fwd, 2 * mem)
    costs["central"] = Estimate(2 * n * fwd, 2 * mem)
    costs["richardson"] = Estimate(4 * n * fwd, 2 * mem)
    costs["complex"] = Estimate(n * kernel_forward(p, B, D, H, T, True), 4 * mem)
    edges = p.edges(D, H) * T + 2 * H * T
    loss_operands = 2 * H * (T + p.states - 1)
    costs["graph"] = Estimate(B * GRAPH_EDGE * edges + GRAPH_LOSS * loss_operands ** 2, GRAPH_EDGE_BYTES * edges)
    costs["torch"] = Estimate(1.0 + T * TORCH_STEP + BACKWARD * T * p.macs(D, H) * (KERNEL_W + KERNEL_MAC * B),
                              6 * mem)
    costs["symbolic"] = sum((prove_cost(cell, *s) for s in prove_sizes), Estimate(0.0))
    if impl:
        interp = B * T * p.ops * INTERP_OP
        interp_bytes = INTERP_BYTES * B * T * 3 * p.ops + 8.0 * B * T * 3 * p.ops * H
        candidates = 2 * math.factorial(min(p.gates, 6)) + 12        # gate orders, transposes, variants
        costs["impl"] = Estimate(4 * candidates * fwd + (1 + BACKWARD) * interp, max(interp_bytes, 2 * mem))
        # every T' = 1..T for the first wrong step, then one probe per step k at that T'
        per_step = (1 + BACKWARD) * B * p.ops * INTERP_OP + BACKWARD * kernel_forward(p, B, D, H, 1)
        Tp = max(T, 3)
        costs["diagnose"] = Estimate(1.5 * Tp * Tp * per_step, interp_bytes)
    return costs


def check_plan(costs, methods, impl=False, limit=True, where=""):
    """(methods to run, notes, refusal) for `check`: per-entry differences
    past PER_ENTRY_SECONDS give way to the directional check, the graph past
    GRAPH_SECONDS is skipped; refusal is the text of what still does not fit
    ('' when it fits or limit is False); and the Estimate of the whole."""
    methods = list(dict.fromkeys(methods))
    notes = []
    per_entry = [m for m in ("central", "richardson", "complex") if m in methods]
    if per_entry and limit:
        spent = sum((costs[m] for m in per_entry), Estimate(0.0))
        if not fits(spent, PER_ENTRY_SECONDS):
            methods = [m for m in methods if m not in per_entry]
            if "directional" not in methods:
                methods.append("directional")
            notes.append(f"{', '.join(per_entry)}: per-entry differences would take {spent}; ran the "
                         "directional check instead (two forwards and one backward, every input at once); "
                         f"{FLAG} runs them")
    if "graph" in methods and limit and not fits(costs["graph"], GRAPH_SECONDS):
        methods.remove("graph")
        notes.append(f"graph: skipped: the scalar graph at {where} would take {costs['graph']}; "
                     f"--method graph {FLAG} runs it")
    total = costs["base"] + sum((costs[m] for m in methods if m in costs), Estimate(0.0))
    if impl:
        total = total + costs["impl"]
    refusal = why(total) if limit else ""
    return methods, notes, refusal, total


# --- prove ------------------------------------------------------------------------

def prove_units(cell, D, H, T):
    """(V·E, T): V the symbols differentiated, E the scalar edges of one step."""
    p = cell if isinstance(cell, Profile) else profile(cell)
    return (p.entries(D, H) + T * D + p.states * H) * p.edges(D, H), T


def network_prove_cost(cell, D, H, T, layers, backend="symengine"):
    """verify.network_proof: measured ×7–15 the cell's estimate at 2 layers, ×32 at 3: 5 L²."""
    return prove_cost(cell, D, H, T, backend) * (5 * layers ** 2)


def prove_cost(cell, D, H, T, backend="symengine"):
    p = profile(cell)
    ve, T = prove_units(p, D, H, T)
    seconds = PROVE_SCALE * ve * T ** PROVE_T
    if backend == "sympy":
        growth = 1.03 + SYMPY_GROWTH * (p.reads(H) - 1)
        seconds *= SYMPY_SLOWER * math.exp(min((T - 1) * math.log(growth), 700.0))
    return Estimate(0.02 + seconds, 1e8 + PROVE_BYTES * ve * T * T)


# --- graph ------------------------------------------------------------------------

def graph_cost(cell, T, fmt="dot", layers=1):
    """The vector-level unrolled graph and its text: per step and layer, one node
    per vector op (+ x_t), about 2.3 edges per node.  A network (layers > 1) builds
    each layer and relabels it into the whole (measured: about twice a node's cost),
    and its head adds ~6 nodes per step."""
    p = profile(cell)
    per_item, item_bytes = UNROLL.get(fmt, UNROLL["graphml"])
    per_step = p.ops + 1 if layers == 1 else 2 * layers * (p.ops + 1) + 6
    items = T * per_step * 3.3 + 50
    return Estimate(BASE + per_item * items, 5e7 + item_bytes * items)


# --- bound ------------------------------------------------------------------------

def bound_cost(cell, T, trials, H, D=8, pascanu=200, path_trials=32):
    """analyse(): the main measurement (forward, backward with the
    weight-gradient norms, the step bounds with one SVD per recurrent matrix
    and trial), for rnn-like cells Pascanu's table (4 ρ, up to 200 trials),
    for cells with a memory the rnn beside it, the forget gate opened, and the
    memory path with full Jacobians (32 trials, H rows carried backward, an
    SVD per step), twice."""
    p = profile(cell)
    svd = lambda n: n * max(p.p_hh, 1) * H ** 3 * BOUND_SVD
    main = lambda n, q=p: n * T * (BOUND_OP * q.ops + BOUND_MAC * q.macs(D, H))
    seconds = BASE + main(trials) + svd(trials)
    memory = BOUND_BYTES * p.ops * trials * T * H
    if p.states == 1 and p.p_hh == 1:                  # rnn-like: Pascanu's regimes
        n = min(trials, pascanu)
        seconds += 4 * (main(n) + 2 * svd(n))
    if p.states > 1:
        n = min(trials, path_trials)
        seconds += main(trials, profile("rnn")) + main(trials) + 2 * n * T * H ** 3 * BOUND_PATH
        memory = max(memory, 8.0 * n * T * H * H * p.states)
    return Estimate(seconds, 1e8 + memory + 8.0 * trials * H * H * (p.p_hh + 1))


# --- bench ------------------------------------------------------------------------

def bench_cost(cell, sizes, repeat=7, torch=True):
    """Every size: the float64 comparison at the smallest, then for each of
    the kernel, the textbook version and torch, 0.15 s of warm-up and
    `repeat` timed forward + backward runs."""
    p = profile(cell)
    seconds, memory = BASE, 0.0
    for B, D, H, T in sizes:
        run = BACKWARD * kernel_forward(p, B, D, H, T)
        seconds += (2 + torch) * (0.15 + max(repeat, 1) * run * 1.5)
        memory = max(memory, 4 * kernel_bytes(p, B, D, H, T))
    B, D, H, T = min(sizes, key=lambda s: s[0] * s[1] * s[2] * s[3])
    seconds += 4 * BACKWARD * kernel_forward(p, B, D, H, T)
    return Estimate(seconds, memory)


# --- calibration --------------------------------------------------------------------

def calibrate():
    """Measure the unit costs on this machine; print them beside the constants."""
    import time

    def best(fn, n=3):
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return min(out)

    from .codegen import compile as kernel
    from .verify.numeric import gradients, loss, make_problem
    lstm = profile("lstm")
    k = kernel("lstm")
    small = make_problem(k, 3, 4, 1000, 2)
    big = make_problem(k, 3, 200, 50, 2)
    t_small = best(lambda: loss(k, small))
    t_big = best(lambda: loss(k, big))
    op = t_small / 1000 / lstm.ops
    mac = max(t_big / 50 - op * lstm.ops, 1e-12) / lstm.macs(3, 200)       # weights + B = 2 products
    back = best(lambda: gradients(k, small)) / t_small
    kc = kernel("lstm", complex_safe=True)
    i = {n: v.astype(complex) for n, v in big.inputs().items()}
    comp = best(lambda: loss(kc, big, i)) / t_big    # flop-bound at this size
    rows = [("KERNEL_OP", KERNEL_OP, op), ("KERNEL_W + 2 MAC", KERNEL_W + 2 * KERNEL_MAC, mac),
            ("BACKWARD", BACKWARD, back),
            ("COMPLEX", COMPLEX, comp)]
    from .verify.graph_oracle import graph_gradients
    gp = make_problem(k, 10, 32, 3, 1)
    edges = lstm.edges(10, 32) * 3 + 2 * 32 * 3
    args = ("lstm", gp.params, list(gp.x[:, 0]), {"h": gp.h0[0], "c": gp.c0[0]}, list(gp.G[:, 0]), {"c": gp.Gc[0]})
    graph_gradients(*args)                   # SymPy compiles each node kind once per process
    rows.append(("GRAPH_EDGE", GRAPH_EDGE, best(lambda: graph_gradients(*args), 1) / edges))   # loss n² small here
    from .verify.reference import reference_module
    ref = reference_module("lstm")
    rp = make_problem(ref, 3, 4, 50, 1)
    rows.append(("INTERP_OP", INTERP_OP, best(lambda: loss(ref, rp)) / 50 / lstm.ops))
    from .graph import export, unroll
    for fmt in UNROLL:
        g = unroll("lstm", 300)
        items = g.number_of_nodes() + g.number_of_edges()
        rows.append((f"UNROLL[{fmt}]", UNROLL[fmt][0], best(lambda: export(unroll("lstm", 300), fmt), 1) / items))
    from .derivation import derive
    from .verify.symbolic import prove
    d = derive("rnn")
    ve, T = prove_units("rnn", 1, 1, 100)
    rows.append(("PROVE_SCALE", PROVE_SCALE, best(lambda: prove(d, 1, 1, 100), 1) / (ve * T ** PROVE_T)))
    for name, have, got in rows:
        print(f"{name:<16} {have:>10.3g}  measured {got:>10.3g}  (×{got / have:.2f})")


if __name__ == "__main__":
    calibrate()
