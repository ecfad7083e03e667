"""Softmax and log-softmax as torch computes them (twin: numpy_mlp/functional.py)."""

import torch


def softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return torch.softmax(z, dim=dim)


def log_softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return torch.log_softmax(z, dim=dim)
