"""The check methods' registry: README, --help and the check itself read it."""
import os

import pytest

from lstm_sym.verify import methods
from lstm_sym.verify.methods import REGISTRY, readme_section, readme_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_table_is_the_registry():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    at = readme_section(readme)
    assert at is not None, "README.md has no generated check-methods section"
    assert readme[at[0]:at[1]] == readme_table(), (
        "README's check-methods table differs from lstm_sym.verify.methods.REGISTRY: "
        "run `python -m lstm_sym.verify.methods README.md`")


def test_readme_table_names_every_method_and_tolerance():
    table = readme_table()
    for m in REGISTRY.values():
        assert f"| `{m.name}` |" in table
        for v in m.tol.values():
            assert v == 0 or methods._short(v) in table, (m.name, v)


def test_help_lists_every_option_and_alias():
    text = methods.help_text()
    for name in methods.METHODS:
        assert name in text
    assert "derivation" not in text.split("(")[0]          # not a --method: it joins with --impl


def test_names_and_defaults():
    assert methods.METHODS == ("symbolic", "fd", "central", "richardson", "complex", "directional", "graph",
                               "torch")
    assert methods.DEFAULT == ("fd", "complex", "directional", "graph", "torch")
    assert methods.expand(("fd", "central", "graph")) == ("central", "richardson", "graph")
    assert methods.parse_methods("all") == methods.METHODS
    with pytest.raises(ValueError, match="unknown method"):
        methods.parse_methods("fd,nope")


def test_every_method_is_complete():
    for m in REGISTRY.values():
        assert "float64" in m.tol and m.what
        assert (m.entry is not None) + (m.whole is not None) + (m.run is not None) == 1, m.name
        assert m.own == (m.run is None), m.name       # own-forward methods run in check_numeric
        if m.entry is not None:
            assert set(m.step) == set(m.tol) and m.forwards > 0, m.name


def test_compatibility_views_agree():
    from lstm_sym.verify import numeric
    assert numeric.TOLERANCES[("central", "float32")] == REGISTRY["central"].tol["float32"]
    assert numeric.STEPS[("complex", "float64")] == REGISTRY["complex"].step["float64"]
    assert ("complex", "float32") not in numeric.TOLERANCES


def test_a_method_that_cannot_run_says_why():
    from lstm_sym.derivation import derive
    from lstm_sym.verify.check import run_check
    why = REGISTRY["torch"].supports(derive("lstm_peephole").cell, None)
    assert why                                  # torch.nn.LSTM has no peepholes
    r = run_check("lstm_peephole", methods=("torch", "directional"), sizes=(2, 2, 3))
    assert f"torch: skipped ({why})" in r.notes
    assert r.exit_code == 0 and all(row.method == "directional" for row in r.compared)


def test_one_relative_error():
    import math

    import numpy as np

    from lstm_sym.errata import relative_error as errata_rel
    from lstm_sym.verify.errors import compare, relative_error
    a, b = np.array([1.0, 2.0]), np.array([1.0, 2.5])
    assert relative_error(a, b) == 0.5 / 2.5
    assert errata_rel(a, b) == pytest.approx(0.5 / np.linalg.norm(b))
    assert relative_error(None, b) == math.inf
    assert relative_error(np.ones(3), b) == math.inf
    assert math.isnan(relative_error(np.array([np.nan, 1.0]), b))
    assert relative_error(np.array([np.inf, 1.0]), b) == math.inf
    assert compare(b, b) == (0.0, 0.0)
    for bad in (None, np.ones(3), np.array([np.nan, 1.0]), np.array([np.inf, 1.0])):
        assert not relative_error(bad, b) <= 1e-9          # never a pass


def test_one_problem_maker_takes_a_module_or_a_cell():
    import numpy as np

    from lstm_sym.verify.problem import make_problem
    from lstm_sym.verify.reference import reference_module
    by_module = make_problem(reference_module("gru"), 2, 3, 4, 2, seed=5)   # one state: no c_T to read
    by_cell = make_problem("gru", 2, 3, 4, 2, seed=5)
    assert by_module.params.keys() == by_cell.params.keys()
    for k in by_module.params:
        np.testing.assert_array_equal(by_module.params[k], by_cell.params[k])
    np.testing.assert_array_equal(by_module.x, by_cell.x)
    zero = make_problem("gru", 2, 3, 4, 2, zero_init=True)
    assert not zero.h0.any() and zero.c0 is None


def test_batch_adapter_sums_parameters_and_stacks_the_rest():
    import numpy as np

    from lstm_sym.verify.batch import over_batch
    per = {0: {"W": np.ones((2, 2)), "x": [np.zeros(3)] * 4, "h0": np.zeros(2)},
           1: {"W": 2 * np.ones((2, 2)), "x": [np.ones(3)] * 4, "h0": np.ones(2)}}
    out = over_batch(per.__getitem__, 2, ("h", "c"), missing=lambda k: np.zeros((2, 2)))
    np.testing.assert_array_equal(out["W"], 3 * np.ones((2, 2)))
    assert out["x"].shape == (4, 2, 3) and out["h0"].shape == (2, 2) and out["c0"].shape == (2, 2)
    np.testing.assert_array_equal(out["x"][:, 1], np.ones((4, 3)))


def _interpreter_referee(ctx):
    """A new referee in a few lines: the derivation's interpreter."""
    from lstm_sym.verify.problem import gradients
    from lstm_sym.verify.reference import reference_module
    from lstm_sym.verify.referees import rows_against
    ref = gradients(reference_module(ctx.d), ctx.prob)
    ctx.report.rows += rows_against("interp", ctx.grads, ref, ctx.tol, ctx.checked)


def test_a_new_method_is_one_registry_entry(monkeypatch):
    from lstm_sym.verify.check import run_check
    from lstm_sym.verify.methods import EXACT, Method
    monkeypatch.setitem(REGISTRY, "interp", Method("interp", "the interpreter", EXACT, run=_interpreter_referee))
    right = run_check("gru", methods=("interp",), sizes=(2, 3, 3))
    assert right.exit_code == 0 and {r.method for r in right.compared} == {"interp"}
    fixture = os.path.join(ROOT, "tests", "fixtures", "tutorial_lstm.py")
    wrong = run_check("lstm", fixture, methods=("interp",), sizes=(2, 3, 3))
    assert wrong.exit_code == 1 and any(not r.ok for r in wrong.rows if r.method == "interp")
