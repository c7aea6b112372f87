"""GRU as Cho et al. (2014) and the textbooks (d2l) write it: the reset gate
acts on h_{t−1} before W_nh, one bias per gate.  The update of h is the one
of cells/gru.py, h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}, so the two cells
differ only where r_t acts: here W_nh (r_t ⊙ h_{t−1}), there r_t ⊙ (W_nh h_{t−1} + b_nh)."""
from ..activations import sigmoid, tanh
from ..ir import Cell

cell = Cell("gru_cho", states=("h",), title="GRU (Cho et al. 2014, textbook convention)")
W_rh, W_rx, b_r = cell.param("W_rh", "H", "H"), cell.param("W_rx", "H", "D"), cell.param("b_r", "H")
W_zh, W_zx, b_z = cell.param("W_zh", "H", "H"), cell.param("W_zx", "H", "D"), cell.param("b_z", "H")
W_nh, W_nx, b_n = cell.param("W_nh", "H", "H"), cell.param("W_nx", "H", "D"), cell.param("b_n", "H")
h, x = cell.prev("h"), cell.input("x")

r = cell.let("r", sigmoid(W_rh @ h + W_rx @ x + b_r))
z = cell.let("z", sigmoid(W_zh @ h + W_zx @ x + b_z))
n = cell.let("n", tanh(W_nh @ (r * h) + W_nx @ x + b_n))
cell.let("h", (1 - z) * n + z * h)
