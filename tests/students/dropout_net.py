"""Task 3: inverted dropout on the hidden layer (training only) + SGD momentum."""

import numpy as np

from softmax_net import SoftmaxNetwork, stable_softmax
from lab_base import sigmoid, sigmoid_prime


class DropoutNetwork(SoftmaxNetwork):
    def __init__(self, sizes, p=0.5, momentum=0.9):
        super().__init__(sizes)
        self.p = p
        self.momentum = momentum
        self.vw = [np.zeros_like(w) for w in self.weights]
        self.vb = [np.zeros_like(b) for b in self.biases]

    def backprop(self, x, y):
        keep = 1.0 - self.p
        activations, zs, masks = [x], [], []
        a = x
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            z = a @ w + b
            zs.append(z)
            mask = (np.random.rand(*z.shape) < keep) / keep
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
            delta = (delta @ self.weights[l + 1].T) * masks[l] * sigmoid_prime(zs[l])
            nabla_w[l] = activations[l].T @ delta
            nabla_b[l] = delta.sum(axis=0)
        return nabla_b, nabla_w

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        self.vw = [self.momentum * v - eta * g for v, g in zip(self.vw, nabla_w)]
        self.vb = [self.momentum * v - eta * g for v, g in zip(self.vb, nabla_b)]
        self.weights = [w + v for w, v in zip(self.weights, self.vw)]
        self.biases = [b + v for b, v in zip(self.biases, self.vb)]


class DropoutL2InBackprop(DropoutNetwork):
    """Dropout + momentum with an L2 term added in backprop (so no gradient row is exactly zero)."""

    def __init__(self, sizes, p=0.5, momentum=0.9, l2_factor=0.0):
        super().__init__(sizes, p=p, momentum=momentum)
        self.l2_factor = l2_factor

    def backprop(self, x, y):
        nabla_b, nabla_w = super().backprop(x, y)
        return nabla_b, [nw + self.l2_factor * w for nw, w in zip(nabla_w, self.weights)]
