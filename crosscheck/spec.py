"""One experiment spec drives both sides; tasks and models are named presets of it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

DEEP_LAYERS = (784, 100, 30, 10)
HEADS = ("mse", "ce", "bce")  # sigmoid + MSE, softmax + cross-entropy, sigmoid + binary cross-entropy
HIDDEN_ACTIVATIONS = ("sigmoid", "relu", "tanh")


@dataclass(frozen=True)
class Spec:
    """Everything that decides what both sides compute. Optimizer hyperparameters use torch.optim's names."""

    name: str
    layers: tuple[int, ...] = (784, 30, 10)
    hidden_activation: str = "sigmoid"
    head: str = "mse"  # "mse": sigmoid output + sum((a-y)^2)/2B; "ce": softmax output + mean cross-entropy;
    # "bce": sigmoid output + binary cross-entropy summed over the outputs, mean over the batch (Nielsen's)
    optimizer: str = "sgd"  # a key of numpy_mlp.OPTIMIZERS / torch_ref.OPTIMIZERS
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

    @property
    def augments(self) -> bool:
        return bool(self.max_degrees or self.max_shift)

    def replace(self, **changes: Any) -> Spec:
        return dataclasses.replace(self, **changes)


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
