"""Task base: the lab's sigmoid network with a quadratic cost, trained by plain mini-batch SGD."""

import numpy as np
from tqdm import tqdm


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    s = sigmoid(z)
    return s * (1.0 - s)


class Network:
    def __init__(self, sizes):
        self.sizes = sizes
        self.num_layers = len(sizes)
        self.weights = [np.random.randn(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(n_out) for n_out in sizes[1:]]
        self.history = []  # accuracy per epoch, filled by optimize

    def feedforward(self, a):
        for w, b in zip(self.weights, self.biases):
            a = self.output_activation(a @ w + b) if w is self.weights[-1] else sigmoid(a @ w + b)
        return a

    def output_activation(self, z):
        return sigmoid(z)

    def output_delta(self, z_last, a_last, y):
        # quadratic cost C = sum((a - y)^2) / (2n): dC/dz = (a - y) * sigmoid'(z) / n
        return (a_last - y) * sigmoid_prime(z_last) / len(y)

    def backprop(self, x, y):
        activations, zs = [x], []
        a = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ w + b
            zs.append(z)
            a = self.output_activation(z) if i == len(self.weights) - 1 else sigmoid(z)
            activations.append(a)
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        delta = self.output_delta(zs[-1], activations[-1], y)
        nabla_b[-1] = delta.sum(axis=0)
        nabla_w[-1] = activations[-2].T @ delta
        for layer in range(2, self.num_layers):
            delta = (delta @ self.weights[-layer + 1].T) * sigmoid_prime(zs[-layer])
            nabla_b[-layer] = delta.sum(axis=0)
            nabla_w[-layer] = activations[-layer - 1].T @ delta
        return nabla_b, nabla_w

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]

    def evaluate(self, x, y):
        return float(np.mean(np.argmax(self.feedforward(x), axis=1) == np.argmax(y, axis=1)))

    def optimize(self, training_data, epochs, mini_batch_size, eta, test_data=None):
        x_train, y_train = training_data
        for _ in tqdm(range(epochs), desc="Epoch"):
            order = np.random.permutation(len(x_train))
            for i in range(0, len(x_train) - mini_batch_size + 1, mini_batch_size):
                batch = order[i:i + mini_batch_size]
                self.update_mini_batch(x_train[batch], y_train[batch], eta)
            if test_data is not None:
                self.history.append(self.evaluate(*test_data))
        return self.history[-1] if self.history else None
