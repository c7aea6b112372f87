"""LSTM with coupled input and forget gates (CIFG; Greff et al. 2017,
"LSTM: A Search Space Odyssey"): the input gate is i_t = 1 − f_t."""
from ..activations import sigmoid, tanh
from ..ir import Cell

cell = Cell("cifg", states=("h", "c"), title="LSTM, coupled input and forget gate (CIFG; Greff et al. 2017)")
W_fh, W_fx, b_f = cell.param("W_fh", "H", "H"), cell.param("W_fx", "H", "D"), cell.param("b_f", "H")
W_ch, W_cx, b_c = cell.param("W_ch", "H", "H"), cell.param("W_cx", "H", "D"), cell.param("b_c", "H")
W_oh, W_ox, b_o = cell.param("W_oh", "H", "H"), cell.param("W_ox", "H", "D"), cell.param("b_o", "H")
h, c, x = cell.prev("h"), cell.prev("c"), cell.input("x")

f = cell.let("f", sigmoid(W_fh @ h + W_fx @ x + b_f))
c_tilde = cell.let("c_tilde", tanh(W_ch @ h + W_cx @ x + b_c))
c_t = cell.let("c", (1 - f) * c_tilde + f * c)
o = cell.let("o", sigmoid(W_oh @ h + W_ox @ x + b_o))
cell.let("h", o * tanh(c_t))
cell.declare(memory="c", forget_gate="f")
