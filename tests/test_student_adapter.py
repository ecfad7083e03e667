"""Student mode, in process: the hyperparameter table, LabSide's validation, the wire protocol."""

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crosscheck.checks import initial_params
from crosscheck.spec import MODELS, preset
from crosscheck.student import loader
from crosscheck.student.hparams import LAB_HPARAMS, HparamError, apply_hparams, lab_kwargs, parse_hparams
from crosscheck.student.lab_side import LabSide
from crosscheck.student.loader import import_student
from crosscheck.student.protocol import Channel, ChannelClosed, ProtocolError, encode
from crosscheck.student.runner import StudentUsageError, check_student, student_specs
from crosscheck.student.text import StudentError

STUDENTS = Path(__file__).parent / "students"


def student_class(spec: str):
    file, name = spec.split(":")
    return import_student(STUDENTS / file, name)[0]


# --- hyperparameters -------------------------------------------------------------------------------------------


def test_every_trainable_preset_has_lab_names():
    assert set(LAB_HPARAMS) == {name for name, spec in MODELS.items() if not spec.only_softmax}


@pytest.mark.parametrize("model, required, optional", [
    ("base", {}, {}),
    ("softmax-ce", {}, {}),
    ("l2-momentum", {"momentum": 0.9, "l2_factor": 1e-3}, {}),
    ("dropout", {"p": 0.2, "momentum": 0.9}, {"l2_factor": 0.0}),
    ("adamw", {"beta_1": 0.9, "beta_2": 0.999, "eps": 1e-8, "weight_decay": 1e-2}, {}),
    ("adam", {"beta_1": 0.9, "beta_2": 0.999, "eps": 1e-8}, {"weight_decay": 0.0}),
    ("adagrad-lab", {"eps": 1e-8}, {}),
])
def test_defaults_are_the_presets_values_in_lab_names(model, required, optional):
    assert lab_kwargs(MODELS[model]) == (required, optional)


def test_overrides_reach_the_torch_side():
    spec = apply_hparams(MODELS["adamw"], {"beta_1": 0.8, "weight_decay": 0.05})
    assert spec.hparams["betas"] == (0.8, 0.999) and spec.hparams["weight_decay"] == 0.05
    assert lab_kwargs(spec)[0]["beta_1"] == 0.8
    dropout = apply_hparams(MODELS["dropout"], {"p": 0.5, "l2_factor": 1e-4})
    assert dropout.dropout == 0.5 and dropout.hparams["weight_decay"] == 1e-4
    assert lab_kwargs(dropout)[0] == {"p": 0.5, "momentum": 0.9, "l2_factor": 1e-4}


@pytest.mark.parametrize("model, overrides, words", [
    ("base", {"momentum": 0.9}, "has no hyperparameter 'momentum'; it takes: none"),
    ("l2-momentum", {"mu": 0.9}, "it takes: momentum, l2_factor"),
    ("l2-momentum", {"momentum": 1.0}, "momentum=1: Invalid momentum value: 1.0 (expected a number in [0, 1))"),
    ("dropout", {"p": 0.0}, "p=0 turns dropout off; model dropout needs 0 < p < 1"),
    ("dropout", {"p": 1.0}, "p=1: Invalid dropout value: 1.0"),
    ("adamw", {"eps": -1.0}, "eps=-1: Invalid eps value: -1.0 (expected a finite number >= 0)"),
    ("adam", {"beta_2": 1.0}, "beta_2=1: Invalid betas[1] value: 1.0"),
    ("nesterov", {"momentum": 0.0}, "momentum=0: Invalid nesterov value: True (Nesterov momentum needs momentum > 0"),
])
def test_bad_overrides_are_usage_errors(model, overrides, words):
    with pytest.raises(HparamError, match=re.escape(words)):
        apply_hparams(MODELS[model], overrides)


def test_parse_hparams():
    assert parse_hparams(["momentum=0.5", "l2_factor = 1e-4"]) == {"momentum": 0.5, "l2_factor": 1e-4}
    for bad in (["momentum"], ["=1"], ["momentum=fast"], ["eps=nan"]):
        with pytest.raises(HparamError):
            parse_hparams(bad)


def test_student_specs_need_one_model():
    with pytest.raises(StudentUsageError, match="choose it with --model"):
        student_specs("3")
    (spec,) = student_specs("4", "adamw", {"weight_decay": 0.1})
    assert spec.layers == (784, 100, 30, 10) and spec.hparams["weight_decay"] == 0.1 and spec.epochs == 2


# --- LabSide in process ---------------------------------------------------------------------------------------


def test_correct_task2_class_passes_in_process(data):
    run = check_student(student_class("momentum_l2.py:MomentumL2Network"), "2", data=data, epochs=1, steps=5)
    assert run.passed, str(run.report)
    assert [r.name for r in run.report.results["l2-momentum"]] == ["load", "forward", "gradients", "updates",
                                                                   "curves"]
    assert "momentum=0.9, l2_factor=0.001" in run.report.results["l2-momentum"][0].message
    assert "(in process)" in run.report.subject


class Tiny:
    """A minimal lab-style class whose behaviour each test twists."""

    def __init__(self, sizes):
        self.weights = [np.zeros((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.zeros(b) for b in sizes[1:]]

    def feedforward(self, x):
        for w, b in zip(self.weights, self.biases):
            x = 1 / (1 + np.exp(-(x @ w + b)))
        return x

    def backprop(self, x, y):
        return [np.ones_like(b) for b in self.biases], [np.ones_like(w) for w in self.weights]

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        self.weights = [w - eta * g for w, g in zip(self.weights, nabla_w)]
        self.biases = [b - eta * g for b, g in zip(self.biases, nabla_b)]


@pytest.fixture
def side_for():
    spec = preset("base")[0].replace(layers=(784, 4, 10))
    init = initial_params(spec)
    return lambda cls: LabSide(spec, init, cls), spec


class Batch:
    def __init__(self, x, y):
        self.x, self.y = x, y


def _batch(n=3):
    rng = np.random.default_rng(0)
    return Batch(rng.random((n, 784)), np.eye(10)[rng.integers(0, 10, n)])


@pytest.mark.parametrize("twist, words, where", [
    (lambda self, x, y: ([b.astype(np.float32) for b in self.biases], self.weights), "dtype float32", (0, "bias")),
    (lambda self, x, y: ([np.ones_like(w) for w in self.weights], [np.ones_like(b) for b in self.biases]),
     "returned (nabla_w, nabla_b)", (None, None)),
    (lambda self, x, y: ([np.ones_like(b) for b in self.biases], [np.ones_like(self.weights[0])]),
     "nabla_w has 1 entries, expected 2", (None, None)),
    (lambda self, x, y: ([np.ones_like(b) for b in self.biases], [np.full_like(w, np.inf) for w in self.weights]),
     "nabla_w[0] has", (0, "weight")),
])
def test_backprop_results_are_validated(side_for, twist, words, where):
    make, _ = side_for
    side = make(type("Twisted", (Tiny,), {"backprop": twist}))
    with pytest.raises(StudentError, match=re.escape(words)) as error:
        side.loss_and_grads(_batch())
    assert (error.value.layer, error.value.param) == where


def test_backprop_must_not_move_the_parameters(side_for):
    def backprop(self, x, y):
        self.weights[1] += 1.0
        return Tiny.backprop(self, x, y)
    make, _ = side_for
    with pytest.raises(StudentError, match=r"backprop changed self.weights\[1\]"):
        make(type("Moves", (Tiny,), {"backprop": backprop})).loss_and_grads(_batch())


def test_inputs_are_copies_and_checked_for_mutation(side_for):
    seen = []

    def feedforward(self, x):
        seen.append(x)
        x *= 2.0
        return Tiny.feedforward(self, x)
    make, _ = side_for
    batch = _batch()
    original = batch.x.copy()
    with pytest.raises(StudentError, match="feedforward modified its input x in place"):
        make(type("Mutates", (Tiny,), {"feedforward": feedforward})).predict(batch.x)
    assert seen[0] is not batch.x and np.array_equal(batch.x, original)


def test_exceptions_carry_the_students_file_and_line(side_for):
    make, _ = side_for
    with pytest.raises(StudentError, match=r"update_mini_batch raised ZeroDivisionError: .*test_student_adapter.py:\d+"):
        make(type("Divides", (Tiny,), {"update_mini_batch": lambda self, x, y, eta: 1 / 0})).step(_batch())


def test_sys_exit_is_a_verdict_in_process(side_for):
    def update(self, x, y, eta):
        raise SystemExit(0)
    make, _ = side_for
    with pytest.raises(StudentError, match=r"called sys.exit\(0\)"):
        make(type("Exits", (Tiny,), {"update_mini_batch": update})).step(_batch())


def test_ctrl_c_is_the_users_in_process_and_a_verdict_in_the_worker(side_for, monkeypatch):
    def update(self, x, y, eta):
        raise KeyboardInterrupt
    make, _ = side_for
    side = make(type("Interrupts", (Tiny,), {"update_mini_batch": update}))
    with pytest.raises(KeyboardInterrupt):
        side.step(_batch())
    monkeypatch.setattr(loader, "IN_WORKER", True)
    with pytest.raises(StudentError, match="update_mini_batch raised KeyboardInterrupt"):
        side.step(_batch())


def test_a_parameter_the_harness_cannot_set_is_a_verdict(side_for):
    class ReadOnly(Tiny):
        weights = property(lambda self: tuple(self._w))  # a tuple: the harness has to assign, and cannot

        def __init__(self, sizes):
            self._w = [np.zeros((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
            self.biases = [np.zeros(b) for b in sizes[1:]]
    make, _ = side_for
    with pytest.raises(StudentError, match=r"setting self.weights raised AttributeError: .*has no setter"):
        make(ReadOnly)


def test_the_worker_imports_no_torch():
    root = Path(__file__).resolve().parents[1]
    code = "import crosscheck.student.worker, sys; assert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=dict(os.environ, PYTHONPATH=str(root)),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_set_params_writes_into_the_students_arrays(side_for):
    """A class that aliases its arrays (a flat parameter vector, a params list) keeps working."""

    class Aliased(Tiny):
        def __init__(self, sizes):
            super().__init__(sizes)
            self.all_params = self.weights + self.biases

    make, spec = side_for
    side = make(Aliased)
    new = [np.full(p.shape, 0.5) for p in initial_params(spec)]
    side.set_params(new)
    assert all(np.all(p == 0.5) for p in side.obj.all_params)
    assert all(np.array_equal(a, b) for a, b in zip(side.params(), new))


def test_constructor_signature_mismatch_names_the_call(side_for):
    class TwoArgs(Tiny):
        def __init__(self, sizes, mu):
            super().__init__(sizes)
    make, _ = side_for
    with pytest.raises(StudentError, match=r"constructs TwoArgs\(\[784, 4, 10\]\), but the constructor is "
                                           r"TwoArgs\(sizes, mu\).*missing a required argument: 'mu'"):
        make(TwoArgs)


def test_optional_hparams_only_when_the_constructor_names_them():
    spec = MODELS["dropout"].replace(layers=(784, 4, 10))
    init = initial_params(spec)

    class WithL2(Tiny):
        def __init__(self, sizes, p, momentum, l2_factor):
            super().__init__(sizes)
            self.l2_factor = l2_factor

    class WithoutL2(Tiny):
        def __init__(self, sizes, p, momentum):
            super().__init__(sizes)

    assert LabSide(spec, init, WithL2).obj.l2_factor == 0.0
    assert "l2_factor" not in LabSide(spec, init, WithoutL2).constructed


# --- the wire protocol ----------------------------------------------------------------------------------------


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield Channel(r, -1), w
    os.close(r)


def test_frames_round_trip(pipe):
    channel, w = pipe
    arrays = [np.arange(6.0).reshape(2, 3), np.array([np.nan, -np.inf]), np.zeros((0, 4))]
    os.write(w, encode({"op": "x", "n": 1}, arrays))
    os.close(w)
    header, got = channel.recv()
    assert header["op"] == "x" and header["n"] == 1
    assert all(np.array_equal(a, b, equal_nan=True) and a.shape == b.shape for a, b in zip(got, arrays))
    with pytest.raises(ChannelClosed):
        channel.recv()


@pytest.mark.parametrize("frame, words", [
    (b"PICK" + struct.pack("<Q", 2) + b"{}", "bad magic"),
    (b"XCK1" + struct.pack("<Q", 1 << 40), "oversized header"),
    (b"XCK1" + struct.pack("<Q", 5) + b"\x80abcd", "not JSON"),
    (b"XCK1" + struct.pack("<Q", 21) + b'{"arrays": [[-1, 2]]}', "bad array shape"),
    (b"XCK1" + struct.pack("<Q", 30) + b'{"arrays": [[100000, 100000]]}', "exceeds the"),
    (b"XCK1" + struct.pack("<Q", 5007) + b'{"n": ' + b"9" * 5000 + b"}", "not JSON: ValueError"),
    (b"XCK1" + struct.pack("<Q", 40_000) + b"[" * 20_000 + b"]" * 20_000, "not JSON: RecursionError"),  # < a pipe buffer
])
def test_malformed_frames_are_rejected_before_reading_on(pipe, frame, words):
    channel, w = pipe
    os.write(w, frame)
    os.close(w)
    with pytest.raises(ProtocolError, match=words):
        channel.recv()



def test_a_reply_can_be_capped_below_the_channel_limit(pipe):
    """The harness asks for what it expects: a bigger announced payload is refused before it is read."""
    channel, w = pipe
    os.write(w, encode({}, [np.zeros(3)]))
    os.close(w)
    with pytest.raises(ProtocolError, match="payload of 24 bytes exceeds the 16 expected"):
        channel.recv(max_payload=16)
