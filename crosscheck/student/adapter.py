"""Drive a student's class with the lab's interface as a harness Side, and distrust everything it returns.

The lab's interface (what `/work/shared/lab/network.py`'s Network has, and what every task's subclass keeps):

    cls(sizes, **hparams)                 constructor; sizes = list(spec.layers)
    obj.weights, obj.biases               lists of (n_in, n_out) and (n_out,) float64 arrays
    obj.feedforward(x) -> (B, 10)         evaluation-mode outputs (sigmoid outputs, or softmax probabilities)
    obj.backprop(x, y) -> (nabla_b, nabla_w)   gradients of the mean data loss (an L2 term added here is
                                          recognised and taken out: see runner.Guarded._data_gradient)
    obj.update_mini_batch(x, y, eta)      one optimizer step

Hyperparameters keep the lab's names; LAB_HPARAMS says where each goes on the torch side:

    model          lab name     torch                     note
    base           -            -                         Network(sizes): no hyperparameters
    softmax-ce     -            -
    l2-momentum    momentum     SGD momentum              v = mu*v - eta*g; w += v equals SGD(momentum=mu) at a
                   l2_factor    SGD weight_decay          constant eta; L2 as g + l2*w, weights only
    l2-sgd         l2_factor    SGD weight_decay          plain SGD, no momentum; L2 on weights only
    nesterov       momentum, l2_factor (as above)         nesterov=True is the model itself, not a parameter
    dropout        p            Spec.dropout              inverted dropout on hidden layers
                   momentum     SGD momentum
                   l2_factor    SGD weight_decay          optional (the preset has none)
    augment        momentum, l2_factor (l2_factor optional)
    adam           beta_1, beta_2   Adam betas            eps -> eps; weight_decay optional (L2 on weights)
    adamw          beta_1, beta_2   AdamW betas           eps -> eps; weight_decay -> weight_decay (decoupled)
    adagrad        eps          Adagrad eps
    adagrad-lab    eps          Adagrad eps

Defaults are the preset's own values (read back from the Spec), so `--hparam name=value` changes both sides
at once. A name the preset leaves unset (l2_factor for dropout) is passed only when the user gives it or the
constructor has a parameter of that name, with torch's neutral value (weight_decay 0).

Every value coming back is checked before the harness compares it: types, list lengths, shapes, float64,
finite; the x and y handed in are copies compared afterwards (in-place mutation is a verdict); backprop must
not move the parameters and update_mini_batch must. Any exception the student's code raises (SystemExit
included) becomes a StudentError with the student's own file:line. This module imports NumPy only: the
sandboxed worker runs it without torch.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import math
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from crosscheck.spec import Spec

# lab name -> torch target: a key of Spec.hparams, "betas[0]"/"betas[1]", or "dropout" (the Spec field)
_SGD = {"momentum": "momentum", "l2_factor": "weight_decay"}
_ADAM = {"beta_1": "betas[0]", "beta_2": "betas[1]", "eps": "eps", "weight_decay": "weight_decay"}
LAB_HPARAMS: dict[str, dict[str, str]] = {
    "base": {},
    "softmax-ce": {},
    "l2-momentum": dict(_SGD),
    "l2-sgd": {"l2_factor": "weight_decay"},
    "nesterov": dict(_SGD),
    "dropout": {"p": "dropout", **_SGD},
    "augment": dict(_SGD),
    "adam": dict(_ADAM),
    "adamw": dict(_ADAM),
    "adagrad": {"eps": "eps"},
    "adagrad-lab": {"eps": "eps"},
}
NEUTRAL = {"weight_decay": 0.0}  # torch's value when a preset leaves the target unset
_RANGES = {  # target -> (low, high, low inclusive, high inclusive)
    "momentum": (0.0, 1.0, True, False), "weight_decay": (0.0, math.inf, True, False),
    "betas[0]": (0.0, 1.0, True, False), "betas[1]": (0.0, 1.0, True, False),
    "eps": (0.0, math.inf, True, False), "dropout": (0.0, 1.0, False, False),
}
_TORCH_BETAS = (0.9, 0.999)


_WORKER = False  # set by the sandboxed worker: there even KeyboardInterrupt from the student's code is a verdict


def _in_worker() -> bool:
    return _WORKER


class HparamError(ValueError):
    """A --hparam the model does not take, or a value out of range: bad usage (exit 2), not a student's fault."""


_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # ANSI colour / cursor codes (tqdm, rich)


def printable(text: str, lines: bool = True) -> str:
    """Student text made safe to print, encode and store: lone surrogates and control characters (ESC, CR, ...)
    shown as escapes, colour codes dropped, so no message can fail to print or redraw the terminal into a PASS.
    lines=False escapes newlines too: a one-line message cannot start a fake report line."""
    text = _TERMINAL_CODES.sub("", str(text).encode("utf-8", "backslashreplace").decode("utf-8"))
    keep = "\n\t" if lines else "\t"
    return "".join(c if c in keep or c.isprintable() else ascii(c)[1:-1] for c in text)


class StudentError(Exception):
    """The student's code failed or returned something unusable; the message says what and where."""

    def __init__(self, message: str, layer: int | None = None, param: str | None = None):
        super().__init__(printable(message, lines=False))
        self.layer, self.param = layer, param


# --- hyperparameters -----------------------------------------------------------------------------------------


def _table(spec: Spec) -> dict[str, str]:
    if spec.name not in LAB_HPARAMS:
        raise HparamError(f"model {spec.name!r} has no lab hyperparameter names; known: {', '.join(LAB_HPARAMS)}")
    return LAB_HPARAMS[spec.name]


def _read(spec: Spec, target: str) -> float | None:
    if target == "dropout":
        return spec.dropout or None
    if target.startswith("betas["):
        betas = spec.hparams.get("betas")
        return None if betas is None else float(betas[int(target[6])])
    value = spec.hparams.get(target)
    return None if value is None else float(value)


def lab_kwargs(spec: Spec) -> tuple[dict[str, float], dict[str, float]]:
    """(always passed, passed only if the constructor names them) in the lab's names, from the spec's values."""
    required, optional = {}, {}
    for lab, target in _table(spec).items():
        value = _read(spec, target)
        if value is not None:
            required[lab] = value
        elif target in NEUTRAL:
            optional[lab] = NEUTRAL[target]
    return required, optional


def parse_hparams(items: list[str] | None) -> dict[str, float]:
    """["momentum=0.9", ...] -> {"momentum": 0.9}; malformed items raise HparamError."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        name = name.strip()
        try:
            value = float(text)
        except ValueError:
            value = None
        if not sep or not name or value is None or not math.isfinite(value):
            raise HparamError(f"--hparam expects NAME=NUMBER, got {item!r}")
        out[name] = value
    return out


def apply_hparams(spec: Spec, overrides: dict[str, float]) -> Spec:
    """The spec with lab-named overrides written to their torch targets (both sides then use them)."""
    table = _table(spec)
    hparams, dropout = dict(spec.hparams), spec.dropout
    for lab, value in overrides.items():
        if lab not in table:
            known = ", ".join(table) if table else "none (the lab's Network(sizes))"
            raise HparamError(f"model {spec.name} has no hyperparameter {lab!r}; it takes: {known}")
        target = table[lab]
        low, high, low_in, high_in = _RANGES[target]
        if not ((low <= value if low_in else low < value) and (value <= high if high_in else value < high)):
            raise HparamError(f"{lab}={value:g} is out of range {'[' if low_in else '('}{low:g}, "
                              f"{high:g}{']' if high_in else ')'}")
        if target == "dropout":
            dropout = value
        elif target.startswith("betas["):
            betas = list(hparams.get("betas", _TORCH_BETAS))
            betas[int(target[6])] = value
            hparams["betas"] = tuple(betas)
        else:
            hparams[target] = value
    return spec.replace(hparams=hparams, dropout=dropout)


def spec_to_json(spec: Spec) -> dict:
    return dataclasses.asdict(spec)


def spec_from_json(fields: dict) -> Spec:
    fields = dict(fields, layers=tuple(fields["layers"]))
    if "betas" in fields.get("hparams", {}):
        fields["hparams"] = dict(fields["hparams"], betas=tuple(fields["hparams"]["betas"]))
    return Spec(**fields)


# --- loading and describing the student's code --------------------------------------------------------------


def _where(error: BaseException, origin: Path | None) -> str:
    """' (at file.py:42 in backprop: `code`)' for the innermost frame in the student's folder, if any."""
    if origin is None or error.__traceback__ is None:
        return ""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _inside(f.filename, origin)]
    if not frames:
        return ""
    f = frames[-1]
    code = f" `{f.line.strip()[:120]}`" if f.line else ""
    return f" (at {Path(f.filename).name}:{f.lineno} in {f.name}:{code})"


def _inside(filename: str, folder: Path) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(folder)
    except (OSError, ValueError):
        return False


def describe(error: BaseException, what: str, origin: Path | None = None) -> str:
    """One line for a verdict: what the student's code did, with its own file:line when we can find it."""
    if isinstance(error, SystemExit):
        return f"{what} called sys.exit({error.code!r}): a submission must not exit the process"
    text = str(error).strip().replace("\n", " ")
    text = text[:300] + ("..." if len(text) > 300 else "")
    return f"{what} raised {type(error).__name__}" + (f": {text}" if text else "") + _where(error, origin)


def import_student(path: Path, attribute: str) -> tuple[Any, Path]:
    """The named attribute of the student's file, imported with its folder on sys.path (siblings import)."""
    path = Path(path).resolve()
    folder = path.parent
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    name = path.stem if path.stem.isidentifier() and path.stem not in sys.modules else "__student__"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise StudentError(f"cannot import {path.name} as Python source")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as error:
        line = f": {error.text.strip()[:120]}" if error.text else ""
        where = Path(error.filename).name if error.filename else path.name
        raise StudentError(f"{where} has a syntax error at line {error.lineno}: {error.msg}{line}") from None
    except BaseException as error:  # noqa: BLE001 - everything the student's module does is a verdict
        if isinstance(error, KeyboardInterrupt) and not _in_worker():
            raise
        raise StudentError(describe(error, f"importing {path.name}", folder)) from None
    if not hasattr(module, attribute):
        found = sorted(n for n, v in vars(module).items() if inspect.isclass(v) and v.__module__ == name)
        raise StudentError(f"{path.name} has no {attribute!r}" + (f"; it defines: {', '.join(found)}" if found else ""))
    return getattr(module, attribute), folder


def construct(cls: Any, spec: Spec, required: dict[str, float], optional: dict[str, float],
              origin: Path | None = None) -> tuple[Any, str]:
    """(cls(list(spec.layers), **hparams), that call as text), with a precise verdict when the signature does not fit."""
    if not inspect.isclass(cls):
        raise StudentError(f"{getattr(cls, '__name__', cls)!r} is a {type(cls).__name__}, expected a class")
    layers, kwargs = list(spec.layers), dict(required)
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        named = {k for k, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        kwargs.update({k: v for k, v in optional.items() if k in named})  # a **kwargs alone may not want them
    call = f"{cls.__name__}({layers}" + "".join(f", {k}={v:g}" for k, v in kwargs.items()) + ")"
    if signature is not None:
        try:
            signature.bind(layers, **kwargs)
        except TypeError as error:
            names = ", ".join(LAB_HPARAMS.get(spec.name, {})) or "none"
            raise StudentError(f"the harness constructs {call}, but the constructor is {cls.__name__}{signature}: "
                               f"{error} (model {spec.name} takes the lab's names: {names}; values can be set "
                               f"with --hparam NAME=VALUE, or check(..., NAME=VALUE) in a notebook)") from None
    try:
        return cls(layers, **kwargs), call
    except BaseException as error:  # noqa: BLE001
        if isinstance(error, KeyboardInterrupt) and not _in_worker():
            raise
        raise StudentError(describe(error, call, origin)) from None


# --- validation ----------------------------------------------------------------------------------------------


def _label(kind: str, i: int) -> tuple[int | None, str | None]:
    return (i, "weight") if kind == "w" else (i, "bias") if kind == "b" else (None, None)


def check_array(value: Any, shape: tuple[int, ...], what: str, layer: int | None = None,
                param: str | None = None, finite: bool = True) -> np.ndarray:
    """A float64 ndarray of exactly `shape`, all finite (unless finite=False), copied; else a StudentError."""
    if not isinstance(value, np.ndarray):
        raise StudentError(f"{what} is a {type(value).__name__}, expected a numpy array of shape {shape}",
                           layer, param)
    if value.dtype != np.float64:
        why = ("; compute in float64: the checks compare to ~1e-10" if value.dtype.kind == "f"
               else ", expected float64")
        raise StudentError(f"{what} has dtype {value.dtype}{why}", layer, param)
    if value.shape != tuple(shape):
        raise StudentError(f"{what} has shape {value.shape}, expected {tuple(shape)}", layer, param)
    if finite:
        bad = ~np.isfinite(value)
        if bad.any():
            index = [int(k) for k in np.unravel_index(int(np.argmax(bad)), value.shape)]
            raise StudentError(f"{what} has {int(bad.sum())} non-finite entries (e.g. {value[tuple(index)]} at "
                               f"{index})", layer, param)
    return np.array(value, dtype=np.float64, copy=True)


def check_list(value: Any, n: int, what: str) -> list:
    if isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise StudentError(f"{what} is a {type(value).__name__}, expected a list of {n} arrays (one per layer)")
    if len(items) != n:
        raise StudentError(f"{what} has {len(items)} entries, expected {n} (one per layer)")
    return items


class LabSide:
    """A Side over any object with the lab's interface, run in this process (the sandbox worker reuses it).

    Construct with the student's class: LabSide(spec, init, cls). hparams=None takes the spec's values in the
    lab's names (see LAB_HPARAMS). Methods raise StudentError; crosscheck.student.runner turns that into a verdict.
    Dropout masks and augmentation parameters of a Batch cannot be handed to a lab class: see runner.py.
    """

    label = "student"
    METHODS = ("feedforward", "backprop", "update_mini_batch")

    def __init__(self, spec: Spec, init: list[np.ndarray], cls: Any, hparams: tuple[dict, dict] | None = None,
                 origin: Path | None = None):
        self.spec, self.lr = spec, float(spec.lr)
        self.shapes = [tuple(p.shape) for p in init]
        self.n_layers = len(init) // 2
        self.origin = origin if origin is not None else _origin_of(cls)
        required, optional = hparams if hparams is not None else lab_kwargs(spec)
        self.obj, self.constructed = construct(cls, spec, required, optional, self.origin)
        missing = [m for m in self.METHODS if not callable(getattr(self.obj, m, None))]
        if missing:
            raise StudentError(f"{type(self.obj).__name__} has no method {', '.join(missing)}: the lab's interface "
                               f"is feedforward(x), backprop(x, y), update_mini_batch(x, y, eta)")
        self.set_params(init)

    # the student's state

    def _read(self, kind: str, what: str) -> list[np.ndarray]:
        attr = "weights" if kind == "w" else "biases"
        if not hasattr(self.obj, attr):
            raise StudentError(f"{what}: the object has no attribute {attr!r} (the lab keeps self.{attr})")
        items = check_list(getattr(self.obj, attr), self.n_layers, f"{what}: self.{attr}")
        offset = 0 if kind == "w" else 1
        return [check_array(v, self.shapes[2 * i + offset], f"{what}: self.{attr}[{i}]", *_label(kind, i))
                for i, v in enumerate(items)]

    def _params(self, what: str) -> list[np.ndarray]:
        ws, bs = self._read("w", what), self._read("b", what)
        return [p for pair in zip(ws, bs) for p in pair]

    def params(self) -> list[np.ndarray]:
        return self._params("after update_mini_batch")

    def set_params(self, params: list[np.ndarray]) -> None:
        """Copy into the student's own arrays when they fit (keeps any aliasing the class relies on)."""
        for attr, values in (("weights", params[0::2]), ("biases", params[1::2])):
            current = getattr(self.obj, attr, None)
            fits = (isinstance(current, list) and len(current) == len(values)
                    and all(isinstance(c, np.ndarray) and c.shape == v.shape and c.dtype == np.float64
                            and c.flags.writeable for c, v in zip(current, values)))
            try:
                if fits:
                    for c, v in zip(current, values):
                        c[...] = v
                else:
                    setattr(self.obj, attr, [np.array(v, dtype=np.float64, copy=True) for v in values])
            except BaseException as error:  # noqa: BLE001 - a property without a setter, __slots__, ...
                if isinstance(error, KeyboardInterrupt) and not _in_worker():
                    raise
                raise StudentError(describe(error, f"setting self.{attr}", self.origin)) from None

    # calls into the student's code

    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.obj, name)(*args)
        except BaseException as error:  # noqa: BLE001 - SystemExit, MemoryError, ... are all verdicts
            if isinstance(error, KeyboardInterrupt) and not _in_worker():
                raise
            raise StudentError(describe(error, name, self.origin)) from None

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
        return check_array(out, (len(x), self.spec.layers[-1]), "feedforward(x)", None, "output")

    def gradients(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        before = self._params("before backprop")
        x_given, y_given = np.array(x, copy=True), np.array(y, copy=True)
        out = self._call("backprop", x_given, y_given)
        self._unchanged("backprop", [x_given, y_given], [x, y])
        pair = check_list(out, 2, "backprop's return value (nabla_b, nabla_w)")
        nabla_b = check_list(pair[0], self.n_layers, "nabla_b")
        nabla_w = check_list(pair[1], self.n_layers, "nabla_w")
        if all(isinstance(b, np.ndarray) and b.shape == self.shapes[2 * i] for i, b in enumerate(nabla_b)):
            raise StudentError("backprop returned (nabla_w, nabla_b); the lab's order is (nabla_b, nabla_w)")
        grads = []
        for i, (nw, nb) in enumerate(zip(nabla_w, nabla_b)):
            grads.append(check_array(nw, self.shapes[2 * i], f"nabla_w[{i}]", i, "weight"))
            grads.append(check_array(nb, self.shapes[2 * i + 1], f"nabla_b[{i}]", i, "bias"))
        after = self._params("after backprop")
        moved = [i for i, (a, b) in enumerate(zip(before, after)) if not np.array_equal(a, b)]
        if moved:
            layer, param = moved[0] // 2, "weight" if moved[0] % 2 == 0 else "bias"
            raise StudentError(f"backprop changed self.{'weights' if param == 'weight' else 'biases'}[{layer}]: "
                               f"it must only compute gradients", layer, param)
        return grads

    def update(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        before = self._params("before update_mini_batch")
        x_given, y_given = np.array(x, copy=True), np.array(y, copy=True)
        self._call("update_mini_batch", x_given, y_given, self.lr)
        self._unchanged("update_mini_batch", [x_given, y_given], [x, y])
        after = self._params("after update_mini_batch")
        if all(np.array_equal(a, b) for a, b in zip(before, after)):
            raise StudentError("update_mini_batch(x, y, eta) left every weight and bias unchanged: it must assign "
                               "the updated arrays to self.weights and self.biases")
        return after

    # the Side protocol (in-process use; the worker calls gradients/update directly)

    def loss_and_grads(self, batch: Any) -> tuple[None, list[np.ndarray]]:
        return None, self.gradients(batch_inputs(batch), batch.y)

    def step(self, batch: Any) -> None:
        self.update(batch_inputs(batch), batch.y)
        return None


def batch_inputs(batch: Any) -> np.ndarray:
    """The images a lab class is given for a batch: torchvision's augmentation of them when the batch carries
    augmentation parameters (exactly what the torch side trains on), else the batch itself. Imports torch only
    then: the sandboxed worker never gets here (the harness sends it the images)."""
    if getattr(batch, "angles", None) is None:
        return batch.x
    import torch  # noqa: PLC0415

    import torch_ref.augment  # noqa: PLC0415
    return torch_ref.augment.affine(torch.from_numpy(batch.x), batch.angles, batch.shifts).double().numpy()


def _origin_of(obj: Any) -> Path | None:
    try:
        return Path(inspect.getfile(obj)).resolve().parent
    except (TypeError, OSError):
        return None


def lab_candidate(cls: Any, hparams: tuple[dict, dict] | None = None) -> Callable[[Spec, list[np.ndarray]], LabSide]:
    """make_candidate for run_checks, in process: trusted code only (use the sandbox for submissions)."""
    return lambda spec, init: LabSide(spec, init, cls, hparams)


def call_function(fn: Any, z: np.ndarray, name: str, origin: Path | None = None) -> np.ndarray:
    """A student's function on z (task 0's softmax): same shape back, float; non-finite values are a finding."""
    if not callable(fn):
        raise StudentError(f"{name!r} is a {type(fn).__name__}, expected a function")
    z_given = np.array(z, copy=True)
    try:
        out = fn(z_given)
    except BaseException as error:  # noqa: BLE001
        if isinstance(error, KeyboardInterrupt) and not _in_worker():
            raise
        raise StudentError(describe(error, name, origin)) from None
    if isinstance(out, np.ndarray) and out.dtype.kind == "f" and out.dtype != np.float64:
        out = out.astype(np.float64)
    return check_array(out, z.shape, f"{name}(z)", finite=False)
