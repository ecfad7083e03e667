"""Nielsen's network2 in the lab's layout: sigmoid outputs with the cross-entropy cost, whose output error is a - y.

Correct for the sigmoid + binary cross-entropy head (--head bce); checked with --head mse (the sigmoid + MSE
preset) or against a softmax preset it must be told to rerun with --head bce, not --head mse.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class CrossEntropyCost:
    @staticmethod
    def delta(z, a, y):
        # sigmoid'(z) cancels against the log: no a(1 - a) factor, unlike the quadratic cost
        return a - y


class Network2:
    def __init__(self, sizes, cost=CrossEntropyCost):
        self.sizes, self.cost = sizes, cost
        self.weights = [np.random.randn(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(n_out) for n_out in sizes[1:]]

    def hidden(self, z):
        return sigmoid(z)

    def hidden_prime(self, a):
        """The hidden activation's derivative, from its output."""
        return a * (1 - a)

    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = self.hidden(a @ w + b)
        return sigmoid(a @ self.weights[-1] + self.biases[-1])

    def backprop(self, x, y):
        activations = [x]
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            activations.append(self.hidden(activations[-1] @ w + b))
        z = activations[-1] @ self.weights[-1] + self.biases[-1]
        delta = self.cost.delta(z, sigmoid(z), y) / len(y)
        nabla_b, nabla_w = [None] * len(self.biases), [None] * len(self.weights)
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_b[layer] = delta.sum(axis=0)
            nabla_w[layer] = activations[layer].T @ delta
            if layer:
                delta = (delta @ self.weights[layer].T) * self.hidden_prime(activations[layer])
        return nabla_b, nabla_w

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]


class ReLUNetwork2(Network2):
    """The same network with ReLU hidden layers (the output stays sigmoid)."""

    def hidden(self, z):
        return np.maximum(z, 0.0)

    def hidden_prime(self, a):
        return (a > 0).astype(float)


class Network2L2(Network2):
    """network2's L2 regularisation, w -> (1 - eta*l2)*w - eta*nabla_w, biases undecayed: SGD with weight decay."""

    def __init__(self, sizes, l2_factor=1e-3):
        super().__init__(sizes)
        self.l2_factor = l2_factor

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        self.weights = [(1 - eta * self.l2_factor) * w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]
