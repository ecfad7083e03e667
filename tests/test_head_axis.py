"""Issue 7: the output head is its own axis. Correct sigmoid + MSE optimizers pass with head="mse" and, against
the softmax presets, are told their head differs rather than that their optimizer is wrong."""

from pathlib import Path

import pytest

from crosscheck.checks import Plan, run_checks
from crosscheck.spec import preset
from crosscheck.student.runner import check_student

STUDENT = Path(__file__).parent / "students" / "mse_head.py"
CASES = [("2", "l2-momentum", "MSEMomentum"), ("3", "adamw", "MSEAdamW")]


@pytest.mark.parametrize("task,model,cls", CASES)
def test_mse_optimizers_pass_with_the_mse_head(task, model, cls, data):
    run = check_student(f"{STUDENT}:{cls}", task, model, data=data, head="mse", epochs=1)
    failed = [(r.name, r.message) for checks in run.report.results.values() for r in checks if not r.passed]
    assert run.report.passed, failed
    assert {r.name for checks in run.report.results.values() for r in checks} >= {"forward", "gradients", "updates"}


@pytest.mark.parametrize("task,model,cls", CASES)
def test_the_softmax_preset_points_to_the_mse_head(task, model, cls, data):
    run = check_student(f"{STUDENT}:{cls}", task, model, data=data, epochs=1)
    _, first = run.report.first_failure()
    assert first.name == "forward"
    hint = first.hint
    assert "sigmoid + MSE" in hint and "--head mse" in hint


@pytest.mark.parametrize("model,head", [("l2-momentum", "mse"), ("adamw", "mse"), ("adagrad", "mse"), ("base", "ce")])
def test_the_reference_runs_any_optimizer_with_either_head(model, head, data):
    spec = next(s for task in ("base", "2", "3") for s in preset(task) if s.name == model)
    results = run_checks(spec.replace(head=head, epochs=1), data, plan=Plan(steps=20, fd_coords=2))
    assert all(r.passed for r in results), [(r.name, r.message) for r in results if not r.passed]
