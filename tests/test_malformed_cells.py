"""A malformed cell is refused where it is written, with a message that
says what to do: never derived silently wrong."""
import pytest
import sympy

from lstm_sym import Cell, activation, derive, sigmoid, tanh
from lstm_sym.activations import x as X


def test_activation_on_a_plain_symbol_is_refused():
    """sympy.Symbol("x") is not activations.x (no real=True): its derivative
    in activations.x would be 0 and every delta through it would vanish."""
    plain = sympy.Symbol("x")
    with pytest.raises(ValueError, match="not lstm_sym.activations.x"):
        activation("softplus", sympy.log(1 + sympy.exp(plain)))
    with pytest.raises(ValueError, match="does not depend on x"):
        activation("const", sympy.Integer(2))
    with pytest.raises(ValueError, match="SymPy expression"):
        activation("text", "log(1 + exp(x))")
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        activation("swish")
    good = activation("softplus", sympy.log(1 + sympy.exp(X)))     # the right way still works
    assert good.derivative != 0


@pytest.mark.parametrize("shape", [("K", "H"), ("H", "K"), ("D",), ("D", "H"), ("H", "H", "H"), ()])
def test_unknown_dimensions_are_refused_at_declaration(shape):
    cell = Cell("c", states=("h",))
    with pytest.raises(ValueError, match="H the state size, D the input size"):
        cell.param("V", *shape)


def test_a_second_input_is_refused():
    cell = Cell("two", states=("h",))
    cell.input("x")
    with pytest.raises(ValueError, match="already has the input x"):
        cell.input("u")


@pytest.mark.parametrize("make, says", [
    (lambda: Cell("has space", states=("h",)), "identifier"),
    (lambda: Cell("c", states="h"), "tuple of names"),
    (lambda: Cell("c", states=("h", "h")), "named twice"),
    (lambda: Cell("c", states=()), "tuple of names"),
])
def test_bad_cell_headers(make, says):
    with pytest.raises(ValueError, match=says):
        make()


def test_a_cell_without_input_is_refused_at_check():
    cell = Cell("free", states=("h",))
    W = cell.param("W", "H", "H")
    cell.let("h", tanh(W @ cell.prev("h")))
    with pytest.raises(ValueError, match="no input"):
        derive(cell)


def greff(declare=None):
    """Greff et al.'s naming: output y, cell state c."""
    cell = Cell("greff", states=("y", "c"))
    W_fh, W_fx, b_f = cell.param("W_fh", "H", "H"), cell.param("W_fx", "H", "D"), cell.param("b_f", "H")
    W_zh, W_zx, b_z = cell.param("W_zh", "H", "H"), cell.param("W_zx", "H", "D"), cell.param("b_z", "H")
    y, c, x = cell.prev("y"), cell.prev("c"), cell.input("x")
    f = cell.let("f", sigmoid(W_fh @ y + W_fx @ x + b_f))
    z = cell.let("z", tanh(W_zh @ y + W_zx @ x + b_z))
    c_t = cell.let("c", f * c + (1 - f) * z)
    cell.let("y", tanh(c_t))
    if declare:
        cell.declare(**declare)
    return cell


def test_roles_are_inferred_from_the_equations_not_the_names():
    cell = greff()
    cell.check()
    assert cell.roles == {"memory": "c", "forget_gate": "f", "forget_bias": "b_f"}


def test_a_declared_role_that_is_not_in_the_cell_is_refused():
    with pytest.raises(ValueError, match="declared memory 'm'"):
        greff({"memory": "m"}).check()
    with pytest.raises(ValueError, match="declared forget_gate 'g'"):
        greff({"forget_gate": "g"}).check()


def test_cells_without_a_memory_have_no_forget_role():
    from lstm_sym.cells import get_cell
    assert get_cell("gru").check().roles == {}
    assert get_cell("lstm").check().roles["forget_bias"] == "b_f"


@pytest.mark.parametrize("fold", [False, True])
def test_codegen_refuses_a_vector_computed_from_x_instead_of_emitting_broken_code(fold):
    """derive handles tanh(x) (length D); the kernel's (T, B, H) buffers cannot."""
    from lstm_sym.codegen import emit
    cell = Cell("xact" + str(fold), states=("h",))
    W, U = cell.param("W", "H", "H"), cell.param("U", "H", "D")
    h, x = cell.prev("h"), cell.input("x")
    u = tanh(x) if fold else cell.let("u", tanh(x))
    cell.let("h", tanh(W @ h + U @ u))
    assert str(derive(cell))                      # the derivation itself is fine
    with pytest.raises(ValueError, match="length D from x"):
        emit(cell)


def test_codegen_refuses_names_that_clash_with_its_buffers():
    from lstm_sym.codegen import emit
    cell = Cell("clash", states=("h",))
    W, U, b = cell.param("W", "H", "H"), cell.param("U", "H", "D"), cell.param("h_seq", "H")
    cell.let("h", tanh(W @ cell.prev("h") + U @ cell.input("x") + b))
    with pytest.raises(ValueError, match="h_seq would clash"):
        emit(cell)


def test_codegen_refuses_a_parameter_named_like_a_kernel_argument():
    from lstm_sym.codegen import emit
    cell = Cell("argclash", states=("h",))
    W, U, b = cell.param("W", "H", "H"), cell.param("U", "H", "D"), cell.param("h0", "H")
    cell.let("h", tanh(W @ cell.prev("h") + U @ cell.input("x") + b))
    with pytest.raises(ValueError, match="h0 would clash with a name the kernel uses"):
        emit(cell)


def test_a_name_python_uses_is_renamed_in_the_kernel_not_broken():
    import pathlib

    from lstm_sym.cells import load_cell
    from lstm_sym.verify.check import run_check
    cell = load_cell(str(pathlib.Path(__file__).parent / "fixtures" / "cells" / "builtin_name.cell"))
    assert run_check(cell, methods=("fd", "graph"), sizes=(2, 3, 3)).exit_code == 0
