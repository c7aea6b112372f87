"""`lstm-sym graph CELL --layers … --loss …`: the unrolled network as a networkx DAG."""
import json

import networkx as nx
import pytest

from lstm_sym.commands import main
from lstm_sym.graph import export, unroll, unroll_network
from lstm_sym.network import network


def test_layers_are_linked_and_the_loss_reaches_the_bottom_layer():
    g = unroll_network(network("lstm", layers=3, loss="xent"), 4)
    assert nx.is_directed_acyclic_graph(g)
    one = unroll("lstm", 4)
    # three layers' worth of the cell's nodes (the cell's own loss node dropped, x_t of
    # layers 2 and 3 being the h_t below), plus the head: V, b_y, E and 4 per step
    assert g.number_of_nodes() == 3 * (one.number_of_nodes() - 1) - 2 * 4 + 3 + 4 * 4
    assert any(n.startswith("l2:") for n in g.successors("l1:h_2"))      # layer 2 reads layer 1's h_t
    assert nx.has_path(g, "l1:c_0", "E") and nx.has_path(g, "l1:x_1", "E")
    assert [n for n in g.predecessors("E")] == [f"ℓ_{t}" for t in range(1, 5)]
    assert g.edges["a_3", "ℓ_3"]["op"] == "softmax_xent" and g.edges["y_3", "ℓ_3"]["role"] == "target"


def test_many_to_one_has_a_loss_at_step_T_only():
    g = unroll_network(network("rnn", layers=2, loss="mse", loss_at="last"), 3)
    assert list(g.predecessors("E")) == ["ℓ_3"] and "ℓ_1" not in g
    assert g.edges["a_3", "ℓ_3"]["op"] == "half_squared_error"
    assert nx.has_path(g, "l1:h_1", "E")          # step 1 reaches the loss only through the recurrence


@pytest.mark.parametrize("fmt", ["dot", "graphml", "json"])
def test_every_format_exports_a_network(fmt):
    g = unroll_network(network("gru", layers=2, loss="xent"), 2)
    text = export(g, fmt)
    if fmt == "json":
        assert {n["id"] for n in json.loads(text)["nodes"]} == set(g)
    elif fmt == "graphml":             # read back: GraphML writes ℓ as a character reference
        assert set(nx.parse_graphml(text)) == set(g)
    else:
        assert '"ℓ_2" -> "E"' in text


def test_graph_command_takes_the_network_flags(capsys):
    assert main(["graph", "rnn", "--layers", "2", "--loss", "xent", "--T", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith('digraph "rnn network T=2"') and '"l1:h_2" -> ' in out and err == ""


def test_upper_layers_name_their_operand_as_the_layer_below():
    g = unroll_network(network("rnn", layers=3, loss="xent"), 2)
    upper = [n for n in g if n.startswith(("l2:", "l3:"))]
    assert upper and not [n for n in upper if "x_" in n]            # nothing above layer 1 reads x_t
    assert "l1:h_1" in g.predecessors("l2:U l1:h_1") and "l2:h_2" in g.predecessors("l3:U l2:h_2")


def test_the_cost_limit_counts_every_layer(capsys):
    # one layer at this T fits the limit (its estimate is under 10 min); four layers do not
    from lstm_sym import cost
    from lstm_sym.cells import get_cell
    lstm = get_cell("lstm")
    assert cost.graph_cost(lstm, 200000, "dot", 4).seconds > 4 * cost.graph_cost(lstm, 200000, "dot").seconds
    assert cost.graph_cost(lstm, 200000, "dot").seconds < 600
    code = main(["graph", "lstm", "--layers", "4", "--T", "200000", "-o", "/dev/null"])
    err = capsys.readouterr().err
    assert code == 2 and "--layers 4 would take" in err and err.count("\n") == 1
