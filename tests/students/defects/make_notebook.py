"""Writes lab_notebook.ipynb beside this file: a lab notebook holding single-defect classes (and correct ones).

Run: .venv/bin/python tests/students/defects/make_notebook.py

The notebook is shaped like a student's (see tests/test_notebook_submission.py): a `!pip install` cell, imports
with a magic, a load_mnist() that would download MNIST, helper functions, the base Network, a training call at top
level, then one class per cell with markdown between. Only the definitions run when the harness loads it
(crosscheck/student/notebook_source.py). Each defective class carries its `# <- defect` marker in its own cell;
cells are numbered from 1 over code cells only, as the harness and manifest.marked_line count them.
"""

from pathlib import Path

import nbformat
from nbformat import v4

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "lab_notebook.ipynb"

SETUP = "!pip install tqdm pandas"

IMPORTS = """%matplotlib inline
import numpy as np
import matplotlib.pyplot as plt
from tqdm import tqdm
from typing import List, Tuple, Optional"""

LOAD = '''def load_mnist():
    """MNIST as one-hot float64 arrays, downloaded on first use."""
    raise RuntimeError("load_mnist() downloads MNIST: not when grading")


(x_train, y_train), (x_test, y_test) = load_mnist()
print(x_train.shape, y_train.shape)'''

FUNCTIONS = """def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    # derivative of the sigmoid
    return sigmoid(z) * (1 - sigmoid(z))


def softmax(z, axis=-1):
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


print(softmax(np.array([[1000.0, 0.0, -1000.0]])))"""

NETWORK = '''class Network(object):
    def __init__(self, sizes: List[int]):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(y) for y in sizes[1:]]
        self.weights = [np.random.randn(x, y) for x, y in zip(sizes[:-1], sizes[1:])]

    def output_activation(self, z):
        return sigmoid(z)

    def feedforward(self, a):
        for b, w in zip(self.biases[:-1], self.weights[:-1]):
            a = sigmoid(a @ w + b)
        return self.output_activation(a @ self.weights[-1] + self.biases[-1])

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

    def evaluate(self, x, y):
        return np.mean(np.argmax(self.feedforward(x), axis=1) == np.argmax(y, axis=1))

    def optimize(self, training_data, epochs, mini_batch_size, eta, test_data=None):
        x_train, y_train = training_data
        for epoch in tqdm(range(epochs)):
            for i in range(len(x_train) // mini_batch_size):
                sl = slice(i * mini_batch_size, (i + 1) * mini_batch_size)
                self.update_mini_batch(x_train[sl], y_train[sl], eta)
        return self.evaluate(*test_data) if test_data else None'''

TRAIN = """np.random.seed(42)
net = Network([784, 30, 10])
acc = net.optimize((x_train, y_train), epochs=10, mini_batch_size=100, eta=1.0, test_data=(x_test, y_test))
print(f"accuracy: {acc:.3f}")"""

# sigmoid' moved out of the loop onto the output error: the hidden layers' errors are propagated without it.
NO_PRIME_HIDDEN = '''# I apply sigmoid' to the output once, then just propagate
class NoPrimeHidden(Network):
    def backprop(self, x, y):
        delta_nabla_b, delta_nabla_w = [], []
        layer_input, before_act = [], []
        for w, b in zip(self.weights, self.biases):
            layer_input.append(x)
            x = x @ w + b
            before_act.append(x)
            x = sigmoid(x)
        diff = sigmoid_prime(before_act[-1]) * self.cost_derivative(output_activations=x, y=y)
        for k in range(len(self.weights) - 1, -1, -1):
            delta_nabla_w.append(layer_input[k].T @ diff)  # <- consumer
            delta_nabla_b.append(np.sum(diff, axis=0))
            if k > 0:
                diff = diff @ self.weights[k].T  # <- defect
        return list(reversed(delta_nabla_b)), list(reversed(delta_nabla_w))'''

# Task 1: the correct softmax helper called with axis=0 (normalised over the batch, not over the classes).
TASK1 = '''class Task1(Network):
    def output_activation(self, z):
        return softmax(z, axis=0)  # <- defect

    def backprop(self, x, y):
        delta_nabla_b, delta_nabla_w = [], []
        layer_input, before_act = [], []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            layer_input.append(x)
            x = x @ w + b
            before_act.append(x)
            x = self.output_activation(x) if i == self.num_layers - 2 else sigmoid(x)
        diff = self.cost_derivative(output_activations=x, y=y)
        for i, (linp, bef_act, w) in enumerate(reversed(list(zip(layer_input, before_act, self.weights)))):
            if i > 0:
                diff = sigmoid_prime(bef_act) * diff
            delta_nabla_w.append(linp.T @ diff)
            delta_nabla_b.append(np.sum(diff, axis=0))
            diff = diff @ w.T
        return list(reversed(delta_nabla_b)), list(reversed(delta_nabla_w))'''

# Task 1: cost_derivative is handed the logits (before_act[-1]) instead of the softmax output x.
TASK1_LOGITS = '''class Task1Logits(Task1):
    def output_activation(self, z):
        return softmax(z)

    def backprop(self, x, y):
        delta_nabla_b, delta_nabla_w = [], []
        layer_input, before_act = [], []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            layer_input.append(x)
            x = x @ w + b
            before_act.append(x)
            x = self.output_activation(x) if i == self.num_layers - 2 else sigmoid(x)
        diff = self.cost_derivative(output_activations=before_act[-1], y=y)  # <- defect
        for i, (linp, bef_act, w) in enumerate(reversed(list(zip(layer_input, before_act, self.weights)))):
            if i > 0:
                diff = sigmoid_prime(bef_act) * diff
            delta_nabla_w.append(linp.T @ diff)
            delta_nabla_b.append(np.sum(diff, axis=0))
            diff = diff @ w.T
        return list(reversed(delta_nabla_b)), list(reversed(delta_nabla_w))'''

# Task 1 (correct): the fixed version the student kept.
TASK1_FIXED = '''class Task1Fixed(Task1):
    def output_activation(self, z):
        return softmax(z, axis=1)'''

# Task base: the hidden layer's weight gradient scaled by 1/B a second time (diff already carries it).
MEAN_TWICE = '''class HiddenMeanTwice(Network):
    def backprop(self, x, y):
        nabla_b = [None] * len(self.weights)
        nabla_w = [None] * len(self.weights)
        inputs, zs = [], []
        for w, b in zip(self.weights, self.biases):
            inputs.append(x)
            zs.append(x @ w + b)
            x = sigmoid(zs[-1])
        diff = self.cost_derivative(x, y) * sigmoid_prime(zs[-1])
        nabla_w[-1] = inputs[-1].T @ diff
        nabla_b[-1] = diff.sum(axis=0)
        for k in range(len(self.weights) - 2, -1, -1):
            diff = (diff @ self.weights[k + 1].T) * sigmoid_prime(zs[k])
            nabla_w[k] = inputs[k].T @ diff / len(y)  # <- defect
            nabla_b[k] = diff.sum(axis=0)
        return nabla_b, nabla_w'''

SWEEP = """results = {}
for cls in [Network, NoPrimeHidden, Task1, Task1Logits, Task1Fixed, HiddenMeanTwice]:
    np.random.seed(0)
    model = cls([784, 30, 10])
    results[cls.__name__] = model.optimize((x_train, y_train), 10, 100, 0.1, (x_test, y_test))
results"""

PLOT = """plt.bar(list(results), list(results.values()))
plt.xticks(rotation=45)
plt.show()"""


def cells() -> list:
    md, code = v4.new_markdown_cell, v4.new_code_cell
    return [
        md("# Lab 2: an MLP for MNIST in NumPy\n\nRun the first cell once per runtime."),
        code(SETUP),
        code(IMPORTS),
        md("## Data"),
        code(LOAD),
        code(FUNCTIONS),
        md("## The base network (sigmoid + MSE)"),
        code(NETWORK),
        code(TRAIN),
        md("### Trying to save a multiplication"),
        code(NO_PRIME_HIDDEN),
        md("## Task 1: softmax + cross-entropy\n\nThe output error of softmax with cross-entropy is `a - y`."),
        code(TASK1),
        md("Something is off with the accuracy; let me pass the logits straight in."),
        code(TASK1_LOGITS),
        code(TASK1_FIXED),
        md("### Averaging the hidden layer's gradient"),
        code(MEAN_TWICE),
        md("## Results"),
        code(SWEEP),
        code(PLOT),
    ]


def build() -> nbformat.NotebookNode:
    nb = v4.new_notebook(cells=cells())
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives the same file
        cell["id"] = f"cell-{i:02d}"
    return nb


def main() -> None:
    nb = build()
    nbformat.validate(nb)
    nbformat.write(nb, NOTEBOOK)
    print(f"wrote {NOTEBOOK}")


if __name__ == "__main__":
    main()
