"""`lstm-sym bench`: its baselines compute the same thing as the generated
kernel, and the command runs and reports (timings themselves are measured by
benchmarks/bench_codegen.py, never asserted here)."""
import pytest

from lstm_sym import bench, commands
from lstm_sym.cells import NAMES, get_cell
from lstm_sym.codegen import compile as compile_kernel
from lstm_sym.codegen.plan import make_plan
from lstm_sym.derivation import derive


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


def synthetic_row(generated, textbook, torch, times=None, sizes=(2, 3, 4, 5)):
    med = {"generated": generated, "textbook": textbook, "torch": torch, "numpy GEMMs": generated / 2}
    row = {"sizes": sizes, "median": med, "flops": 1e9, "gflops": 1e9 / generated / 1e9,
           "gemm_gflops": 2e9 / generated / 1e9}
    if times is not None:
        row["times"] = times
    return row


def table_cells(text):
    head, _, *rows = [line for line in text.splitlines() if line.startswith("|")]
    names = [c.strip() for c in head.strip("|").split("|")]
    return [dict(zip(names, (c.strip() for c in r.strip("|").split("|")))) for r in rows]


def test_table_never_prints_a_tiny_ratio_as_zero():
    """A torch median of 4 µs against 12 ms of generated (an outlier) used to read 0.00×."""
    rows = [synthetic_row(0.0124, 0.0194, 0.0000041), synthetic_row(0.1467, 0.2019, 0.1255, sizes=(64, 256, 256, 100))]
    text = bench.table(rows)
    tiny, usual = table_cells(text)
    assert tiny["generated / torch"] == "3024×" and tiny["textbook / torch"] == "4732×"
    assert tiny["torch"] == "0.0041 ms"                  # not 0.0 ms
    assert usual["generated / torch"] == "1.17×" and usual["textbook / generated"] == "1.38×"
    assert usual["generated"] == "146.7 ms"              # the README's format where numbers are ordinary
    rows = [synthetic_row(0.00001, 0.0194, 0.0124)]
    (cells,) = table_cells(bench.table(rows))
    assert cells["generated / torch"] == "0.00081×" and cells["generated"] == "0.010 ms"
    for r in (0.0012, 0.05, 0.0999, 1e-7):
        assert float(bench.ratio(r).rstrip("×")) == pytest.approx(r, rel=0.06)


def test_table_warns_about_outlier_medians():
    clean = synthetic_row(0.0124, 0.0194, 0.0078,
                          times={"generated": [0.012, 0.0124, 0.013], "torch": [0.0077, 0.0078, 0.008]})
    assert "warning" not in bench.table([clean])
    # torch's median far under generated's: flagged even without the raw timings
    fast = synthetic_row(0.0124, 0.0194, 0.0000041)
    lines = [line for line in bench.table([fast]).splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and "torch's median 0.0041 ms is under 1% of generated's 12.4 ms" in lines[0]
    # a runner whose timings spread over more than 3×
    spread = synthetic_row(0.0124, 0.0194, 0.0078,
                           times={"generated": [0.012, 0.0124, 0.013], "torch": [0.0001, 0.0078, 0.008]})
    lines = [line for line in bench.table([spread]).splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("warning: (2, 3, 4, 5) torch: timed runs range from 0.10 ms to 8.0 ms")
    # the table itself stays a table: the warnings come after a blank line
    text = bench.table([spread])
    assert text.split("\n\n")[0].count("\n") == 2 and "warning" not in text.split("\n\n")[0]


def test_measure_keeps_every_timing(monkeypatch):
    monkeypatch.setattr(bench, "SETTLE", 0.0)
    (row,) = bench.measure("rnn", [(2, 3, 4, 5)], repeat=3, use_torch=False)
    assert {k: len(v) for k, v in row["times"].items()} == {"generated": 3, "textbook": 3, "numpy GEMMs": 3}
