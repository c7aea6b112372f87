"""Generated files: the committed ones equal what the engine writes now."""
import os

import pytest

from lstm_sym.docs import generated_files, regenerate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("rel, text", sorted(generated_files().items()))
def test_committed_file_has_not_drifted(rel, text):
    path = os.path.join(ROOT, rel)
    assert os.path.exists(path), f"{rel} missing: run `lstm-sym docs`"
    with open(path, encoding="utf-8") as f:
        assert f.read() == text, f"{rel} drifted from the engine: run `lstm-sym docs`"


def test_regenerate_writes_then_reports_nothing(tmp_path):
    written = regenerate(str(tmp_path))
    assert "derivations/lstm.md" in written
    assert regenerate(str(tmp_path), check=True) == []
    (tmp_path / "derivations" / "rnn.md").write_text("edited by hand\n")
    assert regenerate(str(tmp_path), check=True) == ["derivations/rnn.md"]
