"""Classes in Michael Nielsen's layout, written in the style of his network.py and network2.py.

weights[l] is (n_out, n_in), biases[l] is (n_out, 1); feedforward(a) and backprop(x, y) take one sample as
column vectors; update_mini_batch takes a list of (x, y) column pairs. The harness detects the layout
(crosscheck/student/nielsen_side.py). Correct: Network (task base), SoftmaxNetwork (task 1), Network2 (network2
with CrossEntropyCost and L2 through lmbda and n: --head bce, and task 2 --model l2-sgd --head bce).
Buggy twins of lab-layout classes: SignError (buggy.SignErrorNetwork), BatchSum (lab_twins.UpdateBatchSum),
L2OnBiases (lab_twins.Network2L2OnBiases).
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class QuadraticCost(object):
    @staticmethod
    def delta(z, a, y):
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost(object):
    @staticmethod
    def delta(z, a, y):
        return a - y


class Network(object):
    """network.py: sigmoid layers, the quadratic cost 0.5*||a - y||^2 per sample."""

    cost = QuadraticCost

    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]

    def output(self, z):
        return sigmoid(z)

    def feedforward(self, a):
        for b, w in zip(self.biases[:-1], self.weights[:-1]):
            a = sigmoid(np.dot(w, a) + b)
        return self.output(np.dot(self.weights[-1], a) + self.biases[-1])

    def update_mini_batch(self, mini_batch, eta):
        nabla_b, nabla_w = self.summed_gradients(mini_batch)
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def summed_gradients(self, mini_batch):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        return nabla_b, nabla_w

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
        activations[-1] = self.output(zs[-1])
        delta = self.cost.delta(zs[-1], activations[-1], y)
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            z = zs[-l]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)


class SoftmaxNetwork(Network):
    """Task 1: a softmax output layer with the log-likelihood cost (output error a - y)."""

    cost = CrossEntropyCost

    def output(self, z):
        e = np.exp(z - np.max(z))
        return e / np.sum(e)


class Network2(Network):
    """network2.py: CrossEntropyCost by default, L2 through update_mini_batch's lmbda and n."""

    def __init__(self, sizes, cost=CrossEntropyCost):
        super().__init__(sizes)
        self.cost = cost

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        nabla_b, nabla_w = self.summed_gradients(mini_batch)
        self.weights = [(1 - eta * (lmbda / n)) * w - (eta / len(mini_batch)) * nw
                        for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]


class SignError(Network):
    """Task base: climbs the gradient (twin: buggy.SignErrorNetwork)."""

    def update_mini_batch(self, mini_batch, eta):
        nabla_b, nabla_w = self.summed_gradients(mini_batch)
        self.weights = [w + (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b + (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]


class BatchSum(SoftmaxNetwork):
    """Task 1: steps by the summed gradient, forgetting / len(mini_batch) (twin: lab_twins.UpdateBatchSum)."""

    def update_mini_batch(self, mini_batch, eta):
        nabla_b, nabla_w = self.summed_gradients(mini_batch)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]


class L2OnBiases(Network2):
    """Task 2 (l2-sgd): decays the biases too (twin: lab_twins.Network2L2OnBiases)."""

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        nabla_b, nabla_w = self.summed_gradients(mini_batch)
        decay = 1 - eta * (lmbda / n)
        self.weights = [decay * w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [decay * b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]


class Neither(Network):
    """Fits no layout: biases kept flat (n_out,) next to Nielsen's (n_out, n_in) weights."""

    def __init__(self, sizes):
        super().__init__(sizes)
        self.biases = [b[:, 0] for b in self.biases]


class Mixed(Network):
    """Nielsen's weights and biases with the lab's update_mini_batch(x, y, eta): fits neither whole layout."""

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]
