"""Wrong classes that an earlier harness passed (issue 18's audit): each must now FAIL, at the right place."""

import numpy as np

from lab_base import Network
from softmax_net import SoftmaxNetwork


class FixedBatch100(SoftmaxNetwork):
    """Task 1 with the output error divided by a hard-coded 100 instead of len(y)."""

    def output_delta(self, z_last, a_last, y):
        return (a_last - y) / 100


class IgnoresEta(SoftmaxNetwork):
    """Task 1 that trains at 0.1 whatever eta it is given."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        super().update_mini_batch(x_mini_batch, y_mini_batch, 0.1)


class AscentAfter20Steps(Network):
    """Task base that turns to gradient ascent after its 20th step (past the lockstep's steps)."""

    def __init__(self, sizes):
        super().__init__(sizes)
        self.steps = 0

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        self.steps += 1
        super().update_mini_batch(x_mini_batch, y_mini_batch, eta if self.steps <= 20 else -eta)


class DropsLastBiasForZeroRows(SoftmaxNetwork):
    """Task 1 whose feedforward forgets the output bias for an all-zero input row (no MNIST image is one)."""

    def feedforward(self, a):
        out = super().feedforward(a)
        zero = ~np.any(a != 0, axis=1)
        if zero.any():
            hidden = 1.0 / (1.0 + np.exp(-(a[zero] @ self.weights[0] + self.biases[0])))
            z = hidden @ self.weights[1]
            e = np.exp(z - z.max(axis=1, keepdims=True))
            out[zero] = e / e.sum(axis=1, keepdims=True)
        return out


class UnstableSoftmax(SoftmaxNetwork):
    """Task 1 with exp(z) / sum(exp(z)): right at the lab's small logits, NaN once they pass ~709."""

    def output_activation(self, z):
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
