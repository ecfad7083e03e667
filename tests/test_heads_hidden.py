"""Issues 13 and 18: the sigmoid + binary cross-entropy head, relu and tanh hidden layers and the l2-sgd preset, on
every side (NumPy reference, torch, a student's class) and every front (CLI, sweep, notebook, pytest plugin)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from torch.testing import assert_close

from crosscheck import check
from crosscheck.checks import TOL, Plan, run_checks
from crosscheck.cli import list_models, main, parser
from crosscheck.cli.common import specs_from_args
from crosscheck.diagnose import diagnose
from crosscheck.sides import Batch, NumpySide, TorchSide
from crosscheck.spec import DEEP_LAYERS, HEADS, MODELS, Spec, preset
from crosscheck.student.loader import import_student
from crosscheck.student.runner import check_student

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = ROOT / "tests" / "students"
NETWORK2 = STUDENTS / "cross_entropy_cost.py"
PLAN = Plan(steps=20, fd_coords=2)
REFERENCE_CHECKS = {"forward", "loss", "gradients", "finite_differences", "updates", "curves"}


def _failures(results) -> list:
    return [(r.name, r.step, r.message, r.hint) for r in results if not r.passed]


def _student_results(run) -> list:
    return [r for checks in run.report.results.values() for r in checks]


# --- the NumPy reference against torch --------------------------------------------------------------------------

@pytest.mark.parametrize("model, head, hidden, layers", [
    ("base", "bce", "sigmoid", None),
    ("softmax-ce", "ce", "relu", None),
    ("softmax-ce", "ce", "tanh", None),
    ("l2-momentum", "bce", "relu", DEEP_LAYERS),
    ("adamw", "mse", "tanh", DEEP_LAYERS),
    ("l2-sgd", "ce", "sigmoid", None),
])
def test_the_reference_agrees_with_torch(model, head, hidden, layers, data):
    spec = MODELS[model].replace(head=head, hidden_activation=hidden, epochs=1, layers=layers or MODELS[model].layers)
    results = run_checks(spec, data, plan=PLAN)
    assert not _failures(results), _failures(results)
    assert REFERENCE_CHECKS <= {r.name for r in results}


@pytest.mark.parametrize("head", HEADS)
def test_loss_and_gradients_at_extreme_logits(head):
    """One Linear layer whose logits are exactly ±1e3: far beyond where σ(z) rounds to 0 or 1 and exp overflows."""
    rng = np.random.default_rng(0)
    weights, bias = rng.choice([-1e3, 1e3], size=(4, 10)), np.zeros(10)
    x, y = np.eye(4), np.eye(10)[[0, 3, 5, 9]]  # each sample's logits are one row of the weights
    spec, batch = Spec("extreme", layers=(4, 10), head=head), Batch(x, y)
    loss, grads = NumpySide(spec, [weights, bias]).loss_and_grads(batch)
    loss_torch, grads_torch = TorchSide(spec, [weights, bias]).loss_and_grads(batch)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads)
    assert_close(loss, loss_torch, rtol=TOL["loss"].rtol, atol=0.0)
    for got, want in zip(grads, grads_torch):
        assert_close(got, want, rtol=TOL["gradients"].rtol, atol=0.0)
    if head == "bce":  # log(1 + e^-1000) is 0: each wrong-signed logit costs exactly 1000
        wrong = np.sum((weights > 0) & (y == 0)) + np.sum((weights < 0) & (y == 1))
        assert loss == 1e3 * wrong / len(y)
        assert_close(grads[1], (np.where(weights > 0, 1.0, 0.0) - y).sum(axis=0) / len(y), rtol=0.0, atol=0.0)


def test_the_l2_sgd_preset_is_plain_sgd_with_decay_on_weights_only(data):
    spec = MODELS["l2-sgd"].replace(epochs=1)
    groups = TorchSide(spec, [np.zeros((2, 2))]).optimizer.param_groups
    assert {g["momentum"] for g in groups} == {0} and sorted(g["weight_decay"] for g in groups) == [0.0, 1e-3]
    results = run_checks(spec, data, plan=PLAN)
    assert not _failures(results), _failures(results)


def test_l2_sgd_is_reachable_by_model_but_not_a_default():
    assert [s.name for s in preset("2")] == ["l2-momentum"]
    assert [s.name for s in preset("2", "l2-sgd")] == ["l2-sgd"]
    assert preset("4", "l2-sgd")[0].layers == DEEP_LAYERS
    with pytest.raises(KeyError, match="it has l2-momentum, l2-sgd"):
        preset("2", "adamw")
    assert "task 2: l2-momentum  (also with --model: l2-sgd)" in list_models()


# --- a student's class: Nielsen's network2 with the cross-entropy cost ------------------------------------------

@pytest.mark.parametrize("cls, task, model, changes", [
    ("Network2", "base", None, dict(head="bce")),
    ("ReLUNetwork2", "1", None, dict(head="bce", hidden_activation="relu")),
    ("Network2L2", "2", "l2-sgd", dict(head="bce")),
])
def test_network2_passes_with_the_bce_head(cls, task, model, changes, data):
    run = check_student(f"{NETWORK2}:{cls}", task, model, data=data, epochs=1, isolate=False, **changes)
    assert run.passed, _failures(_student_results(run))
    assert {"forward", "gradients", "updates", "curves"} <= {r.name for r in _student_results(run)}


@pytest.mark.parametrize("student, task, model, head, check_name, want", [
    ("cross_entropy_cost.py:Network2", "base", None, None, "gradients", "bce"),  # base is sigmoid + MSE
    ("cross_entropy_cost.py:Network2L2", "2", "l2-sgd", "mse", "gradients", "bce"),
    ("cross_entropy_cost.py:Network2", "1", None, None, "forward", "bce"),  # a softmax preset
    ("mse_head.py:MSEMomentum", "2", "l2-momentum", "bce", "gradients", "mse"),  # and the other way round
])
def test_the_hint_names_the_head_of_the_output_error(student, task, model, head, check_name, want, data):
    changes = {} if head is None else {"head": head}
    run = check_student(f"{STUDENTS / student}", task, model, data=data, epochs=1, isolate=False, **changes)
    _, first = run.report.first_failure()
    hint = first.hint or ""
    assert first.name == check_name, (first.message, hint)
    other = "mse" if want == "bce" else "bce"
    assert f"--head {want}" in hint and f"--head {other}" not in hint, hint


class SigmoidOutputsDoubledGradients(NumpySide):
    """Sigmoid outputs whose gradients are twice the MSE head's: the output error is neither sigmoid head's."""

    def __init__(self, spec, init):
        super().__init__(spec.replace(head="mse"), init)

    def loss_and_grads(self, batch):
        loss, grads = super().loss_and_grads(batch)
        return loss, [2 * g for g in grads]


def test_when_the_output_error_cannot_decide_both_sigmoid_heads_are_named(data):
    results = run_checks(MODELS["softmax-ce"].replace(epochs=1), data, SigmoidOutputsDoubledGradients, PLAN,
                         diagnose=diagnose)
    first = next(r for r in results if not r.passed)
    assert first.name == "forward"
    assert "rerun with --head mse (or --head bce if your output error is (a − y)/B)" in first.hint


def test_relu_hidden_layers_against_a_sigmoid_preset_are_told_to_rerun_with_hidden_relu(data):
    run = check_student(f"{NETWORK2}:ReLUNetwork2", "base", data=data, epochs=1, isolate=False, head="bce")
    _, first = run.report.first_failure()
    assert first.name == "forward"
    assert "relu hidden layers" in first.hint and "--hidden relu" in first.hint


# --- the fronts --------------------------------------------------------------------------------------------------

def test_cli_flags_reach_every_spec():
    args = parser().parse_args(["--task", "3", "--hidden", "tanh", "--head", "bce"])
    specs = specs_from_args(args)
    assert len(specs) == 7 and {(s.hidden_activation, s.head) for s in specs} == {("tanh", "bce")}


@pytest.mark.parametrize("flags", [["--hidden", "relu"], ["--head", "bce"]])
def test_compare_py_quick_runs_pass(flags, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "compare.py"), "--task", "1", *flags, "--quick", "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "task 1: PASS" in done.stdout


def test_the_sweep_takes_head_and_hidden(capsys):
    code = main(["--task", "base", "--head", "bce", "--hidden", "relu", "--sweep", "--lr", "1", "--seeds", "0",
                 "--epochs", "1", "--data", "embedded", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "base" in out and "PASS" in out


def test_the_notebook_api_takes_head_and_hidden(data):
    relu_network2, _ = import_student(NETWORK2, "ReLUNetwork2")
    assert check(relu_network2, task="base", data=data, head="bce", hidden="relu", epochs=1, progress=False).passed
    with pytest.raises(ValueError, match="Invalid hidden_activation value: 'gelu'"):
        check(relu_network2, task="base", data=data, hidden="gelu")


def test_the_pytest_plugin_takes_head_and_hidden(tmp_path):
    from test_student_cli import _pytest  # noqa: PLC0415 - the plugin run exactly as that file's tests run it

    done = _pytest(["--student", f"{NETWORK2}:ReLUNetwork2", "--task", "base", "--student-data", "embedded",
                    "--student-epochs", "1", "--student-head", "bce", "--student-hidden", "relu"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout
