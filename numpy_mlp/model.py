"""A multilayer perceptron of any depth: forward with a cache, hand-derived backward (twin: torch_ref/model.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numpy_mlp.functional import ACTIVATIONS, binary_cross_entropy, cross_entropy, half_sse, sigmoid, softmax

Params = list[np.ndarray]  # [W0 (n_in, n_out), b0 (n_out,), W1, b1, ...]

# sigmoid output + sum-of-squares/2B; softmax output + mean cross-entropy; sigmoid output + binary cross-entropy
# summed over the outputs, mean over the batch (Nielsen's CrossEntropyCost)
HEADS = ("mse", "ce", "bce")


@dataclass
class Cache:
    """What backward needs from forward: each Linear's input, each hidden activation before dropout, the masks."""

    inputs: list[np.ndarray]
    hidden: list[np.ndarray]
    masks: list[np.ndarray] | None
    logits: np.ndarray
    out: np.ndarray  # sigmoid outputs (mse, bce heads) or softmax probabilities (ce head)


@dataclass(frozen=True)
class MLP:
    layers: tuple[int, ...]
    hidden_activation: str = "sigmoid"
    head: str = "mse"
    dropout: float = 0.0  # inverted dropout on every hidden activation, training only

    def __post_init__(self) -> None:
        if len(self.layers) < 2:
            raise ValueError(f"an MLP needs at least an input and an output size, got {self.layers}")
        if self.hidden_activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.hidden_activation!r}; choose from {sorted(ACTIVATIONS)}")
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}; choose from {HEADS}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def init_params(self, rng: np.random.Generator) -> Params:
        """N(0, 1) weights and biases, as the lab's Network does."""
        params: Params = []
        for n_in, n_out in zip(self.layers[:-1], self.layers[1:]):
            params += [rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)]
        return params

    def dropout_masks(self, rng: np.random.Generator, batch: int) -> list[np.ndarray]:
        """Scaled keep-masks with values in {0, 1/(1-p)}: the same noise tensor torch multiplies by."""
        keep = 1.0 - self.dropout
        return [(rng.random((batch, n)) < keep) / keep for n in self.layers[1:-1]]

    def forward(self, params: Params, x: np.ndarray, masks: list[np.ndarray] | None = None) -> Cache:
        """Training-mode forward when dropout masks are given, evaluation mode (no dropout) otherwise."""
        activation = ACTIVATIONS[self.hidden_activation][0]
        last = len(params) // 2 - 1
        inputs, hidden = [], []
        a = x
        for layer in range(last):
            inputs.append(a)
            a = activation(a @ params[2 * layer] + params[2 * layer + 1])
            hidden.append(a)
            if masks is not None:
                a = a * masks[layer]
        inputs.append(a)
        logits = a @ params[2 * last] + params[2 * last + 1]
        out = softmax(logits) if self.head == "ce" else sigmoid(logits)
        return Cache(inputs, hidden, masks, logits, out)

    def predict(self, params: Params, x: np.ndarray) -> np.ndarray:
        """Evaluation-mode outputs for a whole set in one pass."""
        return self.forward(params, x).out

    def loss(self, cache: Cache, y: np.ndarray) -> float:
        if self.head == "mse":
            return half_sse(cache.out, y)
        return (cross_entropy if self.head == "ce" else binary_cross_entropy)(cache.logits, y)

    def backward(self, params: Params, cache: Cache, y: np.ndarray) -> Params:
        """Gradients of the batch loss, in the order of params.

        Every head gives a simple error at the logits: (a - y)/B * a(1 - a) for sigmoid + MSE, (p - y)/B for
        softmax fused with cross-entropy (the softmax Jacobian cancels against the log), and (a - y)/B for sigmoid
        with binary cross-entropy (σ'(z) = a(1 - a) cancels against the log the same way).
        """
        derivative = ACTIVATIONS[self.hidden_activation][1]
        out, batch = cache.out, len(y)
        delta = (out - y) / batch
        if self.head == "mse":
            delta = delta * (out * (1.0 - out))
        grads: Params = [None] * len(params)  # type: ignore[list-item]
        for layer in range(len(params) // 2 - 1, -1, -1):
            grads[2 * layer] = cache.inputs[layer].T @ delta
            grads[2 * layer + 1] = delta.sum(axis=0)
            if layer == 0:
                break
            delta = delta @ params[2 * layer].T
            if cache.masks is not None:
                delta = delta * cache.masks[layer - 1]
            delta = delta * derivative(cache.hidden[layer - 1])
        return grads

    def loss_and_grads(
        self, params: Params, x: np.ndarray, y: np.ndarray, masks: list[np.ndarray] | None = None
    ) -> tuple[float, Params]:
        cache = self.forward(params, x, masks)
        return self.loss(cache, y), self.backward(params, cache, y)

    def accuracy(self, params: Params, x: np.ndarray, labels: np.ndarray) -> float:
        return float(np.mean(np.argmax(self.predict(params, x), axis=1) == labels))
