"""LSTM with diagonal peepholes (Gers & Schmidhuber 2000): the gates also read
the cell state, f_t and i_t the old one c_{t−1}, o_t the new one c_t."""
from ..activations import sigmoid, tanh
from ..ir import Cell

cell = Cell("lstm_peephole", states=("h", "c"), title="LSTM with peepholes (Gers & Schmidhuber 2000)")
W_fh, W_fx, b_f = cell.param("W_fh", "H", "H"), cell.param("W_fx", "H", "D"), cell.param("b_f", "H")
W_ih, W_ix, b_i = cell.param("W_ih", "H", "H"), cell.param("W_ix", "H", "D"), cell.param("b_i", "H")
W_ch, W_cx, b_c = cell.param("W_ch", "H", "H"), cell.param("W_cx", "H", "D"), cell.param("b_c", "H")
W_oh, W_ox, b_o = cell.param("W_oh", "H", "H"), cell.param("W_ox", "H", "D"), cell.param("b_o", "H")
p_f, p_i, p_o = cell.param("p_f", "H"), cell.param("p_i", "H"), cell.param("p_o", "H")
h, c, x = cell.prev("h"), cell.prev("c"), cell.input("x")

f = cell.let("f", sigmoid(W_fh @ h + W_fx @ x + p_f * c + b_f))
i = cell.let("i", sigmoid(W_ih @ h + W_ix @ x + p_i * c + b_i))
c_tilde = cell.let("c_tilde", tanh(W_ch @ h + W_cx @ x + b_c))
c_t = cell.let("c", f * c + i * c_tilde)
o = cell.let("o", sigmoid(W_oh @ h + W_ox @ x + p_o * c_t + b_o))
cell.let("h", o * tanh(c_t))
cell.declare(memory="c", forget_gate="f")
