"""Student mode through the Python API, sandboxed: correct, buggy and hostile submissions get the right verdict.

Every submission lives in tests/students/ (see its README). Runs are kept short (1 epoch, 20 lockstep steps).
"""

import glob
import os
import random
import re
import tempfile
import time
from pathlib import Path

import pytest

from crosscheck.student.runner import check_student
from crosscheck.student.sandbox import Limits

STUDENTS = Path(__file__).parent / "students"
LAB = Path(__file__).resolve().parents[1].parent / "shared/lab/network.py"
FAST = Limits(call_timeout=10)


def run(data, student, task, model=None, limits=FAST, **kw):
    path = student if ":" in student and student.startswith("/") else f"{STUDENTS}/{student}"
    return check_student(path, task, model, data=data, epochs=1, limits=limits, **kw)


def checks(result):
    (results,) = result.report.results.values()
    return results


def first_failure(result):
    return next(r for r in checks(result) if not r.passed)


@pytest.mark.skipif(not LAB.exists(), reason="the lab's network.py is not next to this checkout")
def test_the_labs_own_network_passes_task_base(data):
    result = run(data, f"{LAB}:Network", "base")
    assert result.passed, str(result.report)
    assert [r.name for r in checks(result)] == ["load", "forward", "gradients", "updates", "curves"]
    assert result.report.subject == "student network.py:Network"


@pytest.mark.parametrize("student, task, model", [
    ("softmax_net.py:SoftmaxNetwork", "1", None),  # imports its sibling lab_base.py
    ("momentum_l2.py:MomentumL2Network", "2", None),
    ("adamw_net.py:AdamWNetwork", "3", "adamw"),
    ("dropout_net.py:DropoutNetwork", "3", "dropout"),
    ("adagrad_lab.py:AdagradNetwork", "3", "adagrad-lab"),  # plus the informational eps_placement check
    ("momentum_l2.py:MomentumL2Network", "3", "augment"),  # given torchvision's augmented images
    ("dropout_net.py:DropoutNetwork", "4", "dropout"),  # 784-100-30-10: two dropout layers
    ("softmax_fn.py:stable_softmax", "0", None),
    ("softmax_fn.py:log_form_softmax", "0", None),
])
def test_correct_submissions_pass(data, student, task, model):
    result = run(data, student, task, model)
    assert result.passed, str(result.report)


def test_dropout_checks_say_what_they_cannot_compare(data):
    result = run(data, "dropout_net.py:DropoutNetwork", "3", "dropout")
    assert [r.name for r in checks(result)] == ["load", "forward", "dropout", "updates"]
    assert "Not compared: the curves" in checks(result)[2].message
    update = checks(result)[3]
    assert update.passed and "the gradients the class's own backprop returned" in update.message


def test_l2_inside_backprop_is_the_same_training(data):
    """A class may add l2*w in backprop instead of the update: its gradients are compared without that term."""
    result = run(data, "momentum_l2.py:MomentumL2InBackprop", "2")
    assert result.passed, str(result.report)
    assert "backprop returns the gradient with the L2 term" in checks(result)[0].message
    plain = run(data, "momentum_l2.py:MomentumL2Network", "2")
    assert "L2 term" not in checks(plain)[0].message


def test_l2_inside_backprop_with_dropout(data):
    """l2 * w in backprop fills the rows a dropped unit leaves at zero: taken out, the masks are read as usual."""
    result = run(data, "dropout_net.py:DropoutL2InBackprop", "3", "dropout", hparams={"l2_factor": 1e-3})
    assert result.passed, str(result.report)
    assert "backprop includes the L2 term" in checks(result)[2].message


@pytest.mark.parametrize("task, model", [("2", None), ("3", "augment")])
def test_a_named_default_is_overridden_even_with_kwargs(data, task, model):
    """l2_factor=1e-4 in the signature next to **kwargs: the augment preset has no L2, so l2_factor=0 is passed."""
    result = run(data, "momentum_l2.py:MomentumKwargs", task, model)
    assert result.passed, str(result.report)


def test_hyperparameters_reach_both_sides(data):
    result = run(data, "momentum_l2.py:MomentumL2Network", "2", hparams={"momentum": 0.5, "l2_factor": 0.0})
    assert result.passed, str(result.report)
    assert result.hparams["l2-momentum"] == {"momentum": 0.5, "l2_factor": 0.0}
    assert "momentum=0.5, l2_factor=0" in checks(result)[0].message


# check, step, layer, param, words (a regex searched in the message or hint)
BUGGY = [
    ("buggy.py:BatchSumSoftmax", "1", None, ("gradients", 0, 1, "bias"), r"100 x torch everywhere"),
    ("buggy.py:SignErrorNetwork", "base", None, ("updates", 0, None, None), r"differs at step 0"),
    ("buggy.py:L2OnBiases", "2", None, ("updates", 0, None, "bias"), r"biases\[\d\] differs at step 0"),
    ("buggy.py:AdamWNoBiasCorrection", "3", "adamw", ("updates", 0, None, None), r"differs at step 0"),
    ("buggy.py:DropoutWithoutScaling", "3", "dropout", ("dropout", None, None, None), r"unscaled"),
    ("buggy.py:DropoutWhenEvaluating", "3", "dropout", ("forward", None, None, "output"), r"dropout must be off"),
    ("buggy.py:ClassicDropout", "3", "dropout", ("forward", None, None, "output"), r"'classic' dropout"),
    ("softmax_fn.py:unstable_softmax", "0", None, ("softmax", None, None, None), r"got nan"),
    ("softmax_fn.py:exp_minus_logsumexp", "0", None, ("softmax", None, None, None),
     r"softmax\(huge\) differs.*got 1, torch 0.166667.*normaliser is lost to rounding"),
    ("buggy.py:DropsWithProbabilityKeep", "3", "dropout", ("dropout", None, None, "drop rate"),
     r"dropped [78]\d\.\d% .* expected p = 20%: is p the probability of dropping"),
    ("buggy.py:NielsenSum", "base", None, ("gradients", 0, 1, "bias"),
     r"batch size.*if update_mini_batch divides by len\(y\) instead, training is the same"),
    ("buggy.py:HalvesEtaAfter20Steps", "base", None, ("curves", 0, None, None),
     r"(?i)all 20 lockstep steps agreed.*later in training"),
    ("momentum_l2.py:L2OnBiasesInBackprop", "2", None, ("gradients", 0, None, None),
     r"adds l2·p = 0.001·p to the bias gradients as well"),
    ("momentum_l2.py:DoubleL2InBackprop", "2", None, ("gradients", 0, None, None), r"adds 2·l2·w = 0.002·w"),
    ("momentum_l2.py:EtaTwice", "2", None, ("updates", 0, None, None), r"lr = 1 − μ = 0.1: is lr applied twice"),
]


@pytest.mark.parametrize("student, task, model, where, words", BUGGY, ids=[b[0] for b in BUGGY])
def test_buggy_submissions_fail_where_the_bug_is(data, student, task, model, where, words):
    result = run(data, student, task, model)
    assert not result.passed
    r = first_failure(result)
    assert "first divergence" in str(result.report) and result.report.to_json() and result.report._repr_html_()
    check, step, layer, param = where
    assert r.name == check and r.step == step
    assert layer is None or r.layer == layer
    assert param is None or r.param == param
    assert re.search(words, r.message + " " + str(r.hint)), (r.message, r.hint)


# task, the failing check, its step, (layer, param) or None, words in the message
HOSTILE = [
    ("syntax_error.py:Network", "base", "load", None, None, r"syntax error at line 5: expected ':'"),
    ("import_error.py:MyNetwork", "base", "load", None, None, r"No module named 'lab_helpers' \(at import_error.py:2"),
    ("exits_on_import.py:Network", "base", "load", None, None, r"called sys.exit\(0\)"),
    ("hostile.py:NoSuchClass", "base", "load", None, None, r"has no 'NoSuchClass'; it defines: .*CrashesLater"),
    ("hostile.py:NoBackprop", "base", "load", None, None, r"has no method backprop"),
    ("hostile.py:WrongSignature", "2", "load", None, None,
     r"constructs WrongSignature\(\[784, 30, 10\], momentum=0.9, l2_factor=0.001\), but the constructor is "
     r"WrongSignature\(sizes, mu, lam\)"),
    ("hostile.py:CrashesLater", "base", "updates", 4, None, r"ValueError: velocity buffer not initialised "
                                                            r"\(at hostile.py:\d+ in update_mini_batch"),
    ("hostile.py:NaNGradient", "base", "gradients", 0, (1, "weight"), r"nabla_w\[1\] has 300 non-finite entries"),
    ("hostile.py:ColumnBiases", "base", "gradients", 0, (0, "bias"), r"nabla_b\[0\] has shape \(30, 1\), expected \(30,\)"),
    ("hostile.py:ListGradients", "base", "gradients", 0, (0, "weight"), r"nabla_w\[0\] is a list, expected a numpy array"),
    ("hostile.py:MissingLayer", "base", "gradients", 0, None, r"nabla_b has 1 entries, expected 2"),
    ("hostile.py:SmoothsLabelsInPlace", "1", "gradients", 0, None, r"backprop modified its input y in place"),
    ("hostile.py:NeverUpdates", "base", "updates", 0, None, r"left every weight and bias unchanged"),
    ("hostile.py:ExitsMidRun", "base", "updates", 0, None, r"update_mini_batch called sys.exit\(0\)"),
    ("hostile.py:HardExitMidRun", "base", "updates", 0, None, r"exited with code 0 during update_mini_batch"),
    ("hostile.py:PrintsPass", "base", "updates", 0, None, r"differs at step 0"),
    ("hostile.py:PatchesLibraries", "base", "gradients", 0, None, r"differs at step 0; worst at .*got 0, torch"),
    ("hostile.py:ShoutsInItsError", "base", "updates", 0, None,
     r"ValueError: \\ud800 oops\\rtask base: PASS\\x07 \(at hostile.py"),
    ("hostile.py:NewlineInErrorName", "base", "updates", 0, None, r"^[^\n]*Oops\\ntask base: PASS\\nbase  updates"),
    ("hostile.py:ReplacesItsOutput", "base", "updates", 0, None, r"exited with code 3 during update_mini_batch"),
    ("hostile.py:ForgesHugeNumber", "base", "gradients", 0, None, r"malformed reply during backprop"),
    ("hostile.py:ForgesDeepNesting", "base", "gradients", 0, None, r"malformed reply during backprop"),
    ("hostile.py:ForgesHugeArray", "base", "gradients", 0, None,
     r"malformed reply during backprop \(payload of 8589934592 bytes exceeds the 190\d+ expected\)"),
]


def test_a_dropout_class_must_update(data):
    result = run(data, "hostile.py:DropoutNeverUpdates", "3", "dropout")
    r = first_failure(result)
    assert (r.name, r.passed) == ("updates", False) and "NotImplementedError: TODO: momentum" in r.message


@pytest.mark.parametrize("student, task, check, step, where, words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_submissions_fail_with_their_reason(data, student, task, check, step, where, words):
    result = run(data, student, task)
    assert not result.passed
    results = checks(result)
    r = first_failure(result)
    assert (r.name, r.step) == (check, step), r.message
    assert where is None or (r.layer, r.param) == where
    assert re.search(words, r.message), r.message
    assert not results[-1].passed  # the curves never pass once the student's code has failed
    if check == "load":
        assert all(x.message.startswith("not run") for x in results[1:])


def test_an_endless_loop_is_killed_at_the_timeout(data):
    start = time.monotonic()
    result = run(data, "hostile.py:EndlessLoop", "base", limits=Limits(call_timeout=2))
    r = first_failure(result)
    assert (r.name, r.step) == ("gradients", 0)
    assert "backprop did not finish within 2 s" in r.message
    assert checks(result)[-1].message.startswith("not run:")  # the curves are not given another 2 s
    assert time.monotonic() - start < 15


def test_a_memory_bomb_hits_the_memory_limit(data):
    result = run(data, "hostile.py:MemoryBomb", "base", limits=Limits(call_timeout=30, memory_mb=768))
    r = first_failure(result)
    assert (r.name, r.step) == ("updates", 0)
    assert re.search(r"MemoryError|memory limit", r.message), r.message


def test_the_students_output_is_captured_not_printed(data, capfd):
    result = run(data, "hostile.py:PrintsPass", "base")
    out, err = capfd.readouterr()
    assert "all checks PASS" not in out + err
    captured = result.output["base"]
    assert "task base: PASS" in captured and "all checks PASS" in captured and "\x1b" not in captured


def test_no_process_or_directory_outlives_the_run(data, tmp_path):
    """The student's own child processes are killed with the run, even one that moved to a process group of its
    own (setpgid); the sandbox's directory goes. The children are found by a marker on their command line (in a
    PID namespace the pids they see are not ours)."""
    marker = f"{300 + random.random():.9f}"  # sleep's argument: unique to this run
    student = tmp_path / "spawner.py"
    student.write_text(f'''
import subprocess
import sys
sys.path.insert(0, {str(STUDENTS)!r})
from lab_base import Network


class Spawner(Network):
    spawned = False

    def update_mini_batch(self, x, y, eta):
        if not Spawner.spawned:  # once per worker: two children per step would meet the process limit
            Spawner.spawned = True
            child = subprocess.Popen(["sleep", {marker!r}])
            leaver = subprocess.Popen(["sleep", {marker!r}], process_group=0)
            print("spawned", child.pid, leaver.pid)
        super().update_mini_batch(x, y, eta)
''')
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "crosscheck-student-*")))
    result = run(data, f"{student}:Spawner", "base")
    assert result.passed, str(result.report)  # spawning is not a bug; outliving the run is what is prevented
    assert "spawned" in result.output["base"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(marker):
        time.sleep(0.05)
    assert not _running(marker)
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "crosscheck-student-*"))) <= before


def _running(marker: str) -> list[int]:
    """Pids of live processes with `marker` on their command line (a zombie's is empty: dead, not yet reaped)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


def test_the_cpu_limit_kills_a_busy_loop(data):
    result = run(data, "hostile.py:EndlessLoop", "base", limits=Limits(call_timeout=30, cpu_seconds=1))
    r = first_failure(result)
    assert (r.name, r.step) == ("gradients", 0)
    assert "died with SIGXCPU during backprop (over the 1 s CPU-time limit)" in r.message
