"""`lstm-sym bench`: the generated kernel against a textbook NumPy version and
against torch.nn.LSTM / GRU / RNN, forward + backward, on the CPU.

Protocol: outputs and gradients are compared first (float64); then every
implementation runs once to warm up, and the timed runs are interleaved
(generated, textbook, torch, NumPy's GEMMs alone; the order rotates each
round).  Each timed run follows 0.15 s of untimed runs of the same
implementation: the threads of the library that ran before (OpenBLAS's
spin for about 0.1 s after their last GEMM; torch's OpenMP pool) would
otherwise be charged to the next one.  (A pause instead lets the VM's idle
vCPU fall asleep, and waking it cost tens of milliseconds here.)  Reported: medians,
ratios of medians from the same run, and GFLOP/s of the GEMMs the kernel
performs beside NumPy's own GFLOP/s on exactly those GEMM shapes.
"""
from __future__ import annotations

import math
import statistics
import time

import numpy as np

from .cells import builtin_name
from .printing.document import Table, render
from .verify.torch_oracle import unsupported as torch_reason

DEFAULT_SIZES = ((64, 256, 256, 100), (32, 128, 128, 50))


# --- textbook versions, written for the benchmark ------------------------------
# What a tutorial writes: each gate's weights [W_gh, W_gx] times [h_{t−1}; x_t],
# one matmul per gate per step, new arrays everywhere, sigmoid as 1/(1 + e^−a).

def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def textbook_rnn(p, x, h0, dh):
    T, B, D = x.shape
    H = h0.shape[1]
    W = np.concatenate([p["W"], p["U"]], axis=1)
    h, steps = h0, []
    for t in range(T):
        z = np.concatenate([h, x[t]], axis=1)
        h = np.tanh(z @ W.T + p["b"])
        steps.append((z, h))
    dW, db, dx = np.zeros_like(W), np.zeros_like(p["b"]), np.zeros_like(x)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        z, h = steps[t]
        dnet = (dh[t] + dh_next) * (1 - h ** 2)
        dW += dnet.T @ z
        db += dnet.sum(axis=0)
        dz = dnet @ W
        dh_next, dx[t] = dz[:, :H], dz[:, H:]
    hs = np.stack([s[1] for s in steps])
    return hs, {"W": dW[:, :H], "U": dW[:, H:], "b": db, "x": dx, "h0": dh_next}


def textbook_lstm(p, x, h0, c0, dh):
    T, B, D = x.shape
    H = h0.shape[1]
    gates = "fico"
    W = {g: np.concatenate([p[f"W_{g}h"], p[f"W_{g}x"]], axis=1) for g in gates}
    b = {g: p[f"b_{g}"] for g in gates}
    h, c, steps = h0, c0, []
    for t in range(T):
        z = np.concatenate([h, x[t]], axis=1)
        f = _sigmoid(z @ W["f"].T + b["f"])
        i = _sigmoid(z @ W["i"].T + b["i"])
        g = np.tanh(z @ W["c"].T + b["c"])
        o = _sigmoid(z @ W["o"].T + b["o"])
        c_prev = c
        c = f * c_prev + i * g
        h = o * np.tanh(c)
        steps.append((z, f, i, g, o, c_prev, c, h))
    dW = {k: np.zeros_like(v) for k, v in W.items()}
    db = {k: np.zeros_like(v) for k, v in b.items()}
    dx = np.zeros_like(x)
    dh_next, dc_next = np.zeros_like(h0), np.zeros_like(c0)
    for t in reversed(range(T)):
        z, f, i, g, o, c_prev, c, h = steps[t]
        dh_t = dh[t] + dh_next
        tanh_c = np.tanh(c)
        do = dh_t * tanh_c * o * (1 - o)
        dc = dh_t * o * (1 - tanh_c ** 2) + dc_next
        dg = dc * i * (1 - g ** 2)
        di = dc * g * i * (1 - i)
        df = dc * c_prev * f * (1 - f)
        dz = np.zeros_like(z)
        for k, d in (("f", df), ("i", di), ("c", dg), ("o", do)):
            dW[k] += d.T @ z
            db[k] += d.sum(axis=0)
            dz += d @ W[k]
        dh_next, dx[t] = dz[:, :H], dz[:, H:]
        dc_next = dc * f
    grads = {}
    for g in gates:
        grads[f"W_{g}h"], grads[f"W_{g}x"], grads[f"b_{g}"] = dW[g][:, :H], dW[g][:, H:], db[g]
    grads.update(x=dx, h0=dh_next, c0=dc_next)
    return np.stack([s[7] for s in steps]), grads


def textbook_gru(p, x, h0, dh):
    T, B, D = x.shape
    H = h0.shape[1]
    W = {g: np.concatenate([p[f"W_{g}h"], p[f"W_{g}x"]], axis=1) for g in "rz"}
    h, steps = h0, []
    for t in range(T):
        z_in = np.concatenate([h, x[t]], axis=1)
        r = _sigmoid(z_in @ W["r"].T + p["b_r"])
        z = _sigmoid(z_in @ W["z"].T + p["b_z"])
        hn = h @ p["W_nh"].T + p["b_nh"]
        n = np.tanh(x[t] @ p["W_nx"].T + p["b_nx"] + r * hn)
        h_prev = h
        h = (1 - z) * n + z * h_prev
        steps.append((z_in, r, z, hn, n, h_prev, h))
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dWr, dWz = np.zeros_like(W["r"]), np.zeros_like(W["z"])
    dx = np.zeros_like(x)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        z_in, r, z, hn, n, h_prev, h = steps[t]
        dh_t = dh[t] + dh_next
        dn = dh_t * (1 - z) * (1 - n ** 2)
        dz = dh_t * (h_prev - n) * z * (1 - z)
        dr = dn * hn * r * (1 - r)
        dhn = dn * r
        dWr += dr.T @ z_in
        dWz += dz.T @ z_in
        grads["W_nx"] += dn.T @ x[t]
        grads["W_nh"] += dhn.T @ h_prev
        grads["b_r"] += dr.sum(axis=0)
        grads["b_z"] += dz.sum(axis=0)
        grads["b_nx"] += dn.sum(axis=0)
        grads["b_nh"] += dhn.sum(axis=0)
        dzin = dr @ W["r"] + dz @ W["z"]
        dh_next = dzin[:, :H] + dhn @ p["W_nh"] + dh_t * z
        dx[t] = dzin[:, H:] + dn @ p["W_nx"]
    grads["W_rh"], grads["W_rx"] = dWr[:, :H], dWr[:, H:]
    grads["W_zh"], grads["W_zx"] = dWz[:, :H], dWz[:, H:]
    grads.update(x=dx, h0=dh_next)
    return np.stack([s[6] for s in steps]), grads


TEXTBOOK = {"rnn": textbook_rnn, "lstm": textbook_lstm, "gru": textbook_gru}


# --- the pieces timed -------------------------------------------------------------

def gemm_flops(plan, B, D, H, T):
    """Floating-point operations of the GEMMs in one forward + backward: each
    projection W v appears three times (forward, its input's gradient, its
    weight's gradient), 2·T·B·H·(size of v) each."""
    Gx = len(plan.groups["x"].weights) if "x" in plan.groups else 0
    Gh = sum(len(g.weights) for k, g in plan.groups.items() if k != "x")
    return 3 * 2 * T * B * H * (Gx * D + Gh * H), Gx, Gh


def numpy_gemms(B, D, H, T, Gx, Gh, dtype, rng):
    """NumPy's GEMMs alone on the kernel's shapes, in its orientations (each
    step's vectors as (H, B) column blocks; projections fused across slots):
    the speed of light for this kernel."""
    x = rng.standard_normal((T, B, D)).astype(dtype)
    Wx = rng.standard_normal((Gx * H, D)).astype(dtype)
    Wh = rng.standard_normal((Gh * H, H)).astype(dtype)
    gates = np.empty((T, Gx * H, B), dtype)
    h = rng.standard_normal((H, B)).astype(dtype)
    proj, carried = np.empty((Gh * H, B), dtype), np.empty((H, B), dtype)
    deltas = rng.standard_normal((Gh * H, T, B)).astype(dtype)
    x_deltas = rng.standard_normal((Gx * H, T * B)).astype(dtype)
    h_rows = rng.standard_normal((T * B, H)).astype(dtype)

    def run():
        np.matmul(Wx, x.transpose(0, 2, 1), out=gates)
        for t in range(T):
            np.matmul(Wh, h, out=proj)
        for t in range(T):
            np.matmul(Wh.T, deltas[:, t], out=carried)
        deltas.reshape(Gh * H, T * B) @ h_rows
        x_deltas @ x.reshape(T * B, D)
        x_deltas.T @ Wx
    return run


def torch_runner(cell, params, x, init, dh, dtype, threads):
    """A closure running torch forward + backward, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    from .verify.torch_oracle import to_torch
    torch.set_num_threads(threads)
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[np.dtype(dtype).type]
    module = to_torch(cell, {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}).to(tdtype)
    xt = torch.tensor(x, requires_grad=True)
    states = [torch.tensor(init[s][None], requires_grad=True) for s in init]
    dht = torch.tensor(dh)
    hx = tuple(states) if len(states) > 1 else states[0]

    def run():
        for t in [xt, *states, *module.parameters()]:
            t.grad = None
        out, _ = module(xt, hx)
        out.backward(dht)
    return run


# --- comparison, then timing --------------------------------------------------------

def compare(cell, kernel, B, D, H, T, seed=0):
    """Max |difference| of h and of every gradient, float64, between the
    generated kernel and the textbook version (and torch when it imports)."""
    rng = np.random.default_rng(seed)
    params = kernel.init_params(D, H, seed=seed, dtype=np.float64)
    x = rng.standard_normal((T, B, D))
    init = {s: 0.5 * rng.standard_normal((B, H)) for s in kernel.STATES}
    dh = rng.standard_normal((T, B, H))
    h, cache = kernel.forward(params, x, **{s + "0": v for s, v in init.items()})
    grads = kernel.backward(params, dh, cache)
    out = {}
    name = builtin_name(cell)
    if name in TEXTBOOK:
        h_tb, g_tb = TEXTBOOK[name](params, x, *init.values(), dh)
        out["textbook"] = _max_diff(h, grads, h_tb, g_tb)
    if not torch_can(cell):
        return out
    from .verify.torch_oracle import torch_gradients
    h_t, g_t = torch_gradients(name, params, x, *init.values(), G=dh)
    out["torch"] = _max_diff(h, grads, h_t, g_t)
    return out


def _max_diff(h, grads, h_other, g_other):
    worst = ("h", float(np.max(np.abs(h - h_other))))
    for name, g in g_other.items():
        diff = float(np.max(np.abs(grads[name] - g)) / max(1.0, float(np.max(np.abs(g)))))
        if diff > worst[1]:
            worst = (name, diff)
    return worst


SETTLE = 0.15     # seconds; OpenBLAS's idle threads spin for about 2^28 cycles (0.1 s)


def settle(fn, seconds):
    """Run fn untimed for `seconds`, so that the threads of whichever library
    ran before have stopped spinning and this one's are awake."""
    end = time.perf_counter() + seconds
    fn()
    while time.perf_counter() < end:
        fn()


def measure(cell, sizes, dtype=np.float32, repeat=7, threads=2, seed=0,
            use_torch=True, progress=None):
    """One row per size: medians (seconds) and the figures derived from them."""
    from .codegen import compile as compile_kernel
    from .codegen.plan import make_plan
    from .derivation import derive
    d = derive(cell)
    kernel = compile_kernel(d)
    plan = make_plan(d)
    rows = []
    for B, D, H, T in sizes:
        rng = np.random.default_rng(seed)
        params = kernel.init_params(D, H, seed=seed, dtype=dtype)
        x = rng.standard_normal((T, B, D)).astype(dtype)
        init = {s: (0.5 * rng.standard_normal((B, H))).astype(dtype) for s in kernel.STATES}
        dh = rng.standard_normal((T, B, H)).astype(dtype)
        flops, Gx, Gh = gemm_flops(plan, B, D, H, T)

        def generated():
            h, cache = kernel.forward(params, x, **{s + "0": v for s, v in init.items()})
            kernel.backward(params, dh, cache)

        runs = {"generated": generated}
        if builtin_name(d.cell) in TEXTBOOK:
            book = TEXTBOOK[builtin_name(d.cell)]
            runs["textbook"] = lambda: book(params, x, *init.values(), dh)
        runs["numpy GEMMs"] = numpy_gemms(B, D, H, T, Gx, Gh, dtype, rng)
        use = use_torch and torch_can(d.cell)
        torch_run = torch_runner(builtin_name(d.cell), params, x, init, dh, dtype, threads) if use else None
        if torch_run is not None:
            runs["torch"] = torch_run
        times = {k: [] for k in runs}
        for fn in runs.values():
            fn()
        names = list(runs)
        for r in range(repeat):
            for k in names[r % len(names):] + names[:r % len(names)]:
                settle(runs[k], SETTLE)
                start = time.perf_counter()
                runs[k]()
                times[k].append(time.perf_counter() - start)
            if progress:
                progress(f"  {d.cell.name} {(B, D, H, T)} round {r + 1}/{repeat}")
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append({"sizes": (B, D, H, T), "median": med, "times": times, "flops": flops,
                     "gflops": flops / med["generated"] / 1e9,
                     "gemm_gflops": flops / med["numpy GEMMs"] / 1e9})
    return rows


SPREAD = 3.0        # a runner whose slowest timed run is over 3× its fastest was disturbed
TOO_FAST = 0.01     # torch (or textbook) under 1% of the generated kernel's median: not a real speed


def ratio(r):
    """A ratio of medians: two decimals (none from 100× on), but never fewer
    than two significant digits (0.0012×, not 0.00×)."""
    if not math.isfinite(r) or r <= 0:
        return f"{r}×"
    decimals = 0 if r >= 100 else max(2, 1 - math.floor(math.log10(r)))
    return f"{r:.{decimals}f}×"


def milliseconds(seconds):
    """A median in ms: one decimal, but never fewer than two significant digits."""
    ms = seconds * 1e3
    if not math.isfinite(ms) or ms <= 0:
        return f"{ms} ms"
    decimals = max(1, 1 - math.floor(math.log10(ms)))
    return f"{ms:.{decimals}f} ms"


def outliers(rows):
    """Warning lines for medians not to be trusted: a runner whose timings
    spread over more than SPREAD× (max/min), or torch (textbook) faster than
    TOO_FAST of the generated kernel's median."""
    out = []
    for r in rows:
        m, times = r["median"], r.get("times", {})
        for name, ts in times.items():
            if ts and min(ts) > 0 and max(ts) / min(ts) > SPREAD:
                out.append(f"warning: {r['sizes']} {name}: timed runs range from {milliseconds(min(ts))} to "
                           f"{milliseconds(max(ts))} ({ratio(max(ts) / min(ts))} apart): the machine was busy "
                           "or a run was disturbed; its median and the ratios with it are unreliable (rerun, "
                           "or raise --repeat)")
        for name in ("torch", "textbook"):
            if name in m and m[name] < TOO_FAST * m["generated"]:
                out.append(f"warning: {r['sizes']} {name}'s median {milliseconds(m[name])} is under "
                           f"{TOO_FAST:.0%} of generated's {milliseconds(m['generated'])}: an outlier, not a "
                           "speed-up; the ratios with it are unreliable (rerun)")
    return out


def table(rows):
    """The results as a Markdown table (the one README shows), then a warning
    line for each median not to be trusted (outliers()).  A column a cell
    has no runner for (no textbook version, torch cannot express it) is left
    out, and skipped() says why."""
    have_torch = all("torch" in r["median"] for r in rows)
    have_book = all("textbook" in r["median"] for r in rows)
    head = ["(B, D, H, T)", "generated"] + (["textbook"] if have_book else []) + (["torch"] if have_torch else [])
    head += (["generated / torch"] if have_torch else []) + (["textbook / torch"] if have_torch and have_book else [])
    head += (["textbook / generated"] if have_book else []) + ["generated GFLOP/s", "NumPy GEMM GFLOP/s"]
    body = []
    for r in rows:
        m = r["median"]
        cells = [str(r["sizes"]), milliseconds(m["generated"])]
        cells += [milliseconds(m["textbook"])] if have_book else []
        if have_torch:
            cells += [milliseconds(m["torch"]), ratio(m["generated"] / m["torch"])]
            cells += [ratio(m["textbook"] / m["torch"])] if have_book else []
        cells += [ratio(m["textbook"] / m["generated"])] if have_book else []
        cells += [f"{r['gflops']:.0f}", f"{r['gemm_gflops']:.0f}"]
        body.append(cells)
    warnings = outliers(rows)
    return "\n".join([render([Table(head, body)], "markdown").rstrip("\n")] + ([""] + warnings if warnings else []))


def skipped(cell, use_torch=True):
    """One line per comparison the benchmark cannot run for this cell."""
    out = []
    if builtin_name(cell) not in TEXTBOOK:
        out.append(f"textbook: skipped (no textbook NumPy version of {cell.name} to time against)")
    if use_torch and not torch_can(cell):
        out.append(f"torch: skipped ({torch_reason(cell)})")
    return out


def torch_can(cell):
    return torch_reason(cell) is None


def versions(threads, use_torch=True):
    parts = [f"NumPy {np.__version__}"]
    if not use_torch:
        return parts[0]
    try:
        import torch
        parts.append(f"torch {torch.__version__} ({threads} threads)")
    except ImportError:
        parts.append("torch not installed")
    return ", ".join(parts)
