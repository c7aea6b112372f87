"""A network's stand-alone NumPy module: the cell's kernel (as layer_forward,
layer_backward, init_params) and, written from the network's derivation,
init_network, loss and backward.

    loss(params, x, targets, h0s=None, c0s=None, **<state>0s) -> (E, cache)
    backward(params, cache) -> {"layers": [grads of each layer], "V": ..., "b_y": ..., "x": ...}
    clip_by_global_norm(grads, max_norm) -> norm,  clip_by_value(grads, limit): in place

params = {"layers": [one cell's params per layer], "V": (K, H_L), "b_y": (K,)}.
E sums ℓ_t over the steps with a loss and over the batch, as the derivation does.
"""
from __future__ import annotations

import linecache
import types

from ..network import head_derivation
from ..printing.text import TextPrinter
from .emit import emitter

HEAD_TEMPLATE = '''

# --- the network ---------------------------------------------------------------------

LAYERS = {layers}
HEAD = "{head}"
LOSS = "{loss}"
LOSS_AT = "{loss_at}"    # all: a loss at every step; last: step T only
# the dtypes loss() takes: complex ones only where the kernel is complex-safe (the complex step)
FLOATS = (np.float32, np.float64) + ((np.complex64, np.complex128) if COMPLEX_SAFE else ())
FLOAT_NAMES = " or ".join(np.dtype(t).name for t in FLOATS)


def _whole(name, n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{{name}} must be a positive integer, got {{n!r}}")
    return int(n)


def init_network(D, sizes, K, *, seed=0, dtype=DTYPE):
    """Every layer's parameters (layer l reads layer l−1's size, layer 1 reads D) and the head's,
    V (K, H_L) and b_y (K,) drawn from ±1/√H_L as torch.nn.Linear draws them.  sizes: one H per
    layer, or one H for all."""
    if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
        sizes = [sizes] * LAYERS
    elif isinstance(sizes, (list, tuple)) or (isinstance(sizes, np.ndarray) and sizes.ndim == 1):
        sizes = list(sizes)
    else:
        raise ValueError(f"sizes must be a positive integer or a list of one per layer ({{LAYERS}}), "
                         f"got {{sizes!r}}")
    if len(sizes) != LAYERS:
        raise ValueError(f"sizes has {{len(sizes)}} entries, expected one per layer ({{LAYERS}})")
    D, K = _whole("D", D), _whole("K", K)
    sizes = [_whole(f"sizes[{{l}}]", H) for l, H in enumerate(sizes)]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {{seed!r}}")
    try:
        ok = np.dtype(dtype) in (np.float32, np.float64)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"dtype must be float32 or float64, got {{dtype!r}}")
    try:
        layers = [init_params(D if l == 0 else sizes[l - 1], H, seed=seed + l, dtype=dtype)
                  for l, H in enumerate(sizes)]
        rng = np.random.default_rng([seed, LAYERS])
        bound = 1 / np.sqrt(sizes[-1])
        return {{"layers": layers, "V": rng.uniform(-bound, bound, (K, sizes[-1])).astype(dtype),
                "b_y": rng.uniform(-bound, bound, K).astype(dtype)}}
    except (MemoryError, ValueError, OverflowError) as e:      # numpy's: past memory, or past its index
        raise ValueError(f"D = {{D}}, sizes = {{sizes}}, K = {{K}}: the parameters are too large "
                         f"({{e}})") from None


def _array(name, a, want="numbers"):
    """a as an array of numbers: ragged lists, strings, objects and booleans refused by name."""
    try:
        a = np.asarray(a)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{{name}} is not an array: {{e}}") from None
    if a.dtype.kind not in "iufc":
        raise ValueError(f"{{name}} has dtype {{a.dtype}}, expected {{want}}")
    return a


def _finite(name, a):
    """NaN or infinity would surface only as a NaN loss, far from its cause.  Anything but an
    array of numbers is left to the kernel's checks, which name its type or dtype."""
    if isinstance(a, np.ndarray) and a.dtype.kind in "iufc" and not np.all(np.isfinite(a)):
        raise ValueError(f"{{name}} holds NaN or infinity; every entry must be finite")


def _targets(targets, T, B, K, dtype):
    """The targets as (T', B, K) rows, T' = T (LOSS_AT all) or 1; class indices become one-hot."""
    steps = T if LOSS_AT == "all" else 1
    y = _array("targets", targets)
    if LOSS_AT == "last" and y.ndim in (1, 2) and y.shape[:1] == (B,):
        y = y[None]
    if LOSS == "xent" and y.dtype.kind in "iu":
        if y.shape != (steps, B):
            want = f"(T, B) = {{(T, B)}}" if LOSS_AT == "all" else f"(B,) = {{(B,)}}"
            raise ValueError(f"targets has shape {{np.shape(targets)}}, expected class indices {{want}}")
        if y.size and (y.min() < 0 or y.max() >= K):
            bad = int(y.min()) if y.min() < 0 else int(y.max())
            raise ValueError(f"targets holds class {{bad}}, outside 0..{{K - 1}} (K = {{K}} outputs)")
        onehot = np.zeros((steps, B, K), dtype)           # not np.eye(K)[y]: K² entries
        np.put_along_axis(onehot, y[..., None], 1, axis=-1)
        return onehot
    if y.dtype.kind not in "fiu" or y.shape != (steps, B, K):
        want = f"(T, B, K) = {{(T, B, K)}}" if LOSS_AT == "all" else f"(B, K) = {{(B, K)}}"
        raise ValueError(f"targets has shape {{np.shape(targets)}} and dtype {{y.dtype}}, expected {{want}}")
    _finite("targets", y)
    if LOSS == "xent" and (not np.allclose(y.sum(axis=-1), 1, atol=1e-6) or np.any(y < 0) or np.any(y > 1)):
        bad = y.min() if y.min() < 0 else y.max() if y.max() > 1 else None
        raise ValueError("targets for xent must be class indices or probability rows (entries in [0, 1] "
                         "that sum to 1)" + (f"; one entry is {{bad}}" if bad is not None else ""))
    return y.astype(dtype)


def _initial(name, given, count):
    """h0s or c0s as one initial state (None: zeros) per layer."""
    if given is None:
        return [None] * count
    if not isinstance(given, (list, tuple)) and not (isinstance(given, np.ndarray) and given.ndim == 3):
        raise ValueError(f"{{name}} must be a list of one (B, H) array (or None) per layer ({{count}}), "
                         f"got {{type(given).__name__}}")
    if len(given) != count:
        raise ValueError(f"{{name}} has {{len(given)}} entries, expected one per layer ({{count}})")
    for l, a in enumerate(given):
        _finite(f"layer {{l + 1}} {{name[:-1]}}", a)
    return list(given)


def _params(params):
    """params' layout, and every parameter finite.  The layers' shapes and dtypes are their
    kernel's to check, the head's _head's."""
    if not isinstance(params, dict) or set(params) != {{"layers", "V", "b_y"}}:
        raise ValueError('params must be a dict with keys "layers", "V", "b_y" (see init_network)')
    if not isinstance(params["layers"], (list, tuple)) or len(params["layers"]) != LAYERS:
        raise ValueError(f"params[\\"layers\\"] must hold one dict per layer ({{LAYERS}})")
    for l, layer in enumerate(params["layers"]):
        if not isinstance(layer, dict):
            raise ValueError(f"layer {{l + 1}}: params[\\"layers\\"][{{l}}] is of type {{type(layer).__name__}}, "
                             f"expected a dict of the {{CELL}} cell's parameters ({{', '.join(PARAMS)}})")
        for name, a in layer.items():
            _finite(f"layer {{l + 1}} {{name}}", a)
    _finite("V", params["V"])
    _finite("b_y", params["b_y"])


def _head(params, H, dtype, K=None):
    """V, b_y and K, checked against the layers: H = H_L, their dtype (any of FLOATS where the
    kernel is complex-safe) and, given K, the cache's K."""
    V, b_y = params["V"], params["b_y"]
    for name, a in (("V", V), ("b_y", b_y)):
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{{name}} is of type {{type(a).__name__}}, expected a NumPy array")
        if a.dtype not in FLOATS if COMPLEX_SAFE else a.dtype != dtype:
            want = FLOAT_NAMES if COMPLEX_SAFE else f"{{dtype}} (the layers' dtype)"
            raise ValueError(f"{{name}} has dtype {{a.dtype}}, expected {{want}}")
    k = b_y.shape[0] if b_y.ndim == 1 else 0
    if V.shape != (k, H) or k == 0:
        raise ValueError(f"V has shape {{V.shape}} and b_y {{b_y.shape}}, expected (K, H) = (K, {{H}}) "
                         "and (K,) with K at least 1")
    if K is not None and k != K:
        raise ValueError(f"V has shape {{V.shape}}, but the cache is of a loss with K = {{K}} outputs: "
                         "backward() takes the params that loss() took")
    return V, b_y, k


def _in_layer(l, function, *args, **kwargs):
    """function(*args, **kwargs), a refusal from the kernel prefixed with the layer it is about."""
    try:
        return function(*args, **kwargs)
    except ValueError as e:
        raise ValueError(f"layer {{l + 1}}: {{e}}") from None


def _starts(h0s, c0s, initial):
    """One {{state: (B, H) array}} per layer: h0s for the output state, c0s, and <state>0s for
    any other state (a cell with states h, m takes m0s)."""
    given = {{f"{{STATES[0]}}0s": h0s, "c0s": c0s, **initial}}
    for key, value in given.items():
        if value is not None and key not in {{f"{{s}}0s" for s in STATES}}:
            raise ValueError(f"{{key}} given, but the {{CELL}} cell has no {{key[:-2]}} state (its states: "
                             f"{{', '.join(STATES)}}; initial states: {{', '.join(s + '0s' for s in STATES)}})")
    per_state = {{s: _initial(f"{{s}}0s", given.get(f"{{s}}0s"), LAYERS) for s in STATES}}
    return [{{s: per_state[s][l] for s in STATES if per_state[s][l] is not None}} for l in range(LAYERS)]


def loss(params, x, targets, h0s=None, c0s=None, **initial):
    """E and the cache backward() reads.  x (T, B, D); targets (T, B, K) rows, or (T, B) class
    indices for xent (with LOSS_AT last: (B, K) or (B,)); h0s, c0s (and <state>0s for a cell's
    other states): one initial state per layer.  x is copied: the cache does not see later changes."""
    x = _array("x", x, FLOAT_NAMES)
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"x has shape {{x.shape}}, expected (T, B, D) with T, B, D at least 1")
    if x.dtype not in FLOATS:
        raise ValueError(f"x has dtype {{x.dtype}}, expected {{FLOAT_NAMES}}")
    _finite("x", x)
    _params(params)
    starts = _starts(h0s, c0s, initial)
    h, caches = np.array(x, order="C"), []           # a copy: layer 1's cache keeps it
    for l, layer in enumerate(params["layers"]):
        # h_t^(0) = x_t; layer l+1 reads layer l's h_t as its x_t
        h, cache = _in_layer(l, layer_forward, layer, np.ascontiguousarray(h),
                             **{{f"{{s}}0": v for s, v in starts[l].items()}})
        caches.append(cache)
    T, B, H = h.shape
    V, b_y, K = _head(params, H, h.dtype)
    y = _targets(targets, T, B, K, h.dtype)
    top = h if LOSS_AT == "all" else h[-1:]
{forward_comments}
    logits = top @ V.T + b_y
    if LOSS == "xent":
        shifted = logits - logits.real.max(axis=-1, keepdims=True)     # the real part: analytic for the complex step
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        E, out = -np.sum(y * log_p), np.exp(log_p)       # out: ŷ_t
    else:
        E, out = 0.5 * np.sum((logits - y) ** 2), logits
    return E.item(), {{"caches": caches, "top": top, "out": out, "y": y, "h_shape": (T, B, H)}}


def _cache(cache):
    """cache, its parts checked against each other: a grads dict, or another network's cache, is
    refused here rather than half-way through backward()."""
    keys = ("caches", "top", "out", "y", "h_shape")
    if not isinstance(cache, dict) or any(key not in cache for key in keys):
        raise ValueError(f"cache is not what loss() returned: a dict with keys {{', '.join(keys)}}")
    caches, top, out, y, shape = (cache[key] for key in keys)
    arrays = all(isinstance(a, np.ndarray) and a.ndim == 3 for a in (top, out, y))
    if not (arrays and isinstance(caches, list) and len(caches) == LAYERS and out.shape == y.shape
            and isinstance(shape, tuple) and len(shape) == 3 and top.shape[1:] == shape[1:]
            and top.shape[0] == out.shape[0] == (shape[0] if LOSS_AT == "all" else 1)):
        raise ValueError(f"cache is not what this network's loss() returned ({{LAYERS}} layers, "
                         f"loss at {{LOSS_AT}} steps)")
    return cache


def backward(params, cache):
    """Every gradient of E: each layer's (a dict like layer_backward's), the head's and x's."""
    T, B, H = _cache(cache)["h_shape"]
    _params(params)
    V, _, K = _head(params, H, cache["top"].dtype, cache["out"].shape[-1])
{backward_comments}
    delta_y = cache["out"] - cache["y"]
    rows, tops = delta_y.reshape(-1, K), cache["top"].reshape(-1, H)
    grads = {{"V": rows.T @ tops, "b_y": rows.sum(axis=0)}}
    dh = np.zeros((T, B, H), delta_y.dtype)
    dh[T - delta_y.shape[0]:] = delta_y @ V         # no output error where no loss
    layers = [None] * LAYERS
    for l in reversed(range(LAYERS)):
        # layer l's ∂ℓ_t/∂h_t is δx_t of layer l+1
        layers[l] = _in_layer(l, layer_backward, params["layers"][l], dh, cache["caches"][l])
        dh = layers[l].pop("x")
    grads["layers"], grads["x"] = layers, dh
    return grads


def _parameter_gradients(grads, kinds):
    """The gradients a training step applies: every layer's parameters', V's and b_y's, every one
    checked before any is changed (a refusal half-way would leave some clipped)."""
    layers = grads.get("layers") if isinstance(grads, dict) else None
    if not (isinstance(layers, (list, tuple)) and len(layers) == LAYERS
            and all(isinstance(g, dict) for g in layers)):
        raise ValueError(f'grads must be what backward() returned: a dict with "layers" (one dict per layer, '
                         f'{{LAYERS}}), "V" and "b_y"')
    named = [(f"layer {{l + 1}} {{name}}", g.get(name)) for l, g in enumerate(layers) for name in PARAMS]
    named += [(name, grads.get(name)) for name in ("V", "b_y")]
    for name, g in named:
        if g is None:
            raise ValueError(f"grads has no {{name}} (grads must be what backward() returned)")
        if not isinstance(g, np.ndarray) or g.dtype.kind not in kinds or not g.flags.writeable:
            what = f"dtype {{g.dtype}}" if isinstance(g, np.ndarray) else f"type {{type(g).__name__}}"
            raise ValueError(f"grads' {{name}} has {{what}}, expected a writeable array of "
                             f"{{'floats' if kinds == 'f' else 'floats or complex numbers'}} (clipped in place)")
    return [g for _, g in named]


def _positive(name, v):
    """v as a float > 0 (infinity: no limit); a bool is not a number here."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not v > 0:
        raise ValueError(f"{{name}} must be > 0 (a number), got {{v!r}}")
    try:
        return float(v)
    except OverflowError:
        return float("inf")


def clip_by_global_norm(grads, max_norm):
    """Scale every parameter gradient by min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ the 2-norm of all
    of them as one vector (torch.nn.utils.clip_grad_norm_'s rule); in place.  Returns ‖g‖."""
    max_norm = _positive("max_norm", max_norm)
    arrays = _parameter_gradients(grads, "fc")
    norm = float(np.sqrt(sum(np.vdot(g, g).real for g in arrays)))
    scale = max_norm / (norm + 1e-6)
    if scale < 1:
        for g in arrays:
            g *= scale
    return norm


def clip_by_value(grads, limit):
    """Clip every parameter gradient's entries to [−limit, limit]; in place.  Real gradients only:
    complex numbers have no order to clip by."""
    limit = _positive("limit", limit)
    for g in _parameter_gradients(grads, "f"):
        np.clip(g, -limit, limit, out=g)
'''


def _comments(rows):
    tp = TextPrinter()
    return "\n".join(f"    # {lhs} = {tp.doprint(rhs) if not isinstance(rhs, str) else rhs}" for lhs, rhs in rows)


def emit_network(net, complex_safe=False, dtype="float64"):
    """The network's module source: the cell's kernel, then the network's functions."""
    hd = head_derivation(net)
    tp = TextPrinter()
    em = emitter(net.cell, complex_safe, dtype)
    title = net.cell.title or net.cell.name
    doc = (f'"""{title} network ({net.layers} layer{"s" if net.layers > 1 else ""}, {net.head} head, '
           f'{net.loss} loss at {"every step" if net.loss_at == "all" else "the last step"}) in NumPy.\n\n'
           f"Generated by lstm-sym (`lstm-sym codegen {net.cell.name} --layers {net.layers} --head {net.head} "
           f"--loss {net.loss} --loss-at {net.loss_at}`);\nregenerate it rather than edit it.  Needs only NumPy.\n\n"
           "    init_network(D, sizes, K, *, seed=0, dtype=DTYPE) -> params\n"
           "    loss(params, x, targets, h0s=None, c0s=None) -> (E, cache)\n"
           "    backward(params, cache) -> {\"layers\": [...], \"V\": ..., \"b_y\": ..., \"x\": ...}\n"
           "    clip_by_global_norm(grads, max_norm) -> norm;  clip_by_value(grads, limit)   (in place)\n\n"
           "Each layer is the cell's kernel (layer_forward, layer_backward, init_params below).\n"
           "The derivation: `lstm-sym derive " + f"{net.cell.name} --layers {net.layers} --loss {net.loss} "
           f"--loss-at {net.loss_at}`.\n" + '"""')
    source = em.module(docstring=doc, prefix="layer_")
    forward = [("a_t", "V h_t^(L) + b_y"), ("ℓ_t", tp.doprint(net.loss_node)),
               ("E", "Σ_t ℓ_t, over the batch too" if net.loss_at == "all" else "ℓ_T, over the batch")]
    backward = [("δ_{y,t}", tp.doprint(hd.output_delta) + " (the loss op's rule)"),
                ("∂E/∂V", tp.doprint(hd.grads["V"])), ("∂E/∂b_y", tp.doprint(hd.grads["b_y"])),
                ("∂ℓ_t/∂h_t^(L)", tp.doprint(hd.into_top))]
    return source + HEAD_TEMPLATE.format(layers=net.layers, head=net.head, loss=net.loss, loss_at=net.loss_at,
                                         forward_comments=_comments(forward), backward_comments=_comments(backward))


def compile_network(net, complex_safe=False, source=None, dtype="float64"):
    """The network's generated module (or `source`, e.g. a module with a bug put in), in-process."""
    source = source or emit_network(net, complex_safe=complex_safe, dtype=dtype)
    filename = f"<lstm_sym.codegen network {net.cell.name}{' complex-safe' if complex_safe else ''}>"
    module = types.ModuleType(f"lstm_sym_network_{net.cell.name}")
    module.__file__ = filename
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)   # tracebacks show it
    exec(compile(source, filename, "exec"), module.__dict__)
    return module
