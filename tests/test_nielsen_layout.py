"""Nielsen's layout (issue 13, part 2): detected, converted exactly, and judged exactly as the lab-layout twins."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from crosscheck.checks import initial_params
from crosscheck.spec import MODELS
from crosscheck.student.hparams import NIELSEN_N, HparamError, apply_hparams, lab_kwargs
from crosscheck.student.loader import import_student
from crosscheck.student.nielsen_side import LayoutChoice, NielsenSide, UpdateSignature, detect, open_side
from crosscheck.student.runner import StudentUsageError, check_student
from crosscheck.student.text import StudentError

STUDENTS = Path(__file__).parent / "students"
NIELSEN = STUDENTS / "nielsen.py"
L2 = dict(model="l2-sgd", head="bce")  # network2: sigmoid outputs with the cross-entropy cost, SGD + L2


def cls(ref: str):
    file, name = ref.split(":")
    return import_student(STUDENTS / file, name)[0]


def run(data, ref: str, task: str, model=None, isolate=False, **kw):
    return check_student(f"{STUDENTS / ref}", task, model, data=data, epochs=1, isolate=isolate, **kw)


def first_failure(report):
    failure = report.first_failure()
    assert failure is not None, str(report)
    r = failure[1]
    return r.name, r.step, r.layer, r.param


# --- detection ----------------------------------------------------------------------------------------------------


class Bare:
    """Only the attributes detection reads."""

    def __init__(self, weights, biases):
        self.weights, self.biases = weights, biases

    def update_mini_batch(self, mini_batch, eta):
        pass


def test_detects_nielsen_and_says_why():
    obj = cls("nielsen.py:Network")([784, 30, 10])
    assert detect(obj, [784, 30, 10], UpdateSignature.of(type(obj))) == (
        "nielsen", "weights[0] is (30, 784): (n_out, n_in); update_mini_batch(mini_batch, eta)")


def test_detects_the_lab_layout():
    obj = cls("lab_base.py:Network")([784, 30, 10])
    assert detect(obj, [784, 30, 10], UpdateSignature.of(type(obj)))[0] == "lab"


def test_square_layers_are_decided_by_the_biases_and_say_so():
    obj = Bare([np.zeros((4, 4))] * 2, [np.zeros((4, 1))] * 2)
    name, why = detect(obj, [4, 4, 4], UpdateSignature.of(Bare))
    assert name == "nielsen" and why.startswith("weights are square (n_in == n_out); biases[0] is (4, 1)")


def test_missing_biases_fit_neither_layout():
    with pytest.raises(StudentError, match=re.escape("for Nielsen's, self.biases is NoneType, expected a list of 2")):
        detect(Bare([np.zeros((4, 4))] * 2, None), [4, 4, 4], UpdateSignature.of(Bare))


@pytest.mark.parametrize("name, words", [
    ("Neither", "fits neither layout after construction: for the lab's, self.weights[0] is (30, 784), expected "
                "(784, 30) (weights (n_in, n_out), biases (n_out,)); for Nielsen's, self.biases[0] is (30,), "
                "expected (30, 1)"),
    ("Mixed", "Mixed's weights and biases are in Nielsen's layout (weights[0] (30, 784): (n_out, n_in)), but "
              "update_mini_batch(x, y, eta) is the lab's; Nielsen's layout takes update_mini_batch(mini_batch, eta"
              "[, lmbda, n]) (--layout nielsen skips this check)"),
])
def test_a_class_fitting_neither_layout_fails_at_load_saying_what_did_not_fit(data, name, words):
    result = run(data, f"nielsen.py:{name}", "base")
    load = result.report.results["base"][0]
    assert not result.passed and load.name == "load" and not load.passed
    assert words in load.message
    assert "broadcast" not in str(result.report)


def test_update_signatures():
    assert UpdateSignature.of(cls("nielsen.py:Network2")) == UpdateSignature(
        "nielsen", True, "update_mini_batch(mini_batch, eta, lmbda, n)")
    assert UpdateSignature.of(cls("lab_base.py:Network")).layout == "lab"

    class OptionalExtra:
        def update_mini_batch(self, x, y, eta, verbose=False):
            pass
    assert UpdateSignature.of(OptionalExtra) == UpdateSignature("lab", False,
                                                                "update_mini_batch(x, y, eta, verbose)")


# --- exact conversion -----------------------------------------------------------------------------------------------


def test_parameters_cross_by_transposes_and_reshapes_only():
    spec = MODELS["base"]
    init = initial_params(spec)
    side = open_side(spec, init, cls("nielsen.py:Network"))
    assert isinstance(side, NielsenSide)
    for w, theirs in zip(init[0::2], side.obj.weights):
        assert theirs.shape == w.T.shape and np.array_equal(theirs, w.T)
    for b, theirs in zip(init[1::2], side.obj.biases):
        assert theirs.shape == (len(b), 1) and np.array_equal(theirs[:, 0], b)
    assert all(np.array_equal(a, b) for a, b in zip(side.params(), init))


def test_an_explicit_layout_that_does_not_fit_names_the_attribute_and_the_shape_expected(data):
    result = run(data, "lab_base.py:Network", "base", layout="nielsen")
    message = result.report.results["base"][0].message
    assert message == ("--layout nielsen: after construction self.weights[0] is (784, 30), expected (30, 784) "
                       "(Nielsen's layout keeps weights (n_out, n_in), biases (n_out, 1))")


def test_an_unknown_layout_is_a_usage_error(data):
    with pytest.raises(StudentUsageError, match=re.escape("--layout must be one of auto, lab, nielsen")):
        run(data, "nielsen.py:Network", "base", layout="sideways")


# --- network2's L2 as lmbda and n --------------------------------------------------------------------------------


def test_lmbda_over_n_is_torchs_weight_decay_on_weights_only():
    spec = apply_hparams(MODELS["l2-sgd"], {"lmbda": 5.0, "n": 1000.0})
    assert spec.hparams["weight_decay"] == 5.0 / 1000.0 and not spec.decay_biases
    assert apply_hparams(MODELS["l2-sgd"], {"lmbda": 5.0}).hparams["weight_decay"] == 5.0 / NIELSEN_N
    assert lab_kwargs(spec)[0] == {"l2_factor": 5.0 / 1000.0}  # a lab-layout class gets the same decay


@pytest.mark.parametrize("model, overrides, words", [
    ("base", {"lmbda": 5.0}, "model base has no L2 term: lmbda and n"),
    ("l2-sgd", {"lmbda": 5.0, "l2_factor": 1e-4}, "give l2_factor or lmbda (with n), not both"),
    ("l2-sgd", {"lmbda": 5.0, "n": 0.0}, "n=0: network2's n (the training set size) must be positive"),
    ("l2-sgd", {"lmbda": -5.0}, "lmbda=-5: Invalid weight_decay value"),
])
def test_bad_lmbda_or_n_are_usage_errors(model, overrides, words):
    with pytest.raises(HparamError, match=re.escape(words)):
        apply_hparams(MODELS[model], overrides)


def test_network2_is_given_lmbda_and_n_and_not_constructed_with_l2_factor():
    spec = apply_hparams(MODELS["l2-sgd"], {"lmbda": 2.0, "n": 4000.0})
    side = open_side(spec, initial_params(spec), cls("nielsen.py:Network2"), choice=LayoutChoice("auto", 4000.0))
    assert side.constructed == "Network2([784, 30, 10])"
    assert side.l2 == (pytest.approx(2.0), 4000.0)


# --- Nielsen-layout classes pass and fail exactly as their lab-layout twins ----------------------------------------


@pytest.mark.parametrize("ref, task, kw", [
    ("nielsen.py:Network", "base", {}),
    ("nielsen.py:Network", "base", {"layout": "nielsen"}),
    ("nielsen.py:SoftmaxNetwork", "1", {}),
    ("nielsen.py:Network2", "base", {"head": "bce"}),
    ("nielsen.py:Network2", "2", {**L2, "hparams": {"lmbda": 50.0, "n": 50000.0}}),
])
def test_correct_nielsen_classes_pass(data, ref, task, kw):
    model = kw.pop("model", None)
    result = run(data, ref, task, model, **kw)
    assert result.passed, str(result.report)
    assert result.report.layout.startswith("nielsen (")


@pytest.mark.parametrize("nielsen, lab, task, kw", [
    ("SignError", "buggy.py:SignErrorNetwork", "base", {}),
    ("BatchSum", "lab_twins.py:UpdateBatchSum", "1", {}),
    ("L2OnBiases", "lab_twins.py:Network2L2OnBiases", "2", L2),
])
def test_buggy_nielsen_classes_fail_where_their_lab_twins_do(data, nielsen, lab, task, kw):
    kw = dict(kw)
    model = kw.pop("model", None)
    theirs, ours = run(data, f"nielsen.py:{nielsen}", task, model, **kw), run(data, lab, task, model, **kw)
    assert not theirs.passed and not ours.passed
    assert first_failure(theirs.report) == first_failure(ours.report)
    assert first_failure(ours.report)[0] != "load"
    assert theirs.report.layout.startswith("nielsen (") and ours.report.layout.startswith("lab (")


def test_sandboxed_the_layout_reaches_the_report_header_and_json(data, tmp_path):
    result = run(data, "nielsen.py:Network2", "2", "l2-sgd", isolate=True, head="bce")
    assert result.passed, str(result.report)
    why = "nielsen (weights[0] is (30, 784): (n_out, n_in); update_mini_batch(mini_batch, eta, lmbda, n))"
    assert f"(layout: {why})" in str(result.report).splitlines()[0]
    result.report.write_json(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["layout"] == why


def test_sandboxed_twins_fail_alike(data):
    theirs = run(data, "nielsen.py:SignError", "base", isolate=True)
    ours = run(data, "buggy.py:SignErrorNetwork", "base", isolate=True)
    assert first_failure(theirs.report) == first_failure(ours.report)
