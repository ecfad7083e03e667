"""A lab notebook as the submission (`--student lab.ipynb:Task1`): only its definitions run when grading.

The notebooks are written here with nbformat in the lab's shape (see ../shared/lab/README.md): shell and magic
lines, a load_mnist() that would download MNIST (it raises instead), the Network class, Task1 defined and later
redefined, evaluate_model(...) sweeps that would take minutes (they sleep for 600 s: were one run, the load would
time out and FAIL), and a plotting cell. The CLI runs start together, like tests/test_student_cli.py's.
"""

import ast
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from crosscheck.spec import preset
from crosscheck.student import notebook_source
from crosscheck.student.loader import construct, import_student
from crosscheck.student.text import StudentError
from crosscheck.student.notebook_source import bound_names, build, load_notebook, skip_reason
from crosscheck.student.sandbox import StudentRef
from test_student_cli import COMMON, ROOT, _pytest

SETUP = "!pip install tqdm\n!pip install pandas"
IMPORTS = """%matplotlib inline
import time
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from tqdm import tqdm
from typing import List, Any, Tuple, Optional, Callable, Dict
from numpy.typing import NDArray"""
LOAD = '''def load_mnist():
    """MNIST as one-hot float64 arrays, downloaded on first use."""
    raise RuntimeError("network: load_mnist() downloads MNIST and must not run when grading")

(x_train, y_train), (x_test, y_test) = load_mnist()
print(x_train.shape, x_test.shape)'''
FUNCTIONS = """def sigmoid(z: NDArray[float]):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: NDArray[float]):
    return sigmoid(z) * (1 - sigmoid(z))


def stable_softmax(x: NDArray[float], axis: int = -1):
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


assert np.allclose(stable_softmax(np.array([[1e6, 0.0, -1e6]])).sum(), 1.0)
print("softmax OK")"""
NETWORK = '''class Network(object):
    def __init__(self, sizes: List[int]):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(y) for y in sizes[1:]]
        self.weights = [np.random.randn(x, y) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(a @ w + b)
        return a

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        layer_input, before_act = [], []
        for w, b in zip(self.weights, self.biases):
            layer_input.append(x)
            x = x @ w + b
            before_act.append(x)
            x = sigmoid(x)
        diff = (x - y) / len(y)
        nabla_b, nabla_w = [], []
        for i in reversed(range(len(self.weights))):
            diff = sigmoid_prime(before_act[i]) * diff
            nabla_w.append(layer_input[i].T @ diff)
            nabla_b.append(np.sum(diff, axis=0))
            diff = diff @ self.weights[i].T
        return nabla_b[::-1], nabla_w[::-1]

    def evaluate(self, x_test_data, y_test_data):
        return np.mean(np.argmax(self.feedforward(x_test_data), 1) == np.argmax(y_test_data, 1))

    def optimize(self, training_data, epochs, mini_batch_size, eta, test_data=None):
        x_train, y_train = training_data
        for j in tqdm(range(epochs), desc="Epoch"):
            for i in range(x_train.shape[0] // mini_batch_size):
                batch = slice(i * mini_batch_size, (i + 1) * mini_batch_size)
                self.update_mini_batch(x_train[batch], y_train[batch], eta)
        return self.evaluate(*test_data)


def evaluate_model(model_name: str, model_constructor: Callable, result_storage: Dict[str, List[Any]],
                   layers: List[int] = [784, 30, 10]):
    time.sleep(600)  # stands for the lab's 5 learning rates x 3 seeds x 10 epochs
    for lr in [0.001, 0.01, 0.1, 1.0, 10.0]:
        accuracy = [model_constructor(layers).optimize((x_train, y_train), 10, 100, lr, (x_test, y_test))
                    for seed in range(3)]
        result_storage.setdefault("MODEL", []).append(model_name)
        result_storage.setdefault("LR", []).append(lr)
        result_storage.setdefault("ACC", []).append(np.mean(accuracy))
    return pd.DataFrame(result_storage).sort_values("ACC", ascending=False)


RESULTS = {}
evaluate_model("base", Network, RESULTS)'''
TASK1 = '''class Task1(Network):
    """Softmax output layer with the mean cross-entropy loss."""

    def feedforward(self, a):
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = sigmoid(a @ w + b)
        return stable_softmax(a @ self.weights[-1] + self.biases[-1])

    def backprop(self, x, y):
        layer_input, before_act = [], []
        for w, b in zip(self.weights, self.biases):
            layer_input.append(x)
            x = x @ w + b
            before_act.append(x)
            x = sigmoid(x)
        diff = {delta}
        nabla_b, nabla_w = [], []
        for i in reversed(range(len(self.weights))):
            if i < len(self.weights) - 1:
                diff = (diff @ self.weights[i + 1].T) * sigmoid_prime(before_act[i])
            nabla_w.append(layer_input[i].T @ diff)
            nabla_b.append(np.sum(diff, axis=0))
        return nabla_b[::-1], nabla_w[::-1]


evaluate_model("Task1", Task1, RESULTS)'''
MEAN = "(stable_softmax(before_act[-1]) - y) / len(y)"
SUMMED = "stable_softmax(before_act[-1]) - y"  # the classic slip: summed over the batch, not averaged
PLOT = """df = pd.DataFrame(RESULTS)
display(df)
plt.figure(figsize=(6, 4))
for model, group in df.groupby("MODEL"):
    plt.semilogx(group["LR"], group["ACC"], "o-", label=model)
plt.legend()
plt.show()"""
DEEP = """layers = [784, 100, 30, 10]
evaluate_model("Task1 deep", Task1, RESULTS, layers=layers)"""
# a global that a student computes from the data at the top level, then uses in the class
NORMALISED = TASK1.replace("    def feedforward(self, a):\n", "    def feedforward(self, a):\n"
                           "        a = a - MEAN_PIXEL  # centre the pixels\n")


def lab_notebook(path: Path, *task_cells: str) -> Path:
    """A notebook in the lab's shape with the given Task1 cells (each followed by a markdown note)."""
    cells = [v4.new_markdown_cell("# Lab: an MLP on MNIST from scratch"), v4.new_code_cell(SETUP),
             v4.new_code_cell(IMPORTS), v4.new_code_cell(LOAD), v4.new_code_cell(FUNCTIONS),
             v4.new_markdown_cell("## Task base"), v4.new_code_cell(NETWORK)]
    for source in task_cells:
        cells += [v4.new_markdown_cell("## Task 1: softmax + cross-entropy"), v4.new_code_cell(source)]
    cells += [v4.new_code_cell(PLOT), v4.new_markdown_cell("## Deeper"), v4.new_code_cell(DEEP)]
    nbformat.write(v4.new_notebook(cells=cells), path)
    return path


def small_notebook(path: Path, *sources: str) -> Path:
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell(s) for s in sources]), path)
    return path


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("notebooks")
    return {
        # the first Task1 is buggy, the later one fixed: the last definition is graded, as in the notebook
        "fixed": lab_notebook(folder / "lab.ipynb", TASK1.format(delta=SUMMED), TASK1.format(delta=MEAN)),
        "buggy": lab_notebook(folder / "buggy_lab.ipynb", TASK1.format(delta=MEAN), TASK1.format(delta=SUMMED)),
        "skipped_global": lab_notebook(folder / "mean_pixel.ipynb", "MEAN_PIXEL = x_train.mean()\n\n"
                                       + NORMALISED.format(delta=MEAN)),
    }


RUNS = {
    "fixed": ["--task", "1", "--student", "{fixed}:Task1", "--json", "{tmp}/r.json"],
    "softmax": ["--task", "0", "--student", "{fixed}:stable_softmax"],
    "buggy": ["--task", "1", "--student", "{buggy}:Task1", "--json", "{tmp}/r.json"],
    "skipped_global": ["--task", "1", "--student", "{skipped_global}:Task1"],
}


@pytest.fixture(scope="module")
def cli(notebooks, tmp_path_factory):
    """name -> (exit code, stdout, stderr, its tmp dir), the runs started together (3 at a time)."""

    def one(name):
        tmp = tmp_path_factory.mktemp(name)
        args = [a.format(tmp=tmp, **notebooks) for a in RUNS[name]]
        done = subprocess.run([sys.executable, str(ROOT / "compare.py"), *args, *COMMON], cwd=tmp,
                              capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout, done.stderr, tmp

    with ThreadPoolExecutor(3) as pool:
        return dict(zip(RUNS, pool.map(one, RUNS)))


# --- end to end -------------------------------------------------------------------------------------------------


def test_a_lab_notebook_passes_and_its_skipped_cells_are_listed(cli):
    """The training and download cells never ran: load_mnist() would raise, evaluate_model sleep past the timeout."""
    code, out, err, tmp = cli["fixed"]
    assert code == 0, out + err
    assert out.splitlines()[0].startswith("task 1: PASS  (checked: student lab.ipynb:Task1)")
    load = json.loads((tmp / "r.json").read_text())["checks"][0]
    assert load["name"] == "load" and load["passed"]
    lines = load["message"].splitlines()
    assert lines[0] == "loaded student lab.ipynb:Task1; constructed Task1([784, 30, 10])"
    assert lines[1:] == [
        "  cell 1: skipped 2 statements: `!pip install tqdm` (a shell command), `!pip install pandas` (a shell "
        "command)",
        "  cell 2: skipped 1 statement: `%matplotlib inline` (an IPython magic)",
        "  cell 3: skipped 2 statements: `(x_train, y_train), (x_test, y_test) = load_mnist()` (calls load_mnist), "
        "`print(x_train.shape, x_test.shape)` (a top-level call)",
        "  cell 4: skipped 2 statements: `assert np.allclose(stable_softmax(np.array([[1e6, 0.0, -1...` (an assert), "
        "`print(\"softmax OK\")` (a top-level call)",
        "  cell 5: skipped 1 statement: `evaluate_model(\"base\", Network, RESULTS)` (a top-level call)",
        "  cell 6: skipped 1 statement: `evaluate_model(\"Task1\", Task1, RESULTS)` (a top-level call)",
        "  cell 7: skipped 1 statement: `evaluate_model(\"Task1\", Task1, RESULTS)` (a top-level call)",
        "  cell 8: skipped 6 statements: `df = pd.DataFrame(RESULTS)` (calls pd.DataFrame), `display(df)` (a "
        "top-level call), `plt.figure(figsize=(6, 4))` (a top-level call), `for model, group in df.groupby(\"MODEL\"):"
        " ...` (a loop), and 2 more",
        "  cell 9: skipped 1 statement: `evaluate_model(\"Task1 deep\", Task1, RESULTS, layers=layers)` (a top-level "
        "call)",
    ]
    assert "  cell 1: skipped 2 statements" in out  # the text report lists them under the load check too


def test_a_function_of_a_notebook_for_task_0(cli):
    code, out, err, _ = cli["softmax"]
    assert code == 0, out + err
    assert "cell 3: skipped 2 statements" in out


def test_the_last_definition_is_graded_and_its_bug_found(cli):
    """buggy_lab.ipynb defines a correct Task1, then redefines it with the gradient summed over the batch."""
    code, out, err, tmp = cli["buggy"]
    assert code == 1, out + err
    first = next(c for c in json.loads((tmp / "r.json").read_text())["checks"] if not c["passed"])
    assert (first["name"], first["step"]) == ("gradients", 0) and first["ratio"] == pytest.approx(100.0)
    assert "batch size" in first["hint"]


def test_a_global_whose_definition_was_skipped_is_named_with_its_cell(cli):
    code, out, err, _ = cli["skipped_global"]
    assert code == 1 and "Traceback" not in out + err, out + err
    assert re.search(r"^softmax-ce +forward +FAIL", out, re.M)
    assert ("feedforward raised NameError: Task1.feedforward needs `MEAN_PIXEL`, which cell 6 defines with "
            "`MEAN_PIXEL = x_train.mean()`; that cell's top-level calls are not run when grading (move it inside a "
            "function, or define it as a constant) (at mean_pixel.ipynb, cell 6, line 7 in feedforward: "
            "`a = a - MEAN_PIXEL  # centre the pixels`)") in out


@pytest.mark.parametrize("content, words", [
    (b'{"cells": [', "mean_pixel.ipynb is not a valid Jupyter notebook: Notebook does not appear to be JSON"),
    (b'{"metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
     "mean_pixel.ipynb is not a valid Jupyter notebook: The notebook is invalid and is missing an expected key: "
     "cells"),
    (b"\xff\xfe\x00", "mean_pixel.ipynb is not a valid Jupyter notebook: not UTF-8 text"),
])
def test_a_corrupt_notebook_is_exit_2_with_one_line(content, words, tmp_path, capsys):
    from crosscheck.cli import main
    (tmp_path / "mean_pixel.ipynb").write_bytes(content)
    code = main(["--task", "1", "--student", f"{tmp_path}/mean_pixel.ipynb:Task1", *COMMON])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1 and err.startswith("compare.py: error: --student: "), err
    assert words in err


def test_the_pytest_plugin_takes_a_notebook(notebooks, tmp_path):
    done = _pytest(["--student", f"{notebooks['fixed']}:Task1", "--task", "1", "--student-data", "embedded",
                    "--student-epochs", "1"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout


# --- loading, in this process ------------------------------------------------------------------------------------


def test_the_last_definition_wins_and_line_numbers_are_the_cells(notebooks):
    notebook = build(notebooks["fixed"])
    (module_line,) = [k for k, v in notebook.line_map.items() if v == (7, 1)]
    assert notebook.source.splitlines()[module_line - 1] == "class Task1(Network):"
    compile(notebook.source, "lab", "exec")
    cls, origin = import_student(notebooks["fixed"], "Task1")
    assert origin == notebooks["fixed"].parent
    assert cls.backprop.__code__.co_filename == f"{notebooks['fixed']}, cell 7"
    assert MEAN in notebook.cells[7] and "evaluate_model" in notebook.skipped[-1]


def test_a_class_needing_a_skipped_name_when_defined_is_a_clear_failure(tmp_path):
    path = small_notebook(tmp_path / "lab.ipynb", "import numpy as np\nrng = np.random.default_rng(0)",
                          "class Task1:\n    scale = rng.normal()\n")
    with pytest.raises(StudentError) as error:
        import_student(path, "Task1")
    assert str(error.value) == (
        "lab.ipynb: the last definition of `Task1` (cell 2, line 1: `class Task1: ...`) was not run when grading: it "
        "needs `rng`, which cell 1 defines with `rng = np.random.default_rng(0)`; that cell's top-level calls are not "
        "run when grading (move it inside a function, or define it as a constant)")


def test_an_older_definition_does_not_stand_in_for_the_last(tmp_path):
    """Task1 defined in cell 1, redefined in cell 3 on top of data from a skipped call: never the stale one."""
    path = small_notebook(tmp_path / "lab.ipynb", "class Task1:\n    pass", "data = load()",
                          "SIZE = data.shape\nclass Task1:\n    size = SIZE")
    with pytest.raises(StudentError, match=r"last definition of `Task1` \(cell 3, line 2.*needs `SIZE`, which cell 3 "
                                           r"defines with `SIZE = data.shape`; it needs `data`, which cell 2"):
        import_student(path, "Task1")


def test_a_syntax_error_in_the_classs_cell_names_the_line(tmp_path):
    path = small_notebook(tmp_path / "lab.ipynb", "import numpy as np", "x = [1, 2\nclass Task1:\n    pass",
                          "def scratch(:\n    pass")
    notebook = build(path)
    assert notebook.skipped[0].startswith("cell 2: not run: a syntax error at line 1: ")
    with pytest.raises(StudentError, match=r"^lab.ipynb: the last definition of `Task1` is in cell 2, and that cell "
                                           r"has a syntax error at line 1: .*so none of it runs$"):
        import_student(path, "Task1")


def test_a_class_used_above_its_definition(tmp_path):
    path = small_notebook(tmp_path / "lab.ipynb", "class Task1(Network):\n    pass", "class Network:\n    pass")
    with pytest.raises(StudentError, match=r"it needs `Network`, which only cell 2, further down, defines: grading "
                                           r"runs the code cells from top to bottom"):
        import_student(path, "Task1")


def test_a_failed_import_is_skipped_and_explained_when_needed(tmp_path):
    path = small_notebook(tmp_path / "lab.ipynb", "from google.colab import drive\nimport numpy as np",
                          "class Task1:\n    def __init__(self, sizes):\n        drive.mount('/content')")
    cls, _ = import_student(path, "Task1")
    assert build(path).skipped == []  # the failure is found when loading, in the worker
    _, notebook = load_notebook(path, "lab_reloaded")
    assert notebook.skipped == ["cell 1: skipped 1 statement: `from google.colab import drive` (import failed: "
                                "ModuleNotFoundError: No module named 'google')"]
    with pytest.raises(StudentError, match=r"Task1.__init__ needs `drive`, which cell 1 defines with `from google"
                                           r".colab import drive`; that import failed when grading \(ModuleNotFound"
                                           r"Error: No module named 'google'\) \(at lab.ipynb, cell 2, line 3 in "
                                           r"__init__: `drive.mount\('/content'\)`\)"):
        construct(cls, preset("1")[0], {}, {}, tmp_path)


def test_a_missing_class_lists_what_the_notebook_defines(tmp_path):
    path = small_notebook(tmp_path / "lab.ipynb", "class Network:\n    pass")
    with pytest.raises(StudentError, match=r"lab.ipynb has no 'Task1'; it defines: Network"):
        import_student(path, "Task1")


def test_a_corrupt_notebook_is_one_value_error_line(tmp_path):
    (tmp_path / "lab.ipynb").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"^--student: lab.ipynb is not a valid Jupyter notebook: "):
        StudentRef.parse(f"{tmp_path}/lab.ipynb:Task1")
    with pytest.raises(ValueError, match=r"is not a \.py file or a \.ipynb notebook"):
        StudentRef.parse(f"{small_notebook(tmp_path / 'lab.txt', 'x = 1')}:Task1")


# --- IPython lines and the classifier -----------------------------------------------------------------------------


def test_ipython_lines_are_skipped_but_not_inside_strings_or_brackets(tmp_path):
    path = small_notebook(tmp_path / "lab.ipynb",
                          'files = !ls\nnp.mean?\nif FAST:\n    %time step()\nREST = (7\n        % 2)\n'
                          'DOC = """\n!not a shell line\n%not a magic\n"""\n!echo one \\\n    two\nLAST = 1',
                          "%%time\nSLOW = 2", "%%bash\nCLASS = 3")
    notebook = build(path)
    assert notebook.skipped == [
        "cell 1: skipped 4 statements: `files = !ls` (a shell command), `np.mean?` (IPython help), `%time step()` "
        "(an IPython magic), `!echo one \\` (a shell command)",
        "cell 2: skipped 1 statement: `%%time` (an IPython magic)",
        "cell 3: not run: a %%bash cell magic"]
    assert [bound_names(s.node) for s in notebook.statements] == [(), ("REST",), ("DOC",), ("LAST",), ("SLOW",)]
    assert notebook.statements[2].text.splitlines()[1] == "!not a shell line"
    assert set(notebook.skipped_names) == {"files", "CLASS"}


KEPT = [
    "import numpy as np",
    "from typing import List, Tuple",
    "def f(x):\n    return load_mnist()",
    "@functools.lru_cache(maxsize=None)\ndef f():\n    pass",
    "async def fetch():\n    pass",
    "@dataclass\nclass Config:\n    lr: float = 0.1",
    "LR = 0.1",
    "LAYERS: List[int] = [784, 30, 10]",
    "EPS = 1e-8 * 10 ** -2",
    "COUNT += 1",
    "RESULTS = {}",
    "RESULTS['base'] = []",
    "SQUARES = [i * i for i in (1, 2, 3) if i]",
    "relu = lambda z: np.maximum(z, 0)",
    "Task1.output_delta = Network.output_delta",
    "NAME = f'{MODEL}-{LR}' if FLAG else 'none'",
    "Array = NDArray[np.float64]",
    "try:\n    import cupy as cp\nexcept ImportError:\n    import numpy as cp",
    "if SMALL:\n    LAYERS = [784, 10]\nelse:\n    LAYERS = [784, 30, 10]",
]
SKIPPED = [
    ("np.random.seed(0)", "a top-level call"),
    ("net.SGD(training_data, 30, 10, 3.0)", "a top-level call"),
    ("data = load_mnist()", "calls load_mnist"),
    ("net = Network([784, 30, 10])", "calls Network"),
    ("W = np.zeros((784, 30))", "calls np.zeros"),
    ("SQ = [f(i) for i in (1, 2)]", "calls f"),
    ("act = lambda z=np.zeros(3): z", "calls np.zeros"),
    ("RESULTS['Task1'] = evaluate_model('Task1', Task1, RESULTS)", "calls evaluate_model"),
    ("x = await fetch()", "awaits"),
    ("RESULTS", "an expression"),
    ("for lr in LRS:\n    pass", "a loop"),
    ("while True:\n    break", "a loop"),
    ("with open('f') as f:\n    pass", "a with block"),
    ("assert LR > 0", "an assert"),
    ("del net", "a del statement"),
    ("raise SystemExit", "a raise statement"),
    ("if __name__ == '__main__':\n    main()", 'an `if __name__ == "__main__":` block'),
    ("if torch.cuda.is_available():\n    DEVICE = 'cuda'", "an if block whose condition calls torch.cuda.is_available"),
    ("try:\n    data = load_mnist()\nexcept OSError:\n    data = None",
     "a try block that does more than define (line 2: calls load_mnist)"),
]


@pytest.mark.parametrize("source", KEPT)
def test_definitions_are_kept(source):
    assert skip_reason(ast.parse(source).body[0]) is None


@pytest.mark.parametrize("source, why", SKIPPED)
def test_work_is_skipped_with_its_reason(source, why):
    assert skip_reason(ast.parse(source).body[0]) == why


@pytest.mark.parametrize("source, names", [
    ("(x_train, y_train), (x_test, *rest) = load_mnist()", ("x_train", "y_train", "x_test", "rest")),
    ("import numpy.linalg, os.path as osp", ("numpy", "osp")),
    ("for lr in LRS:\n    net = Network(lr)\n    sq = [k for k in range(3)]", ("lr", "net", "sq")),
    ("with open(p) as f:\n    def g(): h = 1", ("f", "g")),
    ("try:\n    pass\nexcept OSError as error:\n    pass", ("error",)),
])
def test_the_names_a_statement_binds(source, names):
    assert bound_names(ast.parse(source).body[0]) == names


def test_frame_places():
    assert notebook_source.frame_place("/a/lab.ipynb, cell 4", 12) == "lab.ipynb, cell 4, line 12"
    assert notebook_source.frame_place("/a/network.py", 12) == "network.py:12"
