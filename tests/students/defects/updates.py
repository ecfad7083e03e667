"""Single-defect update_mini_batch methods (their backprop is right): plain SGD, momentum with L2, AdamW.

The line a tracer should name carries a trailing `# <- defect` (see README.md); the comment above each class says
what the slip is. Momentum and AdamW are correct bases, listed in the manifest as correct.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class SoftmaxBase:
    """A correct task-1 network; the classes below change its update only."""

    def __init__(self, sizes):
        self.sizes = sizes
        self.weights = [np.random.randn(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(b) for b in sizes[1:]]

    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = sigmoid(a @ w + b)
        return softmax(a @ self.weights[-1] + self.biases[-1])

    def backprop(self, x, y):
        inputs, zs = [], []
        a = x
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            inputs.append(a)
            zs.append(a @ w + b)
            a = sigmoid(zs[-1])
        inputs.append(a)
        delta = (softmax(a @ self.weights[-1] + self.biases[-1]) - y) / len(y)
        nabla_w, nabla_b = [], []
        for i in reversed(range(len(self.weights))):
            nabla_w.insert(0, inputs[i].T @ delta)
            nabla_b.insert(0, delta.sum(axis=0))
            if i > 0:
                s = sigmoid(zs[i - 1])
                delta = (delta @ self.weights[i].T) * s * (1 - s)
        return nabla_b, nabla_w

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]


# Climbs the loss: + where the step subtracts.
class AscendsTheWeights(SoftmaxBase):
    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        self.weights = [w + eta * nw for w, nw in zip(self.weights, nabla_w)]  # <- defect
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]


# Steps by the gradient summed over the batch: backprop's mean is multiplied back by len(y).
class StepsBySum(SoftmaxBase):
    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        n = len(y)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * n * nb for b, nb in zip(self.biases, nabla_b)]  # <- defect


# Correct (task 2): SGD with momentum, velocity form, L2 on the weights only.
class Momentum(SoftmaxBase):
    def __init__(self, sizes, l2_factor=1e-4, momentum=0.9):
        super().__init__(sizes)
        self.l2_factor, self.momentum = l2_factor, momentum
        self.vw = [np.zeros_like(w) for w in self.weights]
        self.vb = [np.zeros_like(b) for b in self.biases]

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        for i in range(len(self.weights)):
            g = nabla_w[i] + self.l2_factor * self.weights[i]
            self.vw[i] = self.momentum * self.vw[i] - eta * g
            self.vb[i] = self.momentum * self.vb[i] - eta * nabla_b[i]
            self.weights[i] = self.weights[i] + self.vw[i]
            self.biases[i] = self.biases[i] + self.vb[i]


# L2 on the biases too.
class MomentumDecaysBiases(Momentum):
    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        for i in range(len(self.weights)):
            g = nabla_w[i] + self.l2_factor * self.weights[i]
            gb = nabla_b[i] + self.l2_factor * self.biases[i]  # <- defect
            self.vw[i] = self.momentum * self.vw[i] - eta * g
            self.vb[i] = self.momentum * self.vb[i] - eta * gb
            self.weights[i] = self.weights[i] + self.vw[i]
            self.biases[i] = self.biases[i] + self.vb[i]


# The velocity already holds -eta * g; eta is applied again when stepping.
class MomentumEtaTwice(Momentum):
    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        for i in range(len(self.weights)):
            g = nabla_w[i] + self.l2_factor * self.weights[i]
            self.vw[i] = self.momentum * self.vw[i] - eta * g
            self.vb[i] = self.momentum * self.vb[i] - eta * nabla_b[i]
            self.weights[i] = self.weights[i] + eta * self.vw[i]  # <- defect
            self.biases[i] = self.biases[i] + self.vb[i]


# The old velocity is forgotten: momentum is multiplied into the gradient term instead.
class MomentumForgetsVelocity(Momentum):
    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        for i in range(len(self.weights)):
            g = nabla_w[i] + self.l2_factor * self.weights[i]
            self.vw[i] = self.momentum * self.vw[i] - eta * g
            self.vb[i] = self.momentum * (self.vb[i] - eta * nabla_b[i])  # <- defect
            self.weights[i] = self.weights[i] + self.vw[i]
            self.biases[i] = self.biases[i] + self.vb[i]


# Correct (task 3): AdamW, decoupled decay on every parameter, a helper per tensor.
class AdamW(SoftmaxBase):
    def __init__(self, sizes, weight_decay=0.01, beta_1=0.9, beta_2=0.999, eps=1e-8):
        super().__init__(sizes)
        self.weight_decay, self.beta_1, self.beta_2, self.eps = weight_decay, beta_1, beta_2, eps
        self.m = [np.zeros_like(p) for p in self.weights + self.biases]
        self.v = [np.zeros_like(p) for p in self.weights + self.biases]
        self.t = 0

    def step(self, p, g, k, eta):
        self.m[k] = self.beta_1 * self.m[k] + (1 - self.beta_1) * g
        self.v[k] = self.beta_2 * self.v[k] + (1 - self.beta_2) * g * g
        m_hat = self.m[k] / (1 - self.beta_1 ** self.t)
        v_hat = self.v[k] / (1 - self.beta_2 ** self.t)
        return p - eta * (m_hat / (np.sqrt(v_hat) + self.eps) + self.weight_decay * p)

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        self.t += 1
        n = len(self.weights)
        self.weights = [self.step(w, g, k, eta) for k, (w, g) in enumerate(zip(self.weights, nabla_w))]
        self.biases = [self.step(b, g, n + k, eta) for k, (b, g) in enumerate(zip(self.biases, nabla_b))]


# The second moment takes g, not g squared.
class AdamWFirstPowerInV(AdamW):
    def step(self, p, g, k, eta):
        self.m[k] = self.beta_1 * self.m[k] + (1 - self.beta_1) * g
        self.v[k] = self.beta_2 * self.v[k] + (1 - self.beta_2) * np.abs(g)  # <- defect
        m_hat = self.m[k] / (1 - self.beta_1 ** self.t)
        v_hat = self.v[k] / (1 - self.beta_2 ** self.t)
        return p - eta * (m_hat / (np.sqrt(v_hat) + self.eps) + self.weight_decay * p)


# Weight decay leaks into the first moment (Adam's L2) on top of AdamW's decoupled decay.
class AdamWCoupledDecay(AdamW):
    def step(self, p, g, k, eta):
        self.m[k] = self.beta_1 * self.m[k] + (1 - self.beta_1) * (g + self.weight_decay * p)  # <- defect
        self.v[k] = self.beta_2 * self.v[k] + (1 - self.beta_2) * g * g
        m_hat = self.m[k] / (1 - self.beta_1 ** self.t)
        v_hat = self.v[k] / (1 - self.beta_2 ** self.t)
        return p - eta * (m_hat / (np.sqrt(v_hat) + self.eps) + self.weight_decay * p)


# No bias correction of the first moment.
class AdamWRawFirstMoment(AdamW):
    def step(self, p, g, k, eta):
        self.m[k] = self.beta_1 * self.m[k] + (1 - self.beta_1) * g
        self.v[k] = self.beta_2 * self.v[k] + (1 - self.beta_2) * g * g
        v_hat = self.v[k] / (1 - self.beta_2 ** self.t)
        return p - eta * (self.m[k] / (np.sqrt(v_hat) + self.eps) + self.weight_decay * p)  # <- defect
