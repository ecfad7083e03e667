"""Task 2: softmax + cross-entropy, SGD with momentum (velocity form) and L2 on the weights only."""

import numpy as np
from tqdm import tqdm


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class MomentumL2Network:
    def __init__(self, sizes, l2_factor=1e-4, momentum=0.9):
        self.sizes = sizes
        self.l2_factor = l2_factor
        self.momentum = momentum
        self.weights = [np.random.randn(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(b) for b in sizes[1:]]
        self.velocity_w = [np.zeros_like(w) for w in self.weights]
        self.velocity_b = [np.zeros_like(b) for b in self.biases]
        self.steps_done = 0

    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = sigmoid(a @ w + b)
        return softmax(a @ self.weights[-1] + self.biases[-1])

    def backprop(self, x, y):
        layer_inputs, pre_acts = [], []
        a = x
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            layer_inputs.append(a)
            z = a @ w + b
            pre_acts.append(z)
            a = sigmoid(z)
        layer_inputs.append(a)
        out = softmax(a @ self.weights[-1] + self.biases[-1])
        delta = (out - y) / x.shape[0]
        nabla_w, nabla_b = [], []
        for i in reversed(range(len(self.weights))):
            nabla_w.insert(0, layer_inputs[i].T @ delta)
            nabla_b.insert(0, np.sum(delta, axis=0))
            if i > 0:
                s = sigmoid(pre_acts[i - 1])
                delta = (delta @ self.weights[i].T) * s * (1 - s)
        return nabla_b, nabla_w

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        # L2 on the weights only: gradient of (l2/2)*||w||^2 is l2*w
        nabla_w = [nw + self.l2_factor * w for nw, w in zip(nabla_w, self.weights)]
        self.velocity_w = [self.momentum * v - eta * nw for v, nw in zip(self.velocity_w, nabla_w)]
        self.velocity_b = [self.momentum * v - eta * nb for v, nb in zip(self.velocity_b, nabla_b)]
        self.weights = [w + v for w, v in zip(self.weights, self.velocity_w)]
        self.biases = [b + v for b, v in zip(self.biases, self.velocity_b)]
        self.steps_done += 1

    def optimize(self, training_data, epochs, mini_batch_size, eta):
        x_train, y_train = training_data
        for _ in tqdm(range(epochs)):
            for i in range(x_train.shape[0] // mini_batch_size):
                sl = slice(i * mini_batch_size, (i + 1) * mini_batch_size)
                self.update_mini_batch(x_train[sl], y_train[sl], eta)


class MomentumL2InBackprop(MomentumL2Network):
    """The same training with the L2 term put into backprop's gradient instead of the update."""

    def backprop(self, x, y):
        nabla_b, nabla_w = super().backprop(x, y)
        return nabla_b, [nw + self.l2_factor * w for nw, w in zip(nabla_w, self.weights)]

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        self.velocity_w = [self.momentum * v - eta * nw for v, nw in zip(self.velocity_w, nabla_w)]
        self.velocity_b = [self.momentum * v - eta * nb for v, nb in zip(self.velocity_b, nabla_b)]
        self.weights = [w + v for w, v in zip(self.weights, self.velocity_w)]
        self.biases = [b + v for b, v in zip(self.biases, self.velocity_b)]


class MomentumKwargs(MomentumL2Network):
    """Names l2_factor (default 1e-4) and forwards **kwargs: the harness passes l2_factor=0 where a preset has none."""

    def __init__(self, sizes, l2_factor=1e-4, momentum=0.9, **kwargs):
        super().__init__(sizes, l2_factor=l2_factor, momentum=momentum)
        self.extra = kwargs


class L2OnBiasesInBackprop(MomentumL2InBackprop):
    """Adds l2 * b to the bias gradients too, inside backprop."""

    def backprop(self, x, y):
        nabla_b, nabla_w = super().backprop(x, y)
        return [nb + self.l2_factor * b for nb, b in zip(nabla_b, self.biases)], nabla_w


class DoubleL2InBackprop(MomentumL2InBackprop):
    """Differentiates l2 * ||w||^2 instead of (l2 / 2) * ||w||^2: adds 2 * l2 * w."""

    def backprop(self, x, y):
        nabla_b, nabla_w = MomentumL2Network.backprop(self, x, y)
        return nabla_b, [nw + 2 * self.l2_factor * w for nw, w in zip(nabla_w, self.weights)]


class EtaTwice(MomentumL2Network):
    """Scales the gradient by eta in the velocity and again when applying it."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        nabla_w = [nw + self.l2_factor * w for nw, w in zip(nabla_w, self.weights)]
        self.velocity_w = [self.momentum * v - eta * nw for v, nw in zip(self.velocity_w, nabla_w)]
        self.velocity_b = [self.momentum * v - eta * nb for v, nb in zip(self.velocity_b, nabla_b)]
        self.weights = [w + eta * v for w, v in zip(self.weights, self.velocity_w)]
        self.biases = [b + eta * v for b, v in zip(self.biases, self.velocity_b)]
