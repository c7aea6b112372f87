"""The command line: output on success, one line and exit 2 on bad input."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args):
    return subprocess.run([sys.executable, "-m", "lstm_sym.cli", *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_derive_prints_every_part():
    r = run("derive", "lstm")
    assert r.returncode == 0, r.stderr
    for title in ("Forward pass", "Per-step deltas", "Backpropagation through time", "Gradients"):
        assert title in r.stdout
    r = run("derive", "rnn", "--part", "bptt", "--format", "latex")
    assert r.returncode == 0 and r"\delta" in r.stdout and "Forward" not in r.stdout


@pytest.mark.parametrize("args, words", [
    (("derive", "lsmt"), ["unknown cell", "rnn, lstm, gru"]),
    (("derive", "lstm", "--format", "pdf"), ["--format", "text"]),
    (("derive", "lstm", "--part", "everything"), ["--part", "forward"]),
    (("prove", "rnn", "--sizes", "0,1,1"), ["positive integer"]),
    (("prove", "rnn", "--sizes", "1.5,1,1"), ["positive integer"]),
    (("prove", "rnn", "--sizes", "1,1"), ["3 comma-separated"]),
    (("codegen", "lstm", "-o", ""), ["empty"]),
    (("graph", "rnn", "-o", "tests"), ["is a folder"]),
    (("codegen", "rnn", "-o", "no/such/folder/k.py"), ["does not exist"]),
    (("docs", "--out", "tests"), ["not an lstm-sym checkout"]),
    (("docs", "--out", "no-such-folder"), ["not a folder"]),
    (("check", "rnn", "--method", ""), ["unknown method"]),
    # a value starting with -digit is the option's value, refused by its type
    (("check", "lstm", "--sizes", "-1,4,5"), ["--sizes: '-1' is not a positive integer"]),
    (("train", "rnn", "--lr", "-1e-3"), ["--lr: '-1e-3' is not a positive number"]),
    (("derive", "rnn", "--layers", "\u0662"), ["is not a positive integer"]),      # an Arabic-Indic 2
    ((), ["command"]),
])
def test_bad_input_is_one_line_and_exit_2(args, words):
    r = run(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0]


def test_prove_reports_and_exits_zero():
    r = run("prove", "rnn", "--sizes", "2,2,2")
    assert r.returncode == 0, r.stderr
    assert "PROVEN" in r.stdout and "GF(2^61−1)" in r.stdout


def test_existing_file_is_not_overwritten_without_force(tmp_path):
    target = tmp_path / "kernel.py"
    target.write_text("mine\n")
    r = run("codegen", "rnn", "-o", str(target))
    assert r.returncode == 2 and "--force" in r.stderr
    assert target.read_text() == "mine\n"
    assert run("codegen", "rnn", "-o", str(target), "--force").returncode == 0
    assert "def backward" in target.read_text()
    assert oct(target.stat().st_mode & 0o077) != "0o0"      # not owner-only like a bare mkstemp file


@pytest.mark.parametrize("args", [("codegen", "rnn", "-o"), ("graph", "lstm", "--T", "5000000", "-o"),
                                  ("train", "rnn", "--steps", "5", "--plot")])
def test_a_link_to_a_device_needs_force_before_any_work(tmp_path, args):
    """A user's link is a user's file, even to /dev/full: refused before the work
    (graph's --T would otherwise be refused by its cost, train would print steps)."""
    if args[0] == "train":
        pytest.importorskip("matplotlib")
    link = tmp_path / "out.png"
    link.symlink_to("/dev/full")
    r = run(*args, str(link))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"lstm-sym: error: {link} exists; pass --force to overwrite it\n"
    assert os.path.islink(link)
