"""What a check says, as data: typed results that travel unchanged to the report, the hint, the plots and graders.

NumPy only (no torch): the sandboxed worker raises CandidateError too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class CandidateError(Exception):
    """The candidate's own code failed (an exception, a timeout, a dead process, a NaN, a wrong shape).

    It is a verdict on the check under way, never a crash of the harness. Whoever knows where it happened fills
    in the place (`locate`); the check that catches it names itself.
    """

    def __init__(self, message: str, layer: int | None = None, param: str | None = None):
        super().__init__(message)
        self.layer, self.param = layer, param
        self.check: str | None = None
        self.step: int | None = None

    def locate(self, check: str | None = None, step: int | None = None) -> CandidateError:
        """Fill in the check and step where they are not known yet (the innermost caller knows best)."""
        self.check = self.check if self.check is not None else check
        self.step = self.step if self.step is not None else step
        return self


@dataclass
class Curve:
    """Free-running training, epoch by epoch: test accuracy and mean training loss of each side."""

    candidate: list[float]
    torch: list[float]
    loss_candidate: list[float | None]
    loss_torch: list[float]
    controls: list[list[float]] = field(default_factory=list)  # torch from perturbed inits: accuracy per epoch


@dataclass
class SourceLine:
    """One line of the candidate's source, as shown around a culprit."""

    number: int
    code: str


@dataclass
class Source:
    """Where in the candidate's own code the failing value first went wrong (crosscheck.blame), for the report.

    `line` is the file's line (a notebook: the line within `cell`); `name` the array's name there ("delta",
    "nabla_w[0]"); `expected` the reference intermediate it should have been ("δ₀ = ∂L/∂z₀"); `found` what it is
    instead ("∂L/∂a₀", "× 100 of ∂L/∂b₀", "none of torch's intermediates"); `why` the pattern, when one fits.
    """

    file: str
    function: str
    line: int
    code: str
    name: str
    expected: str
    found: str = ""
    why: str = ""
    cell: int | None = None  # a notebook's code cell, counted from 1
    iteration: int | None = None  # which pass of a loop (from 0), when the line ran more than once
    last_good: str = ""  # the last line before it whose array matches torch, and which intermediate
    context: list[SourceLine] = field(default_factory=list)  # two or three lines, the culprit among them

    @property
    def place(self) -> str:
        """`network.py:31` or `lab.ipynb, cell 4, line 12`."""
        return f"{self.file}, cell {self.cell}, line {self.line}" if self.cell is not None else f"{self.file}:{self.line}"

    def to_dict(self) -> dict:
        out = {"file": self.file, "function": self.function, "line": self.line, "code": self.code, "name": self.name,
               "expected": self.expected, "found": self.found, "why": self.why}
        if self.cell is not None:
            out["cell"] = self.cell
        if self.iteration is not None:
            out["iteration"] = self.iteration
        if self.last_good:
            out["last_good"] = self.last_good
        return out


@dataclass
class CheckResult:
    """One check's verdict and where it localises a difference (the JSON report's fields come first)."""

    name: str
    passed: bool
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    step: int | None = None
    layer: int | None = None
    param: str | None = None  # "weight", "bias", "output", "loss", "accuracy", ...
    index: list[int] | None = None
    ratio: float | None = None  # got / want, when the two differ by one constant factor
    message: str = ""
    got: float | None = None  # the candidate's value at index
    want: float | None = None  # the reference's value at index
    hint: str | None = None  # why, in the student's terms (crosscheck.diagnose)
    kind: str | None = None  # what the hint names: "bug", or "convention" (legitimate, not torch's: a TA decides)
    reference: str = "torch"  # what `want` came from: "torch", "finite difference", ...
    informational: bool = False  # a measurement shown beside the checks: never scored, never passes or fails
    candidate_error: str | None = None  # the candidate's code failed (or an earlier failure kept this from running)
    scaled_err: float | None = None  # max|got - want| / max|want|: what bench/measure_tolerances.py tabulates
    failing: list[str] = field(default_factory=list)  # every tensor that failed, by label
    got_shape: tuple[int, ...] | None = None  # the candidate's array had this shape instead of the reference's
    got_array: np.ndarray | None = None  # the localised tensor, both sides, for heat maps and hints
    want_array: np.ndarray | None = None
    curve: Curve | None = None  # the curves check
    chaotic_epochs: list[int] = field(default_factory=list)  # epochs excused by the chaos control
    row_sum_err: dict[str, float] = field(default_factory=dict)  # softmax: finite rows' |sum - 1| per input case
    nonfinite_cases: list[str] = field(default_factory=list)  # softmax: input cases with NaN/inf outputs
    interior_err: float | None = None  # augment_images: max |diff| away from the border, and at it
    border_err: float | None = None
    drop_rate: float | None = None  # dropout: the fraction of units the candidate zeroed
    keep_value_wrong: bool = False  # dropout_statistics: the candidate's kept units are not scaled to 1/(1-p)
    source: Source | None = None  # the line of the candidate's code where the failing value went wrong (traced)
    source_note: str = ""  # why no line is named, when the code was traced and none could be (or tracing failed)

    @property
    def verdict(self) -> str:
        return "INFO" if self.informational else "PASS" if self.passed else "FAIL"

    @property
    def scored(self) -> bool:
        return not self.informational
