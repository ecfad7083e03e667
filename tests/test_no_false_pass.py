"""Issue 18: every path by which a wrong submission or a wrong reference could PASS, each closed and kept closed.

Each test runs a class that an earlier harness passed (tests/students/false_pass.py, dropout_variants.py, or a
NumPy candidate below) and asserts the FAIL lands where the defect is.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crosscheck import gradescope
from crosscheck.checks import Plan, run_checks
from crosscheck.data import load
from crosscheck.sides import NumpySide
from crosscheck.spec import MODELS
from crosscheck.student.runner import check_student

STUDENTS = Path(__file__).parent / "students"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=["embedded", "auto"])
def any_data(request):
    """Item 1 depended on the data split: the chaos rule is tested on the embedded split and the default data."""
    return load(request.param)


def student(data, name, task, model=None, epochs=2, **changes):
    return check_student(f"{STUDENTS}/{name}", task, model, data=data, epochs=epochs, **changes)


def first_failure(run):
    (results,) = run.report.results.values()
    return next((r for r in results if not r.passed and r.scored), None)


# --- 1. the chaos control excuses only a gap as small as torch's own drift --------------------------------------

class EditedAfterStep20(NumpySide):
    """The NumPy reference whose step is edited after its 20th step (past the lockstep's): edit(before, after)."""

    def __init__(self, spec, init):
        super().__init__(spec, init)
        self.steps = 0

    def step(self, batch):
        before = [p.copy() for p in self._params]
        loss = super().step(batch)
        self.steps += 1
        if self.steps > 20:
            self._params = [self.edit(b, a) for a, b in zip(self._params, before)]
        return loss


class AscentAfterStep20(EditedAfterStep20):
    @staticmethod
    def edit(before, after):
        return 2 * before - after


class HalvesLrAfterStep20(EditedAfterStep20):
    @staticmethod
    def edit(before, after):
        return (before + after) / 2


@pytest.mark.parametrize("candidate", [AscentAfterStep20, HalvesLrAfterStep20])
def test_a_chaotic_learning_rate_does_not_excuse_a_wrong_curve(any_data, candidate):
    results = run_checks(MODELS["base"].replace(lr=10.0, epochs=3), any_data, candidate, Plan(steps=20, fd_coords=1))
    curves = results[-1]
    assert curves.name == "curves" and not curves.passed, curves.message
    assert all(r.passed for r in results[:-1])  # the first 20 steps are right: only the curves can see it


def test_in_a_chaotic_cell_ascent_is_not_excused_and_the_reference_is(default_data):
    """l2-momentum at lr 10 (seed 2) is chaotic: torch's own controls drift by points of accuracy. The reference's
    drift is excused (ratio ~4 to the controls, CHAOS_MARGIN 8); ascent after step 20 is not (ratio ~25)."""
    spec = MODELS["l2-momentum"].replace(lr=10.0, epochs=3, seed=2)
    plan = Plan(steps=20, fd_coords=1)
    reference = run_checks(spec, default_data, plan=plan)[-1]
    assert reference.passed and reference.chaotic_epochs, reference.message
    ascent = run_checks(spec, default_data, AscentAfterStep20, plan)[-1]
    assert ascent.name == "curves" and not ascent.passed and not ascent.chaotic_epochs, ascent.message


def test_the_reference_itself_passes_at_a_chaotic_learning_rate(any_data):
    results = run_checks(MODELS["base"].replace(lr=10.0, epochs=3), any_data, plan=Plan(steps=20, fd_coords=1))
    assert all(r.passed for r in results), [r.message for r in results if not r.passed]


def test_a_student_turning_to_ascent_after_step_20_fails_at_lr_10(data):
    run = student(data, "false_pass.py:AscentAfter20Steps", "base", lr=10.0, epochs=3)
    failed = first_failure(run)
    assert failed is not None and failed.name == "curves", str(run.report)


# --- 2. other batch sizes and learning rates must be honoured ----------------------------------------------------

def test_a_hard_coded_batch_size_fails_at_a_probe_step(data):
    failed = first_failure(student(data, "false_pass.py:FixedBatch100", "1"))
    assert (failed.name, failed.step) == ("gradients", 20), failed.message
    assert "batch of 37" in failed.message and "len(y)" in failed.hint


def test_an_ignored_eta_fails_at_a_probe_step(data):
    failed = first_failure(student(data, "false_pass.py:IgnoresEta", "1"))
    assert (failed.name, failed.step) == ("updates", 20), failed.message
    assert "eta argument" in failed.hint


def test_correct_classes_pass_the_probe_steps(data):
    for name, task in (("softmax_net.py:SoftmaxNetwork", "1"), ("momentum_l2.py:MomentumL2Network", "2")):
        run = student(data, name, task, epochs=1)
        assert run.passed, str(run.report)
        updates = next(r for r in next(iter(run.report.results.values())) if r.name == "updates")
        assert "probe steps from a fresh start agree" in updates.message


# --- 3. a dropout class's update is judged, and its drop rate resolved ------------------------------------------

@pytest.mark.parametrize("name, check", [
    ("dropout_variants.py:UphillDropout", "updates"),
    ("dropout_variants.py:FreshNoiseUphill", "updates"),
    ("dropout_variants.py:Drops27", "dropout"),
])
def test_a_wrong_dropout_class_fails(data, name, check):
    failed = first_failure(student(data, name, "3", "dropout"))
    assert failed is not None and failed.name == check, failed


def test_a_dropout_class_with_unreplayable_noise_is_still_compared(data):
    run = student(data, "dropout_variants.py:FreshNoise", "3", "dropout")
    assert run.passed, str(run.report)
    updates = next(r for r in next(iter(run.report.results.values())) if r.name == "updates")
    assert "cannot be replayed" in updates.message and 0.5 <= updates.ratio <= 2


# --- 4. nothing compared is never a PASS; no front takes a count below 1 ----------------------------------------

def test_a_plan_of_zero_steps_is_refused():
    with pytest.raises(ValueError, match="at least 1 step"):
        Plan(steps=0)


def test_compare_of_nothing_fails():
    from crosscheck.diff import Tolerance, compare
    assert not compare("x", [], [], [], Tolerance(1e-12)).passed


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--epochs", "0"], ["--batch-size", "0"],
                                  ["--batch-size", "6000"]])
def test_the_command_line_refuses_counts_below_1_and_batches_larger_than_the_data(argv):
    done = subprocess.run([sys.executable, "compare.py", "--task", "base", "--data", "embedded", *argv],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_the_pytest_plugin_refuses_zero_steps(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--student",
                           f"{STUDENTS}/lab_base.py:Network", "--task", "base", "--student-steps", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4 and "at least 1" in done.stdout + done.stderr, done.stdout + done.stderr


def test_the_notebook_api_refuses_zero_steps(data):
    from crosscheck import check
    with pytest.raises(ValueError, match="steps"):
        check(object, task="base", data=data, steps=0)


# --- 5. informational rows are not scored -----------------------------------------------------------------------

def test_eps_placement_is_informational_everywhere(data):
    run = student(data, "adagrad_lab.py:AdagradNetwork", "3", "adagrad-lab", epochs=1)
    assert run.passed, str(run.report)
    eps = next(r for r in next(iter(run.report.results.values())) if r.name == "eps_placement")
    assert eps.informational and eps.verdict == "INFO"
    entry = next(c for c in json.loads(run.report.to_json())["checks"] if c["name"] == "eps_placement")
    assert entry["passed"] is None and entry["informational"] is True
    results = gradescope.results(run.report)
    test = next(t for t in results["tests"] if t["name"].endswith("eps_placement"))
    assert test["max_score"] == 0 and "status" not in test
    assert results["score"] == sum(t["max_score"] for t in results["tests"])  # every scored check passed
    assert "INFO" in str(run.report)


# --- 6. a step is compared relative to its own size ------------------------------------------------------------

class StepOffBy1e5(NumpySide):
    """Each step 1 + 1e-5 times torch's: within 1e-9 of the parameters, far outside 1e-8 of the step."""

    def step(self, batch):
        before = [p.copy() for p in self._params]
        loss = super().step(batch)
        self._params = [b + (a - b) * (1 + 1e-5) for a, b in zip(self._params, before)]
        return loss


def test_a_step_wrong_by_1e5_relative_fails(data):
    results = run_checks(MODELS["softmax-ce"].replace(epochs=1), data, StepOffBy1e5, Plan(steps=5, fd_coords=1))
    failed = next(r for r in results if not r.passed)
    assert (failed.name, failed.step) == ("updates", 0)
    assert failed.ratio == pytest.approx(1 + 1e-5, rel=1e-9)


# --- 8. a forward is checked on inputs no MNIST image is -------------------------------------------------------

def test_a_forward_wrong_only_on_zero_inputs_fails(data):
    failed = first_failure(student(data, "false_pass.py:DropsLastBiasForZeroRows", "1", epochs=1))
    assert (failed.name, failed.param) == ("forward", "output") and "output(zeros)" in failed.message


def test_an_unstable_softmax_in_feedforward_fails_under_stress(data):
    """Issue 14: the lab's init keeps the logits small; the forward is also run with logits at ±1e3 and ties."""
    run = student(data, "false_pass.py:UnstableSoftmax", "1", epochs=1)
    failed = first_failure(run)
    assert (failed.name, failed.param) == ("forward", "output") and "logits ±1e3" in failed.message
    assert "exp overflows" in failed.hint
    assert student(data, "softmax_net.py:SoftmaxNetwork", "1", epochs=1).passed  # the stable one passes it
