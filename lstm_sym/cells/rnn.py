"""Vanilla RNN: h_t = tanh(W h_{t−1} + U x_t + b)."""
from ..activations import tanh
from ..ir import Cell

cell = Cell("rnn", states=("h",), title="Vanilla RNN")
W, U, b = cell.param("W", "H", "H"), cell.param("U", "H", "D"), cell.param("b", "H")
h, x = cell.prev("h"), cell.input("x")

net = cell.let("net", W @ h + U @ x + b)
cell.let("h", tanh(net))
