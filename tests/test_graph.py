"""The graph view: structure, export, paths, and the scalar-graph gradient
against the reference interpreter and against finite differences."""
import json
import re
import shutil
import subprocess

import networkx as nx
import numpy as np
import pytest
import sympy

from lstm_sym import commands
from lstm_sym.activations import activation, sigmoid, softsign
from lstm_sym.activations import x as act_x
from lstm_sym.cells import get_cell
from lstm_sym.derivation import derive
from lstm_sym.evaluate import loss, run_backward, run_forward
from lstm_sym.graph import export, gradient_paths, path_ops, state_path, unroll
from lstm_sym.verify.graph_oracle import (graph_gradients, per_step_gradients, reverse_accumulate,
                                          scalar_graph)
from lstm_sym.ir import Cell

CELLS = ("rnn", "lstm", "gru")


def user_cell():
    """A cell no module of the package knows: a minimal gated unit with a
    softsign candidate and a user activation (softplus) on the gate input."""
    softplus = activation("softplus", sympy.log(1 + sympy.exp(act_x)))
    c = Cell("mgu", states=("h",))
    W_f, U_f, b_f = c.param("W_f", "H", "H"), c.param("U_f", "H", "D"), c.param("b_f", "H")
    W, U = c.param("W", "H", "H"), c.param("U", "H", "D")
    h, x = c.prev("h"), c.input("x")
    f = c.let("f", sigmoid(W_f @ h + U_f @ softplus(x) + b_f))
    cand = c.let("cand", softsign(W @ (f * h) + U @ x))
    c.let("h", (1 - f) * h + f * cand)
    return c


def reference(cell, params, xs, init, G, Gc):
    return run_backward(derive(cell), run_forward(cell, params, xs, init), G, Gc)


def forward_loss(cell, params, xs, init, G, Gc):
    return loss(cell, run_forward(cell, params, xs, init), G, Gc)


def central_differences(f, arrays, eps=1e-6):
    """∂f/∂a for each array a in `arrays` (perturbed in place, restored)."""
    out = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(*a.shape):
            keep = a[idx]
            a[idx] = keep + eps
            up = f()
            a[idx] = keep - eps
            down = f()
            a[idx] = keep
            g[idx] = (up - down) / (2 * eps)
        out.append(g)
    return out


def assert_same(got, want, rtol, atol):
    assert sorted(got) == sorted(want)
    for k in want:
        if k == "x":
            assert len(got[k]) == len(want[k])
            for a, b in zip(got[k], want[k]):
                np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=k)
        else:
            np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=k)


# --- the vector graph ------------------------------------------------------------

@pytest.mark.parametrize("name", CELLS)
def test_unroll_has_shared_parameters_states_inputs_and_loss(name):
    cell, T = get_cell(name), 3
    g = unroll(cell, T)
    assert nx.is_directed_acyclic_graph(g)
    assert all("op" in a for _, _, a in g.edges(data=True))
    for p in cell.params:                       # one node per parameter, used at every step
        assert g.in_degree(p) == 0
        assert {g.nodes[v]["step"] for v in g.successors(p)} == set(range(1, T + 1))
    for s in cell.states:
        assert {f"{s}_{t}" for t in range(T + 1)} <= set(g)
    assert {f"x_{t}" for t in range(1, T + 1)} <= set(g)
    want_loss = {f"h_{t}" for t in range(1, T + 1)} | {f"{s}_{T}" for s in cell.states[1:]}
    assert set(g.predecessors("L")) == want_loss
    assert [n for n in g if g.out_degree(n) == 0] == ["L"]


def test_unroll_rnn_is_exactly_the_textbook_graph():
    # h_t = tanh(W h_{t-1} + U x_t + b), written out by hand for T = 2
    g = unroll("rnn", 2)
    want = set()
    for t in (1, 2):
        want |= {("W", f"W h_{t-1}", "matvec"), (f"h_{t-1}", f"W h_{t-1}", "matvec"),
                 ("U", f"U x_{t}", "matvec"), (f"x_{t}", f"U x_{t}", "matvec"),
                 (f"W h_{t-1}", f"net_{t}", "add"), (f"U x_{t}", f"net_{t}", "add"), ("b", f"net_{t}", "add"),
                 (f"net_{t}", f"h_{t}", "tanh"), (f"h_{t}", "L", "inner")}
    assert {(u, v, a["op"]) for u, v, a in g.edges(data=True)} == want


def test_unroll_lstm_edge_labels():
    g = unroll("lstm", 2)
    assert g.edges["net_f_2", "f_2"]["op"] == "sigmoid"
    assert g.edges["net_c_tilde_2", "c_tilde_2"]["op"] == "tanh"
    assert g.edges["W_fh", "W_fh h_1"] == {"op": "matvec", "role": "matrix"}
    assert g.edges["h_1", "W_fh h_1"] == {"op": "matvec", "role": "vector"}
    assert set(g.predecessors("f_2 ⊙ c_1")) == {"f_2", "c_1"}
    assert g.edges["f_2 ⊙ c_1", "c_2"]["op"] == "add"
    assert g.edges["c_2", "tanh(c_2)"]["op"] == "tanh"
    assert unroll("gru", 1).edges["z_1", "1 − z_1"]["op"] == "one_minus"


def test_unroll_rejects_bad_T():
    with pytest.raises(ValueError, match="T must be a positive integer"):
        unroll("rnn", 0)


# --- paths --------------------------------------------------------------------------

def count_paths(g, src, dst):
    """Paths in a DAG by dynamic programming (not networkx's enumeration)."""
    n = {dst: 1}
    for v in reversed(list(nx.topological_sort(g))):
        if v != dst:
            n[v] = sum(n[w] for w in g.successors(v))
    return n[src]


def test_rnn_paths_from_the_loss_to_h_k():
    # h_k (k ≥ 1) reaches L directly or through h_{k+1}, ..., h_T: T − k + 1
    # paths (h_0 has no direct term: T); each step back in time crosses one W
    T = 4
    g = unroll("rnn", T)
    for k in range(T + 1):
        paths = gradient_paths(g, k)
        assert len(paths) == (T - k + 1 if k else T)
        for p in paths:
            assert p[0] == "L" and p[-1] == f"h_{k}"
            steps = sum(1 for n in p if re.fullmatch(r"h_\d+", n)) - 1
            assert path_ops(g, p).count("matvec") == steps


@pytest.mark.parametrize("name", CELLS)
def test_gradient_paths_are_all_the_paths(name):
    g = unroll(name, 3)
    for k in range(3):
        paths = gradient_paths(g, k)
        assert len({tuple(p) for p in paths}) == len(paths) == count_paths(g, f"h_{k}", "L")
        for p in paths:
            assert all(g.has_edge(b, a) for a, b in zip(p, p[1:]))


def test_lstm_cell_state_path_has_no_matrix_product():
    T = 4
    g = unroll("lstm", T)
    hops = state_path(g, "c")
    assert [h.t for h in hops] == list(range(T, 0, -1))          # one path per step
    for hop in hops:
        assert hop.path[0] == f"c_{hop.t - 1}" and hop.path[-1] == f"c_{hop.t}"
        assert hop.ops == ["hadamard", "add"]
        assert hop.factors == [[f"f_{hop.t}"]]
    # whereas every way from h_{t-1} to h_t (and from h_{t-1} to c_t) multiplies by a matrix
    for hop in state_path(g, "h"):
        assert "matvec" in hop.ops
    for t in range(1, T + 1):
        for p in nx.all_simple_paths(g, f"h_{t - 1}", f"c_{t}"):
            assert "matvec" in path_ops(g, p)
    # so the loss reaches c_0 along a path without any matrix product
    free = [p for p in gradient_paths(g, 0, "c") if "matvec" not in path_ops(g, p)]
    assert any(all(f"c_{t}" in p for t in range(T + 1)) for p in free)


def test_rnn_every_step_back_multiplies_by_W_and_gru_has_a_gated_shortcut():
    for hop in state_path(unroll("rnn", 3), "h"):
        assert hop.ops == ["matvec", "add", "tanh"]
    # GRU (PyTorch convention): h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
    shortcuts = [h for h in state_path(unroll("gru", 3), "h") if "matvec" not in h.ops]
    assert [(h.t, h.ops, h.factors) for h in shortcuts] == \
        [(t, ["hadamard", "add"], [[f"z_{t}"]]) for t in (3, 2, 1)]


# --- the scalar graph: a third, independent gradient --------------------------------

@pytest.mark.parametrize("name", CELLS)
def test_graph_gradients_equal_the_reference_interpreter(name, instance):
    cell = get_cell(name)
    params, xs, init, G, Gc = instance(cell, 2, 3, 4, seed=1)
    got = graph_gradients(cell, params, xs, init, G, Gc)
    assert_same(got, reference(cell, params, xs, init, G, Gc), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("name", CELLS + ("user",))
def test_graph_gradients_equal_finite_differences(name, instance):
    cell = user_cell() if name == "user" else get_cell(name)
    params, xs, init, G, Gc = instance(cell, 2, 3, 3, seed=2)
    acc = reverse_accumulate(scalar_graph(cell, 2, 3, 3), params, xs, init, G, Gc)
    f = lambda: forward_loss(cell, params, xs, init, G, Gc)
    assert acc.loss == pytest.approx(f(), rel=1e-13)
    names = list(params)
    fd = central_differences(f, [params[p] for p in names] + xs + [init[s] for s in cell.states])
    want = dict(zip(names, fd))
    want["x"] = fd[len(names):len(names) + len(xs)]
    for s, g in zip(cell.states, fd[len(names) + len(xs):]):
        want[s + "0"] = g
    assert_same(acc.grads, want, rtol=1e-6, atol=1e-8)


def test_user_cell_matches_the_reference_interpreter(instance):
    cell = user_cell()
    params, xs, init, G, Gc = instance(cell, 3, 2, 4, seed=3)
    assert_same(graph_gradients(cell, params, xs, init, G, Gc),
                reference(cell, params, xs, init, G, Gc), rtol=1e-11, atol=1e-13)


def test_graph_gradient_catches_the_tutorials_missing_cell_carry(instance):
    # the tutorial's δh_{t−1} drops δc_t ⊙ f_t: the derivation with that slip must disagree
    cell = get_cell("lstm")
    params, xs, init, G, Gc = instance(cell, 2, 3, 3, seed=4)
    ctx = run_forward(cell, params, xs, init)
    wrong = run_backward(derive(cell).with_carry("c", None), ctx, G, Gc)
    right = graph_gradients(cell, params, xs, init, G, Gc)
    assert not np.allclose(wrong["W_fh"], right["W_fh"], rtol=1e-3)


def test_cell_cotangent_forms(instance):
    cell = get_cell("lstm")
    params, xs, init, G, Gc = instance(cell, 2, 2, 2, seed=5)
    as_dict = graph_gradients(cell, params, xs, init, G, Gc)
    as_vector = graph_gradients(cell, params, xs, init, G, Gc["c"])
    assert_same(as_vector, as_dict, rtol=0, atol=0)
    without = graph_gradients(cell, params, xs, init, G, None)
    assert_same(without, reference(cell, params, xs, init, G, None), rtol=1e-11, atol=1e-13)


def test_scalar_graph_nodes_hold_their_own_expression():
    sg = scalar_graph("lstm", 2, 3, 2)
    a0 = sympy.Symbol("a0", real=True)
    node = sg.graph.nodes["f_2[1]"]
    assert node["parents"] == ("net_f_2[1]",)
    assert sympy.simplify(node["expr"] - sigmoid.expr.subs(act_x, a0)) == 0
    node = sg.graph.nodes["W_fh h_1[0]"]
    assert set(node["parents"]) == {"W_fh[0,0]", "W_fh[0,1]", "W_fh[0,2]", "h_1[0]", "h_1[1]", "h_1[2]"}
    assert sg.graph.number_of_nodes() == len(set(sg.graph))


# --- per-time-step contributions ------------------------------------------------------

def untied_loss(cell, per_step_params, xs, init, G, Gc):
    """The forward with its own copy of every parameter at each step."""
    state, total = dict(init), 0.0
    for t, x in enumerate(xs):
        ctx = run_forward(cell, per_step_params[t], [x], state)
        state = {s: ctx.env[s, 1] for s in cell.states}
        total += G[t] @ state[cell.states[0]]
    return total + sum(g @ state[s] for s, g in Gc.items())


@pytest.mark.parametrize("name", ("rnn", "lstm"))
def test_per_step_contributions_are_the_gradients_of_each_copy(name, instance):
    cell, T = get_cell(name), 3
    params, xs, init, G, Gc = instance(cell, 2, 2, T, seed=6)
    shares = per_step_gradients(cell, params, xs, init, G, Gc)
    total = reference(cell, params, xs, init, G, Gc)
    copies = [{p: a.copy() for p, a in params.items()} for _ in range(T)]
    f = lambda: untied_loss(cell, copies, xs, init, G, Gc)
    for p in params:
        np.testing.assert_allclose(sum(shares[p]), total[p], rtol=1e-11, atol=1e-13)
        fd = central_differences(f, [copies[t][p] for t in range(T)])
        for t in range(T):
            np.testing.assert_allclose(shares[p][t], fd[t], rtol=1e-6, atol=1e-8, err_msg=f"{p} at step {t + 1}")
    # the last step alone (the tutorial's input-weight gradient) is not the gradient
    assert not np.allclose(shares["W_ix" if name == "lstm" else "U"][-1], total["W_ix" if name == "lstm" else "U"])


# --- export and the command -------------------------------------------------------------

@pytest.mark.parametrize("name", CELLS)
def test_graphml_and_json_round_trip(name):
    g = unroll(name, 2)
    back = nx.parse_graphml(export(g, "graphml"))
    assert set(back) == set(g)
    assert {(u, v, a["op"]) for u, v, a in back.edges(data=True)} == \
        {(u, v, a["op"]) for u, v, a in g.edges(data=True)}
    data = json.loads(export(g, "json"))
    back = nx.node_link_graph(data, edges="edges")
    assert set(back) == set(g) and set(back.edges) == set(g.edges)
    assert back.nodes["h_1"]["kind"] == "state" and back.graph["cell"] == name


NODE = re.compile(r'^  "((?:[^"\\]|\\.)*)" \[label="(?:[^"\\]|\\.)*", shape=\w+[^\]]*\];$')
EDGE = re.compile(r'^  "((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)" \[label="(\w+)"\];$')


@pytest.mark.parametrize("name", CELLS)
def test_dot_lists_every_node_and_edge(name):
    g = unroll(name, 2)
    text = export(g, "dot")
    lines = text.splitlines()
    assert lines[0].startswith("digraph ") and lines[-1] == "}"
    nodes = {m.group(1) for m in map(NODE.match, lines) if m}
    edges = {(m.group(1), m.group(2), m.group(3)) for m in map(EDGE.match, lines) if m}
    assert nodes == set(g)
    assert edges == {(u, v, a["op"]) for u, v, a in g.edges(data=True)}


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_dot_opens_in_graphviz():
    out = subprocess.run(["dot", "-Tsvg"], input=export(unroll("lstm", 2), "dot"),
                         capture_output=True, text=True, check=True)
    assert "<svg" in out.stdout


@pytest.fixture
def lstm_sym():
    return commands.main


def test_command_writes_stdout_and_files(lstm_sym, capsys, tmp_path):
    assert lstm_sym(["graph", "rnn", "--T", "2"]) == 0
    assert capsys.readouterr().out == export(unroll("rnn", 2), "dot")
    out = tmp_path / "g.json"
    assert lstm_sym(["graph", "lstm", "--format", "json", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["graph"]["T"] == 3
    assert lstm_sym(["graph", "lstm", "--format", "graphml", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert json.loads(out.read_text())["graph"]["T"] == 3        # untouched
    assert lstm_sym(["graph", "lstm", "--format", "graphml", "-o", str(out), "--force"]) == 0
    assert nx.parse_graphml(out.read_text()).graph["T"] == 3


@pytest.mark.parametrize("argv, says", [
    (["graph", "elman"], "unknown cell"),
    (["graph", "rnn", "--T", "0"], "positive integer"),
    (["graph", "rnn", "--format", "png"], "invalid choice"),
    (["graph", "rnn", "-o", "/no/such/folder/g.dot"], "does not exist"),
])
def test_command_bad_input_is_one_line_and_exit_2(lstm_sym, capsys, argv, says):
    assert lstm_sym(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_mixing_vector_lengths_is_refused():
    from lstm_sym.activations import tanh
    c = Cell("bad", states=("h",))
    W = c.param("W", "H", "H")
    h, x = c.prev("h"), c.input("x")
    with pytest.raises(ValueError, match="different lengths"):   # refused where it is written
        c.let("h", tanh(W @ h + x))
