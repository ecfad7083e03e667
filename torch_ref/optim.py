"""torch.optim itself, configured from the same names as numpy_mlp/optim.py (its twin)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from torch_ref.model import linears

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
    "adagrad": torch.optim.Adagrad, "adagrad-lab": torch.optim.Adagrad,
}


def lab_adagrad_hparams(eps: float = 1e-8) -> dict[str, float]:
    """The lab's rule p -= lr*g/sqrt(G + eps), G = sum of g^2, is torch's Adagrad with the eps moved into G's start.

    sqrt(G_t + eps) = sqrt(initial_accumulator_value + G_t) with initial_accumulator_value = eps and torch's own
    eps (added after the root) set to 0: the same numbers, so the lab's variant is checked against real torch.
    """
    return {"eps": 0.0, "initial_accumulator_value": eps}


def make_optimizer(name: str, model: nn.Sequential, lr: float, decay_biases: bool = True,
                   **hparams: Any) -> torch.optim.Optimizer:
    """Weights and biases in two param groups; biases get weight_decay=0.0 (explicitly) unless decay_biases."""
    if name == "adagrad-lab":
        hparams = lab_adagrad_hparams(**hparams)
    weights = [lin.weight for lin in linears(model)]
    biases = [lin.bias for lin in linears(model)]
    groups: list[dict[str, Any]] = [{"params": weights}, {"params": biases}]
    if not decay_biases:
        groups[1]["weight_decay"] = 0.0
    return OPTIMIZERS[name](groups, lr=lr, **hparams)
