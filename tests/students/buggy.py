"""Classic slips, one class each (all otherwise correct)."""

import numpy as np

from lab_base import Network
from softmax_net import SoftmaxNetwork
from momentum_l2 import MomentumL2Network
from adamw_net import AdamWNetwork


class BatchSumSoftmax(SoftmaxNetwork):
    """Task 1: forgot to divide by the batch size (sums the per-sample gradients instead of averaging)."""

    def output_delta(self, z_last, a_last, y):
        return a_last - y


class SignErrorNetwork(Network):
    """Task base: climbs the gradient instead of descending it."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        self.weights = [w + eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b + eta * nb for b, nb in zip(self.biases, nabla_b)]


class L2OnBiases(MomentumL2Network):
    """Task 2: decays the biases too."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        nabla_w = [nw + self.l2_factor * w for nw, w in zip(nabla_w, self.weights)]
        nabla_b = [nb + self.l2_factor * b for nb, b in zip(nabla_b, self.biases)]
        self.velocity_w = [self.momentum * v - eta * nw for v, nw in zip(self.velocity_w, nabla_w)]
        self.velocity_b = [self.momentum * v - eta * nb for v, nb in zip(self.velocity_b, nabla_b)]
        self.weights = [w + v for w, v in zip(self.weights, self.velocity_w)]
        self.biases = [b + v for b, v in zip(self.biases, self.velocity_b)]


class AdamWNoBiasCorrection(AdamWNetwork):
    """Task 3: uses m and v directly instead of m / (1 - beta_1^t) and v / (1 - beta_2^t)."""

    def _adamw(self, p, g, m, v, eta):
        m = self.beta_1 * m + (1 - self.beta_1) * g
        v = self.beta_2 * v + (1 - self.beta_2) * g * g
        p = p - eta * (m / (np.sqrt(v) + self.eps) + self.weight_decay * p)
        return p, m, v


from dropout_net import DropoutNetwork  # noqa: E402
from lab_base import sigmoid  # noqa: E402
from softmax_net import stable_softmax  # noqa: E402


class DropoutWithoutScaling(DropoutNetwork):
    """Zeroes units with probability p but forgets to scale the kept ones by 1/(1-p)."""

    def backprop(self, x, y):
        activations, zs, masks = [x], [], []
        a = x
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            z = a @ w + b
            zs.append(z)
            mask = (np.random.rand(*z.shape) > self.p) * 1.0
            masks.append(mask)
            a = sigmoid(z) * mask
            activations.append(a)
        out = stable_softmax(a @ self.weights[-1] + self.biases[-1])
        delta = (out - y) / len(y)
        nabla_w = [None] * len(self.weights)
        nabla_b = [None] * len(self.biases)
        nabla_w[-1] = activations[-1].T @ delta
        nabla_b[-1] = delta.sum(axis=0)
        for l in range(len(self.weights) - 2, -1, -1):
            s = sigmoid(zs[l])
            delta = (delta @ self.weights[l + 1].T) * masks[l] * s * (1 - s)
            nabla_w[l] = activations[l].T @ delta
            nabla_b[l] = delta.sum(axis=0)
        return nabla_b, nabla_w


class DropoutWhenEvaluating(DropoutNetwork):
    """Applies dropout in feedforward too (so evaluation is random)."""

    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = sigmoid(a @ w + b) * (np.random.rand(*(a @ w).shape) >= self.p) / (1 - self.p)
        return self.output_activation(a @ self.weights[-1] + self.biases[-1])


class DropsWithProbabilityKeep(DropoutNetwork):
    """Reads p as the keep probability: zeroes a unit with probability 1 - p (and rescales by 1/p)."""

    def __init__(self, sizes, p=0.5, momentum=0.9):
        super().__init__(sizes, p=1.0 - p, momentum=momentum)


class NielsenSum(Network):
    """Nielsen's book: backprop sums over the batch and update_mini_batch divides by its length (same training)."""

    def output_delta(self, z_last, a_last, y):
        return super().output_delta(z_last, a_last, y) * len(y)

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        m = len(x_mini_batch)
        self.weights = [w - (eta / m) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / m) * nb for b, nb in zip(self.biases, nabla_b)]


class HalvesEtaAfter20Steps(Network):
    """A learning-rate schedule the task does not ask for: every lockstep step agrees, the curves do not."""

    steps = 0

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        self.steps += 1
        super().update_mini_batch(x_mini_batch, y_mini_batch, eta / 2 if self.steps > 20 else eta)


class ClassicDropout(DropoutWithoutScaling):
    """'Classic' dropout: kept units unscaled in training, every hidden activation times (1 - p) in feedforward."""

    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = sigmoid(a @ w + b) * (1 - self.p)
        return self.output_activation(a @ self.weights[-1] + self.biases[-1])
