"""torch.optim itself, configured from the same names as numpy_mlp/optim.py (its twin)."""

from __future__ import annotations

from typing import Any, Sequence

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


def make_optimizer(name: str, model: nn.Sequential, lr: float, decay_mask: Sequence[bool] | None = None,
                   **hparams: Any) -> torch.optim.Optimizer:
    """torch.optim's `name` over two param groups: the parameters weight decay applies to, and the rest with
    weight_decay=0.0 (explicitly). decay_mask has one flag per parameter in the lab's order [W0, b0, W1, b1, ...];
    None decays all, as torch does with one group."""
    if name == "adagrad-lab":
        hparams = lab_adagrad_hparams(**hparams)
    params = [p for lin in linears(model) for p in (lin.weight, lin.bias)]
    mask = [True] * len(params) if decay_mask is None else list(decay_mask)
    if len(mask) != len(params):
        raise ValueError(f"decay_mask has {len(mask)} flags for {len(params)} parameters")
    groups: list[dict[str, Any]] = [{"params": [p for p, on in zip(params, mask) if on]},
                                    {"params": [p for p, on in zip(params, mask) if not on], "weight_decay": 0.0}]
    return OPTIMIZERS[name]([g for g in groups if g["params"]], lr=lr, **hparams)
