"""The defect corpus: every class, what it is run as, and which check must fail first (None: it must pass).

The line a tracer should name is not written here: it is the `# <- defect` marker in the class's own source (see
README.md), found by `marked_line(entry)` -> (file name, code cell number or None, line number). A class's source
is its `class` statement (decorators included) plus every module-level function it references, directly or through
other such functions (so a marker in a helper like `sigmoid_prime_wrong` belongs to the class calling it). Base
classes are not searched: a subclass's defect is in the subclass. In a notebook, cells are counted from 1 over code
cells only and lines from 1 within the cell, as crosscheck/student/notebook_source.py reports them.

Imports the standard library only, so a benchmark can read it without the harness.

    from tests.students.defects.manifest import ENTRIES, marked_line
    for entry in ENTRIES:
        check_student(entry.ref, entry.task, **entry.options, data=..., ...)  # model, layout, layers
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARKER = "# <- defect"
_MARKER = re.compile(r"#\s*<-\s*defect\b")
CONSUMER = "# <- consumer"  # an omission's first consumer: a line the tool may name instead (see README.md)
_CONSUMER = re.compile(r"#\s*<-\s*consumer\b")


@dataclass(frozen=True)
class Entry:
    file: str  # beside this manifest: a .py or an .ipynb
    cls: str
    task: str  # "base", "1", "4" (crosscheck.spec.TASKS)
    layout: str  # "lab" or "nielsen" (check_student's layout=)
    check: str | None  # the check that must fail first: "forward" or "gradients"; None: a correct class
    description: str
    model: str | None = None  # the task's model, where the task has several (task 4)
    layers: tuple[int, ...] | None = None  # layer sizes other than the preset's (check_student's layers=)

    @property
    def path(self) -> Path:
        return HERE / self.file

    @property
    def ref(self) -> str:
        """The --student reference: "path/file.py:Class"."""
        return f"{self.path}:{self.cls}"

    @property
    def options(self) -> dict:
        """check_student's keyword arguments beyond the task: check_student(entry.ref, entry.task, **entry.options)."""
        return {"model": self.model, "layout": self.layout, **({"layers": self.layers} if self.layers else {})}

    @property
    def defective(self) -> bool:
        return self.check is not None

    @property
    def name(self) -> str:
        return f"{self.file}:{self.cls}"

    @property
    def fix(self) -> str | None:
        """The marked line's corrected text (see FIXES); None for a correct class."""
        return FIXES.get(self.name)


def _lab(cls: str, task: str, check: str | None, description: str, model: str | None = None,
         layers: tuple[int, ...] | None = None) -> Entry:
    return Entry("lab_layout.py", cls, task, "lab", check, description, model, layers)


def _nielsen(cls: str, task: str, check: str | None, description: str) -> Entry:
    return Entry("nielsen_layout.py", cls, task, "nielsen", check, description)


def _per_sample(cls: str, task: str, check: str | None, description: str) -> Entry:
    return Entry("per_sample.py", cls, task, "lab", check, description)


def _update(cls: str, task: str, check: str | None, description: str, model: str | None = None) -> Entry:
    return Entry("updates.py", cls, task, "lab", check, description, model)


def _notebook(cls: str, task: str, check: str | None, description: str) -> Entry:
    return Entry("lab_notebook.ipynb", cls, task, "lab", check, description)


def _correct(cls: str, task: str, description: str, layout: str = "lab", model: str | None = None) -> Entry:
    return Entry("correct.py", cls, task, layout, None, description, model)


F, G, U = "forward", "gradients", "updates"
SQUARE = (784, 30, 30, 10)  # a deeper net with a square hidden layer, where w for w.T still has a usable shape
ENTRIES: list[Entry] = [
    # lab layout, the lab's reversed loop (layer_input / before_act, cost_derivative)
    _lab("LabCostNoMean", "base", G, "cost_derivative returns a - y without the 1/B (summed gradient)"),
    _lab("LabCostSign", "base", G, "cost_derivative returns (y - a) / B: the sign is flipped"),
    _lab("LabMeanTwice", "base", G, "backprop divides cost_derivative's output by B again (1/B applied twice)"),
    _lab("LabBiasMean", "base", G, "bias gradient np.mean over the batch although the error already carries 1/B"),
    _lab("LabBeforeActAfterSigmoid", "base", G, "before_act.append after the sigmoid: sigmoid' of activations"),
    _lab("LabAliasedCost", "base", G, "cost_derivative's `-=` overwrites the output activation that sigmoid' "
                                      "(out * (1 - out)) reads next"),
    _lab("LabSoftmaxPrimeAtOutput", "1", G, "lab loop without `if i > 0`: sigmoid' applied to the softmax error"),
    _lab("LabSoftmaxNoMean", "1", G, "softmax cost_derivative returns a - y without the 1/B"),
    # lab layout, vectorised loops with activations / zs
    _lab("NoSigmaPrimeHidden", "base", G, "hidden error propagated without the sigmoid'(z) factor"),
    _lab("SigmaPrimeOfActivation", "base", G, "sigmoid_prime(activations[-l]) instead of zs[-l]"),
    _lab("WrongSigmoidPrimeHelper", "base", G, "helper sigmoid_prime_wrong returns s * (1 - z)"),
    _lab("OutputErrorFromZ", "base", G, "output error (z_L - y) * sigmoid'(z_L) uses z_L instead of a_L"),
    _lab("MSEWithoutSigmaPrime", "base", G, "MSE output error (a - y) / B without sigmoid'(z_L)"),
    _lab("BackpropForwardNoBias", "base", G, "backprop's own forward pass z = a @ w misses + b (feedforward fine)"),
    _lab("ForwardNoBias", "base", F, "feedforward sigmoid(a @ w) misses + b"),
    _lab("ForwardNoOutputSigmoid", "base", F, "feedforward returns the output layer's z without the sigmoid"),
    _lab("FlippedSigmoid", "base", F, "helper sigmoid_flipped computes 1 / (1 + exp(z)): the minus sign is lost"),
    _lab("HiddenTanh", "base", F, "helper method hidden() is tanh where the task says sigmoid"),
    # lab layout, per-layer code
    _lab("TwoLayerGradFromZ", "base", G, "dW2 = z1.T @ d2: the hidden layer's z instead of its activation"),
    _lab("TwoLayerInPlacePrime", "base", G, "sp = a1; sp *= 1 - a1 overwrites a1, read later by dW2 = a1.T @ d2"),
    _lab("SoftmaxTwoLayerBiasSum", "1", G, "weight gradients / B, bias gradients summed without / B"),
    # lab layout, task 1 (softmax + cross-entropy)
    _lab("CEWithSigmaPrime", "1", G, "softmax + cross-entropy output error keeps sigmoid'(z_L)"),
    _lab("CEFromZ", "1", G, "softmax + cross-entropy output error (z_L - y) / B uses z_L instead of the softmax"),
    _lab("SoftmaxAxis0", "1", F, "helper softmax_axis0 normalises over the batch (axis=0)"),
    _lab("SoftmaxUnstable", "1", F, "helper softmax_unstable: exp(z) without subtracting the max (NaN at +-1e3)"),
    _lab("SoftmaxBatchSum", "1", F, "helper softmax_whole_batch divides by the sum over the whole batch"),
    _lab("HiddenSoftmax", "1", F, "feedforward applies the softmax to the hidden layer too"),
    _lab("ForwardReturnsLogits", "1", F, "feedforward returns the logits: no softmax on the way out"),
    _lab("BackpropSigmoidOutput", "1", G, "backprop's forward pass ends in a sigmoid (feedforward uses softmax)"),
    # lab layout, task 4: the deeper [784, 100, 30, 10] net
    _lab("DeepLoopStopsEarly", "4", G, "backward loop range(2, num_layers - 1) stops early: first layer's "
                                       "gradients stay zero", model="base"),
    _lab("DeepThreeLayerPrimeOfActivation", "4", G, "three layers written out: d1 uses sigmoid_prime(h1) "
                                                    "instead of z1", model="softmax-ce"),
    _lab("DeepReluForward", "4", F, "feedforward uses relu in the hidden layers (backprop sigmoid)", model="base"),
    # lab layout, square hidden layers (no preset has them: run with layers=SQUARE)
    _lab("SquareNoTranspose", "base", G, "d1 = (d2 @ W2) * sigmoid'(z1): the square W2 untransposed",
         layers=SQUARE),
    _lab("SquareGradOwnActivation", "base", G, "middle layer's weight gradient h2.T @ d2: its output instead of its "
                                               "input h1", layers=SQUARE),
    # lab layout, the correct bases some of the classes above subclass
    _lab("LabNetwork", "base", None, "correct: the lab's reversed loop with cost_derivative"),
    _lab("LabSoftmax", "1", None, "correct: the lab's reversed loop with a softmax output"),
    _lab("VecNetwork", "base", None, "correct: Nielsen's loop vectorised over the batch"),
    _lab("TwoLayer", "base", None, "correct: W1/W2 written out"),
    _lab("SoftmaxVec", "1", None, "correct: vectorised loop, output / output_error helper methods"),
    _lab("ThreeLayer", "base", None, "correct: three layers written out", layers=SQUARE),
    # Nielsen's layout
    _nielsen("NielsenNoSigmaPrime", "base", G, "hidden error propagated without * sp"),
    _nielsen("NielsenPrimeOfActivation", "base", G, "sp = sigmoid_prime(activations[-l]) instead of zs[-l]"),
    _nielsen("NielsenCostSign", "base", G, "cost_derivative returns y - a"),
    _nielsen("NielsenOutputNoPrime", "base", G, "quadratic output error without sigmoid'(z_L)"),
    _nielsen("NielsenZsAfterSigmoid", "base", G, "zs.append after z = sigmoid(z): zs holds activations"),
    _nielsen("NielsenForwardNoBias", "base", F, "feedforward sigmoid(np.dot(w, a)) misses + b"),
    _nielsen("NielsenBackpropNoBias", "base", G, "backprop's forward pass z = np.dot(w, activation) misses + b"),
    _nielsen("NielsenPrimeHelperWrong", "base", G, "helper sigmoid_prime_nielsen_wrong: e^-z / (1 + e^-z), "
                                                   "denominator not squared"),
    _nielsen("NielsenGradFromZ", "base", G, "nabla_w[-1] = np.dot(delta, zs[-2].T): z instead of the activation"),
    _nielsen("NielsenSoftmaxAxis1", "1", F, "softmax sums a column over axis=1: every output is 1"),
    _nielsen("NielsenSoftmaxWithPrime", "1", G, "softmax output error (a - y) * sigmoid'(z)"),
    _nielsen("NielsenSoftmaxUnstable", "1", F, "softmax exp(z) without subtracting the max (NaN at +-1e3)"),
    _nielsen("NielsenNetwork", "base", None, "correct: network.py"),
    _nielsen("NielsenSoftmax", "1", None, "correct: softmax output, error a - y"),
    # the notebook
    _notebook("NoPrimeHidden", "base", G, "sigmoid' applied once to the output error, hidden errors propagated "
                                          "without it"),
    _notebook("Task1", "1", F, "output_activation calls the correct softmax helper with axis=0"),
    _notebook("Task1Logits", "1", G, "cost_derivative handed before_act[-1] (the logits) instead of the softmax"),
    _notebook("HiddenMeanTwice", "base", G, "hidden weight gradient divided by B again"),
    _notebook("Network", "base", None, "correct: the notebook's base network"),
    _notebook("Task1Fixed", "1", None, "correct: Task1 with softmax over axis=1"),
    # correct classes in varied styles
    _correct("LabStyleNetwork", "base", "the lab's reversed loop with hooks, type hints"),
    _correct("LabStyleSoftmax", "1", "LabStyleNetwork with its two hooks overridden"),
    _correct("SumThenDivide", "base", "summed gradients divided once at the end, sigmoid' as a * (1 - a), "
                                      "in-place *= on fresh arrays"),
    _correct("PerLayerSoftmax", "1", "W1/W2 written out, np.mean for the biases"),
    _correct("DeepNetwork", "4", "any depth, forward indices", model="base"),
    _correct("DeepSoftmax", "4", "any depth, softmax head", model="softmax-ce"),
    _correct("NielsenStyle", "base", "network.py in Nielsen's layout", layout="nielsen"),
    _correct("NielsenStyleSoftmax", "1", "softmax in Nielsen's layout", layout="nielsen"),
    # the lab's layout, backprop looping over the samples one row at a time
    _per_sample("PerSampleNet", "base", None, "correct: per-sample loop, np.outer, sums divided at the end"),
    _per_sample("PerSampleNoPrime", "base", G, "hidden error propagated without sigmoid'(z)"),
    _per_sample("PerSampleNoBias", "base", G, "backprop's per-sample forward misses + b"),
    _per_sample("PerSampleSoftmax", "1", None, "correct: per-sample loop with a softmax output"),
    _per_sample("PerSampleSoftmaxPrime", "1", G, "softmax output error keeps a sigmoid'(z) factor"),
    # update_mini_batch (backprop right): the updates check fails first
    _update("SoftmaxBase", "1", None, "correct: plain SGD, the base of the two below"),
    _update("AscendsTheWeights", "1", U, "w + eta * nw: the weights climb the loss"),
    _update("StepsBySum", "1", U, "the bias step multiplied by len(y): the summed gradient"),
    _update("Momentum", "2", None, "correct: velocity-form momentum, L2 on the weights", model="l2-momentum"),
    _update("MomentumDecaysBiases", "2", U, "L2 added to the bias gradient too", model="l2-momentum"),
    _update("MomentumEtaTwice", "2", U, "w + eta * v with v holding -eta * g already", model="l2-momentum"),
    _update("MomentumForgetsVelocity", "2", U, "momentum * (v - eta * g): the gradient decays with the velocity",
            model="l2-momentum"),
    _update("AdamW", "3", None, "correct: AdamW with a step helper per tensor", model="adamw"),
    _update("AdamWFirstPowerInV", "3", U, "second moment of |g|, not g²", model="adamw"),
    _update("AdamWCoupledDecay", "3", U, "weight decay leaks into the first moment on top of the decoupled decay",
            model="adamw"),
    _update("AdamWRawFirstMoment", "3", U, "the first moment without its bias correction", model="adamw"),
]


# The marked line as it reads once fixed (indentation aside): a one-line change at the marker that makes the class
# pass every check, which is what makes it a single defect (tests/test_defect_corpus.py applies each).
FIXES: dict[str, str] = {
    "per_sample.py:PerSampleNoPrime": "delta = (delta @ self.weights[l].T) * sigmoid_prime(zs[l - 1])",
    "per_sample.py:PerSampleNoBias": "zs.append(activations[-1] @ w + b)",
    "per_sample.py:PerSampleSoftmaxPrime": "return p - y",
    "updates.py:AscendsTheWeights": "self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]",
    "updates.py:StepsBySum": "self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]",
    "updates.py:MomentumDecaysBiases": "gb = nabla_b[i]",
    "updates.py:MomentumEtaTwice": "self.weights[i] = self.weights[i] + self.vw[i]",
    "updates.py:MomentumForgetsVelocity": "self.vb[i] = self.momentum * self.vb[i] - eta * nabla_b[i]",
    "updates.py:AdamWFirstPowerInV": "self.v[k] = self.beta_2 * self.v[k] + (1 - self.beta_2) * g * g",
    "updates.py:AdamWCoupledDecay": "self.m[k] = self.beta_1 * self.m[k] + (1 - self.beta_1) * g",
    "updates.py:AdamWRawFirstMoment": "return p - eta * (self.m[k] / (1 - self.beta_1 ** self.t) / (np.sqrt(v_hat) "
                                      "+ self.eps) + self.weight_decay * p)",
    "lab_layout.py:LabCostNoMean": "return (output_activations - y) / len(y)",
    "lab_layout.py:LabCostSign": "return (output_activations - y) / len(y)",
    "lab_layout.py:LabMeanTwice": "diff = self.cost_derivative(output_activations=x, y=y)",
    "lab_layout.py:LabBiasMean": "grads_b.insert(0, np.sum(diff, axis=0))",
    "lab_layout.py:LabBeforeActAfterSigmoid": "before_act.append(layer_input[-1] @ w + b)",
    "lab_layout.py:LabAliasedCost": "output_activations = output_activations - y",
    "lab_layout.py:LabSoftmaxPrimeAtOutput": "diff = sigmoid_prime(bef_act) * diff if i > 0 else diff",
    "lab_layout.py:LabSoftmaxNoMean": "return (output_activations - y) / len(y)",
    "lab_layout.py:NoSigmaPrimeHidden": "delta = np.dot(delta, self.weights[-l + 1].T) * sigmoid_prime(zs[-l])",
    "lab_layout.py:SigmaPrimeOfActivation": "sp = sigmoid_prime(zs[-l])",
    "lab_layout.py:WrongSigmoidPrimeHelper": "return s * (1 - s)",
    "lab_layout.py:OutputErrorFromZ": "delta = (activations[-1] - y) * sigmoid_prime(zs[-1]) / len(y)",
    "lab_layout.py:MSEWithoutSigmaPrime": "delta = (activations[-1] - y) * sigmoid_prime(zs[-1]) / len(y)",
    "lab_layout.py:BackpropForwardNoBias": "z = a @ w + b",
    "lab_layout.py:ForwardNoBias": "a = sigmoid(a @ w + b)",
    "lab_layout.py:ForwardNoOutputSigmoid": "return sigmoid(a @ self.weights[-1] + self.biases[-1])",
    "lab_layout.py:FlippedSigmoid": "return 1.0 / (1.0 + np.exp(-z))",
    "lab_layout.py:HiddenTanh": "return sigmoid(z)",
    "lab_layout.py:TwoLayerGradFromZ": "dW2 = a1.T @ d2",
    "lab_layout.py:TwoLayerInPlacePrime": "sp = sp * (1 - a1)",
    "lab_layout.py:SoftmaxTwoLayerBiasSum": "grad_b = [err_hidden.sum(axis=0) / batch, err_out.sum(axis=0) / batch]",
    "lab_layout.py:CEWithSigmaPrime": "return (a - y) / len(y)",
    "lab_layout.py:CEFromZ": "return (a - y) / len(y)",
    "lab_layout.py:SoftmaxAxis0": "return e / np.sum(e, axis=1, keepdims=True)",
    "lab_layout.py:SoftmaxUnstable": "e = np.exp(z - z.max(axis=1, keepdims=True))",
    "lab_layout.py:SoftmaxBatchSum": "return e / np.sum(e, axis=1, keepdims=True)",
    "lab_layout.py:HiddenSoftmax": "a = self.output(a @ w + b) if w is self.weights[-1] else sigmoid(a @ w + b)",
    "lab_layout.py:ForwardReturnsLogits": "return self.output(z)",
    "lab_layout.py:BackpropSigmoidOutput": "activations.append(self.output(zs[-1]))",
    "lab_layout.py:DeepLoopStopsEarly": "for l in range(2, self.num_layers):",
    "lab_layout.py:DeepThreeLayerPrimeOfActivation": "d1 = (d2 @ W2.T) * sigmoid_prime(z1)",
    "lab_layout.py:DeepReluForward": "a = sigmoid(a @ w + b)",
    "lab_layout.py:SquareNoTranspose": "d1 = (d2 @ W2.T) * sigmoid_prime(z1)",
    "lab_layout.py:SquareGradOwnActivation": "grad_w.append(h1.T @ d2)",
    "nielsen_layout.py:NielsenNoSigmaPrime":
        "delta = np.dot(self.weights[-l + 1].transpose(), delta) * sigmoid_prime(zs[-l])",
    "nielsen_layout.py:NielsenPrimeOfActivation": "sp = sigmoid_prime(zs[-l])",
    "nielsen_layout.py:NielsenCostSign": "return output_activations - y",
    "nielsen_layout.py:NielsenOutputNoPrime":
        "delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])",
    "nielsen_layout.py:NielsenZsAfterSigmoid": "zs.append(np.dot(w, activations[-1]) + b)",
    "nielsen_layout.py:NielsenForwardNoBias": "a = sigmoid(np.dot(w, a) + b)",
    "nielsen_layout.py:NielsenBackpropNoBias": "z = np.dot(w, activation) + b",
    "nielsen_layout.py:NielsenPrimeHelperWrong": "return np.exp(-z) / (1 + np.exp(-z)) ** 2",
    "nielsen_layout.py:NielsenGradFromZ": "nabla_w[-1] = np.dot(delta, activations[-2].transpose())",
    "nielsen_layout.py:NielsenSoftmaxAxis1": "return e / np.sum(e)",
    "nielsen_layout.py:NielsenSoftmaxWithPrime": "return a - y",
    "nielsen_layout.py:NielsenSoftmaxUnstable": "e = np.exp(z - np.max(z))",
    "lab_notebook.ipynb:NoPrimeHidden": "diff = (diff @ self.weights[k].T) * sigmoid_prime(before_act[k - 1])",
    "lab_notebook.ipynb:Task1": "return softmax(z, axis=1)",
    "lab_notebook.ipynb:Task1Logits": "diff = self.cost_derivative(output_activations=x, y=y)",
    "lab_notebook.ipynb:HiddenMeanTwice": "nabla_w[k] = inputs[k].T @ diff",
}


# --- finding the marked line --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """One piece of source: a .py file (cell None) or one code cell of a notebook (numbered from 1)."""

    cell: int | None
    lines: list[str]
    tree: ast.Module


def _python(text: str) -> str:
    """A notebook cell as Python: IPython lines (`!cmd`, `%magic`) blanked so ast can parse the rest."""
    return "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in text.splitlines())


def _units(path: Path) -> list[_Unit]:
    if path.suffix == ".ipynb":
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        texts = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]
        units = []
        for n, text in enumerate(texts, start=1):
            try:
                tree = ast.parse(_python(text))
            except SyntaxError:
                continue
            units.append(_Unit(n, text.splitlines(), tree))
        return units
    text = path.read_text()
    return [_Unit(None, text.splitlines(), ast.parse(text))]


def _span(node: ast.AST) -> range:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return range(first, node.end_lineno + 1)


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def markers(entry: Entry, marker: re.Pattern = _MARKER) -> list[tuple[str, int | None, int]]:
    """Every `# <- defect` (or other marker) in the entry's class and the module-level functions it reaches,
    sorted."""
    units = _units(entry.path)
    classes = [(u, node) for u in units for node in u.tree.body
               if isinstance(node, ast.ClassDef) and node.name == entry.cls]
    if not classes:
        raise LookupError(f"{entry.name}: no class {entry.cls}")
    unit, cls = classes[-1]  # a class redefined in a later cell is replaced, as in the notebook
    functions = {node.name: (u, node) for u in units for node in u.tree.body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    spans = [(unit, _span(cls))]
    seen: set[str] = set()
    todo = _names(cls)
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        u, fn = functions[name]
        spans.append((u, _span(fn)))
        todo |= _names(fn)
    found = {(entry.file, u.cell, line) for u, span in spans for line in span if marker.search(u.lines[line - 1])}
    return sorted(found, key=lambda m: (m[1] or 0, m[2]))


def marked_line(entry: Entry) -> tuple[str, int | None, int]:
    """(file name, code cell number from 1 or None for a .py, line number in the file or cell) of the entry's one
    `# <- defect` marker. Raises LookupError unless there is exactly one (a correct class has none)."""
    found = markers(entry)
    if len(found) != 1:
        raise LookupError(f"{entry.name}: {len(found)} '{MARKER}' markers, expected exactly one: {found}")
    return found[0]


def accepted_lines(entry: Entry) -> list[tuple[str, int | None, int]]:
    """The lines a tool may name for the entry: its `# <- defect` line and, for an omission (a missing factor), the
    `# <- consumer` line that first uses the incomplete array (the issue's rule: "the defective line, or the line
    that consumes its result when the defect is an omission")."""
    return [marked_line(entry)] + markers(entry, _CONSUMER)
