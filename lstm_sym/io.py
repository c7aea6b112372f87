"""Writing files and streams: atomically, never over a user's file without
force, and readable on any terminal.  Errors are ValueError (a bad path, an
I/O failure, named by the user's path), which the commands layer prints as
one line."""
from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
import unicodedata


def plain_mode(tmp, path):
    """mkstemp makes files owner-only; give tmp the mode a plain open() would
    (or the mode of the file it replaces)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o666 & ~umask)


def is_special(path):
    """A device, FIFO or socket (or a link to one): written into, never replaced."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def written_into_freely(path):
    """A stream written into without --force: a character device, FIFO or
    socket named itself (/dev/null, a pipe), or through the system's own links
    (/dev/stdout, /dev/fd/1).  A user's link is a user's file, whatever it
    points at (out.png -> /dev/sda, or nowhere); so is a block device."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if os.path.islink(path):
        where = os.path.realpath(os.path.dirname(os.path.abspath(path)))
        if not (where == "/dev" or where.startswith(("/dev/", "/proc/"))):
            return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def check_target(path, force=False):
    """Refuse an output path before any work is done; return its folder
    (None for a special file, which is written into, never replaced)."""
    if not path.strip():
        raise ValueError("the output file name is empty; give a file name, or leave -o out for stdout")
    if os.path.isdir(path):
        raise ValueError(f"cannot write {path}: it is a folder; give a file name")
    free = written_into_freely(path)
    if os.path.lexists(path) and not force and not free:    # lexists: a link is a user's file too
        raise ValueError(f"{path} exists; pass --force to overwrite it")
    if free or is_special(path):
        return None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write {path}: folder {folder} does not exist")
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    base = os.path.basename(path)
    if len(os.fsencode(base)) > longest:
        shown = os.path.join(os.path.dirname(path), base[:40] + "…")
        raise ValueError(f"cannot write {shown}: the file name is longer than {longest} bytes")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"cannot write {path}: folder {folder} is not writable")
    return folder


def write_output(path, data, force=False, suffix=".tmp"):
    """Write text (or bytes) to path atomically; stdout for None or '-'."""
    if path is None or path == "-":
        sys.stdout.write(data)
        return
    folder = check_target(path, force)
    binary = isinstance(data, bytes)
    try:
        if folder is None:                 # /dev/stdout, a FIFO: write into it
            _write_into(path, data, binary)
            return
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lstm-sym-", suffix=suffix)
    except OSError as e:
        raise ValueError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            f.write(data)
        plain_mode(tmp, path)
        os.replace(tmp, path)
    except OSError as e:
        os.unlink(tmp)
        raise ValueError(f"cannot write {path}: {e.strerror}") from None
    except BaseException:                  # interrupts too: never leave the temporary file behind
        os.unlink(tmp)
        raise


def _write_into(path, data, binary):
    """Write into a special file.  A FIFO nobody reads would block forever:
    opening it without blocking tells (ENXIO), then writes block as usual."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise ValueError(f"cannot write {path}: it is a FIFO that nobody is reading; "
                             "start the reader first") from None
        raise
    os.set_blocking(fd, True)
    with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
        f.write(data)


def write_all(files, force=True):
    """Write every (path, text) or none: stage each next to its target, then
    rename them all.  A failure before the renames leaves every target as it was."""
    staged = []
    try:
        for path, text in files:
            folder = check_target(path, force) or os.path.dirname(os.path.abspath(path))
            try:
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lstm-sym-", suffix=".tmp")
            except OSError as e:
                raise ValueError(f"cannot write {path}: {e.strerror}") from None
            staged.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            plain_mode(tmp, path)
        for tmp, path in staged:
            os.replace(tmp, path)
        staged = []
    except OSError as e:
        raise ValueError(f"cannot write {e.filename or 'the files'}: {e.strerror}") from None
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


# --- terminals that cannot show the notation ---------------------------------

ASCII = {
    "δ": "d", "∂": "d", "⊙": "(.)", "ᵀ": "^T", "σ": "sigma", "Σ": "sum", "∏": "prod", "−": "-",
    "‖": "||", "β": "beta", "γ": "gamma", "ρ": "rho", "ε": "eps", "θ": "theta", "ℓ": "l", "∇": "grad",
    "≤": "<=", "≥": ">=", "≈": "~", "×": "x", "·": "*", "′": "'", "→": "->", "←": "<-", "…": "...",
    "ℝ": "R", "²": "^2", "³": "^3", "⁻¹": "^-1", "√": "sqrt", "∞": "inf", "∈": " in ", "≠": "!=",
    "\u0303": "~", "±": "+-", "°": "deg", "–": "-", "—": "-", "“": '"', "”": '"', "‘": "'", "’": "'",
    # the network's head: ŷ must not become y (ŷ_t − y_t would read as zero)
    "ŷ": "y^", "\u0302": "^", "⟨": "<", "⟩": ">", "½": "1/2",
}
ASCII.update({chr(0x2080 + k): f"_{k}" for k in range(10)})          # subscript digits
ASCII.update({chr(0x2070 + k): f"^{k}" for k in (0, 4, 5, 6, 7, 8, 9)})
ASCII.update({"¹": "^1", "₊": "_+", "₋": "_-", "ₜ": "_t", "ₖ": "_k"})


def to_ascii(text):
    """The same text for a terminal that has no δ or ⊙: d, (.), _t, ..."""
    for k in sorted((k for k in ASCII if len(k) > 1), key=len, reverse=True):
        text = text.replace(k, ASCII[k])
    out = []
    for ch in text:
        if ord(ch) < 128:
            out.append(ch)
        elif ch in ASCII:
            out.append(ASCII[ch])
        else:
            base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(base or "?")
    return "".join(out)


def encodable(text, stream):
    """Whether the stream's encoding can write text as it is."""
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class ClosedStream:
    """sys.stdout or sys.stderr when its fd was closed at start (>&-): Python
    makes it None.  Output written there is an error (fail=True); a message
    for a closed stderr has nowhere to go, and only the exit code tells."""
    encoding = "utf-8"

    def __init__(self, name, fail):
        self.name, self.fail = name, fail

    def write(self, text):
        if self.fail and text:
            raise ValueError(f"cannot write the output: {self.name} is closed; "
                             f"run the command with {self.name} open (a file, a pipe or /dev/null)")
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


class FallbackStream:
    """Wraps a text stream: text the stream's encoding cannot represent is
    written in its ASCII rendering instead of raising."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        return self.stream.write(text if encodable(text, self.stream) else to_ascii(text))

    def __getattr__(self, name):
        return getattr(self.stream, name)
