"""Single-defect classes in the lab's layout: weights[l] (n_in, n_out), biases[l] (n_out,), batches as rows.

Each class has exactly one slip, and the line a tracer should name carries a trailing `# <- defect` (see README.md);
the comment above each class says what the slip is. LabNetwork, LabSoftmax, VecNetwork, TwoLayer and SoftmaxVec are
correct (listed in the manifest as correct): the classes below subclass them to override one method or helper, as
students do for the lab's tasks.
"""

import numpy as np
from tqdm import tqdm  # noqa: F401  (the notebook's progress bars)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def softmax(z):
    z = z - np.max(z, axis=1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=1, keepdims=True)


def relu(z):
    return np.maximum(z, 0.0)


# --- the lab's reversed loop (layer_input / before_act, cost_derivative) -------------------------------------------


# Correct (task base): the lab's reversed loop, cost_derivative holding the 1/B.
class LabNetwork(object):
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(n) for n in sizes[1:]]
        self.weights = [np.random.randn(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(a @ w + b)
        return a

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        delta_nabla_b, delta_nabla_w = [], []
        layer_input, before_act = [], []
        for w, b in zip(self.weights, self.biases):
            layer_input.append(x)
            x = x @ w + b
            before_act.append(x)
            x = sigmoid(x)
        diff = self.cost_derivative(output_activations=x, y=y)
        for linp, bef_act, w in reversed(list(zip(layer_input, before_act, self.weights))):
            diff = sigmoid_prime(bef_act) * diff
            delta_nabla_w.append(linp.T @ diff)
            delta_nabla_b.append(np.sum(diff, axis=0))
            diff = diff @ w.T
        return list(reversed(delta_nabla_b)), list(reversed(delta_nabla_w))

    def cost_derivative(self, output_activations, y):
        return (output_activations - y) / len(y)


# cost_derivative forgets the 1/B: the gradient of the summed loss.
class LabCostNoMean(LabNetwork):
    def cost_derivative(self, output_activations, y):
        return output_activations - y  # <- defect


# cost_derivative's sign is flipped (y - a).
class LabCostSign(LabNetwork):
    def cost_derivative(self, output_activations, y):
        return (y - output_activations) / len(y)  # <- defect


# Divides by the batch size again in backprop, although cost_derivative already does (1/B applied twice).
class LabMeanTwice(LabNetwork):
    def backprop(self, x, y):
        delta_nabla_b, delta_nabla_w = [], []
        layer_input, before_act = [], []
        for w, b in zip(self.weights, self.biases):
            layer_input.append(x)
            x = x @ w + b
            before_act.append(x)
            x = sigmoid(x)
        diff = self.cost_derivative(output_activations=x, y=y) / x.shape[0]  # <- defect
        for linp, bef_act, w in reversed(list(zip(layer_input, before_act, self.weights))):
            diff = sigmoid_prime(bef_act) * diff
            delta_nabla_w.append(linp.T @ diff)
            delta_nabla_b.append(np.sum(diff, axis=0))
            diff = diff @ w.T
        return list(reversed(delta_nabla_b)), list(reversed(delta_nabla_w))


# Bias gradient np.mean over the batch although diff already carries the 1/B (weights use the sum, correctly).
class LabBiasMean(LabNetwork):
    def backprop(self, x, y):
        grads_b, grads_w = [], []
        inputs, pre = [], []
        for w, b in zip(self.weights, self.biases):
            inputs.append(x)
            x = np.dot(x, w) + b
            pre.append(x)
            x = sigmoid(x)
        diff = self.cost_derivative(x, y)
        for linp, z, w in zip(inputs[::-1], pre[::-1], self.weights[::-1]):
            diff = diff * sigmoid_prime(z)
            grads_w.insert(0, np.dot(linp.T, diff))
            grads_b.insert(0, np.mean(diff, axis=0))  # <- defect
            diff = np.dot(diff, w.T)
        return grads_b, grads_w


# Stores the pre-activation after the sigmoid ran: before_act holds activations, so sigmoid_prime(bef_act) is wrong.
class LabBeforeActAfterSigmoid(LabNetwork):
    def backprop(self, x, y):
        delta_nabla_b, delta_nabla_w = [], []
        layer_input, before_act = [], []
        for w, b in zip(self.weights, self.biases):
            layer_input.append(x)
            x = x @ w + b
            x = sigmoid(x)
            before_act.append(x)  # <- defect
        diff = self.cost_derivative(output_activations=x, y=y)
        for linp, bef_act, w in reversed(list(zip(layer_input, before_act, self.weights))):
            diff = sigmoid_prime(bef_act) * diff
            delta_nabla_w.append(linp.T @ diff)
            delta_nabla_b.append(np.sum(diff, axis=0))
            diff = diff @ w.T
        return list(reversed(delta_nabla_b)), list(reversed(delta_nabla_w))


# cost_derivative's in-place `-=` overwrites the output activation that backprop's out * (1 - out) reads next.
class LabAliasedCost(LabNetwork):
    def cost_derivative(self, output_activations, y):
        output_activations -= y  # <- defect
        return output_activations / len(y)

    def backprop(self, x, y):
        outs = [x]
        for w, b in zip(self.weights, self.biases):
            outs.append(sigmoid(outs[-1] @ w + b))
        out = outs[-1]
        delta = self.cost_derivative(out, y) * out * (1 - out)
        nabla_b, nabla_w = [], []
        for i in range(len(self.weights) - 1, -1, -1):
            nabla_w.insert(0, outs[i].T @ delta)
            nabla_b.insert(0, delta.sum(axis=0))
            if i > 0:
                delta = (delta @ self.weights[i].T) * outs[i] * (1 - outs[i])
        return nabla_b, nabla_w


# Correct (task 1): the lab's reversed loop with a softmax output; sigmoid' only below the output layer.
class LabSoftmax(LabNetwork):
    def feedforward(self, a):
        for b, w in zip(self.biases[:-1], self.weights[:-1]):
            a = sigmoid(a @ w + b)
        return softmax(a @ self.weights[-1] + self.biases[-1])

    def backprop(self, x, y):
        delta_nabla_b, delta_nabla_w = [], []
        layer_input, before_act = [], []
        for w, b in zip(self.weights, self.biases):
            layer_input.append(x)
            x = x @ w + b
            before_act.append(x)
            x = sigmoid(x) if w is not self.weights[-1] else softmax(x)
        diff = self.cost_derivative(output_activations=x, y=y)
        for i, (linp, bef_act, w) in enumerate(reversed(list(zip(layer_input, before_act, self.weights)))):
            if i > 0:
                diff = sigmoid_prime(bef_act) * diff
            delta_nabla_w.append(linp.T @ diff)
            delta_nabla_b.append(np.sum(diff, axis=0))
            diff = diff @ w.T
        return list(reversed(delta_nabla_b)), list(reversed(delta_nabla_w))


# Task 1 in the lab's loop without the `if i > 0`: sigmoid' is applied to the softmax layer's error too.
class LabSoftmaxPrimeAtOutput(LabSoftmax):
    def backprop(self, x, y):
        delta_nabla_b, delta_nabla_w = [], []
        layer_input, before_act = [], []
        for w, b in zip(self.weights, self.biases):
            layer_input.append(x)
            x = x @ w + b
            before_act.append(x)
            x = sigmoid(x) if w is not self.weights[-1] else softmax(x)
        diff = self.cost_derivative(output_activations=x, y=y)
        for i, (linp, bef_act, w) in enumerate(reversed(list(zip(layer_input, before_act, self.weights)))):
            diff = sigmoid_prime(bef_act) * diff  # <- defect
            delta_nabla_w.append(linp.T @ diff)
            delta_nabla_b.append(np.sum(diff, axis=0))
            diff = diff @ w.T
        return list(reversed(delta_nabla_b)), list(reversed(delta_nabla_w))


# Task 1: the softmax output's cost_derivative without the 1/B (written as the lab's base class had it before).
class LabSoftmaxNoMean(LabSoftmax):
    def cost_derivative(self, output_activations, y):
        return output_activations - y  # <- defect


# --- Nielsen-like vectorised loops (activations / zs) ---------------------------------------------------------------


# Correct (task base): Nielsen's backprop loop, vectorised over the batch.
class VecNetwork:
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.weights = [np.random.randn(x, y) for x, y in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(y) for y in sizes[1:]]

    def feedforward(self, a):
        for w, b in zip(self.weights, self.biases):
            a = sigmoid(a @ w + b)
        return a

    def backprop(self, x, y):
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        activations, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            zs.append(activations[-1] @ w + b)
            activations.append(sigmoid(zs[-1]))
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1]) / len(y)
        nabla_b[-1] = delta.sum(0)
        nabla_w[-1] = activations[-2].T @ delta
        for l in range(2, self.num_layers):
            delta = (delta @ self.weights[-l + 1].T) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta.sum(0)
            nabla_w[-l] = activations[-l - 1].T @ delta
        return nabla_b, nabla_w

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]


# sigmoid' missing when the error is propagated to the hidden layer.
class NoSigmaPrimeHidden:
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.weights = [np.random.randn(x, y) for x, y in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(y) for y in sizes[1:]]

    def feedforward(self, a):
        for w, b in zip(self.weights, self.biases):
            a = sigmoid(np.dot(a, w) + b)
        return a

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for w, b in zip(self.weights, self.biases):
            z = np.dot(activation, w) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1]) / len(y)
        nabla_b[-1] = delta.sum(axis=0)
        nabla_w[-1] = np.dot(activations[-2].T, delta)
        for l in range(2, self.num_layers):
            delta = np.dot(delta, self.weights[-l + 1].T)  # <- defect
            nabla_b[-l] = delta.sum(axis=0)  # <- consumer
            nabla_w[-l] = np.dot(activations[-l - 1].T, delta)
        return nabla_b, nabla_w

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]


# sigmoid' of the hidden layer's activation instead of its z (a correct helper, the wrong argument).
class SigmaPrimeOfActivation(VecNetwork):
    def backprop(self, x, y):
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        activations, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            zs.append(activations[-1] @ w + b)
            activations.append(sigmoid(zs[-1]))
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1]) / len(y)
        nabla_b[-1] = delta.sum(0)
        nabla_w[-1] = activations[-2].T @ delta
        for l in range(2, self.num_layers):
            sp = sigmoid_prime(activations[-l])  # <- defect
            delta = (delta @ self.weights[-l + 1].T) * sp
            nabla_b[-l] = delta.sum(0)
            nabla_w[-l] = activations[-l - 1].T @ delta
        return nabla_b, nabla_w


def sigmoid_prime_wrong(z):
    s = sigmoid(z)
    return s * (1 - z)  # <- defect


# Its own sigmoid' helper is wrong: s * (1 - z) instead of s * (1 - s).
class WrongSigmoidPrimeHelper(VecNetwork):
    def backprop(self, x, y):
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        activations, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            zs.append(activations[-1] @ w + b)
            activations.append(sigmoid(zs[-1]))
        delta = (activations[-1] - y) * sigmoid_prime_wrong(zs[-1]) / len(y)
        nabla_b[-1] = delta.sum(0)
        nabla_w[-1] = activations[-2].T @ delta
        for l in range(2, self.num_layers):
            delta = (delta @ self.weights[-l + 1].T) * sigmoid_prime_wrong(zs[-l])
            nabla_b[-l] = delta.sum(0)
            nabla_w[-l] = activations[-l - 1].T @ delta
        return nabla_b, nabla_w


# The output error uses z_L where it needs the output activation a_L.
class OutputErrorFromZ(VecNetwork):
    def backprop(self, x, y):
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        activations, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            zs.append(activations[-1] @ w + b)
            activations.append(sigmoid(zs[-1]))
        delta = (zs[-1] - y) * sigmoid_prime(zs[-1]) / len(y)  # <- defect
        nabla_b[-1] = delta.sum(0)
        nabla_w[-1] = activations[-2].T @ delta
        for l in range(2, self.num_layers):
            delta = (delta @ self.weights[-l + 1].T) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta.sum(0)
            nabla_w[-l] = activations[-l - 1].T @ delta
        return nabla_b, nabla_w


# Task base: the MSE output error without sigmoid'(z_L) (the cross-entropy formula used with the quadratic cost).
class MSEWithoutSigmaPrime(VecNetwork):
    def backprop(self, x, y):
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        activations, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            zs.append(activations[-1] @ w + b)
            activations.append(sigmoid(zs[-1]))
        delta = (activations[-1] - y) / len(y)  # <- defect
        nabla_b[-1] = delta.sum(0)  # <- consumer
        nabla_w[-1] = activations[-2].T @ delta
        for l in range(2, self.num_layers):
            delta = (delta @ self.weights[-l + 1].T) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta.sum(0)
            nabla_w[-l] = activations[-l - 1].T @ delta
        return nabla_b, nabla_w


# feedforward is right, but backprop's own forward pass leaves out the bias.
class BackpropForwardNoBias(VecNetwork):
    def backprop(self, x, y):
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        a = x
        activations, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            z = a @ w  # <- defect
            zs.append(z)
            a = sigmoid(z)
            activations.append(a)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1]) / len(y)
        nabla_b[-1] = delta.sum(0)
        nabla_w[-1] = activations[-2].T @ delta
        for l in range(2, self.num_layers):
            delta = (delta @ self.weights[-l + 1].T) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta.sum(0)
            nabla_w[-l] = activations[-l - 1].T @ delta
        return nabla_b, nabla_w


# feedforward leaves out the bias (backprop is right).
class ForwardNoBias(VecNetwork):
    def feedforward(self, a):
        for w, b in zip(self.weights, self.biases):
            a = sigmoid(a @ w)  # <- defect
        return a


# feedforward forgets the sigmoid on the output layer: it returns z_L (task base).
class ForwardNoOutputSigmoid(VecNetwork):
    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = sigmoid(a @ w + b)
        return a @ self.weights[-1] + self.biases[-1]  # <- defect


def sigmoid_flipped(z):
    return 1.0 / (1.0 + np.exp(z))  # <- defect


# Its sigmoid helper lost the minus sign in exp(-z) (used by feedforward and backprop alike).
class FlippedSigmoid(VecNetwork):
    def feedforward(self, a):
        for w, b in zip(self.weights, self.biases):
            a = sigmoid_flipped(a @ w + b)
        return a

    def backprop(self, x, y):
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        activations, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            zs.append(activations[-1] @ w + b)
            activations.append(sigmoid_flipped(zs[-1]))
        s = activations[-1]
        delta = (s - y) * s * (1 - s) / len(y)
        nabla_b[-1] = delta.sum(0)
        nabla_w[-1] = activations[-2].T @ delta
        for l in range(2, self.num_layers):
            s = activations[-l]
            delta = (delta @ self.weights[-l + 1].T) * s * (1 - s)
            nabla_b[-l] = delta.sum(0)
            nabla_w[-l] = activations[-l - 1].T @ delta
        return nabla_b, nabla_w


# A helper method picks the hidden activation, and it is tanh where the task says sigmoid (backprop keeps sigmoid').
class HiddenTanh(VecNetwork):
    def hidden(self, z):
        return np.tanh(z)  # <- defect

    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = self.hidden(a @ w + b)
        return sigmoid(a @ self.weights[-1] + self.biases[-1])

    def backprop(self, x, y):
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        activations, zs = [x], []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            zs.append(activations[-1] @ w + b)
            activations.append(self.hidden(zs[-1]) if i < len(self.weights) - 1 else sigmoid(zs[-1]))
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1]) / len(y)
        nabla_b[-1] = delta.sum(0)
        nabla_w[-1] = activations[-2].T @ delta
        for l in range(2, self.num_layers):
            delta = (delta @ self.weights[-l + 1].T) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta.sum(0)
            nabla_w[-l] = activations[-l - 1].T @ delta
        return nabla_b, nabla_w


# --- per-layer code (one hidden layer written out) ------------------------------------------------------------------


# Correct (task base): the two layers written out by hand, W1/b1 and W2/b2.
class TwoLayer:
    def __init__(self, sizes):
        n_in, n_hidden, n_out = sizes
        self.weights = [np.random.randn(n_in, n_hidden), np.random.randn(n_hidden, n_out)]
        self.biases = [np.random.randn(n_hidden), np.random.randn(n_out)]

    def feedforward(self, x):
        W1, W2 = self.weights
        b1, b2 = self.biases
        h = sigmoid(x @ W1 + b1)
        return sigmoid(h @ W2 + b2)

    def backprop(self, x, y):
        W1, W2 = self.weights
        b1, b2 = self.biases
        n = x.shape[0]
        z1 = x @ W1 + b1
        a1 = sigmoid(z1)
        z2 = a1 @ W2 + b2
        a2 = sigmoid(z2)
        d2 = (a2 - y) * sigmoid_prime(z2) / n
        d1 = (d2 @ W2.T) * sigmoid_prime(z1)
        return [d1.sum(axis=0), d2.sum(axis=0)], [x.T @ d1, a1.T @ d2]

    def update_mini_batch(self, x, y, eta):
        db, dw = self.backprop(x, y)
        self.weights = [w - eta * g for w, g in zip(self.weights, dw)]
        self.biases = [b - eta * g for b, g in zip(self.biases, db)]


# The output layer's weight gradient takes the hidden layer's z where it needs its activation.
class TwoLayerGradFromZ(TwoLayer):
    def backprop(self, x, y):
        W1, W2 = self.weights
        b1, b2 = self.biases
        n = x.shape[0]
        z1 = x @ W1 + b1
        a1 = sigmoid(z1)
        z2 = a1 @ W2 + b2
        a2 = sigmoid(z2)
        d2 = (a2 - y) * sigmoid_prime(z2) / n
        dW2 = z1.T @ d2  # <- defect
        d1 = (d2 @ W2.T) * sigmoid_prime(z1)
        dW1 = x.T @ d1
        return [d1.sum(axis=0), d2.sum(axis=0)], [dW1, dW2]


# `sp = a1` aliases a1, so the in-place `sp *= 1 - a1` overwrites a1, which dW2 = a1.T @ d2 reads afterwards.
class TwoLayerInPlacePrime(TwoLayer):
    def backprop(self, x, y):
        W1, W2 = self.weights
        b1, b2 = self.biases
        a1 = sigmoid(x @ W1 + b1)
        a2 = sigmoid(a1 @ W2 + b2)
        d2 = (a2 - y) * a2 * (1 - a2) / len(x)
        sp = a1
        sp *= 1 - a1  # <- defect
        d1 = (d2 @ W2.T) * sp
        grad_w = [x.T @ d1, a1.T @ d2]
        grad_b = [d1.sum(axis=0), d2.sum(axis=0)]
        return grad_b, grad_w


# --- task 1: softmax output, mean cross-entropy ----------------------------------------------------------------------


# Correct (task 1): vectorised loop, helper methods for the output layer and its error.
class SoftmaxVec(VecNetwork):
    def output(self, z):
        return softmax(z)

    def output_error(self, a, z, y):
        return (a - y) / len(y)

    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = sigmoid(a @ w + b)
        return self.output(a @ self.weights[-1] + self.biases[-1])

    def backprop(self, x, y):
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        activations, zs = [x], []
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            zs.append(activations[-1] @ w + b)
            activations.append(sigmoid(zs[-1]))
        zs.append(activations[-1] @ self.weights[-1] + self.biases[-1])
        activations.append(self.output(zs[-1]))
        delta = self.output_error(activations[-1], zs[-1], y)
        nabla_b[-1] = delta.sum(0)
        nabla_w[-1] = activations[-2].T @ delta
        for l in range(2, self.num_layers):
            delta = (delta @ self.weights[-l + 1].T) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta.sum(0)
            nabla_w[-l] = activations[-l - 1].T @ delta
        return nabla_b, nabla_w


# The softmax output's error keeps the quadratic cost's sigmoid'(z_L) factor.
class CEWithSigmaPrime(SoftmaxVec):
    def output_error(self, a, z, y):
        return (a - y) * sigmoid_prime(z) / len(y)  # <- defect


# The softmax output's error takes z_L where it needs the softmax output.
class CEFromZ(SoftmaxVec):
    def output_error(self, a, z, y):
        return (z - y) / len(y)  # <- defect


def softmax_axis0(z):
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    return e / np.sum(e, axis=0, keepdims=True)  # <- defect


# Its softmax normalises over axis=0 (over the batch, for each class) instead of over each row's classes.
class SoftmaxAxis0(SoftmaxVec):
    def output(self, z):
        return softmax_axis0(z)


def softmax_unstable(z):
    e = np.exp(z)  # <- defect
    return e / e.sum(axis=1, keepdims=True)


# Softmax without subtracting the row's max: right at small logits, NaN once a logit passes ~709.
class SoftmaxUnstable(SoftmaxVec):
    def output(self, z):
        return softmax_unstable(z)


def softmax_whole_batch(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / np.sum(e)  # <- defect


# Its softmax divides by the sum over the whole batch, so each row sums to 1/B-ish, not 1.
class SoftmaxBatchSum(SoftmaxVec):
    def output(self, z):
        return softmax_whole_batch(z)


# feedforward applies the softmax to the hidden layer too (every layer goes through self.output).
class HiddenSoftmax(SoftmaxVec):
    def feedforward(self, a):
        for w, b in zip(self.weights, self.biases):
            a = self.output(a @ w + b)  # <- defect
        return a


# feedforward returns the logits: the softmax call is missing on the way out.
class ForwardReturnsLogits(SoftmaxVec):
    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = sigmoid(a @ w + b)
        z = a @ self.weights[-1] + self.biases[-1]
        return z  # <- defect


# backprop's forward pass (copied from the base network) ends in a sigmoid; feedforward uses the softmax.
class BackpropSigmoidOutput(SoftmaxVec):
    def backprop(self, x, y):
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        activations, zs = [x], []
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            zs.append(activations[-1] @ w + b)
            activations.append(sigmoid(zs[-1]))
        zs.append(activations[-1] @ self.weights[-1] + self.biases[-1])
        activations.append(sigmoid(zs[-1]))  # <- defect
        delta = (activations[-1] - y) / len(y)
        nabla_b[-1] = delta.sum(0)
        nabla_w[-1] = activations[-2].T @ delta
        for l in range(2, self.num_layers):
            delta = (delta @ self.weights[-l + 1].T) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta.sum(0)
            nabla_w[-l] = activations[-l - 1].T @ delta
        return nabla_b, nabla_w


# Task 1, per layer: the weight gradients divide by the batch size, the bias gradients forget to.
class SoftmaxTwoLayerBiasSum:
    def __init__(self, sizes):
        self.weights = [np.random.randn(m, n) for m, n in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(n) for n in sizes[1:]]

    def feedforward(self, x):
        hidden = sigmoid(x @ self.weights[0] + self.biases[0])
        return softmax(hidden @ self.weights[1] + self.biases[1])

    def backprop(self, x, y):
        batch = len(x)
        z_hidden = x @ self.weights[0] + self.biases[0]
        hidden = sigmoid(z_hidden)
        probs = softmax(hidden @ self.weights[1] + self.biases[1])
        err_out = probs - y
        err_hidden = (err_out @ self.weights[1].T) * sigmoid_prime(z_hidden)
        grad_w = [x.T @ err_hidden / batch, hidden.T @ err_out / batch]
        grad_b = [err_hidden.sum(axis=0), err_out.sum(axis=0)]  # <- defect
        return grad_b, grad_w

    def update_mini_batch(self, x, y, eta):
        grad_b, grad_w = self.backprop(x, y)
        for i in range(len(self.weights)):
            self.weights[i] = self.weights[i] - eta * grad_w[i]
            self.biases[i] = self.biases[i] - eta * grad_b[i]


# --- task 4: the deeper [784, 100, 30, 10] net -----------------------------------------------------------------------


# Task 4 (base): the backward loop stops one layer early, so the first layer's gradients stay zero.
class DeepLoopStopsEarly(VecNetwork):
    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activations, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            zs.append(activations[-1] @ w + b)
            activations.append(sigmoid(zs[-1]))
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1]) / len(y)
        nabla_b[-1] = delta.sum(0)
        nabla_w[-1] = activations[-2].T @ delta
        for l in range(2, self.num_layers - 1):  # <- defect
            delta = (delta @ self.weights[-l + 1].T) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta.sum(0)
            nabla_w[-l] = activations[-l - 1].T @ delta
        return nabla_b, nabla_w


# Task 4 (softmax-ce), three layers written out: the first hidden layer's error uses sigmoid' of its activation.
class DeepThreeLayerPrimeOfActivation:
    def __init__(self, sizes):
        self.weights = [np.random.randn(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(b) for b in sizes[1:]]

    def feedforward(self, x):
        W1, W2, W3 = self.weights
        b1, b2, b3 = self.biases
        h1 = sigmoid(x @ W1 + b1)
        h2 = sigmoid(h1 @ W2 + b2)
        return softmax(h2 @ W3 + b3)

    def backprop(self, x, y):
        W1, W2, W3 = self.weights
        b1, b2, b3 = self.biases
        z1 = x @ W1 + b1
        h1 = sigmoid(z1)
        z2 = h1 @ W2 + b2
        h2 = sigmoid(z2)
        out = softmax(h2 @ W3 + b3)
        d3 = (out - y) / x.shape[0]
        d2 = (d3 @ W3.T) * sigmoid_prime(z2)
        d1 = (d2 @ W2.T) * sigmoid_prime(h1)  # <- defect
        return ([d1.sum(0), d2.sum(0), d3.sum(0)],
                [x.T @ d1, h1.T @ d2, h2.T @ d3])

    def update_mini_batch(self, x, y, eta):
        nb, nw = self.backprop(x, y)
        self.weights = [w - eta * g for w, g in zip(self.weights, nw)]
        self.biases = [b - eta * g for b, g in zip(self.biases, nb)]


# Task 4 (base): feedforward uses ReLU in the hidden layers (backprop keeps the sigmoid, as the task says).
class DeepReluForward(VecNetwork):
    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = relu(a @ w + b)  # <- defect
        return sigmoid(a @ self.weights[-1] + self.biases[-1])


# --- square hidden layers: [784, 30, 30, 10] (run with layers=(784, 30, 30, 10): no preset has them) -----------------


# Correct (task base on [784, 30, 30, 10]): three layers written out.
class ThreeLayer:
    def __init__(self, sizes):
        self.weights = [np.random.randn(m, n) for m, n in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(n) for n in sizes[1:]]

    def forward(self, x):
        W1, W2, W3 = self.weights
        b1, b2, b3 = self.biases
        z1 = x @ W1 + b1
        h1 = sigmoid(z1)
        z2 = h1 @ W2 + b2
        h2 = sigmoid(z2)
        z3 = h2 @ W3 + b3
        return z1, h1, z2, h2, z3, sigmoid(z3)

    def feedforward(self, x):
        return self.forward(x)[-1]

    def backprop(self, x, y):
        W1, W2, W3 = self.weights
        z1, h1, z2, h2, z3, out = self.forward(x)
        d3 = (out - y) * sigmoid_prime(z3) / len(x)
        d2 = (d3 @ W3.T) * sigmoid_prime(z2)
        d1 = (d2 @ W2.T) * sigmoid_prime(z1)
        return [d1.sum(0), d2.sum(0), d3.sum(0)], [x.T @ d1, h1.T @ d2, h2.T @ d3]

    def update_mini_batch(self, x, y, eta):
        nb, nw = self.backprop(x, y)
        self.weights = [w - eta * g for w, g in zip(self.weights, nw)]
        self.biases = [b - eta * g for b, g in zip(self.biases, nb)]


# The error is propagated through the square W2 untransposed (d2 @ W2): the shapes fit, the values do not.
class SquareNoTranspose(ThreeLayer):
    def backprop(self, x, y):
        W1, W2, W3 = self.weights
        z1, h1, z2, h2, z3, out = self.forward(x)
        d3 = (out - y) * sigmoid_prime(z3) / len(x)
        d2 = (d3 @ W3.T) * sigmoid_prime(z2)
        d1 = (d2 @ W2) * sigmoid_prime(z1)  # <- defect
        return [d1.sum(0), d2.sum(0), d3.sum(0)], [x.T @ d1, h1.T @ d2, h2.T @ d3]


# The middle layer's weight gradient takes its own output h2 where it needs its input h1 (both (B, 30)).
class SquareGradOwnActivation(ThreeLayer):
    def backprop(self, x, y):
        W1, W2, W3 = self.weights
        z1, h1, z2, h2, z3, out = self.forward(x)
        d3 = (out - y) * sigmoid_prime(z3) / len(x)
        d2 = (d3 @ W3.T) * sigmoid_prime(z2)
        d1 = (d2 @ W2.T) * sigmoid_prime(z1)
        grad_w = [x.T @ d1]
        grad_w.append(h2.T @ d2)  # <- defect
        grad_w.append(h2.T @ d3)
        return [d1.sum(0), d2.sum(0), d3.sum(0)], grad_w
