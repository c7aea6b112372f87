"""Numeric checks of a module's backward pass, driven by its forward alone:
the names other code reads, in one place.

The problem (problem.py), the difference quotients (differences.py), the
report rows (report.py), the one relative error (errors.py) and the
methods with their steps and tolerances (methods.py: REGISTRY)."""
from .differences import central, complex_step, directional, richardson, roundoff  # noqa: F401
from .errors import compare, gradient_floor, relative_error  # noqa: F401
from .methods import SMALL, STEPS, TOLERANCES, check_numeric  # noqa: F401
from .problem import Problem, final_c, gradients, loss, make_problem, run_forward, takes_dcT  # noqa: F401
from .report import CheckReport, Row  # noqa: F401
