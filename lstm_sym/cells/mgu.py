"""Minimal gated unit (Zhou et al. 2016): one forget gate f_t, which both
resets h_{t−1} inside the candidate and mixes old state with new."""
from ..activations import sigmoid, tanh
from ..ir import Cell

cell = Cell("mgu", states=("h",), title="Minimal gated unit (Zhou et al. 2016)")
W_fh, W_fx, b_f = cell.param("W_fh", "H", "H"), cell.param("W_fx", "H", "D"), cell.param("b_f", "H")
W_nh, W_nx, b_n = cell.param("W_nh", "H", "H"), cell.param("W_nx", "H", "D"), cell.param("b_n", "H")
h, x = cell.prev("h"), cell.input("x")

f = cell.let("f", sigmoid(W_fh @ h + W_fx @ x + b_f))
n = cell.let("n", tanh(W_nh @ (f * h) + W_nx @ x + b_n))
cell.let("h", (1 - f) * h + f * n)
