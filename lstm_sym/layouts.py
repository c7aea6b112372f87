"""Stacked-gate layouts: between a cell's per-gate parameters and one matrix.

Each gate's pre-activation net_<gate> names its parameters: the (H, H) one
multiplies h (kind "h"), the (H, D) one multiplies x ("x"), the vector added
there is its bias ("b").  GRU's n gate has two biases; the one added beside
W_nh h inside r ⊙ (…) is its h-side bias ("bh", torch's b_hn), the other is
"b" (b_in).  A stack puts gate blocks on top of each other in any order:

    kind   stacked shape      rows [k·H, (k+1)·H) hold gate order[k]'s
    "h"    (G·H, H)           W_·h
    "x"    (G·H, D)           W_·x
    "hx"   (G·H, H + D)       [W_·h | W_·x]   (acts on [h; x])   "xh": [W_·x | W_·h]
    "b"    (G·H,)             bias (GRU n: b_nx)
    "bh"   (G·H,)             h-side bias (GRU n: b_nh; zeros where a gate has one bias)

transpose=True gives the transposed stack ((H, G·H), ...: Keras' kernels,
x @ W on rows).  `order` is a string of gate letters ("ifgo", "ifog"; g is
torch's name for c̃) or a sequence of gate names; None is the cell's order.
A gate with one bias may be split between "b" and "bh" stacks: `share` is the
fraction this stack gets (default 1 for "b", 0 for "bh").

An adapter for a Keras-style LSTM (kernel (D, 4H), recurrent (H, 4H), order i, f, c, o)::

    def forward(params, x, h0=None, c0=None):
        K, R, b = (layouts.pack("lstm", params, k, "ifco", transpose=k != "b") for k in "xhb")
        return keras_lstm_forward(K, R, b, x, h0, c0)

and its stacked gradients come back with layouts.unpack("lstm", dK, "x", "ifco", transpose=True).

`adapt(module, cell)`: a module in torch's layout (LAYOUT = "torch") and/or batch-first (BATCH_FIRST = True)
seen through our contract."""
from __future__ import annotations

import inspect
import types
from dataclasses import dataclass

import numpy as np

from .ir import Add, MatVec, Var, leaves

TORCH_ORDER = {"rnn": None, "lstm": "ifgo", "gru": "rzn"}
KINDS = ("h", "x", "hx", "xh", "b", "bh")
TORCH_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
ALIASES = {"g": "c_tilde"}          # torch's letter for the LSTM candidate
STATE_KEYS = {"input": "x", "h_0": "h0", "c_0": "c0"}   # torch's names for the non-parameter gradients


@dataclass(frozen=True)
class Gate:
    name: str
    h: str | None = None
    x: str | None = None
    b: str | None = None
    bh: str | None = None


def as_cell(cell):
    """A Cell from a Cell, a Derivation or a built-in cell's name."""
    if isinstance(cell, str):
        from .cells import get_cell
        return get_cell(cell)
    return getattr(cell, "cell", cell)          # a Derivation carries its cell


def gates(cell, order=None):
    """The cell's gates (parameter roles read off each net_<gate>), in `order`."""
    cell = as_cell(cell)
    found = []
    for v, e in cell.equations:
        if not any(isinstance(n, Var) and n.kind == "param" for n in leaves(e)):
            continue
        roles = {}
        for n in nodes(e):
            if isinstance(n, MatVec) and isinstance(n.W, Var) and n.W.kind == "param":
                kind = {("H", "H"): "h", ("H", "D"): "x"}.get(n.W.shape)
                if kind is None or kind in roles:
                    raise ValueError(f"cell {cell.name}: gate {v.name} has no single (H,H) and (H,D) weight to stack")
                roles[kind] = n.W.name
        biases = [(n, t) for n in nodes(e) if isinstance(n, Add)
                  for t in n.terms if isinstance(t, Var) and t.kind == "param" and t.shape == ("H",)]
        if len(biases) == 1:
            roles["b"] = biases[0][1].name
        elif len(biases) == 2:
            # the bias summed beside the h product (and not the x product) is the h-side one
            beside = lambda add, shape: any(isinstance(u, MatVec) and u.W.shape == shape for u in add.terms)
            h_side = [t.name for add, t in biases if beside(add, ("H", "H")) and not beside(add, ("H", "D"))]
            if len(h_side) != 1:
                raise ValueError(f"cell {cell.name}: cannot tell the two biases of {v.name} apart")
            roles["bh"] = h_side[0]
            roles["b"] = next(t.name for _, t in biases if t.name != h_side[0])
        elif biases:
            raise ValueError(f"cell {cell.name}: {v.name} has {len(biases)} biases; a stack holds at most two")
        found.append(Gate(cell.gates.get(v.name, v.name), **roles))
    return _ordered(cell, found, order)


def nodes(e):
    """e and every node below it."""
    yield e
    for k in e.children():
        yield from nodes(k)


def _ordered(cell, found, order):
    if order is None:
        return found
    by_name = {g.name: g for g in found}
    tokens = [order] if isinstance(order, str) and order in by_name else list(order)
    out = []
    for tok in tokens:
        tok = ALIASES.get(tok, tok) if tok not in by_name else tok
        hit = by_name.get(tok) or next((g for g in found if g.name[0] == tok), None)
        if hit is None or hit in out:
            break
        out.append(hit)
    if len(out) != len(found) or len(tokens) != len(found):
        names = ", ".join(g.name for g in found)
        raise ValueError(f"gate order {order!r} is not an order of cell {cell.name}'s gates ({names})")
    return out


def pack(cell, params, kind="h", order=None, transpose=False, share=None):
    """One stacked array of `kind` from per-gate parameters (our names)."""
    gs = gates(cell, order)
    if kind in ("hx", "xh"):
        out = np.concatenate([pack(cell, params, k, order) for k in kind], axis=1)
        return out.T if transpose else out
    if kind in ("h", "x"):
        missing = [g.name for g in gs if getattr(g, kind) is None]
        if missing:
            raise ValueError(f"gate(s) {missing} have no {kind} weight to stack")
        out = np.concatenate([np.asarray(params[getattr(g, kind)]) for g in gs])
        return out.T if transpose else out
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: use one of {', '.join(KINDS)}")
    share = (1.0 if kind == "b" else 0.0) if share is None else share
    H = next(np.shape(params[n])[0] for g in gs for n in (g.h, g.x, g.b) if n)
    given = [params[n] for g in gs for n in (g.b, g.bh) if n]
    dtype = np.result_type(*given) if given else np.float64
    blocks = []
    for g in gs:
        if g.bh is not None:                    # two biases: each stack has its own
            blocks.append(np.asarray(params[getattr(g, kind)]))
        elif g.b is not None:                   # one bias, split between the stacks
            blocks.append(share * np.asarray(params[g.b]))
        else:
            blocks.append(np.zeros(H, dtype))
    return np.concatenate(blocks)


def unpack(cell, stacked, kind="h", order=None, transpose=False):
    """Per-gate arrays (our names) from one stack; the inverse of pack.  For
    "bh", a one-bias gate's block comes back under that bias's name."""
    gs = gates(cell, order)
    a = np.asarray(stacked)
    a = a.T if transpose and a.ndim == 2 else a
    if a.shape[0] % len(gs):
        raise ValueError(f"a stack of {len(gs)} gates needs a multiple of {len(gs)} rows, got shape {a.shape}")
    H = a.shape[0] // len(gs)
    if kind in ("hx", "xh"):
        first, second = (a[:, :H], a[:, H:]) if kind == "hx" else (a[:, a.shape[1] - H:], a[:, :a.shape[1] - H])
        return {**unpack(cell, first, "h", order), **unpack(cell, second, "x", order)}
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: use one of {', '.join(KINDS)}")
    out = {}
    for k, g in enumerate(gs):
        name = getattr(g, kind) or (g.b if kind == "bh" else None)
        if name is not None:
            out[name] = a[k * H:(k + 1) * H].copy()
    return out


# --- adapting a user's module to our contract --------------------------------

def state_args(fn, n_states):
    """How many initial states (h0, then c0) fn(params, x, ...) accepts."""
    try:
        ps = list(inspect.signature(fn).parameters.values())[2:]
    except (TypeError, ValueError):
        return n_states
    if any(p.kind == p.VAR_POSITIONAL for p in ps):
        return n_states
    return min(n_states, sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in ps))


def takes_dcT(fn):
    try:
        return "dcT" in inspect.signature(fn).parameters
    except (TypeError, ValueError):      # a builtin or C function: assume the plain contract
        return False


def adapt(module, cell):
    """module through our contract (our PARAMS, x and h (T, B, ·), h0/c0 (B, H)), or module itself.  A shared
    bias b reaches torch as b/2 + b/2: any split is the same forward; this one makes both gradients count."""
    cell, attrs = as_cell(cell), vars(module)       # never getattr: a module __getattr__ is user code
    layout, batch_first = attrs.get("LAYOUT"), attrs.get("BATCH_FIRST", False) is True
    if layout is not None and layout != "torch":
        raise ValueError(f"LAYOUT = {layout!r} is not a layout lstm-sym knows; "
                         "use 'torch' or omit LAYOUT and use the cell's names")
    if layout is None and not batch_first:
        return module
    torch = layout == "torch"
    if torch:
        if cell.name not in TORCH_ORDER:
            raise ValueError(f"LAYOUT = 'torch' exists for rnn, lstm and gru, not {cell.name}")
        got = set(dict(attrs.get("PARAMS", {})))
        if got != set(TORCH_NAMES):
            raise ValueError(f"LAYOUT = 'torch' needs PARAMS named {', '.join(TORCH_NAMES)}; "
                             f"missing {sorted(set(TORCH_NAMES) - got)}, unexpected {sorted(got - set(TORCH_NAMES))}")
    order = TORCH_ORDER.get(cell.name)
    user_forward, user_backward = attrs.get("forward"), attrs.get("backward")
    if not (callable(user_forward) and callable(user_backward)):
        raise ValueError("a module with LAYOUT or BATCH_FIRST needs forward and backward functions")
    n = state_args(user_forward, len(cell.states))
    flip = (lambda a: np.swapaxes(a, 0, 1)) if batch_first else (lambda a: a)

    def theirs(params):
        if not torch:
            return params
        # a bias of ours that torch keeps as two added halves is split evenly, so
        # that both bias_ih and bias_hh (and both their gradients) count
        return {"weight_ih_l0": pack(cell, params, "x", order), "weight_hh_l0": pack(cell, params, "h", order),
                "bias_ih_l0": pack(cell, params, "b", order, share=0.5),
                "bias_hh_l0": pack(cell, params, "bh", order, share=0.5)}

    def ours(grads):
        grads = {STATE_KEYS.get(k, k): v for k, v in dict(grads).items()}
        out = {k: v for k, v in grads.items() if k not in TORCH_NAMES}
        if torch:
            for key, kind in (("weight_ih_l0", "x"), ("weight_hh_l0", "h")):
                if key in grads:
                    out.update(unpack(cell, grads[key], kind, order))
            g_ih = unpack(cell, grads["bias_ih_l0"], "b", order) if "bias_ih_l0" in grads else {}
            g_hh = unpack(cell, grads["bias_hh_l0"], "bh", order) if "bias_hh_l0" in grads else {}
            shared = {g.b for g in gates(cell) if g.b and not g.bh}
            out.update({k: v for k, v in {**g_ih, **g_hh}.items() if k not in shared})
            for name in shared & set(g_ih) & set(g_hh):   # b = b/2 + b/2: each half gets ½ of ∂E/∂b
                out[name] = 0.5 * (g_ih[name] + g_hh[name])
        if "x" in out:
            out["x"] = flip(np.asarray(out["x"]))
        for k in [s + "0" for s in cell.states if np.ndim(out.get(s + "0")) == 3]:
            out[k] = np.asarray(out[k])[0]          # torch's h_0, c_0 are (1, B, H)
        return out

    def forward(a):
        h, cache = user_forward(theirs(a["params"]), flip(a["x"]), *(a[k] for k in ("h0", "c0")[:n]))
        c_T = _final_c(cache, batch_first)
        # numeric.final_c reads cache["c"][-1]
        return flip(np.asarray(h)), {"user": cache, **({"c": c_T[None]} if c_T is not None else {})}

    def backward(a):
        extra = {"dcT": a["dcT"]} if "dcT" in a else {}
        return ours(user_backward(theirs(a["params"]), flip(a["dh"]), a["cache"]["user"], **extra))

    adapted = types.ModuleType(str(attrs.get("__name__", "user")) + "_adapted", attrs.get("__doc__"))
    for attr in ("CELL", "COMPLEX_SAFE", "GATE_ORDER"):
        if attr in attrs:
            setattr(adapted, attr, attrs[attr])
    adapted.PARAMS = {p: v.shape for p, v in cell.params.items()}
    adapted.STATES = tuple(cell.states)
    if torch and order:
        adapted.GATE_ORDER = tuple(g.name for g in gates(cell, order))   # how forward_match names a slip
    # the same optional arguments as the user's functions, so that inspect.signature tells the truth
    adapted.forward = _with_signature(forward, ["params", "x"], ["h0", "c0"][:n])
    adapted.backward = _with_signature(backward, ["params", "dh", "cache"], ["dcT"] * takes_dcT(user_backward))
    adapted.__wrapped__ = module
    return adapted


def _with_signature(body, required, optional):
    """A function with exactly these parameters (optional ones None) calling body(dict of arguments)."""
    P = inspect.Parameter
    sig = inspect.Signature([P(p, P.POSITIONAL_OR_KEYWORD) for p in required]
                            + [P(p, P.POSITIONAL_OR_KEYWORD, default=None) for p in optional])

    def fn(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return body(bound.arguments)
    fn.__signature__ = sig
    return fn


def _final_c(cache, batch_first):
    """c_T from a user's cache: 'c_n'/'cT' (torch's (1,B,H) or (B,H)), else c_seq/c's last step."""
    if not isinstance(cache, dict):
        return None
    for key in ("c_n", "cT"):
        if key in cache:
            c = np.asarray(cache[key])
            return c[0] if c.ndim == 3 else c
    for key in ("c_seq", "c"):
        if key in cache and np.ndim(cache[key]) == 3:
            c = np.asarray(cache[key])
            return c[:, -1] if batch_first else c[-1]
    return None
