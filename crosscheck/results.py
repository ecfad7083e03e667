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

    @property
    def verdict(self) -> str:
        return "INFO" if self.informational else "PASS" if self.passed else "FAIL"

    @property
    def scored(self) -> bool:
        return not self.informational
