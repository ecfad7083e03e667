"""Single-defect classes in the lab's layout whose backprop loops over the samples of the batch (one row at a time,
np.outer for the weight gradients, sums divided at the end), as students who start from Nielsen's per-sample code
write it. The line a tracer should name carries `# <- defect` (or, for an omission, `# <- consumer` on the first
line that uses the incomplete array); see README.md."""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def softmax(z):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


# Correct (task base): one sample at a time.
class PerSampleNet:
    def __init__(self, sizes):
        self.sizes = sizes
        self.weights = [np.random.randn(i, o) for i, o in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(o) for o in sizes[1:]]

    def feedforward(self, a):
        for w, b in zip(self.weights, self.biases):
            a = sigmoid(a @ w + b)
        return a

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for xi, yi in zip(x, y):
            activations, zs = [xi], []
            for w, b in zip(self.weights, self.biases):
                zs.append(activations[-1] @ w + b)
                activations.append(sigmoid(zs[-1]))
            delta = (activations[-1] - yi) * sigmoid_prime(zs[-1])
            for l in range(len(self.weights) - 1, -1, -1):
                nabla_b[l] += delta
                nabla_w[l] += np.outer(activations[l], delta)
                if l > 0:
                    delta = (delta @ self.weights[l].T) * sigmoid_prime(zs[l - 1])
        return [nb / len(x) for nb in nabla_b], [nw / len(x) for nw in nabla_w]

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]


# The hidden error is propagated without the sigmoid'(z) factor.
class PerSampleNoPrime(PerSampleNet):
    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for xi, yi in zip(x, y):
            activations, zs = [xi], []
            for w, b in zip(self.weights, self.biases):
                zs.append(activations[-1] @ w + b)
                activations.append(sigmoid(zs[-1]))
            delta = (activations[-1] - yi) * sigmoid_prime(zs[-1])
            for l in range(len(self.weights) - 1, -1, -1):
                nabla_b[l] += delta  # <- consumer
                nabla_w[l] += np.outer(activations[l], delta)
                if l > 0:
                    delta = delta @ self.weights[l].T  # <- defect
        return [nb / len(x) for nb in nabla_b], [nw / len(x) for nw in nabla_w]


# backprop's own forward pass forgets the bias (feedforward is right).
class PerSampleNoBias(PerSampleNet):
    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for xi, yi in zip(x, y):
            activations, zs = [xi], []
            for w, b in zip(self.weights, self.biases):
                zs.append(activations[-1] @ w)  # <- defect
                activations.append(sigmoid(zs[-1]))
            delta = (activations[-1] - yi) * sigmoid_prime(zs[-1])
            for l in range(len(self.weights) - 1, -1, -1):
                nabla_b[l] += delta
                nabla_w[l] += np.outer(activations[l], delta)
                if l > 0:
                    delta = (delta @ self.weights[l].T) * sigmoid_prime(zs[l - 1])
        return [nb / len(x) for nb in nabla_b], [nw / len(x) for nw in nabla_w]


# Correct (task 1): softmax output, one sample at a time.
class PerSampleSoftmax(PerSampleNet):
    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = sigmoid(a @ w + b)
        return softmax(a @ self.weights[-1] + self.biases[-1])

    def output_error(self, p, z, y):
        return p - y

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for xi, yi in zip(x, y):
            activations, zs = [xi], []
            for k, (w, b) in enumerate(zip(self.weights, self.biases)):
                zs.append(activations[-1] @ w + b)
                last = k == len(self.weights) - 1
                activations.append(softmax(zs[-1]) if last else sigmoid(zs[-1]))
            delta = self.output_error(activations[-1], zs[-1], yi)
            for l in range(len(self.weights) - 1, -1, -1):
                nabla_b[l] += delta
                nabla_w[l] += np.outer(activations[l], delta)
                if l > 0:
                    delta = (delta @ self.weights[l].T) * sigmoid_prime(zs[l - 1])
        return [nb / len(x) for nb in nabla_b], [nw / len(x) for nw in nabla_w]


# The softmax output's error keeps a sigmoid'(z) factor it does not have.
class PerSampleSoftmaxPrime(PerSampleSoftmax):
    def output_error(self, p, z, y):
        return (p - y) * sigmoid_prime(z)  # <- defect
