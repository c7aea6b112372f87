"""No false alarm: a correct backward is never called wrong, whether its
forward is the cell or another function (then the first line says so and no
formula is blamed).  200 random seeds and sizes over fixtures written in the
shapes real code takes (stacked gates, torch layout, no c0, Cho's GRU)."""
import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_sym.verify.check import run_check

FIXTURES = pathlib.Path(__file__).parent / "fixtures"

# (cell checked against, fixture, its forward is that cell)
CORRECT = [
    ("lstm", "real_stacked_ifog", True),
    ("lstm", "real_torch_lstm", True),
    ("lstm", "real_course_lstm", True),
    ("rnn", "real_rnn_every_step", True),
    ("rnn", "correct_rnn", True),
    ("gru", "real_gru_cho", False),                 # Cho's GRU: another function, its own backward right
    ("lstm", "real_stacked_ifog_torch_order", False),
    ("lstm", "real_lstm_no_output_tanh", False),
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CORRECT), seed=st.integers(0, 2**31 - 1),
       D=st.integers(1, 4), H=st.integers(1, 5), T=st.integers(1, 5), B=st.integers(1, 3))
def test_a_correct_backward_is_never_called_wrong(case, seed, D, H, T, B):
    cell, name, same = case
    report = run_check(cell, impl=str(FIXTURES / f"{name}.py"), methods=("directional",),
                       sizes=(D, H, T), batch=B, seed=seed)
    text = str(report)
    forward, backward = report.verdicts[:2]
    assert backward.startswith("backward: the derivative of your own forward"), text
    assert "where it goes wrong" not in text, text
    if same:
        assert forward.startswith(f"forward: the {cell} cell"), text
        assert report.exit_code == 0, text
    else:
        assert forward.startswith(f"forward: NOT the {cell} cell") and "most likely cause:" in forward, text
        assert report.exit_code == 1 and not [r for r in report.rows if not r.ok], text
