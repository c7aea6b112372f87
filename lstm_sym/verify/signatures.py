"""What a user's forward and backward take, read from their signatures (no
call), and the signature Guarded gives its own wrappers."""
from __future__ import annotations

import inspect


def _signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def taken_states(fn, states, declared=None):
    """The initial states (in cell order) that forward(params, x, ...) takes:
    by position after x (h0, then c0), or by name (h0=, c0=).  `declared`
    (the module's STATES) can only narrow it."""
    sig = _signature(fn)
    if sig is None:
        return tuple(states)
    ps = list(sig.parameters.values())
    P = inspect.Parameter
    if any(p.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD) for p in ps):
        taken = list(states)
    else:
        positional = [p.name for p in ps if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)][2:]
        named = {p.name for p in ps if p.kind in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)}
        keys = [s + "0" for s in states]
        taken = [s for k, s in enumerate(states)
                 if s + "0" in named or (k < len(positional) and positional[k] not in keys)]
    if declared is not None:
        taken = [s for s in taken if s in declared]
    return tuple(taken)


def final_keyword(fn, state):
    """The keyword backward takes the final state's gradient by (dcT), or None."""
    sig = _signature(fn)
    if sig is None:
        return None
    for key in (f"d{state}T", "dcT"):
        if key in sig.parameters and sig.parameters[key].kind != inspect.Parameter.POSITIONAL_ONLY:
            return key
    return None


def with_signature(body, required, optional):
    """body(*args, **kwargs) with an inspect.signature listing exactly these
    parameters: callers (forward_match, make_problem) read what the user's
    functions take from it."""
    P = inspect.Parameter
    sig = inspect.Signature([P(p, P.POSITIONAL_OR_KEYWORD) for p in required]
                            + [P(p, P.POSITIONAL_OR_KEYWORD, default=None) for p in optional])

    def fn(*args, **kwargs):
        return body(*args, **kwargs)
    fn.__signature__ = sig
    return fn
