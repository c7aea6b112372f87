"""LSTM without a forget gate (Hochreiter & Schmidhuber 1997): the cell state
only accumulates, c_t = c_{t−1} + i_t ⊙ c̃_t, so its own path never decays."""
from ..activations import sigmoid, tanh
from ..ir import Cell

cell = Cell("lstm_nofg", states=("h", "c"), title="LSTM without forget gate (Hochreiter & Schmidhuber 1997)")
W_ih, W_ix, b_i = cell.param("W_ih", "H", "H"), cell.param("W_ix", "H", "D"), cell.param("b_i", "H")
W_ch, W_cx, b_c = cell.param("W_ch", "H", "H"), cell.param("W_cx", "H", "D"), cell.param("b_c", "H")
W_oh, W_ox, b_o = cell.param("W_oh", "H", "H"), cell.param("W_ox", "H", "D"), cell.param("b_o", "H")
h, c, x = cell.prev("h"), cell.prev("c"), cell.input("x")

i = cell.let("i", sigmoid(W_ih @ h + W_ix @ x + b_i))
c_tilde = cell.let("c_tilde", tanh(W_ch @ h + W_cx @ x + b_c))
c_t = cell.let("c", c + i * c_tilde)
o = cell.let("o", sigmoid(W_oh @ h + W_ox @ x + b_o))
cell.let("h", o * tanh(c_t))
cell.declare(memory="c")
