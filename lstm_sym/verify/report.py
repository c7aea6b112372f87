"""A check's report: rows of comparisons, notes, faults, verdicts, exit code."""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Row:
    gradient: str
    method: str
    max_abs: float
    rel: float
    tol: float
    note: str = ""

    def __post_init__(self):
        if math.isnan(self.rel) and not self.note:
            self.note = "NaN"

    @property
    def ok(self):
        return math.isfinite(self.rel) and self.rel <= self.tol

    @property
    def proof(self):
        """A symbolic row proves the derivation, not the code that was run."""
        return self.method == "symbolic"


@dataclass
class CheckReport:
    """Rows of comparisons.  exit_code: 0 every compared row passed; 1 a
    gradient or the forward is wrong, or the module broke a rule (faults:
    it changed its inputs, returned the wrong dtype); 2 nothing compared the
    code that was checked (no referee, no pass)."""
    cell: str
    sizes: tuple
    dtype: str
    seed: int
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    faults: list = field(default_factory=list)      # one line each; every one is a failure
    verdicts: list = field(default_factory=list)    # the answers, printed first (forward:, backward:)
    subject: str = "the kernel"                     # what the non-symbolic rows check

    @property
    def compared(self):
        return [r for r in self.rows if not r.proof]

    @property
    def exit_code(self):
        if self.faults or any(not r.ok for r in self.rows):
            return 1
        if not self.compared and (self.subject != "the kernel" or not self.rows):
            return 2
        return 0

    @property
    def passed(self):
        return self.exit_code == 0

    def __str__(self):
        D, H, T, B = self.sizes
        head = [f"check {self.cell}: (D,H,T)=({D},{H},{T}), batch {B}, {self.dtype}, seed {self.seed}",
                *self.verdicts,
                f"{'gradient':<10} {'method':<12} {'max abs err':>12} {'rel err':>10} {'tol':>8}  verdict"]
        verdict = lambda r: ("proven" if r.proof else "ok") if r.ok else "FAIL"
        body = [f"{r.gradient:<10} {r.method:<12} {r.max_abs:>12.2e} {r.rel:>10.2e} {r.tol:>8.0e}  "
                + verdict(r) + (f"  {r.note}" if r.note else "") for r in self.rows]
        body += [f"FAIL  {line}" for line in self.faults]
        compared, proofs = self.compared, [r for r in self.rows if r.proof]
        fails = sum(not r.ok for r in compared) + len(self.faults)
        tail = f"{len(compared) - sum(not r.ok for r in compared)} passed, {fails} failed"
        if proofs:
            bad = sum(not r.ok for r in proofs)
            tail += f"; derivation: {len(proofs) - bad} identities proven" + (f", {bad} not" if bad else "")
        if self.exit_code == 2:
            tail += (f"; nothing compared {self.subject} against a referee (see the notes above), "
                     "so nothing passed")
        return "\n".join(head + body + self.notes + [tail])
