"""A check owns its phase: a student's failure lands on the check, step and layer where it happened, whatever the
order of the checks (nothing is inferred from call counts or positions)."""

from pathlib import Path

import pytest

from crosscheck import checks
from crosscheck.results import CheckResult
from crosscheck.student.runner import check_student

STUDENTS = Path(__file__).parent / "students"

CASES = [  # submission, task, (check, step, layer, param)
    ("hostile.py:NaNGradient", "base", ("gradients", 0, 1, "weight")),
    ("hostile.py:CrashesLater", "base", ("updates", 4, None, None)),
    ("hostile.py:ColumnBiases", "base", ("gradients", 0, 0, "bias")),
    ("hostile.py:NeverUpdates", "base", ("updates", 0, None, None)),
]


def _reordered(original):
    """The same checks with the forward moved after the gradients and an extra check inserted first."""
    def stages(spec, provides, plan):
        out = original(spec, provides, plan)
        forward = out.pop([name for name, _ in out].index("forward"))
        out.insert([name for name, _ in out].index("gradients") + 1, forward)
        out.insert(1, ("extra", lambda run: CheckResult("extra", True, message="an inserted check")))
        return out
    return stages


@pytest.mark.parametrize("student, task, where", CASES, ids=[c[0] for c in CASES])
def test_a_failure_stays_on_its_check_when_checks_are_reordered(data, monkeypatch, student, task, where):
    expected = check_student(f"{STUDENTS}/{student}", task, data=data, epochs=1, isolate=False)
    monkeypatch.setattr(checks, "stages", _reordered(checks.stages))
    moved = check_student(f"{STUDENTS}/{student}", task, data=data, epochs=1, isolate=False)
    results = next(iter(moved.report.results.values()))
    names = [r.name for r in results]
    assert names[:4] == ["load", "extra", "gradients", "forward"], names
    for run in (expected, moved):
        failures = [r for r in next(iter(run.report.results.values())) if not r.passed]
        first = next(r for r in failures if not r.message.startswith("not run"))
        assert (first.name, first.step, first.layer, first.param) == where, first.message
        assert first.candidate_error
