"""The commands layer: nobody below it imports it, and CELL is a built-in
name or a user's file in every command."""
import ast
import os
import pathlib
import subprocess
import sys

import pytest

from lstm_sym import commands

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "lstm_sym"
CELLS = ROOT / "tests" / "fixtures" / "cells"


def imported_modules(path):
    """Absolute names of every module a file imports (relative imports resolved)."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            yield mod
            yield from (f"{mod}.{a.name}" for a in node.names)


def test_no_module_outside_the_commands_layer_imports_it():
    offenders = []
    for path in PKG.rglob("*.py"):
        inside = "commands" in path.relative_to(PKG).parts or path.name in ("cli.py", "__main__.py")
        if inside:
            continue
        for mod in imported_modules(path):
            if mod == "lstm_sym.commands" or mod.startswith("lstm_sym.commands.") or mod == "lstm_sym.cli":
                offenders.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert offenders == []


def test_the_import_check_sees_a_violation(tmp_path):
    """The scanner above can fail: a relative import of the layer is caught."""
    fake = PKG / "verify" / "_probe_for_test.py"
    fake.write_text("from ..commands import main\n")
    try:
        assert "lstm_sym.commands" in set(imported_modules(fake))
    finally:
        fake.unlink()


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "lstm_sym", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


USER = CELLS / "mgu_user.py"


@pytest.mark.parametrize("argv", [
    ["derive", USER],
    ["derive", USER, "--format", "latex", "--part", "bptt"],
    ["prove", USER, "--sizes", "2,2,1"],
    ["codegen", USER],
    ["graph", USER, "--T", "2", "--format", "json"],
    ["bound", USER, "--T", "4", "--trials", "3", "--hidden", "3"],
    ["check", USER, "--method", "fd,graph", "--sizes", "2,3,3"],
    ["bench", USER, "--sizes", "2,3,4,5", "--no-torch"],
])
def test_every_command_takes_a_python_cell_file(argv):
    r = run(*argv)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() and not r.stderr.strip().startswith("Traceback")


def test_python_cell_file_derives_like_the_same_cell_built_in_process():
    from lstm_sym import derive
    from lstm_sym.cells import load_cell
    from lstm_sym.printing import render
    cell = load_cell(str(USER))
    assert run("derive", USER).stdout == render(derive(cell), "all", "text")


def test_check_skips_torch_with_a_reason_for_a_cell_torch_cannot_express():
    r = run("check", USER, "--method", "fd,torch", "--sizes", "2,3,3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "torch" in r.stdout and "skipped" in r.stdout


@pytest.mark.parametrize("spec, words", [
    ("no_such_cell", ["unknown cell", "no such file"]),
    (CELLS / "missing.py", ["missing.py", "no such file"]),
    (CELLS / "no_cell.py", ["no_cell.py", "no module-level `cell`"]),
    (CELLS / "raises_at_import.py", ["raises_at_import.py", "RuntimeError", "broken"]),
    (CELLS / "exits_at_import.py", ["exits_at_import.py", "SystemExit"]),
    (ROOT / "README.md", ["README.md", ".py", ".cell"]),
])
@pytest.mark.parametrize("command", ["derive", "prove", "codegen", "graph", "bound", "check", "bench"])
def test_a_bad_cell_is_one_line_and_exit_2(spec, words, command):
    r = run(command, spec)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("lstm-sym: error:"), r.stderr
    for w in words:
        assert w in r.stderr


def test_debug_shows_the_traceback_of_a_broken_cell_file():
    r = run("--debug", "derive", CELLS / "raises_at_import.py")
    assert r.returncode == 2
    assert "Traceback" in r.stderr and "the user's cell file is broken" in r.stderr


def test_main_in_process_returns_exit_codes(capsys):
    assert commands.main(["derive", "rnn", "--part", "forward"]) == 0
    assert "tanh" in capsys.readouterr().out
    assert commands.main(["derive", "nope"]) == 2


SPEC = CELLS / "mgu_user.cell"


@pytest.mark.parametrize("argv", [["derive"], ["derive", "--format", "latex"], ["derive", "--format", "markdown"],
                                  ["codegen"], ["graph", "--format", "json"]])
def test_a_cell_spec_and_the_equivalent_python_file_give_identical_output(argv):
    a, b = run(argv[0], SPEC, *argv[1:]), run(argv[0], USER, *argv[1:])
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout


def test_every_command_takes_a_cell_spec():
    for argv in (["prove", SPEC, "--sizes", "2,2,1"], ["check", SPEC, "--method", "fd", "--sizes", "2,3,3"],
                 ["bound", SPEC, "--T", "3", "--trials", "2", "--hidden", "2"]):
        r = run(*argv)
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("bad", sorted(p.name for p in CELLS.glob("bad_*.cell")))
@pytest.mark.parametrize("command", ["derive", "codegen", "check"])
def test_a_malformed_spec_is_one_line_with_its_location_and_nothing_written(bad, command, tmp_path):
    out = tmp_path / "k.py"
    extra = ["-o", out] if command == "codegen" else []
    r = run(command, CELLS / bad, *extra)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"{bad}:" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_states_named_as_the_user_likes_work_in_check_with_and_without_impl(tmp_path):
    """Greff's y (output) and c: gradient keys y0, c0; no KeyError, no false 'h0 missing'."""
    spec = CELLS / "greff.cell"
    kernel = tmp_path / "greff_kernel.py"
    assert run("codegen", spec, "-o", kernel).returncode == 0
    for argv in (["check", spec, "--sizes", "2,3,3"],
                 ["check", spec, "--impl", kernel, "--sizes", "2,3,3"],
                 ["bound", spec, "--T", "3", "--trials", "2", "--hidden", "2"]):
        r = run(*argv)
        assert r.returncode == 0, r.stdout + r.stderr
    r = run("check", spec, "--impl", kernel, "--sizes", "2,3,3", "--method", "fd")
    assert "y0" in r.stdout and "c0" in r.stdout and "h0" not in r.stdout


@pytest.mark.parametrize("spec", ["param_only_one_minus.cell", "param_only_products.cell"])
def test_parameter_only_sub_expressions_are_no_false_alarm(spec):
    """1 − b or p ⊙ q is computed once and feeds every step: the graph oracle
    must accumulate all T uses (it once kept the last step's only: a FAIL on a
    correct derivation)."""
    r = run("check", CELLS / spec, "--method", "graph,fd,directional")
    assert r.returncode == 0, r.stdout


@pytest.mark.parametrize("spec", ["relu_rnn.cell", "sru.cell", "param_only_products.cell", "greff.cell"])
def test_bound_serves_user_cells_of_every_shape(spec, tmp_path):
    r = run("bound", CELLS / spec, "--T", "4", "--trials", "3", "--hidden", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].endswith(": gradient flow") and not r.stdout.startswith(":")


def test_a_misnamed_initial_state_gradient_is_one_line_not_silently_dropped(tmp_path):
    spec, kernel = CELLS / "greff.cell", tmp_path / "greff_kernel.py"
    assert run("codegen", spec, "-o", kernel).returncode == 0
    kernel.write_text(kernel.read_text().replace('"y0"', '"h0"'))
    r = run("check", spec, "--impl", kernel, "--sizes", "2,3,3", "--method", "fd")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "'h0' but no 'y0'" in r.stderr


def test_method_all_on_a_relu_cell_skips_the_proof_with_the_reason_and_runs_the_rest():
    r = run("check", CELLS / "relu_rnn.cell", "--method", "all", "--sizes", "2,3,3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "symbolic: skipped (the exact proof cannot evaluate Max" in r.stdout and " graph " in r.stdout
