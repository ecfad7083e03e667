"""One experiment spec drives both sides; tasks and models are named presets of it.

A Spec checks itself when it is made, as torch.optim's constructors do (every field and hyperparameter, one precise
line): the command line, check() and --hparam only translate its SpecError. What only the data can decide (input
and output widths, a batch no larger than the training set) is Spec.check_fits, called where a run meets its data.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable


DEEP_LAYERS = (784, 100, 30, 10)
HEADS: dict[str, str] = {  # head -> what it computes
    "mse": "sigmoid + MSE", "ce": "softmax + cross-entropy", "bce": "sigmoid + binary cross-entropy"}
# "softmax" is no preset's hidden activation (torch_ref only): crosscheck.diagnose builds it to recognise that slip
HIDDEN_ACTIVATIONS = ("sigmoid", "relu", "tanh", "softmax")
OPTIMIZERS: dict[str, tuple[str, ...]] = {  # name -> the hyperparameters it takes, as torch.optim names them
    "sgd": ("momentum", "dampening", "nesterov", "weight_decay"),
    "adam": ("betas", "eps", "weight_decay", "amsgrad"),
    "adamw": ("betas", "eps", "weight_decay", "amsgrad"),
    "adagrad": ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"),
    "adagrad-lab": ("eps",),  # the lab's eps, inside the square root (torch_ref maps it onto Adagrad's)
}

Rule = tuple[str, Callable[[float], bool]]  # (what is expected, the test), for a finite real number
_AT_LEAST_0: Rule = ("a finite number >= 0", lambda v: v >= 0)
_UNIT: Rule = ("a number in [0, 1)", lambda v: 0 <= v < 1)
_RULES: dict[str, Rule] = {
    "lr": ("a finite number > 0", lambda v: v > 0), "dropout": _UNIT, "max_degrees": _AT_LEAST_0, "max_shift": _AT_LEAST_0,
    "momentum": _UNIT, "dampening": ("a number in [0, 1]", lambda v: 0 <= v <= 1), "weight_decay": _AT_LEAST_0,
    "eps": _AT_LEAST_0, "lr_decay": _AT_LEAST_0, "initial_accumulator_value": _AT_LEAST_0,
}
_COUNTS = {"batch_size": 1, "epochs": 1, "seed": 0}  # integer fields -> their least value
_HPARAM_FLAGS = ("nesterov", "amsgrad")


class SpecError(ValueError):
    """A Spec that cannot run, or does not fit its data: one line naming the field, fit for a CLI error (exit 2)."""


@dataclass(frozen=True)
class Spec:
    """Everything that decides what both sides compute. Optimizer hyperparameters use torch.optim's names."""

    name: str
    layers: tuple[int, ...] = (784, 30, 10)
    hidden_activation: str = "sigmoid"
    head: str = "mse"  # "mse": sigmoid output + sum((a-y)^2)/2B; "ce": softmax output + mean cross-entropy;
    # "bce": sigmoid output + binary cross-entropy summed over the outputs, mean over the batch (Nielsen's)
    optimizer: str = "sgd"  # a key of OPTIMIZERS (and of numpy_mlp.OPTIMIZERS / torch_ref.OPTIMIZERS)
    hparams: dict[str, Any] = field(default_factory=dict)  # e.g. momentum, weight_decay, betas, eps
    decay_biases: bool = False  # weight decay on biases too (torch's single-group default) or weights only
    dropout: float = 0.0
    max_degrees: float = 0.0  # augmentation: rotation U(-d, d) per image
    max_shift: float = 0.0  # augmentation: shift U(-s, s) pixels per axis per image
    lr: float = 0.1
    batch_size: int = 100
    epochs: int = 10
    seed: int = 0
    only_softmax: bool = False  # task 0: the softmax check alone
    description: str = ""

    def __post_init__(self) -> None:
        """Every field checked here, once, so a Spec that exists can run (torch.optim's constructors do the same)."""
        layers = self.layers
        if not (isinstance(layers, tuple) and len(layers) >= 2 and all(_count(n, 1) for n in layers)):
            raise SpecError(f"Invalid layers value: {layers!r} (expected a tuple of at least 2 positive integers)")
        _choose("head", self.head, HEADS)
        _choose("hidden_activation", self.hidden_activation, HIDDEN_ACTIVATIONS)
        _choose("optimizer", self.optimizer, OPTIMIZERS)
        for name in ("lr", "dropout", "max_degrees", "max_shift"):
            _check_real(name, getattr(self, name))
        for name, least in _COUNTS.items():
            if not _count(getattr(self, name), least):
                raise SpecError(f"Invalid {name} value: {getattr(self, name)!r} (expected an integer >= {least})")
        for name in ("decay_biases", "only_softmax"):
            _check_flag(name, getattr(self, name))
        _check_hparams(self.optimizer, self.hparams)

    @property
    def augments(self) -> bool:
        return bool(self.max_degrees or self.max_shift)

    def replace(self, **changes: Any) -> Spec:
        return dataclasses.replace(self, **changes)

    def check_fits(self, n_features: int, n_classes: int, n_train: int) -> None:
        """What only the data can decide: the input and output widths, and at least one full batch per epoch."""
        if self.only_softmax:  # task 0 checks a function on its own inputs: no data, no layers
            return
        for end, width, what in ((0, n_features, "features per sample"), (-1, n_classes, "classes")):
            if self.layers[end] != width:
                raise SpecError(f"Invalid layers value: {self.layers!r} {'starts' if end == 0 else 'ends'} at "
                                f"{self.layers[end]}, but the data has {width} {what}")
        if self.batch_size > n_train:
            raise SpecError(f"Invalid batch_size value: {self.batch_size} is larger than the {n_train} training "
                            f"samples")

    def to_dict(self) -> dict[str, Any]:
        """Plain fields, fit for JSON (which turns tuples into lists: from_dict turns them back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> Spec:
        """The Spec that to_dict() gave, also after a trip through JSON (layers and betas back to tuples)."""
        unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise SpecError(f"Invalid Spec fields: {', '.join(sorted(unknown))}")
        fields = _tuples(fields)
        return cls(**{**fields, "hparams": _tuples(fields.get("hparams", {}))})


def _tuples(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


def _count(value: Any, least: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _choose(name: str, value: Any, choices: Iterable[str]) -> None:
    if value not in choices:
        raise SpecError(f"Invalid {name} value: {value!r} (choose from {', '.join(choices)})")


def _check_real(name: str, value: Any, rule: Rule | None = None) -> None:
    expected, test = rule or _RULES[name]
    if not (_real(value) and test(value)):
        raise SpecError(f"Invalid {name} value: {value!r} (expected {expected})")


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"Invalid {name} value: {value!r} (expected True or False)")


def _check_hparams(optimizer: str, hparams: Any) -> None:
    """torch.optim's constructor checks, for the names this optimizer takes."""
    if not isinstance(hparams, dict):
        raise SpecError(f"Invalid hparams value: {hparams!r} (expected a dict)")
    unknown = [repr(name) for name in hparams if name not in OPTIMIZERS[optimizer]]
    if unknown:
        raise SpecError(f"Invalid hparams for {optimizer}: {', '.join(unknown)} (it takes "
                        f"{', '.join(OPTIMIZERS[optimizer])})")
    for name, value in hparams.items():
        if name in _HPARAM_FLAGS:
            _check_flag(name, value)
        elif name == "betas":
            _check_betas(value)
        else:
            _check_real(name, value)
    if hparams.get("nesterov") and not (hparams.get("momentum", 0) > 0 and hparams.get("dampening", 0) == 0):
        raise SpecError("Invalid nesterov value: True (Nesterov momentum needs momentum > 0 and dampening 0)")


def _check_betas(betas: Any) -> None:
    if not (isinstance(betas, tuple) and len(betas) == 2):
        raise SpecError(f"Invalid betas value: {betas!r} (expected a tuple of 2 numbers in [0, 1))")
    for i, beta in enumerate(betas):
        _check_real(f"betas[{i}]", beta, _UNIT)


_CE = dict(head="ce")
MODELS: dict[str, Spec] = {spec.name: spec for spec in [
    Spec("softmax", only_softmax=True, head="ce", description="task 0: numerically stable softmax"),
    Spec("base", lr=1.0, description="sigmoid + MSE, plain SGD (the lab's starting Network)"),
    Spec("softmax-ce", **_CE, lr=0.1, description="sigmoid hidden, softmax output, mean cross-entropy"),
    Spec("l2-momentum", **_CE, lr=0.1, hparams=dict(momentum=0.9, weight_decay=1e-3),
         description="SGD momentum + L2 on weights only, exactly torch.optim.SGD"),
    Spec("l2-sgd", **_CE, lr=0.1, hparams=dict(weight_decay=1e-3),
         description="plain SGD (no momentum) + L2 on weights only, exactly torch.optim.SGD"),
    Spec("nesterov", **_CE, lr=0.1, hparams=dict(momentum=0.9, nesterov=True, weight_decay=1e-3),
         description="SGD Nesterov momentum + L2 on weights only"),
    Spec("adam", **_CE, optimizer="adam", lr=0.01, hparams=dict(betas=(0.9, 0.999), eps=1e-8),
         description="torch.optim.Adam"),
    Spec("adamw", **_CE, optimizer="adamw", lr=0.01, decay_biases=True,
         hparams=dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2),
         description="torch.optim.AdamW, decay on every parameter (one group, as torch and the lab)"),
    Spec("adagrad", **_CE, optimizer="adagrad", lr=0.1, hparams=dict(eps=1e-10),
         description="torch.optim.Adagrad (eps outside the square root)"),
    Spec("adagrad-lab", **_CE, optimizer="adagrad-lab", lr=0.1, hparams=dict(eps=1e-8),
         description="the lab's Adagrad (eps inside the square root) against torch's"),
    Spec("dropout", **_CE, lr=0.1, hparams=dict(momentum=0.9), dropout=0.2,
         description="inverted dropout p=0.2 on hidden layers, SGD momentum"),
    Spec("augment", **_CE, lr=0.1, hparams=dict(momentum=0.9), max_degrees=10.0, max_shift=2.0,
         description="random rotations (±10°) and shifts (±2 px), SGD momentum"),
]}

_TASK3 = ["adamw", "adagrad", "adagrad-lab", "adam", "nesterov", "dropout", "augment"]
TASKS: dict[str, list[str]] = {
    "0": ["softmax"], "base": ["base"], "1": ["softmax-ce"], "2": ["l2-momentum"], "3": _TASK3,
    "4": ["base", "softmax-ce", "l2-momentum", *_TASK3],
}
# Models a task also offers by --model without running them by default: a task whose default is one model keeps
# working for a student's class without --model.
TASK_EXTRAS: dict[str, list[str]] = {"2": ["l2-sgd"], "4": ["l2-sgd"]}


def preset(task: str, model: str | None = None) -> list[Spec]:
    """The task's specs (one model of it or of its extras if named); task 4 runs them on the deeper net."""
    if task not in TASKS:
        raise KeyError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    names = TASKS[task]
    if model is not None:
        offered = names + TASK_EXTRAS.get(task, [])
        if model not in offered:
            raise KeyError(f"task {task} has no model {model!r}; it has {', '.join(offered)}")
        names = [model]
    specs = [MODELS[name] for name in names]
    return [s.replace(layers=DEEP_LAYERS) for s in specs] if task == "4" else specs


def run_keys(specs: list[Spec]) -> list[str]:
    """A unique report key per run: the model's name, plus its lr and seed where they vary among that model's runs."""
    keys = []
    for spec in specs:
        same = [s for s in specs if s.name == spec.name]
        tags = [f"{what}={value:g}" for what, value in (("lr", spec.lr), ("seed", spec.seed))
                if len({getattr(s, what) for s in same}) > 1]
        keys.append(spec.name + ("@" + ",".join(tags) if tags else ""))
    if len(set(keys)) != len(keys):
        raise ValueError("two runs of the same model with the same lr and seed")
    return keys
