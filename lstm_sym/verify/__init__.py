"""Verification: the referees of a derivation and of the code that runs it.

methods.py is the registry of check methods (check.py loops over it);
problem.py makes the one random problem, errors.py computes the one relative
error, batch.py answers for a batch from one sequence at a time;
differences.py, referees.py, graph_oracle.py, torch_oracle.py and
symbolic.py are the methods themselves; impl.py, sandbox.py and
forward_match.py check a user's module."""
from .symbolic import ProofReport, prove, prove_cell

__all__ = ["ProofReport", "prove", "prove_cell"]
