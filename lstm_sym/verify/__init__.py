"""Verification: exact symbolic proof (more checkers arrive here)."""
from .symbolic import ProofReport, prove, prove_cell

__all__ = ["ProofReport", "prove", "prove_cell"]
