"""The parts of every generated module that do not depend on the cell:
input checks, init_params, the buffer helper and the activations."""

CHECKS = '''

def _shape_text(dims, sizes=None):
    if sizes is None:
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
    return str(tuple(sizes[d] for d in dims))


def _check(params, x, arrays):
    """Check params, x and the named (array, dims) pairs; return T, B, D, H and
    the working dtype.  Bad input raises ValueError naming the array, its shape
    (or dtype) and the expected one."""
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict with keys {', '.join(PARAMS)}; got {type(params).__name__}")
    missing = [name for name in PARAMS if name not in params]
    if missing:
        name = missing[0]
        raise ValueError(f"params has no {name} (expected shape {_shape_text(PARAMS[name])}); "
                         f"missing: {', '.join(missing)}")
    extra = [name for name in params if name not in PARAMS]
    if extra:
        raise ValueError(f"params has an unexpected key {extra[0]!r}; the {CELL} cell takes exactly: "
                         f"{', '.join(PARAMS)}")
    named = dict(params, x=x)
    named.update({name: a for name, (a, _) in arrays.items() if a is not None})
    for name, a in named.items():
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{name} is a {type(a).__name__}, expected a NumPy array")
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"x has shape {x.shape}, expected (T, B, D) with T, B, D at least 1")
    T, B, D = x.shape
    # H: the size most parameters agree on, so that the odd one out is the one named
    votes = [params[name].shape[dims.index("H")] for name, dims in PARAMS.items()
             if params[name].ndim == len(dims)]
    H = max(set(votes), key=votes.count) if votes else 0
    sizes = {"T": T, "B": B, "D": D, "H": H}
    for name, dims in PARAMS.items():
        if params[name].shape != tuple(sizes[d] for d in dims):
            raise ValueError(f"{name} has shape {params[name].shape}, expected {_shape_text(dims)} = "
                             f"{_shape_text(dims, sizes)} (D = {D} from x, H = {H})")
    for name, (a, dims) in arrays.items():
        if a is not None and a.shape != tuple(sizes[d] for d in dims):
            raise ValueError(f"{name} has shape {a.shape}, expected {_shape_text(dims)} = "
                             f"{_shape_text(dims, sizes)}")
    return T, B, D, H, _dtype(named)
'''

STRICT_DTYPE = '''

def _dtype(named):
    dtype = named["x"].dtype
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"x has dtype {dtype}, expected float32 or float64")
    for name, a in named.items():
        if a.dtype != dtype:
            raise ValueError(f"{name} has dtype {a.dtype}, expected {dtype} (the dtype of x)")
    return dtype
'''

MIXED_DTYPE = '''

def _dtype(named):
    # complex-safe: a complex perturbation of any one input makes the whole pass complex
    for name, a in named.items():
        if a.dtype not in (np.float32, np.float64, np.complex64, np.complex128):
            raise ValueError(f"{name} has dtype {a.dtype}, expected float32, float64, complex64 or complex128")
    return np.result_type(*named.values())
'''

BUFFERS = '''

def _buffers(dtype, *shapes):
    """Uninitialised arrays of the given shapes, carved out of one allocation.
    One block rather than several: glibc gives a freed block of this size back
    to the next call instead of returning it to the OS, so repeated calls do
    not page-fault on fresh memory (5 ms of 20 at (B, D, H, T) = (32, 128, 128, 50))."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    padded = [-(-size // 16) * 16 for size in sizes]      # 64-byte aligned starts for float32
    block = np.empty(sum(padded), dtype)
    out, start = [], 0
    for shape, size, pad in zip(shapes, sizes, padded):
        out.append(block[start:start + size].reshape(shape))
        start += pad
    return out
'''

INIT_PARAMS = '''

def init_params(D, H, *, seed=0, dtype=DTYPE):
    """Parameters drawn uniformly from ±1/√H (as torch initialises its recurrent
    layers), named and shaped as printed."""
    for name, n in (("D", D), ("H", H)):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    rng = np.random.default_rng(seed)
    sizes = {"D": int(D), "H": int(H)}
    bound = 1 / np.sqrt(H)
    return {name: rng.uniform(-bound, bound, [sizes[d] for d in dims]).astype(dtype)
            for name, dims in PARAMS.items()}
'''

ACTIVATIONS = {
    "sigmoid": '''

def sigmoid(a, out=None, complement=None):
    """σ(a) = 1/(1 + e^−a), through e = e^−|a| ∈ [0, 1], which never overflows:
    σ(a) = 1/(1 + e) for a ≥ 0 and e/(1 + e) for a < 0, the numerator picked
    as max(e, [a ≥ 0]) (no branch, no mask).  Each tail keeps full relative
    precision (σ(−40) = 4.2e−18; (1 + tanh(a/2))/2 gives 0).  complement, if
    given, receives 1 − σ(a) = σ(−a), numerator max(e, [a < 0]), as precise:
    1 − σ read off σ(a) ≈ 1 keeps none of its digits.  out may be a itself;
    complement must be an array of its own."""
    step = np.greater_equal(a, 0, out=complement)    # [a ≥ 0], read before out overwrites a
    e = np.abs(a)
    np.negative(e, out=e)
    with np.errstate(under="ignore"):                # e^−|a| below the smallest float is 0, rightly
        np.exp(e, out=e)
    out = np.maximum(e, step, out=out)               # 1 where a ≥ 0, e^a where a < 0
    if complement is not None:
        np.subtract(1, step, out=complement)         # [a < 0]
        np.maximum(e, complement, out=complement)    # e^−a where a ≥ 0, 1 where a < 0
    e += 1
    out /= e
    if complement is not None:
        complement /= e
    return out
''',
    "sigmoid/complex": '''

def sigmoid(a, out=None):
    """σ(a) = (1 + tanh(a/2))/2: the same function as 1/(1 + e^−a), complex-analytic
    (the complex step differentiates it) and free of overflow.  Its error is an ulp
    of 1, not of σ: on the negative tail it loses σ's digits (σ(−40) comes out 0)."""
    out = np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out
''',
    "relu": '''

def relu(a, out=None):
    """relu(a) = max(0, a)."""
    return np.maximum(a, 0, out=out)
''',
    "relu/complex": '''

def relu(a, out=None):
    """relu(a) = a where Re a > 0, else 0: complex-analytic away from 0."""
    return np.multiply(a, a.real > 0, out=out)
''',
    "softsign": '''

def softsign(a, out=None):
    """softsign(a) = a / (1 + |a|)."""
    return np.divide(a, 1 + np.abs(a), out=out)
''',
    "softsign/complex": '''

def softsign(a, out=None):
    """softsign(a) = a / (1 + |a|), with |a| written a·sign(Re a): complex-analytic away from 0."""
    return np.divide(a, 1 + a * np.sign(a.real), out=out)
''',
}
