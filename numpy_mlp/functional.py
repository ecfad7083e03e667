"""Activations and losses, written so large inputs never overflow (twin: torch_ref/functional.py)."""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z); exp overflow for z < -709 gives exactly 0, which is the right limit."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z)


# Derivative of each activation written in terms of its output a = f(z): the backward pass keeps a, not z.
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda a: a * (1.0 - a)),
    "relu": (relu, lambda a: (a > 0.0).astype(a.dtype)),
    "tanh": (tanh, lambda a: 1.0 - a * a),
}


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shift by the row max so exp never overflows; the shift cancels in the ratio."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """z - logsumexp(z), with the same max shift; exact where softmax underflows to 0."""
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def half_sse(a: np.ndarray, y: np.ndarray) -> float:
    """The lab's MSE: sum((a - y)^2) / (2B); its gradient w.r.t. a is (a - y) / B."""
    return float(np.sum((a - y) ** 2) / (2 * len(y)))


def binary_cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Sum over outputs, mean over the batch, of -[y log σ(z) + (1 - y) log(1 - σ(z))], from the logits.

    Written as max(z, 0) - z·y + log1p(e^-|z|), so it stays finite where σ(z) rounds to 0 or 1 (|z| > 37): the
    form on sigmoid outputs gives log(0) there. Its gradient w.r.t. z is (σ(z) - y) / B.
    """
    return float(np.sum(np.maximum(logits, 0.0) - logits * y + np.log1p(np.exp(-np.abs(logits)))) / len(y))


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean over the batch of -sum(y * log softmax(z)); y may be one-hot or class probabilities."""
    return float(-np.sum(y * log_softmax(logits)) / len(y))
