"""A network's stand-alone NumPy module: the cell's kernel (as layer_forward,
layer_backward, init_params) and, written from the network's derivation,
init_network, loss and backward.

    loss(params, x, targets, h0s=None, c0s=None) -> (E, cache)
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


def init_network(D, sizes, K, *, seed=0, dtype=DTYPE):
    """Every layer's parameters (layer l reads layer l−1's size, layer 1 reads D) and the head's,
    V (K, H_L) and b_y (K,) drawn from ±1/√H_L as torch.nn.Linear draws them.  sizes: one H per
    layer, or one H for all."""
    sizes = [sizes] * LAYERS if isinstance(sizes, (int, np.integer)) else list(sizes)
    if len(sizes) != LAYERS:
        raise ValueError(f"sizes has {{len(sizes)}} entries, expected one per layer ({{LAYERS}})")
    for name, n in [("K", K)] + [(f"sizes[{{l}}]", H) for l, H in enumerate(sizes)]:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{{name}} must be a positive integer, got {{n!r}}")
    layers = [init_params(D if l == 0 else sizes[l - 1], H, seed=seed + l, dtype=dtype)
              for l, H in enumerate(sizes)]
    rng = np.random.default_rng([seed, LAYERS])
    bound = 1 / np.sqrt(sizes[-1])
    return {{"layers": layers, "V": rng.uniform(-bound, bound, (K, sizes[-1])).astype(dtype),
            "b_y": rng.uniform(-bound, bound, K).astype(dtype)}}


def _targets(targets, T, B, K, dtype):
    """The targets as (T', B, K) rows, T' = T (LOSS_AT all) or 1; class indices become one-hot."""
    steps = T if LOSS_AT == "all" else 1
    y = np.asarray(targets)
    if LOSS_AT == "last" and y.ndim in (1, 2) and y.shape[:1] == (B,):
        y = y[None]
    if LOSS == "xent" and y.dtype.kind in "iu":
        if y.shape != (steps, B):
            want = f"(T, B) = {{(T, B)}}" if LOSS_AT == "all" else f"(B,) = {{(B,)}}"
            raise ValueError(f"targets has shape {{np.shape(targets)}}, expected class indices {{want}}")
        if y.size and (y.min() < 0 or y.max() >= K):
            bad = int(y.min()) if y.min() < 0 else int(y.max())
            raise ValueError(f"targets holds class {{bad}}, outside 0..{{K - 1}} (K = {{K}} outputs)")
        return np.eye(K, dtype=dtype)[y]
    if y.dtype.kind not in "fiu" or y.shape != (steps, B, K):
        want = f"(T, B, K) = {{(T, B, K)}}" if LOSS_AT == "all" else f"(B, K) = {{(B, K)}}"
        raise ValueError(f"targets has shape {{np.shape(targets)}} and dtype {{y.dtype}}, expected {{want}}")
    if not np.all(np.isfinite(y)):
        raise ValueError("targets holds NaN or infinity; every target must be finite")
    if LOSS == "xent" and not np.allclose(y.sum(axis=-1), 1, atol=1e-6):
        raise ValueError("targets for xent must be class indices or rows that sum to 1")
    return y.astype(dtype)


def _initial(name, given, count):
    if given is None:
        return [None] * count
    if len(given) != count:
        raise ValueError(f"{{name}} has {{len(given)}} entries, expected one per layer ({{count}})")
    return list(given)


def loss(params, x, targets, h0s=None, c0s=None):
    """E and the cache backward() reads.  x (T, B, D); targets (T, B, K) rows, or (T, B) class
    indices for xent (with LOSS_AT last: (B, K) or (B,)); h0s, c0s: one initial state per layer."""
    if not isinstance(params, dict) or set(params) != {{"layers", "V", "b_y"}}:
        raise ValueError('params must be a dict with keys "layers", "V", "b_y" (see init_network)')
    if not isinstance(params["layers"], (list, tuple)) or len(params["layers"]) != LAYERS:
        raise ValueError(f"params[\\"layers\\"] must hold one dict per layer ({{LAYERS}})")
    x = np.asarray(x)
    if x.ndim == 3 and not np.all(np.isfinite(x)):
        raise ValueError("x holds NaN or infinity; every input must be finite")
    starts = [dict(zip(STATES, s)) for s in zip(*(_initial(f"{{s}}0s", g, LAYERS)
                                                 for s, g in zip(STATES, (h0s, c0s))))]
    h, caches = x, []
    for l, layer in enumerate(params["layers"]):
        # h_t^(0) = x_t; layer l+1 reads layer l's h_t as its x_t
        h, cache = layer_forward(layer, np.ascontiguousarray(h),
                                 **{{f"{{s}}0": v for s, v in starts[l].items() if v is not None}})
        caches.append(cache)
    T, B, H = h.shape
    V, b_y = params["V"], params["b_y"]
    K = b_y.shape[0] if isinstance(b_y, np.ndarray) and b_y.ndim == 1 else 0
    if not isinstance(V, np.ndarray) or V.shape != (K, H) or K == 0:
        raise ValueError(f"V has shape {{np.shape(V)}} and b_y {{np.shape(b_y)}}, expected (K, H) = (K, {{H}}) "
                         "and (K,) with K at least 1")
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


def backward(params, cache):
    """Every gradient of E: each layer's (a dict like layer_backward's), the head's and x's."""
    keys = ("caches", "top", "out", "y", "h_shape")
    if not isinstance(cache, dict) or any(key not in cache for key in keys):
        raise ValueError("cache is not what loss() returned")
    T, B, H = cache["h_shape"]
    V = params["V"]
    K = V.shape[0]
{backward_comments}
    delta_y = cache["out"] - cache["y"]
    rows, tops = delta_y.reshape(-1, K), cache["top"].reshape(-1, H)
    grads = {{"V": rows.T @ tops, "b_y": rows.sum(axis=0)}}
    dh = np.zeros((T, B, H), delta_y.dtype)
    dh[T - delta_y.shape[0]:] = delta_y @ V         # no output error where no loss
    layers = [None] * LAYERS
    for l in reversed(range(LAYERS)):
        # layer l's ∂ℓ_t/∂h_t is δx_t of layer l+1
        layers[l] = layer_backward(params["layers"][l], dh, cache["caches"][l])
        dh = layers[l].pop("x")
    grads["layers"], grads["x"] = layers, dh
    return grads


def _parameter_gradients(grads):
    """The gradients a training step applies: every layer's parameters', V's and b_y's."""
    return [g[name] for g in grads["layers"] for name in PARAMS] + [grads["V"], grads["b_y"]]


def clip_by_global_norm(grads, max_norm):
    """Scale every parameter gradient by min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ the 2-norm of all
    of them as one vector (torch.nn.utils.clip_grad_norm_'s rule); in place.  Returns ‖g‖."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {{max_norm}}")
    arrays = _parameter_gradients(grads)
    norm = float(np.sqrt(sum(np.vdot(g, g).real for g in arrays)))
    scale = max_norm / (norm + 1e-6)
    if scale < 1:
        for g in arrays:
            g *= scale
    return norm


def clip_by_value(grads, limit):
    """Clip every parameter gradient's entries to [−limit, limit]; in place."""
    if not limit > 0:
        raise ValueError(f"limit must be > 0, got {{limit}}")
    for g in _parameter_gradients(grads):
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
