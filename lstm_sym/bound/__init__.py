"""The gradient-flow bound ‖δ_k‖ ≤ ‖δ_t‖ (β_f β_W)^(t−k): derived from the
IR (the one-step Jacobian is the transposed carry), measured over random
instances with every trial at once, RNN against LSTM.

    jacobian     ∂s_t/∂s_{t−1} read off a derivation; β_f; the rnn with any f
    batched      the cell and its derivation over a leading trials axis
    experiments  ratios against the bounds, Pascanu's regimes, ∇_{W_k}E, the c path
    report       text / LaTeX / Markdown
    analysis     one cell's derivation + measurement (what `lstm-sym bound` prints)
    plot         the PNG
    document     derivations/bound.md
"""
from .analysis import analyse
from .document import bound_markdown
from .jacobian import beta_f, one_step_jacobian, rnn_cell

__all__ = ["analyse", "bound_markdown", "beta_f", "one_step_jacobian", "rnn_cell"]
