"""`lstm-sym bench`: its baselines compute the same thing as the generated
kernel, and the command runs and reports (timings themselves are measured by
benchmarks/bench_codegen.py, never asserted here)."""
import pytest

from lstm_sym import bench, commands
from lstm_sym.cells import NAMES, get_cell
from lstm_sym.codegen import compile as compile_kernel
from lstm_sym.codegen.plan import make_plan
from lstm_sym.derive import derive


@pytest.mark.parametrize("name", NAMES)
def test_textbook_version_and_torch_agree_with_the_generated_kernel(name):
    """The textbook code is written from the usual formulas, by hand; torch is
    torch: agreeing to rounding, all three compute one thing.  A cell with no
    textbook version (or one torch cannot express) is compared with what it
    has, and skipped() says what it has not."""
    cell = get_cell(name)
    diffs = bench.compare(name, compile_kernel(name), B=3, D=4, H=5, T=6)
    assert ("textbook" in diffs) == (name in bench.TEXTBOOK)
    assert ("torch" in diffs) == bench.torch_can(cell)
    for other, (_, diff) in diffs.items():
        assert diff < 1e-12, (other, diffs)
    lines = bench.skipped(cell)
    assert (name not in bench.TEXTBOOK) == any(s.startswith("textbook: skipped (") for s in lines)
    assert bench.torch_can(cell) != any(s.startswith("torch: skipped (") for s in lines)


def test_a_cell_without_textbook_or_torch_leaves_both_columns_out(monkeypatch):
    monkeypatch.setattr(bench, "SETTLE", 0.0)
    rows = bench.measure("mgu", [(2, 3, 4, 5)], repeat=3)
    assert set(rows[0]["median"]) == {"generated", "numpy GEMMs"}
    header = bench.table(rows).splitlines()[0]
    assert "textbook" not in header and "torch" not in header and "| generated |" in header
    book, torch_line = bench.skipped(get_cell("mgu"))
    assert book == "textbook: skipped (no textbook NumPy version of mgu to time against)"
    assert torch_line.startswith("torch: skipped (") and "\n" not in torch_line


def test_gemm_flops_count_each_projection_three_times():
    flops, Gx, Gh = bench.gemm_flops(make_plan(derive("lstm")), B=2, D=3, H=5, T=7)
    assert (Gx, Gh) == (4, 4)
    assert flops == 3 * 2 * 7 * 2 * 5 * (4 * 3 + 4 * 5)


def test_measure_reports_medians_ratios_and_gflops(monkeypatch):
    monkeypatch.setattr(bench, "SETTLE", 0.0)
    rows = bench.measure("gru", [(2, 3, 4, 5)], repeat=3, use_torch=False)
    (row,) = rows
    assert row["sizes"] == (2, 3, 4, 5)
    assert set(row["median"]) == {"generated", "textbook", "numpy GEMMs"}
    assert all(v > 0 for v in row["median"].values()) and row["gflops"] > 0
    text = bench.table(rows)
    assert "| (2, 3, 4, 5) |" in text and "textbook / generated" in text


@pytest.fixture
def main(monkeypatch):
    monkeypatch.setattr(bench, "SETTLE", 0.0)
    return commands.main


def test_bench_command_prints_the_check_and_the_table(main, capsys):
    assert main(["bench", "rnn", "--sizes", "2,3,4,5", "3,2,2,4", "--dtype", "float64", "--no-torch"]) == 0
    out = capsys.readouterr().out
    assert "generated vs textbook" in out and "medians of 7 interleaved runs" in out
    assert "| (2, 3, 4, 5) |" in out and "| (3, 2, 2, 4) |" in out
    header = next(line for line in out.splitlines() if line.startswith("| (B, D, H, T)"))
    assert "| torch |" not in header and "| textbook / generated |" in header


@pytest.mark.parametrize("args, words", [
    (["bench", "lstm", "--repeat", "3"], ["--repeat", "at least 7"]),
    (["bench", "lstm", "--sizes", "1,2,3"], ["4 comma-separated"]),
    (["bench", "lstm", "--sizes", "1,2,0,4"], ["positive integer"]),
    (["bench", "lstm", "--dtype", "float16"], ["--dtype"]),
    (["bench", "lsmt"], ["unknown cell"]),
])
def test_bench_bad_input_is_one_line_and_exit_2(main, capsys, args, words):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    for w in words:
        assert w in err[0]
