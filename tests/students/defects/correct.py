"""Correct classes in varied styles: the controls of the defect corpus (a line tracer must report nothing here).

Several are look-alikes of a defect in lab_layout.py / nielsen_layout.py written correctly another way: the 1/B
applied once at the end instead of in the output error, in-place updates on arrays nothing else holds, sigmoid'
taken from the stored activation as a * (1 - a), a softmax subclass skipping sigmoid' at the output.
"""

from typing import List, Tuple

import numpy as np
from numpy.typing import NDArray


def sigmoid(z: NDArray[float]) -> NDArray[float]:
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: NDArray[float]) -> NDArray[float]:
    s = sigmoid(z)
    return s * (1.0 - s)


def stable_softmax(x: NDArray[float], axis: int = -1) -> NDArray[float]:
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


# Task base: the lab's reversed loop, type hints, an output-activation hook and cost_derivative.
class LabStyleNetwork(object):
    def __init__(self, sizes: List[int]):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(y) for y in sizes[1:]]
        self.weights = [np.random.randn(x, y) for x, y in zip(sizes[:-1], sizes[1:])]

    def output_activation(self, z: NDArray[float]) -> NDArray[float]:
        return sigmoid(z)

    def feedforward(self, a: NDArray[float]) -> NDArray[float]:
        for b, w in zip(self.biases[:-1], self.weights[:-1]):
            a = sigmoid(a @ w + b)
        return self.output_activation(a @ self.weights[-1] + self.biases[-1])

    def update_mini_batch(self, x_mini_batch: NDArray[float], y_mini_batch: NDArray[float], eta: float) -> None:
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x: NDArray[float], y: NDArray[float]) -> Tuple[List[NDArray[float]], List[NDArray[float]]]:
        delta_nabla_b, delta_nabla_w = [], []
        layer_input, before_act = [], []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            layer_input.append(x)
            x = x @ w + b
            before_act.append(x)
            x = self.output_activation(x) if i == len(self.weights) - 1 else sigmoid(x)
        diff = self.cost_derivative(output_activations=x, y=y, z=before_act[-1])
        for i, (linp, bef_act, w) in enumerate(reversed(list(zip(layer_input, before_act, self.weights)))):
            if i > 0:
                diff = sigmoid_prime(bef_act) * diff
            delta_nabla_w.append(linp.T @ diff)
            delta_nabla_b.append(np.sum(diff, axis=0))
            diff = diff @ w.T
        return list(reversed(delta_nabla_b)), list(reversed(delta_nabla_w))

    def cost_derivative(self, output_activations: NDArray[float], y: NDArray[float],
                        z: NDArray[float]) -> NDArray[float]:
        # quadratic cost: the output layer's sigmoid' belongs to the output error
        return (output_activations - y) * sigmoid_prime(z) / len(y)


# Task 1: LabStyleNetwork with its two hooks overridden (softmax output, cross-entropy error without sigmoid').
class LabStyleSoftmax(LabStyleNetwork):
    def output_activation(self, z):
        return stable_softmax(z)

    def cost_derivative(self, output_activations, y, z):
        return (output_activations - y) / len(y)


# Task base: summed over the batch, divided once at the end; sigmoid' as a * (1 - a); `*=` only on fresh arrays.
class SumThenDivide:
    def __init__(self, sizes):
        self.weights = [np.random.randn(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(n_out) for n_out in sizes[1:]]

    def feedforward(self, x):
        for w, b in zip(self.weights, self.biases):
            x = sigmoid(x @ w + b)
        return x

    def backprop(self, x, y):
        acts = [x]
        for w, b in zip(self.weights, self.biases):
            acts.append(sigmoid(acts[-1] @ w + b))
        delta = acts[-1] - y
        delta *= acts[-1] * (1 - acts[-1])
        grads_w, grads_b = [], []
        for i in reversed(range(len(self.weights))):
            grads_w.append(acts[i].T @ delta)
            grads_b.append(delta.sum(axis=0))
            if i:
                delta = delta @ self.weights[i].T
                delta *= acts[i] * (1 - acts[i])
        n = len(x)
        return [g / n for g in grads_b[::-1]], [g / n for g in grads_w[::-1]]

    def update_mini_batch(self, x, y, eta):
        gb, gw = self.backprop(x, y)
        for i, (dw, db) in enumerate(zip(gw, gb)):
            self.weights[i] = self.weights[i] - eta * dw
            self.biases[i] = self.biases[i] - eta * db


# Task 1: one hidden layer written out (W1, b1, W2, b2), the mean taken with np.mean on the biases.
class PerLayerSoftmax:
    def __init__(self, sizes):
        n_in, n_hidden, n_out = sizes
        self.weights = [np.random.randn(n_in, n_hidden), np.random.randn(n_hidden, n_out)]
        self.biases = [np.random.randn(n_hidden), np.random.randn(n_out)]

    def feedforward(self, x):
        W1, W2 = self.weights
        b1, b2 = self.biases
        return stable_softmax(sigmoid(x @ W1 + b1) @ W2 + b2)

    def backprop(self, x, y):
        W1, W2 = self.weights
        b1, b2 = self.biases
        z1 = x @ W1 + b1
        h = sigmoid(z1)
        p = stable_softmax(h @ W2 + b2)
        e2 = p - y  # per-sample errors, not yet averaged
        e1 = (e2 @ W2.T) * sigmoid_prime(z1)
        n = x.shape[0]
        return [e1.mean(axis=0), e2.mean(axis=0)], [x.T @ e1 / n, h.T @ e2 / n]

    def update_mini_batch(self, x, y, eta):
        nb, nw = self.backprop(x, y)
        self.weights = [w - eta * g for w, g in zip(self.weights, nw)]
        self.biases = [b - eta * g for b, g in zip(self.biases, nb)]


# Task 4 (base or softmax-ce by the head flag): any depth, forward indices, a helper method for the output.
class DeepNetwork:
    softmax_head = False

    def __init__(self, sizes):
        self.sizes = list(sizes)
        self.weights = [np.random.randn(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(b) for b in sizes[1:]]

    def _out(self, z):
        return stable_softmax(z) if self.softmax_head else sigmoid(z)

    def _forward(self, x):
        zs, acts = [], [x]
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            zs.append(acts[-1] @ w + b)
            acts.append(self._out(zs[-1]) if k == len(self.weights) - 1 else sigmoid(zs[-1]))
        return zs, acts

    def feedforward(self, x):
        return self._forward(x)[1][-1]

    def backprop(self, x, y):
        zs, acts = self._forward(x)
        L = len(self.weights)
        grad_w, grad_b = [None] * L, [None] * L
        delta = (acts[-1] - y) / len(y)
        if not self.softmax_head:
            delta = delta * sigmoid_prime(zs[-1])
        for k in range(L - 1, -1, -1):
            grad_w[k] = acts[k].T @ delta
            grad_b[k] = delta.sum(axis=0)
            if k > 0:
                delta = (delta @ self.weights[k].T) * sigmoid_prime(zs[k - 1])
        return grad_b, grad_w

    def update_mini_batch(self, x, y, eta):
        grad_b, grad_w = self.backprop(x, y)
        self.weights = [w - eta * g for w, g in zip(self.weights, grad_w)]
        self.biases = [b - eta * g for b, g in zip(self.biases, grad_b)]


# Task 4 (softmax-ce): DeepNetwork with the softmax head.
class DeepSoftmax(DeepNetwork):
    softmax_head = True


# Task base, Nielsen's layout: network.py, per-sample columns, update_mini_batch(mini_batch, eta).
class NielsenStyle(object):
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def update_mini_batch(self, mini_batch, eta):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)


# Task 1, Nielsen's layout: softmax on the column (max over the whole column is right for one sample).
class NielsenStyleSoftmax(NielsenStyle):
    def feedforward(self, a):
        for b, w in zip(self.biases[:-1], self.weights[:-1]):
            a = sigmoid(np.dot(w, a) + b)
        z = np.dot(self.weights[-1], a) + self.biases[-1]
        e = np.exp(z - z.max())
        return e / e.sum()

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activations, zs = [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(np.dot(w, activations[-1]) + b)
            activations.append(sigmoid(zs[-1]))
        e = np.exp(zs[-1] - zs[-1].max())
        activations[-1] = e / e.sum()
        delta = activations[-1] - y
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)
