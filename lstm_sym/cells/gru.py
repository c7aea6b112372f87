"""GRU in PyTorch's convention: r multiplies W_nh h_{t−1} + b_nh."""
from ..activations import sigmoid, tanh
from ..ir import Cell

cell = Cell("gru", states=("h",), title="GRU (PyTorch convention)")
W_rh, W_rx, b_r = cell.param("W_rh", "H", "H"), cell.param("W_rx", "H", "D"), cell.param("b_r", "H")
W_zh, W_zx, b_z = cell.param("W_zh", "H", "H"), cell.param("W_zx", "H", "D"), cell.param("b_z", "H")
W_nh, W_nx = cell.param("W_nh", "H", "H"), cell.param("W_nx", "H", "D")
b_nh, b_nx = cell.param("b_nh", "H"), cell.param("b_nx", "H")
h, x = cell.prev("h"), cell.input("x")

r = cell.let("r", sigmoid(W_rx @ x + b_r + W_rh @ h))
z = cell.let("z", sigmoid(W_zx @ x + b_z + W_zh @ h))
n = cell.let("n", tanh(W_nx @ x + b_nx + r * (W_nh @ h + b_nh)))
cell.let("h", (1 - z) * n + z * h)
