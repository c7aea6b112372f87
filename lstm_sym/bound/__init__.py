"""The gradient-flow bound ‖δ_k‖ ≤ ‖δ_t‖ (β_f β_W)^(t−k): derived from the
IR (the one-step Jacobian is the transposed carry), measured over random
instances with every trial at once, RNN against LSTM.

    jacobian     ∂s_t/∂s_{t−1} read off a derivation; β_f; the rnn with any f
    batched      the cell and its derivation over a leading trials axis
    experiments  ratios against the bounds, Pascanu's regimes, ∇_{W_k}E, the c path
    report       text / LaTeX / Markdown
    command      `lstm-sym bound`
    document     derivations/bound.md
"""
from .command import analyse, register_bound
from .document import bound_markdown
from .jacobian import beta_f, one_step_jacobian, rnn_cell

__all__ = ["analyse", "register_bound", "bound_markdown", "beta_f", "one_step_jacobian", "rnn_cell"]
