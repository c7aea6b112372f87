"""The statement printer of the code generator, on statements written here:
each node prints as Python that runs and does what the node says."""
import numpy as np

from lstm_sym.codegen.statements import (Assign, Aug, Comment, Function, Guard, Into, Listing, Loop,
                                         PythonPrinter, Return, Sub, subscript, tidy)
from lstm_sym.codegen.plan import Run


def run(statements, **names):
    source = PythonPrinter().source(statements)
    scope = {"np": np, **names}
    exec(compile(source, "<test>", "exec"), scope)
    return source, scope


def test_a_function_with_a_loop_runs_and_computes():
    body = [Assign("out", "np.zeros((3, 2))"),
            Loop("t", "range(3)", [Comment("out_t = a_t * 2"), Into("np.multiply", ("a[t]", "2"), Sub("out", "t")),
                                   Aug(Sub("out", "t"), "+", "1", "plus one")]),
            Return("out")]
    source, scope = run([Function("f", "a", ['"""twice a, plus one"""'], body)])
    a = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(scope["f"](a), 2 * a + 1)
    assert "    for t in range(3):\n        # out_t = a_t * 2\n" in source
    assert "out[t] += 1    # plus one" in source


def test_unpacking_one_name_keeps_the_trailing_comma():
    source, scope = run([Assign(("a",), "[7]")])
    assert scope["a"] == 7 and source == "a, = [7]"


def test_a_guard_raises_the_message():
    source, scope = run([Function("g", "x", ['"""."""'], [Guard("x < 0", '"x must be at least 0"'), Return("x")])])
    assert scope["g"](2) == 2
    try:
        scope["g"](-1)
    except ValueError as e:
        assert str(e) == "x must be at least 0"
    else:
        raise AssertionError("the guard did not raise")


def test_a_long_listing_wraps_inside_the_width_and_still_runs():
    items = [f'"key_number_{k}": {k}' for k in range(20)]
    source, scope = run([Assign("d", Listing("{", items, "}"))])
    assert len(source.splitlines()) > 1 and max(map(len, source.splitlines())) <= 110
    assert scope["d"] == {f"key_number_{k}": k for k in range(20)}


def test_a_long_trailing_comment_moves_above_its_statement():
    line = "x = 1    # " + "word " * 30
    out = tidy([line])
    assert out[-1] == "x = 1" and all(s.startswith("# ") for s in out[:-1])
    assert all(len(s) <= 110 for s in out)


def test_subscripts_of_runs_and_their_slots():
    assert str(subscript("gate_seq", Run(0, 3), 3)) == "gate_seq"
    assert str(subscript("gate_seq", Run(1, 3), 4)) == "gate_seq[1:3]"
    assert str(subscript("gate_seq", Run(0, 4), 4, "t")) == "gate_seq[t]"
    assert str(subscript("gate_seq", Run(1, 3), 4, "t")) == "gate_seq[t, 1:3]"
