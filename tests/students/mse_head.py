"""Tasks 2 and 3 built on the lab's starting network (sigmoid output + MSE), as many students do.

Both are correct for the sigmoid + MSE head: checked with --head mse they must pass; checked against the
softmax presets they must be told that their head differs, not that their optimizer is wrong.
"""

import numpy as np
from tqdm import tqdm  # noqa: F401  (students import it for their own training loops)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class MSENetwork:
    """Nielsen-style: N(0, 1) init, sigmoid everywhere, cost derivative (a - y) / batch."""

    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(y) for y in sizes[1:]]
        self.weights = [np.random.randn(x, y) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(a @ w + b)
        return a

    def backprop(self, x, y):
        activations, zs = [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(activations[-1] @ w + b)
            activations.append(sigmoid(zs[-1]))
        delta = (activations[-1] - y) / len(y) * sigmoid(zs[-1]) * (1 - sigmoid(zs[-1]))
        nabla_b, nabla_w = [None] * len(self.biases), [None] * len(self.weights)
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_b[layer] = delta.sum(axis=0)
            nabla_w[layer] = activations[layer].T @ delta
            if layer:
                s = sigmoid(zs[layer - 1])
                delta = (delta @ self.weights[layer].T) * s * (1 - s)
        return nabla_b, nabla_w


class MSEMomentum(MSENetwork):
    """Task 2 on the MSE network: velocity-form momentum, L2 on the weights only."""

    def __init__(self, sizes, l2_factor=1e-3, momentum=0.9):
        super().__init__(sizes)
        self.l2_factor, self.momentum = l2_factor, momentum
        self.v_w = [np.zeros_like(w) for w in self.weights]
        self.v_b = [np.zeros_like(b) for b in self.biases]

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        nabla_w = [nw + self.l2_factor * w for nw, w in zip(nabla_w, self.weights)]
        self.v_w = [self.momentum * v - eta * g for v, g in zip(self.v_w, nabla_w)]
        self.v_b = [self.momentum * v - eta * g for v, g in zip(self.v_b, nabla_b)]
        self.weights = [w + v for w, v in zip(self.weights, self.v_w)]
        self.biases = [b + v for b, v in zip(self.biases, self.v_b)]


class MSEAdamW(MSENetwork):
    """Task 3 AdamW on the MSE network, with the lab's names; decays every parameter, as torch's AdamW does."""

    def __init__(self, sizes, weight_decay=1e-2, beta_1=0.9, beta_2=0.999, eps=1e-8):
        super().__init__(sizes)
        self.weight_decay, self.beta_1, self.beta_2, self.eps = weight_decay, beta_1, beta_2, eps
        self.t = 0
        self.m = [np.zeros_like(p) for p in self.weights + self.biases]
        self.v = [np.zeros_like(p) for p in self.weights + self.biases]

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        self.t += 1
        params, grads = self.weights + self.biases, nabla_w + nabla_b
        new = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.m[i] = self.beta_1 * self.m[i] + (1 - self.beta_1) * g
            self.v[i] = self.beta_2 * self.v[i] + (1 - self.beta_2) * g * g
            m_hat = self.m[i] / (1 - self.beta_1 ** self.t)
            v_hat = self.v[i] / (1 - self.beta_2 ** self.t)
            new.append(p - eta * (m_hat / (np.sqrt(v_hat) + self.eps) + self.weight_decay * p))
        n = len(self.weights)
        self.weights, self.biases = new[:n], new[n:]
