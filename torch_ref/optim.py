"""torch.optim itself, configured from the same names as numpy_mlp/optim.py (its twin)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from torch_ref.model import linears

# The lab's Adagrad has no torch form; its counterpart is torch's own Adagrad, and the difference is reported.
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
    "adagrad": torch.optim.Adagrad, "adagrad-lab": torch.optim.Adagrad,
}


def make_optimizer(name: str, model: nn.Sequential, lr: float, decay_biases: bool = True,
                   **hparams: Any) -> torch.optim.Optimizer:
    """Weights and biases in two param groups; biases get weight_decay=0.0 (explicitly) unless decay_biases."""
    weights = [lin.weight for lin in linears(model)]
    biases = [lin.bias for lin in linears(model)]
    groups: list[dict[str, Any]] = [{"params": weights}, {"params": biases}]
    if not decay_biases:
        groups[1]["weight_decay"] = 0.0
    return OPTIMIZERS[name](groups, lr=lr, **hparams)
