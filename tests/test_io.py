"""Files and terminals: atomic writes, special files, all-or-nothing, ASCII
terminals, full disks, interrupts."""
import os
import signal
import subprocess
import sys
import time

import pytest

from lstm_sym import io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "lstm_sym", *map(str, args)], capture_output=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT, **(env or {})}, **kw)


@pytest.mark.parametrize("encoding", ["ascii", "cp1252", "latin-1"])
def test_a_terminal_that_cannot_show_the_notation_gets_ascii(encoding):
    r = run("derive", "lstm", env={"PYTHONIOENCODING": encoding})
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode(encoding)
    assert "dc_{t-1} = dh_{t-1} (.) o_{t-1}" in out and "W_fh^T d_{f,t}" in out


def test_an_ascii_terminal_keeps_a_failing_checks_report_and_exit_1():
    r = run("check", "lstm", "--impl", "tests/fixtures/tutorial_lstm.py", "--method", "fd",
            env={"PYTHONIOENCODING": "cp1252"})
    assert r.returncode == 1, r.stderr
    assert b"where it goes wrong" in r.stdout and b"FAIL" in r.stdout


def test_to_ascii_leaves_nothing_outside_ascii():
    text = "δh_{t−1} = Wᵀ δ_{c̃,t} ⊙ σ′ ‖δ_k‖ ≤ (β_f β_W)^(t−k) ∂E/∂W ∈ ℝ⁴ h₀ λ"
    out = io.to_ascii(text)
    assert out.isascii() and "dh_{t-1}" in out and "(.)" in out and "h_0" in out


def test_the_network_head_stays_distinct_in_ascii():
    # ŷ_t − y_t must not become y_t - y_t; ⟨ ⟩ and ½ must not vanish
    out = io.to_ascii("δ_{y,t} = ŷ_t − y_t;  ℓ_t = −⟨y_t, log softmax(z_t)⟩;  ½‖z_t − y_t‖²")
    assert out == "d_{y,t} = y^_t - y_t;  l_t = -<y_t, log softmax(z_t)>;  1/2||z_t - y_t||^2"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_disk_is_exit_2_with_one_line():
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "lstm_sym", "derive", "lstm"], stdout=full,
                           stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert r.returncode == 2
    assert r.stderr.decode().count("\n") == 1 and b"No space left" in r.stderr


def test_writing_to_dev_stdout_writes_into_it():
    r = run("codegen", "rnn", "-o", "/dev/stdout")
    assert r.returncode == 0 and r.stdout.startswith(b'"""')


def test_a_fifo_is_written_into_never_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    r = run("codegen", "rnn", "-o", fifo, "--force")
    out = reader.communicate(timeout=30)[0]
    assert r.returncode == 0, r.stderr
    assert out.startswith(b'"""') and os.path.exists(fifo) and not os.path.isfile(fifo)


def test_a_dangling_symlink_is_a_users_file(tmp_path):
    link = tmp_path / "k.py"
    link.symlink_to(tmp_path / "nowhere.py")
    r = run("codegen", "rnn", "-o", link)
    assert r.returncode == 2 and b"--force" in r.stderr and os.path.islink(link)


def test_a_too_long_file_name_names_the_users_path(tmp_path):
    r = run("codegen", "rnn", "-o", tmp_path / ("k" * 300 + ".py"))
    assert r.returncode == 2 and b"kkkk" in r.stderr and b".lstm-sym-" not in r.stderr


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def interrupt(*a):
        raise KeyboardInterrupt
    monkeypatch.setattr(io.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        io.write_output(str(tmp_path / "k.py"), "text")
    assert os.listdir(tmp_path) == []


def test_write_all_is_all_or_nothing(tmp_path, monkeypatch):
    """The second file cannot be staged (a full disk, say): the first target
    keeps its old text and no temporary file stays behind."""
    a, b = tmp_path / "a.md", tmp_path / "b.py"
    a.write_text("old")
    real, calls = io.tempfile.mkstemp, []

    def second_fails(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(*args, **kw)
    monkeypatch.setattr(io.tempfile, "mkstemp", second_fails)
    with pytest.raises(ValueError, match="cannot write .*b.py: No space left"):
        io.write_all([(str(a), "new"), (str(b), "new")])
    assert a.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["a.md"]


@pytest.mark.parametrize("sig, code, says", [(signal.SIGINT, 130, b"interrupted"),
                                              (signal.SIGTERM, 143, b"terminated")])
def test_signals_end_a_long_command_with_one_line(sig, code, says):
    p = subprocess.Popen([sys.executable, "-m", "lstm_sym", "bound", "rnn", "--trials", "20000", "--T", "200"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT})
    time.sleep(2.0)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert err.strip() == b"lstm-sym: " + says


def test_docs_writes_all_or_nothing(tmp_path, monkeypatch):
    """An unwritable numeric/ (staging fails there) leaves derivations/ untouched."""
    from lstm_sym import docs
    files = {"derivations/a.md": "new a", "numeric/b.py": "new b"}
    monkeypatch.setattr(docs, "generated_files", lambda: files)
    (tmp_path / "derivations").mkdir()
    (tmp_path / "derivations" / "a.md").write_text("old a")
    (tmp_path / "numeric").write_text("a file where the folder should be")
    with pytest.raises(ValueError, match="numeric"):
        docs.regenerate(str(tmp_path))
    assert (tmp_path / "derivations" / "a.md").read_text() == "old a"
    assert sorted(os.listdir(tmp_path / "derivations")) == ["a.md"]


def test_a_plot_into_a_folder_is_refused_before_any_work(tmp_path):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "out.png"
    folder.mkdir()
    start = time.perf_counter()
    r = run("bound", "rnn", "--plot", folder, "--force")        # the full default measurement would take seconds
    assert r.returncode == 2 and b"is a folder" in r.stderr and b"--force" not in r.stderr
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("argv, says", [(["prove", "rnn", "--sizes", ""], b"3 comma-separated"),
                                        (["prove", "rnn", "--seed", "-1"], b"non-negative"),
                                        (["check", "rnn", "--seed", "-3"], b"non-negative")])
def test_prove_and_check_refuse_the_same_bad_values(argv, says):
    r = run(*argv)
    assert r.returncode == 2 and says in r.stderr and r.stderr.count(b"\n") == 1


def test_bench_without_torch_does_not_name_it():
    r = run("bench", "rnn", "--sizes", "2,3,4,5", "--no-torch")
    assert r.returncode == 0, r.stderr
    assert b"torch" not in r.stdout.split(b"\n\n", 1)[1]


def test_a_reader_that_stops_early_does_not_turn_a_failing_check_into_a_pass():
    p = subprocess.Popen(f"{sys.executable} -m lstm_sym check lstm --impl tests/fixtures/tutorial_lstm.py "
                         "--method fd | head -1; exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash",
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, "PYTHONPATH": ROOT})
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, err
    assert out.count(b"\n") == 1 and b"Traceback" not in err


def run_closed(fd, *args, cwd=ROOT):
    """The command with fd 1 or 2 closed from the start (`>&-`, `2>&-`)."""
    return subprocess.run([sys.executable, "-m", "lstm_sym", *map(str, args)], cwd=cwd,
                          stdout=subprocess.PIPE if fd == 2 else None, stderr=subprocess.PIPE if fd == 1 else None,
                          env={**os.environ, "PYTHONPATH": ROOT}, preexec_fn=lambda: os.close(fd))


@pytest.mark.parametrize("args", [("derive", "rnn"), ("codegen", "rnn"), ("graph", "rnn"),
                                  ("check", "rnn", "--method", "directional"), ("train", "rnn", "--steps", "2")])
def test_a_closed_stdout_is_one_line_and_exit_2(args):
    r = run_closed(1, *args)
    assert r.returncode == 2
    assert r.stderr.decode().startswith("lstm-sym: error: cannot write the output: stdout is closed")
    assert r.stderr.count(b"\n") == 1 and b"Traceback" not in r.stderr


def test_a_closed_stdout_does_not_matter_to_a_command_writing_a_file(tmp_path):
    r = run_closed(1, "codegen", "rnn", "-o", tmp_path / "k.py")
    assert r.returncode == 0 and r.stderr == b""
    assert (tmp_path / "k.py").read_text().startswith('"""')


def test_a_closed_stderr_keeps_the_exit_code():
    r = run_closed(2, "derive", "nosuch")
    assert r.returncode == 2 and r.stdout == b""
    r = run_closed(2, "derive", "rnn")
    assert r.returncode == 0 and b"Forward pass" in r.stdout


@pytest.mark.parametrize("fmt", ["json", "graphml", "dot"])
def test_graph_ids_do_not_depend_on_the_terminal(fmt):
    """ℓ_1 stays ℓ_1 on an ASCII stdout (transliterated it would be l_1)."""
    import html
    import json

    import networkx as nx

    from lstm_sym.graph import unroll_network
    from lstm_sym.network import network
    r = run("graph", "lstm", "--layers", "2", "--loss", "xent", "--format", fmt, env={"PYTHONIOENCODING": "ascii"})
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode("ascii")
    want = set(unroll_network(network("lstm", layers=2, loss="xent"), 3))
    assert "ℓ_1" in want
    if fmt == "json":
        assert {n["id"] for n in json.loads(text)["nodes"]} == want
    elif fmt == "graphml":
        assert set(nx.parse_graphml(text)) == want
    else:           # &#8467; for ℓ, drawn as ℓ by Graphviz; ids one-to-one with the graph's
        import re
        assert {html.unescape(m) for m in re.findall(r'^  "([^"]*)" \[label=', text, re.M)} == want
