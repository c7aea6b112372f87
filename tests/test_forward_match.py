"""match_forward: is the user's forward the cell, and if not, which tested slip
makes it so.  Run on the real-world-shaped fixtures tests/fixtures/real_*.py
and on every wrong gate order of a stacked LSTM and GRU."""
import importlib.util
import itertools
import pathlib
import types

import numpy as np
import pytest

from lstm_sym import codegen, layouts
from lstm_sym.cells import NAMES, get_cell
from lstm_sym.verify import numeric
from lstm_sym.verify.forward_match import ForwardVerdict, match_forward

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
PRETTY = {"i": "i", "f": "f", "g": "c̃", "o": "o", "c": "c̃", "r": "r", "z": "z", "n": "n"}


def load(name):
    spec = importlib.util.spec_from_file_location(f"fixture_{name}", FIXTURES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def problem(cell, D=3, H=4, T=5, B=2, seed=0):
    rng = np.random.default_rng(seed)
    dims = {"D": D, "H": H}
    cell = get_cell(cell)
    params = {p: 0.5 * rng.standard_normal([dims[s] for s in v.shape]) for p, v in cell.params.items()}
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((B, H))
    c0 = rng.standard_normal((B, H)) if len(cell.states) > 1 else None
    return params, x, h0, c0


def verdict(module, cell, **kw):
    return match_forward(layouts.adapt(module, cell), get_cell(cell), *problem(cell, **kw))


# fixture -> (cell, None if its forward is the cell, else words the cause must contain)
CASES = {
    "real_stacked_ifog": ("lstm", None),
    "real_stacked_ifog_backward_slip": ("lstm", None),
    "real_stacked_ifog_torch_order": ("lstm", "the gates are used in the order f, i, o, c̃ where the cell's order is f, i, c̃, o"),
    "real_torch_lstm": ("lstm", None),
    "real_torch_lstm_no_carry": ("lstm", None),
    "real_course_lstm": ("lstm", None),
    "real_course_lstm_transposed_grad": ("lstm", None),
    "real_course_lstm_zero_h0": ("lstm", "the forward ignores h0"),
    "real_lstm_no_output_tanh": ("lstm", "no tanh on the output: h_t = o_t ⊙ c_t where the cell has o_t ⊙ tanh(c_t)"),
    "real_rnn_every_step": ("rnn", None),
    "real_rnn_every_step_last_only": ("rnn", None),
    "real_rnn_transposed_forward": ("rnn", "the recurrent weights are used transposed (Wᵀ where the cell has W)"),
    "real_gru_cho": ("gru", "another GRU convention (Cho"),
    "real_gru_cho_bias_gate": ("gru", "another GRU convention (Cho"),
}
# fixtures whose backward is the exact derivative of their own forward (right or not)
OWN_DERIVATIVE = {"real_stacked_ifog", "real_stacked_ifog_torch_order", "real_torch_lstm", "real_course_lstm",
                  "real_course_lstm_zero_h0", "real_lstm_no_output_tanh", "real_rnn_every_step",
                  "real_rnn_transposed_forward", "real_gru_cho"}


def test_every_fixture_is_listed_and_says_what_it_is():
    assert {p.stem for p in FIXTURES.glob("real_*.py")} == set(CASES)
    for name in CASES:
        doc = load(name).__doc__
        assert ("Bug:" in doc) != ("Correct" in doc), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_forward(name):
    cell, cause = CASES[name]
    v = verdict(load(name), cell)
    if cause is None:
        assert v.matches and v.first_step is None and v.cause is None, v.line()
        assert v.line().startswith(f"forward: the {cell} cell (h")
    else:
        assert not v.matches and cause in (v.cause or ""), v.line()
        assert v.line().startswith(f"forward: NOT the {cell} cell: h differs from t = {v.first_step} ")
        assert f"most likely cause: {v.cause}" in v.line()


def test_a_forward_without_c0_is_compared_from_c0_zero():
    v = verdict(load("real_course_lstm"), "lstm")
    assert v.matches and "the forward takes no c0: compared from c0 = 0" in v.line()


def test_c_T_is_compared_where_the_cache_shows_it():
    assert "h and c_T" in verdict(load("real_stacked_ifog"), "lstm").line()
    assert "h and c_T" in verdict(load("real_torch_lstm"), "lstm").line()      # torch's c_n, through adapt
    assert "c_T" not in verdict(load("real_course_lstm"), "lstm").line()      # a list cache shows nothing


def _fd_module(name, cell):
    """The fixture as numeric.py runs it: only the states its forward takes."""
    m = layouts.adapt(load(name), cell)
    m.STATES = tuple(get_cell(cell).states)
    prob = numeric.make_problem(m, 2, 3, 3, 2, seed=1)
    if layouts.state_args(m.forward, 2) < 2:
        prob.c0 = None
    if not numeric.takes_dcT(m):
        prob.Gc = None
    return m, prob


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_backward_against_its_own_forward(name):
    """The fixtures say which backward passes are the derivative of their own
    forward; central differences of that forward agree (or not)."""
    m, prob = _fd_module(name, CASES[name][0])
    rows = numeric.check_numeric(m, prob, ["central"])
    assert all(r.ok for r in rows) == (name in OWN_DERIVATIVE), [f"{r.gradient} {r.rel:.1e}" for r in rows if not r.ok]


# --- every wrong gate order ----------------------------------------------------

def sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))


def stacked_lstm(read, declare=True):
    """An LSTM that stacks its gates in torch's order i, f, g, o but slices the
    pre-activations as if they were in the order `read`."""
    m = types.ModuleType("stacked")
    m.PARAMS = {p: v.shape for p, v in get_cell("lstm").params.items()}
    if declare:
        m.GATE_ORDER = "ifgo"
    names = {"i": ("W_ih", "W_ix", "b_i"), "f": ("W_fh", "W_fx", "b_f"), "g": ("W_ch", "W_cx", "b_c"),
             "o": ("W_oh", "W_ox", "b_o")}

    def forward(p, x, h0=None, c0=None):
        Wh, Wx, b = (np.concatenate([p[names[k][j]] for k in "ifgo"]) for j in range(3))
        H = Wh.shape[1]
        h = np.zeros((x.shape[1], H)) if h0 is None else h0
        c = np.zeros_like(h) if c0 is None else c0
        hs = []
        for t in range(len(x)):
            a = h @ Wh.T + x[t] @ Wx.T + b
            blk = {read[k]: a[:, k * H:(k + 1) * H] for k in range(4)}
            c = sigmoid(blk["f"]) * c + sigmoid(blk["i"]) * np.tanh(blk["g"])
            h = sigmoid(blk["o"]) * np.tanh(c)
            hs.append(h)
        return np.stack(hs), {"c": c[None]}
    m.forward = forward
    return m


@pytest.mark.parametrize("read", ["".join(p) for p in itertools.permutations("ifgo")])
def test_every_gate_order_of_a_stacked_lstm_is_named(read):
    v = match_forward(stacked_lstm(read), get_cell("lstm"), *problem("lstm"))
    if read == "ifgo":
        assert v.matches, v.line()
        return
    order = ", ".join(PRETTY[k] for k in read)
    assert not v.matches and v.first_step == 1
    assert v.cause.startswith(f"the gates are used in the order {order} where the layout's order is i, f, c̃, o"), v.line()


@pytest.mark.parametrize("read", ["fiog", "oigf", "gofi"])
def test_gate_order_without_a_declared_layout_is_said_in_the_cells_order(read):
    """No GATE_ORDER: the permutation is said against the cell's own order, with
    whose parameters act as which gate."""
    v = match_forward(stacked_lstm(read, declare=False), get_cell("lstm"), *problem("lstm"))
    acts = {read[k]: "ifgo"[k] for k in range(4) if read[k] != "ifgo"[k]}      # gate read -> params it gets
    assert "where the cell's order is f, i, c̃, o" in v.cause
    for gate, params_of in acts.items():
        assert f"{PRETTY[params_of]}'s parameters act as {PRETTY[gate]}" in v.cause, v.cause


def torch_gru(read):
    """A torch-layout GRU (bias_ih, bias_hh; r ⊙ (W_hn h + b_hn)) slicing its
    blocks as if they were in the order `read` (torch's is r, z, n)."""
    m = types.ModuleType("torch_gru")
    m.LAYOUT, m.PARAMS = "torch", dict.fromkeys(layouts.TORCH_NAMES, ())

    def forward(p, x, h0=None):
        H = p["weight_hh_l0"].shape[1]
        h = np.zeros((x.shape[1], H)) if h0 is None else h0
        hs = []
        for t in range(len(x)):
            gi = x[t] @ p["weight_ih_l0"].T + p["bias_ih_l0"]
            gh = h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
            bi = {read[k]: gi[:, k * H:(k + 1) * H] for k in range(3)}
            bh = {read[k]: gh[:, k * H:(k + 1) * H] for k in range(3)}
            r, z = sigmoid(bi["r"] + bh["r"]), sigmoid(bi["z"] + bh["z"])
            n = np.tanh(bi["n"] + r * bh["n"])
            h = (1 - z) * n + z * h
            hs.append(h)
        return np.stack(hs), {}
    def backward(p, dh, cache):
        raise NotImplementedError("only the forward is looked at here")
    m.forward, m.backward = forward, backward
    return m


@pytest.mark.parametrize("read", ["".join(p) for p in itertools.permutations("rzn")])
def test_every_gate_order_of_a_torch_gru_is_named(read):
    v = verdict(torch_gru(read), "gru")
    if read == "rzn":
        assert v.matches, v.line()
    else:
        order = ", ".join(read)
        assert v.cause.startswith(f"the gates are used in the order {order} where the layout's order is r, z, n"), v.line()


# --- the other causes, each made on purpose from the generated kernel ------------

def kernel_with(cell, params_of=lambda p: p, states_of=lambda s: s, takes=None):
    """The cell's kernel with a transformed forward: a user's slip, made on purpose."""
    k = codegen.compile(cell)
    m = types.ModuleType("slip")
    m.PARAMS = k.PARAMS
    n = len(get_cell(cell).states) if takes is None else takes
    run = lambda p, x, *st: k.forward(params_of(p), x, *states_of(list(st)))
    m.forward = [lambda p, x: run(p, x), lambda p, x, h0=None: run(p, x, h0),
                 lambda p, x, h0=None, c0=None: run(p, x, h0, c0)][n]
    return m


@pytest.mark.parametrize("cell,params_of,states_of,cause", [
    ("lstm", lambda p: {**p, "W_fh": p["W_fh"].T}, None, "W_fh is used transposed (W_fhᵀ where the cell has W_fh)"),
    ("lstm", lambda p: {k: v.T if k.endswith("h") else v for k, v in p.items()}, None,
     "the recurrent weights are used transposed (W_fhᵀ, W_ihᵀ, W_chᵀ, W_ohᵀ where the cell has W_fh, W_ih, W_ch, W_oh)"),
    ("lstm", None, lambda s: [s[0], 0 * s[1]], "the forward ignores c0 (it starts from c = 0)"),
    ("lstm", None, lambda s: [0 * s[0], 0 * s[1]], "the forward ignores h0 and c0"),
    ("gru", None, lambda s: [0 * s[0]], "the forward ignores h0 (it starts from h = 0)"),
    ("lstm", lambda p: {**p, "b_f": p["b_f"] + 1}, None, "the forget-gate bias is 1 larger (TensorFlow's forget_bias"),
    ("gru", lambda p: {k: -v if k in ("W_zh", "W_zx", "b_z") else v for k, v in p.items()}, None,
     "the update gate is used the other way round (z_t and 1 − z_t swapped in h_t)"),
])
def test_each_tested_cause_is_named(cell, params_of, states_of, cause):
    m = kernel_with(cell, params_of or (lambda p: p), states_of or (lambda s: s))
    v = match_forward(m, get_cell(cell), *problem(cell))
    assert not v.matches and v.cause.startswith(cause), v.line()


def test_square_input_weights_are_tried_too():
    """At D = H the input weights are square: a transposed W_ix is named."""
    m = kernel_with("lstm", lambda p: {**p, "W_ix": p["W_ix"].T})
    v = match_forward(m, get_cell("lstm"), *problem("lstm", D=4, H=4))
    assert v.cause.startswith("W_ix is used transposed"), v.line()


def test_no_tested_cause():
    m = kernel_with("lstm", lambda p: {**p, "b_o": 1.01 * p["b_o"]})
    v = match_forward(m, get_cell("lstm"), *problem("lstm"))
    assert not v.matches and v.cause is None and v.first_step == 1
    assert v.line().endswith("no tested cause matches")


def test_differs_from_a_later_step():
    """A forward that drops the cell-state carry from step 2 on: right at t = 1
    from zero states, and no tested cause."""
    k = codegen.compile("lstm")
    m = types.ModuleType("no_carry")

    def forward(p, x, h0=None, c0=None):
        hs, h = [], h0
        for t in range(len(x)):
            out, cache = k.forward(p, x[t:t + 1], h, c0 if t == 0 else None)
            h = out[0]
            hs.append(h)
        return np.stack(hs), {}
    m.forward = forward
    params, x, h0, c0 = problem("lstm")
    v = match_forward(m, get_cell("lstm"), params, x, np.zeros_like(h0), np.zeros_like(c0))
    assert not v.matches and v.cause is None
    # from zero states step 1 is right; from nonzero states it is right at t = 1 too (c0 is read)
    assert v.first_step == 2 and "rel." in v.line()


def test_only_c_T_differs():
    k = codegen.compile("lstm")
    m = types.ModuleType("bad_cache")

    def forward(p, x, h0=None, c0=None):
        h, cache = k.forward(p, x, h0, c0)
        return h, {"c": 2 * cache["c_seq"]}
    m.forward = forward
    v = match_forward(m, get_cell("lstm"), *problem("lstm"))
    assert not v.matches and v.what == "c_T (from the cache)"
    assert "c_T (from the cache) differs from t = 1" in v.line()      # the T = 1 run: c_1


def test_a_forward_without_any_initial_state():
    m = kernel_with("gru", takes=0)
    v = match_forward(m, get_cell("gru"), *problem("gru"))
    assert v.matches and "the forward takes no h0: compared from h0 = 0" in v.line()
    assert "from zero initial states" in v.line()


def test_user_exceptions_propagate():
    m = types.ModuleType("raises")

    def forward(p, x, h0=None):
        raise RuntimeError("boom")
    m.forward = forward
    with pytest.raises(RuntimeError, match="boom"):
        match_forward(m, get_cell("rnn"), *problem("rnn"))


def test_the_verdict_line():
    v = ForwardVerdict("lstm", False, 1, "gates in the order f, i, g, o", 0.42, "h0 = c0 = 0")
    assert v.line() == ("forward: NOT the lstm cell: h differs from t = 1 (rel. 0.42, h0 = c0 = 0); "
                        "most likely cause: gates in the order f, i, g, o")


CHO_WRAPPER = """\"\"\"{name} in gru_cho's names: its two biases b_nx + b_nh are gru_cho's one b_n.\"\"\"
import importlib.util

_spec = importlib.util.spec_from_file_location("{name}", {path!r})
_fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixture)
CELL, STATES = "gru_cho", ("h",)
PARAMS = {{k: v for k, v in _fixture.PARAMS.items() if k not in ("b_nx", "b_nh")}}
PARAMS["b_n"] = ("H",)


def _theirs(params):
    p = {{k: v for k, v in params.items() if k != "b_n"}}
    return {{**p, "b_nx": params["b_n"], "b_nh": 0 * params["b_n"]}}


def forward(params, x, h0=None):
    return _fixture.forward(_theirs(params), x, h0)


def backward(params, dh, cache):
    g = _fixture.backward(_theirs(params), dh, cache)
    g["b_n"] = g.pop("b_nx")
    del g["b_nh"]
    return g
"""


def as_gru_cho(name, folder):
    path = pathlib.Path(folder) / f"{name}_as_gru_cho.py"
    path.write_text(CHO_WRAPPER.format(name=name, path=str(FIXTURES / f"{name}.py")))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return path, mod


@pytest.mark.skipif("gru_cho" not in NAMES, reason="the gru_cho cell does not exist yet")
@pytest.mark.parametrize("name,right", [("real_gru_cho", True), ("real_gru_cho_bias_gate", False)])
def test_cho_fixtures_against_gru_cho(name, right, tmp_path):
    """Against gru_cho the Cho fixtures' forward is the cell; then only the
    bias-gate one has a wrong gradient, b_z's."""
    _, m = as_gru_cho(name, tmp_path)
    cho = get_cell("gru_cho")
    assert m.PARAMS == {p: v.shape for p, v in cho.params.items()}
    v = match_forward(m, cho, *problem("gru_cho"))
    assert v.matches, v.line()
    m.STATES = ("h",)
    prob = numeric.make_problem(m, 2, 3, 3, 2, seed=2)
    bad = {r.gradient for r in numeric.check_numeric(m, prob, ["central"]) if not r.ok}
    assert bad == (set() if right else {"b_z"})


# --- end to end: `lstm-sym check CELL --impl FIXTURE` (the lead wires the verdict in) ---

E2E = {
    # fixture: (cell, exit status, the first verdict line starts with, gradients the report names wrong)
    "real_stacked_ifog": ("lstm", 0, "forward: the lstm cell (h and c_T within", set()),
    "real_stacked_ifog_backward_slip": ("lstm", 1, "forward: the lstm cell (h and c_T within",
                                        {"W_oh", "W_ox", "b_o", "W_ch", "W_cx", "b_c"}),
    "real_stacked_ifog_torch_order": ("lstm", 1, "forward: NOT the lstm cell: h differs from t = 1", set()),
    "real_torch_lstm": ("lstm", 0, "forward: the lstm cell (h and c_T within", set()),
    "real_torch_lstm_no_carry": ("lstm", 1, "forward: the lstm cell (h and c_T within", {"W_fh", "c0"}),
    "real_course_lstm": ("lstm", 0, "forward: the lstm cell (h within", set()),
    "real_course_lstm_transposed_grad": ("lstm", 1, "forward: the lstm cell (h within",
                                         {"W_fh", "W_ih", "W_ch", "W_oh"}),
    "real_course_lstm_zero_h0": ("lstm", 1, "forward: NOT the lstm cell: h differs from t = 1", set()),
    "real_lstm_no_output_tanh": ("lstm", 1, "forward: NOT the lstm cell: h differs from t = 1", set()),
    "real_rnn_every_step": ("rnn", 0, "forward: the rnn cell (h within", set()),
    "real_rnn_every_step_last_only": ("rnn", 1, "forward: the rnn cell (h within", {"W", "U", "b", "x", "h0"}),
    "real_rnn_transposed_forward": ("rnn", 1, "forward: NOT the rnn cell: h differs from t = 1", set()),
    "real_gru_cho": ("gru", 1, "forward: NOT the gru cell: h differs from t = 1", set()),
    "real_gru_cho_bias_gate": ("gru", 1, "forward: NOT the gru cell: h differs from t = 1", set()),
}



@pytest.mark.parametrize("name,status,wrong", [("real_gru_cho", 0, set()), ("real_gru_cho_bias_gate", 1, {"b_z"})])
def test_check_impl_end_to_end_gru_cho(name, status, wrong, tmp_path):
    """The Cho fixtures checked against gru_cho (parameters renamed by a wrapper file)."""
    from lstm_sym.verify.check import run_check
    path, _ = as_gru_cho(name, tmp_path)
    report = run_check("gru_cho", impl=str(path), methods=("fd", "directional", "graph"))
    text = str(report)
    assert next(line for line in text.splitlines() if line.startswith("forward:")).startswith(
        "forward: the gru_cho cell (h within"), text
    assert (0 if report.passed else 1) == status, text
    assert {r.gradient for r in report.rows if not r.ok} >= wrong, text



@pytest.mark.parametrize("name", sorted(E2E))
def test_check_impl_end_to_end(name):
    """The first verdict line of `check --impl` is the forward's; a forward that
    is not the cell never gets its gradients called wrong formulas; a right
    forward with a wrong backward names the gradients."""
    from lstm_sym.verify.check import run_check
    cell, status, first, wrong = E2E[name]
    report = run_check(cell, impl=str(FIXTURES / f"{name}.py"), methods=("fd", "directional", "graph"))
    text = str(report)
    verdict_line = next(line for line in text.splitlines() if line.startswith("forward:"))
    assert verdict_line.startswith(first), text
    assert (0 if report.passed else 1) == status, text
    if first.startswith("forward: NOT"):
        assert "most likely cause:" in verdict_line and "where it goes wrong" not in text, text
    named = {r.gradient for r in report.rows if not r.ok}
    assert wrong <= named, text
