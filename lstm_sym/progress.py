"""One progress line on stderr for work that runs long.

Engines take a callback `progress(what, done=None, total=None, unit="")` and call it
as they go (never print); a Progress is such a callback.  On a terminal it
keeps one line, rewritten with \\r, and shows it only once the work has run
for DELAY seconds (so quick commands print nothing); it erases the line when
the work ends.  With force=True (the commands' --progress) it shows from the
start, and where stderr is not a terminal (a pipe, a log file) it writes
plain lines instead: the first report of each stage, then at most one a
second, and the last one of each stage.  Without a terminal and without
force it is silent."""
from __future__ import annotations

import sys
import threading
import time

from .io import to_ascii

DELAY = 2.0          # seconds of work before a terminal shows the line
INTERVAL = 1.0       # seconds between two plain lines of the same stage
REFRESH = 0.1        # seconds between two rewrites of the terminal line


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def line(what, done=None, total=None, unit=""):
    """'check: central differences 3/15 gradients…' from ('check: central
    differences', 3, 15, 'gradients')."""
    if done is None or total is None:
        return f"{what}…"
    return f"{what} {done}/{total}{' ' + unit if unit else ''}…"


class Progress:
    def __init__(self, stream=None, force=False, clock=time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream)
        self.enabled = force or self.tty
        self.delay = 0.0 if force else DELAY
        self.clock = clock
        self.start = clock()
        self.shown = False               # the terminal line is on screen
        self.last_write = -1e9
        self.stage = None                # (what, when) of the last plain line
        self.pending = None              # the last plain line not yet written
        self.lock = threading.Lock()     # engines may report from a worker thread

    def __call__(self, what, done=None, total=None, unit=""):
        if not self.enabled:
            return
        with self.lock:
            now = self.clock()
            if now - self.start < self.delay:
                return
            text = line(what, done, total, unit)
            if self.tty:
                if now - self.last_write >= REFRESH or (done is not None and done == total):
                    self._write("\r" + text + "\033[K")
                    self.shown, self.last_write = True, now
                return
            key = what
            last = done is not None and done == total
            if self.stage is None or self.stage[0] != key:
                self._flush_pending()
                self._write(text + "\n")
                self.stage, self.pending = (key, now), None
            elif last or now - self.stage[1] >= INTERVAL:
                self._write(text + "\n")
                self.stage, self.pending = (key, now), None
            else:
                self.pending = text

    def _flush_pending(self):
        if self.pending is not None:
            self._write(self.pending + "\n")
            self.pending = None

    def _write(self, text):
        encoding = (getattr(self.stream, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
        if not encoding.startswith("utf"):
            text = to_ascii(text)            # "..." for "…" on an ASCII or cp1252 stderr
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False         # a closed or broken stderr: stop reporting, never fail the work

    def close(self):
        """The work ended (or failed): erase the terminal line, write the
        last plain line that was held back."""
        with self.lock:
            if self.tty and self.shown:
                self._write("\r\033[K")
                self.shown = False
            elif not self.tty:
                self._flush_pending()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
