"""LabSide: a student's class with the lab's interface driven as a harness Side, distrusting all it returns.

The lab's interface (what `/work/shared/lab/network.py`'s Network has, and what every task's subclass keeps):

    cls(sizes, **hparams)                 constructor; sizes = list(spec.layers); hparams: see hparams.py
    obj.weights, obj.biases               lists of (n_in, n_out) and (n_out,) float64 arrays
    obj.feedforward(x) -> (B, 10)         evaluation-mode outputs (sigmoid outputs, or softmax probabilities)
    obj.backprop(x, y) -> (nabla_b, nabla_w)   gradients of the mean data loss (an L2 term added here is
                                          recognised and taken out: see runner.Guarded._data_gradient)
    obj.update_mini_batch(x, y, eta)      one optimizer step

Every value coming back is checked before the harness compares it (validate.py: types, list lengths, shapes,
float64, finite); the x and y handed in are copies compared afterwards (in-place mutation is a verdict); backprop
must not move the parameters and update_mini_batch must. Whatever the student's code raises is a StudentError
(loader.call_student). NumPy only, torch imported only by batch_inputs for augmented batches: the sandboxed
worker runs LabSide without torch.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck import layout
from crosscheck.spec import Spec
from crosscheck.student.hparams import lab_kwargs
from crosscheck.student.loader import call_student, construct, origin_of
from crosscheck.student.text import StudentError
from crosscheck.student.tracer import Trace, student_files, trace_call
from crosscheck.student.validate import check_array, check_list


def _label(kind: str, i: int) -> tuple[int | None, str | None]:
    return (i, "weight") if kind == "w" else (i, "bias") if kind == "b" else (None, None)


class LabSide:
    """A Side over any object with the lab's interface, run in this process (the sandbox worker reuses it).

    Construct with the student's class: LabSide(spec, init, cls). hparams=None takes the spec's values in the
    lab's names (see hparams.LAB_HPARAMS). Methods raise StudentError; crosscheck.student.runner turns that into a verdict.
    Dropout masks and augmentation parameters of a Batch cannot be handed to a lab class: see runner.py.
    """

    label = "student"
    METHODS = ("feedforward", "backprop", "update_mini_batch")
    INTERFACE = "the lab's interface is feedforward(x), backprop(x, y), update_mini_batch(x, y, eta)"
    layout = ""  # which layout the class was driven in, and why (nielsen_side.open_side sets it)

    def __init__(self, spec: Spec, init: list[np.ndarray], cls: Any, hparams: tuple[dict, dict] | None = None,
                 origin: Path | None = None, built: tuple[Any, str] | None = None):
        """built: (the object, its constructor call as text) when the caller constructed it already."""
        self.spec, self.lr = spec, float(spec.lr)
        self.shapes = [tuple(p.shape) for p in init]
        self.n_layers = len(init) // 2
        self.origin = origin if origin is not None else origin_of(cls)
        if built is None:
            required, optional = hparams if hparams is not None else lab_kwargs(spec)
            built = construct(cls, spec, required, optional, self.origin)
        self.obj, self.constructed = built
        missing = [m for m in self.METHODS if not callable(getattr(self.obj, m, None))]
        if missing:
            raise StudentError(f"{type(self.obj).__name__} has no method {', '.join(missing)}: {self.INTERFACE}")
        self.set_params(init)

    # the student's state

    def _read(self, kind: str, what: str) -> list[np.ndarray]:
        attr = "weights" if kind == "w" else "biases"
        if not hasattr(self.obj, attr):
            raise StudentError(f"{what}: the object has no attribute {attr!r} (the lab keeps self.{attr})")
        items = check_list(getattr(self.obj, attr), self.n_layers, f"{what}: self.{attr}")
        shapes = layout.weights(self.shapes) if kind == "w" else layout.biases(self.shapes)
        return [check_array(v, shape, f"{what}: self.{attr}[{i}]", *_label(kind, i))
                for i, (v, shape) in enumerate(zip(items, shapes))]

    def _params(self, what: str) -> list[np.ndarray]:
        return layout.interleave(self._read("w", what), self._read("b", what))

    def params(self) -> list[np.ndarray]:
        return self._params("after update_mini_batch")

    def set_params(self, params: list[np.ndarray]) -> None:
        """Copy into the student's own arrays when they fit (keeps any aliasing the class relies on)."""
        for attr, values in (("weights", layout.weights(params)), ("biases", layout.biases(params))):
            # the student's code runs here too: a property without a setter, __slots__, ...
            call_student(f"setting self.{attr}", self.origin, _store, self.obj, attr, values)

    # calls into the student's code

    def _call(self, name: str, *args: Any) -> Any:
        return call_student(name, self.origin, lambda: getattr(self.obj, name)(*args))

    @staticmethod
    def _unchanged(name: str, given: list[np.ndarray], kept: list[np.ndarray]) -> None:
        for label, g, k in zip(("x", "y"), given, kept):
            if not (isinstance(g, np.ndarray) and g.shape == k.shape and np.array_equal(g, k)):
                raise StudentError(f"{name} modified its input {label} in place; the mini-batch it is given is a "
                                   f"view of the training set in the lab's loop, so it must stay untouched")

    def predict(self, x: np.ndarray) -> np.ndarray:
        x_given = np.array(x, dtype=np.float64, copy=True)
        out = self._call("feedforward", x_given)
        self._unchanged("feedforward", [x_given], [x])
        return check_array(out, (len(x), self.spec.layers[-1]), "feedforward(x)", None, "output", finite=False)

    def gradients(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        before = self._params("before backprop")
        x_given, y_given = np.array(x, copy=True), np.array(y, copy=True)
        out = self._call("backprop", x_given, y_given)
        self._unchanged("backprop", [x_given, y_given], [x, y])
        pair = check_list(out, 2, "backprop's return value (nabla_b, nabla_w)")
        nabla_b = check_list(pair[0], self.n_layers, "nabla_b")
        nabla_w = check_list(pair[1], self.n_layers, "nabla_w")
        w_shapes, b_shapes = layout.weights(self.shapes), layout.biases(self.shapes)
        if all(isinstance(b, np.ndarray) and b.shape == shape for b, shape in zip(nabla_b, w_shapes)):
            raise StudentError("backprop returned (nabla_w, nabla_b); the lab's order is (nabla_b, nabla_w)")
        grads = []
        for i, (nw, nb) in enumerate(zip(nabla_w, nabla_b)):
            grads.append(check_array(nw, w_shapes[i], f"nabla_w[{i}]", i, "weight"))
            grads.append(check_array(nb, b_shapes[i], f"nabla_b[{i}]", i, "bias"))
        after = self._params("after backprop")
        moved = [layout.label(i) for i, (a, b) in enumerate(zip(before, after)) if not np.array_equal(a, b)]
        if moved:
            raise StudentError(f"backprop changed self.{moved[0]}: it must only compute gradients", moved[0].layer,
                               moved[0].param)
        return grads

    def update(self, x: np.ndarray, y: np.ndarray, eta: float | None = None) -> list[np.ndarray]:
        before = self._params("before update_mini_batch")
        x_given, y_given = np.array(x, copy=True), np.array(y, copy=True)
        self._call("update_mini_batch", x_given, y_given, self.lr if eta is None else float(eta))
        self._unchanged("update_mini_batch", [x_given, y_given], [x, y])
        after = self._params("after update_mini_batch")
        if all(np.array_equal(a, b) for a, b in zip(before, after)):
            raise StudentError("update_mini_batch(x, y, eta) left every weight and bias unchanged: it must assign "
                               "the updated arrays to self.weights and self.biases")
        return after

    def replay_update(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
        """(backprop's gradients, the parameters after update_mini_batch, whether the noise replays): both calls
        start from the same random state (NumPy's and Python's global ones, and any generator the object holds),
        so an update that runs its own backprop first draws the same dropout masks as the backprop it is judged
        on. Replays only if a second backprop from that state gives the same gradients."""
        states = _random_states(self.obj)
        grads = self.gradients(x, y)
        _restore(states)
        replays = all(np.array_equal(a, b) for a, b in zip(grads, self.gradients(x, y)))
        _restore(states)
        return grads, self.update(x, y), replays

    def trace(self, method: str, params: list[np.ndarray], x: np.ndarray, y: np.ndarray | None,
              shapes: set[tuple[int, ...]], lr: float | None = None) -> Trace:
        """`method` (one of METHODS) once more at these parameters, under the line tracer; the optimizer's state
        is whatever the object holds (the caller replays the steps before)."""
        if method not in self.METHODS:
            raise ValueError(f"only {', '.join(self.METHODS)} are traced, not {method!r}")
        self.set_params(params)
        return trace_call(getattr(self.obj, method), self._traced_args(method, x, y, lr), self.origin, shapes,
                          student_files(self.obj))

    def _traced_args(self, method: str, x: np.ndarray, y: np.ndarray | None, lr: float | None = None) -> tuple:
        args = (np.array(x, copy=True),) + (() if y is None else (np.array(y, copy=True),))
        return args + ((self.lr if lr is None else float(lr)),) if method == "update_mini_batch" else args

    # the Side protocol (in-process use; the worker calls gradients/update directly)

    def loss_and_grads(self, batch: Any) -> tuple[None, list[np.ndarray]]:
        return None, self.gradients(batch_inputs(batch), batch.y)

    def step(self, batch: Any) -> None:
        self.update(batch_inputs(batch), batch.y, getattr(batch, "lr", None))
        return None

    def replay_step(self, batch: Any) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
        return self.replay_update(batch_inputs(batch), batch.y)


def batch_inputs(batch: Any) -> np.ndarray:
    """The images a lab class is given for a batch: torchvision's augmentation of them when the batch carries
    augmentation parameters (exactly what the torch side trains on), else the batch itself. The harness's Batch
    does the torch part, so this module never imports torch: the sandboxed worker is sent images, never a Batch."""
    if getattr(batch, "angles", None) is None:
        return batch.x
    return batch.torch_images()


def _store(obj: Any, attr: str, values: list[np.ndarray]) -> None:
    current = getattr(obj, attr, None)
    fits = (isinstance(current, list) and len(current) == len(values)
            and all(isinstance(c, np.ndarray) and c.shape == v.shape and c.dtype == np.float64
                    and c.flags.writeable for c, v in zip(current, values)))
    if fits:
        for c, v in zip(current, values):
            c[...] = v
    else:
        setattr(obj, attr, [np.array(v, dtype=np.float64, copy=True) for v in values])


def _random_states(obj: Any) -> list[tuple[Any, Any]]:
    """(generator, its state) for NumPy's and Python's global generators and those the object keeps itself."""
    held = [v for v in vars(obj).values() if isinstance(v, (np.random.Generator, np.random.RandomState))]
    return ([(np.random, np.random.get_state()), (random, random.getstate())]
            + [(g, g.bit_generator.state if isinstance(g, np.random.Generator) else g.get_state()) for g in held])


def _restore(states: list[tuple[Any, Any]]) -> None:
    for generator, state in states:
        if generator is np.random or isinstance(generator, np.random.RandomState):
            generator.set_state(state)
        elif generator is random:
            random.setstate(state)
        else:
            generator.bit_generator.state = state
