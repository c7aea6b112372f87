"""Writing files: atomically, never over a user's file without force.
Engines and commands both write through here; errors are ValueError (bad
path) or OSError, which the commands layer prints as one line."""
from __future__ import annotations

import os
import sys
import tempfile


def plain_mode(tmp, path):
    """mkstemp makes files owner-only; give tmp the mode a plain open() would
    (or the mode of the file it replaces)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o666 & ~umask)


def check_target(path, force=False):
    """Refuse an output path before any work is done: empty, a folder, an
    existing file without force, a missing folder."""
    if not path.strip():
        raise ValueError("the output file name is empty; give a file name, or leave -o out for stdout")
    if os.path.isdir(path):
        raise ValueError(f"cannot write {path}: it is a folder; give a file name")
    if os.path.lexists(path) and not force:
        raise ValueError(f"{path} exists; pass --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write {path}: folder {folder} does not exist")
    return folder


def write_output(path, data, force=False, suffix=".tmp"):
    """Write text (or bytes) to path atomically; stdout for None or '-'."""
    if path is None or path == "-":
        sys.stdout.write(data)
        return
    folder = check_target(path, force)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lstm-sym-", suffix=suffix)
    except OSError as e:
        raise ValueError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w",
                       **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as f:
            f.write(data)
        plain_mode(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
