"""The notebook API: check() on classes defined in a notebook or a function, the Report's HTML and plot, and
examples/lab_walkthrough.ipynb executed in a real Jupyter kernel."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from crosscheck import check
from crosscheck.notebook import dataset
from crosscheck.student.loader import import_student

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "lab_walkthrough.ipynb"
SUMMED_HINT = "the gradient is summed over the batch instead of averaged"


def make_network(average: bool = True, fail_with: str | None = None) -> type:
    """A task-1 lab class defined inside a function: its methods close over the arguments and use lambdas."""
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731

    class Net:
        def __init__(self, sizes):
            if fail_with:
                raise ValueError(fail_with)
            self.weights = [np.zeros((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
            self.biases = [np.zeros(b) for b in sizes[1:]]
            self.softmax = lambda z: (lambda e: e / e.sum(axis=1, keepdims=True))(np.exp(z - z.max(1, keepdims=True)))

        def feedforward(self, a):
            for w, b in zip(self.weights[:-1], self.biases[:-1]):
                a = sigmoid(a @ w + b)
            return self.softmax(a @ self.weights[-1] + self.biases[-1])

        def backprop(self, x, y):
            acts = [x]
            for w, b in zip(self.weights[:-1], self.biases[:-1]):
                acts.append(sigmoid(acts[-1] @ w + b))
            delta = self.softmax(acts[-1] @ self.weights[-1] + self.biases[-1]) - y
            delta = delta / len(y) if average else delta
            nabla_b, nabla_w = [], []
            for l in reversed(range(len(self.weights))):
                nabla_w.insert(0, acts[l].T @ delta)
                nabla_b.insert(0, delta.sum(axis=0))
                delta = (delta @ self.weights[l].T) * acts[l] * (1 - acts[l])
            return nabla_b, nabla_w

        def update_mini_batch(self, x, y, eta):
            nabla_b, nabla_w = self.backprop(x, y)
            self.weights = [w - eta * g for w, g in zip(self.weights, nabla_w)]
            self.biases = [b - eta * g for b, g in zip(self.biases, nabla_b)]

    return Net


@pytest.fixture(scope="module")
def summed(data):
    return check(make_network(average=False), task=1, data=data, epochs=1, progress=False)


def test_a_class_defined_in_a_function_passes(data):
    report = check(make_network(), task=1, data=data, epochs=1, progress=False)
    assert report.passed, str(report)
    assert [r.name for r in report.results["softmax-ce"]] == ["load", "forward", "gradients", "updates", "curves"]
    html = report._repr_html_()
    assert "task 1: PASS" in html and "make_network.&lt;locals&gt;.Net" in html and "<locals>" not in html
    assert report.table["verdict"].eq("PASS").all()


def test_a_bug_fails_with_its_hint(summed):
    assert not summed.passed
    model, first = summed.first_failure()
    assert (model, first.name, first.step, first.ratio) == ("softmax-ce", "gradients", 0, pytest.approx(100))
    assert SUMMED_HINT in first.hint
    html = summed._repr_html_()
    assert "task 1: FAIL" in html and SUMMED_HINT in html and "first divergence" in html


def test_a_bug_names_its_line_in_the_users_own_code(summed):
    """The class is the user's own, defined in a function: traced in process, its line shown and highlighted."""
    _, first = summed.first_failure()
    s = first.source
    assert (s.file, s.function) == ("test_notebook.py", "make_network.<locals>.Net.backprop")
    assert s.code == "delta = self.softmax(acts[-1] @ self.weights[-1] + self.biases[-1]) - y"
    assert (s.found, s.expected) == ("100 × δ₁", "δ₁ = ∂L/∂z₁") and "1/100 is missing" in s.why
    html = summed._repr_html_()
    assert "in your code: test_notebook.py:" in html and 'style="background:' in html


def test_json_is_compare_pys_and_carries_no_arrays(summed):
    report = json.loads(summed.to_json())
    assert report["passed"] is False and report["task"] == "1" and report["subject"].endswith("(in process)")
    gradients = next(c for c in report["checks"] if c["name"] == "gradients")
    assert set(gradients) == {"name", "passed", "max_abs_err", "max_rel_err", "step", "layer", "param", "index",
                              "ratio", "message", "model", "got", "want", "hint", "kind", "source"}
    assert SUMMED_HINT in gradients["hint"]


def test_plot_draws_curves_and_the_relative_error_of_the_failing_tensor(summed):
    fig = summed.plot()
    assert isinstance(fig, Figure)
    curves, heat = [ax for ax in fig.axes if ax.lines and not ax.images], [ax for ax in fig.axes if ax.images]
    assert len(curves) == 1 and len(heat) == 1 and "gradients, step 0, biases[1]" in heat[0].get_title()
    _, first = summed.first_failure()
    np.testing.assert_allclose(heat[0].images[0].get_array(), np.full((1, 10), 99.0), rtol=1e-9)  # 100x: rel err 99
    assert first.got_array.shape == first.want_array.shape == (10,)


def test_student_strings_are_escaped_in_html(data):
    report = check(make_network(fail_with="<script>alert(1)</script>"), task=1, data=data, progress=False)
    html = report._repr_html_()
    assert not report.passed and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "<script>alert(1)</script>" in str(report)  # the terminal rendering shows it as it is


def test_hyperparameters_by_the_labs_names(data):
    cls, _ = import_student(Path(__file__).parent / "students" / "momentum_l2.py", "MomentumL2Network")
    report = check(cls, task=2, data=data, epochs=1, progress=False, l2_factor=1e-4, momentum=0.5)
    assert report.passed, str(report)
    assert "momentum=0.5, l2_factor=0.0001" in report.results["l2-momentum"][0].message


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(task=2, mu=0.9), ValueError, "it takes: momentum, l2_factor (check()'s own options: model, data"),
    (dict(task=1, epoch=3), ValueError, "has no hyperparameter 'epoch'"),
    (dict(task=2, momentum="0.9"), TypeError, "hyperparameters are numbers"),
    (dict(task=3), ValueError, "check(cls, task=3, model=...)"),
    (dict(task=5), ValueError, "unknown task '5'"),
    (dict(task=1, head="softmax"), ValueError, "Invalid head value: 'softmax' (choose from mse, ce, bce)"),
    (dict(task=1, epochs=0), ValueError, "Invalid epochs value: 0 (expected an integer >= 1)"),
    (dict(task=1, steps=0), ValueError, "steps must be a positive integer, got 0"),
    (dict(task=2, momentum=1.5), ValueError, "momentum=1.5: Invalid momentum value: 1.5"),
])
def test_usage_errors_say_what_is_accepted(data, kwargs, error, words):
    with pytest.raises(error) as raised:
        check(make_network(), data=data, progress=False, **kwargs)
    assert words in str(raised.value)


def test_a_missing_data_directory_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="no such"):
        check(make_network(), task=1, data=str(tmp_path / "nope"), progress=False)


def test_data_is_loaded_once_per_process():
    assert dataset("embedded") is dataset("embedded")


# --- the example notebook, in a real kernel ------------------------------------------------------------------


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The walkthrough run by nbclient in a kernel of this very interpreter, with no global Jupyter state: a
    kernelspec pointing at sys.executable in a temporary JUPYTER_PATH (found before any installed "python3")."""
    import nbclient  # the test extra has both: this test runs, never skips
    import nbformat
    home = tmp_path_factory.mktemp("jupyter")
    spec = home / "kernels" / "crosscheck-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "crosscheck test", "language": "python"}))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JUPYTER_PATH", str(home))
        env.setenv("JUPYTER_RUNTIME_DIR", str(home / "runtime"))
        env.setenv("IPYTHONDIR", str(home / "ipython"))
        env.delenv("MPLBACKEND", raising=False)  # the kernel's own inline backend, so figures come back as PNG
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        nbclient.NotebookClient(notebook, kernel_name="crosscheck-test", timeout=120,
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()  # raises on error
    return {tag: cell.outputs for cell in notebook.cells for tag in cell.metadata.get("tags", [])}


def _html(outputs) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in outputs)


@pytest.mark.parametrize("tag", ["check-base", "check-task1", "check-task2"])
def test_notebook_correct_classes_pass(executed, tag):
    assert "PASS</b>" in _html(executed[tag]) and "FAIL" not in _html(executed[tag])


def test_notebook_buggy_class_fails_with_its_hint(executed):
    html = _html(executed["check-buggy"])
    assert "task 1: FAIL</b>" in html and SUMMED_HINT in html
    assert "image/png" in executed["plot"][0]["data"]
    printed = "".join(o.get("text", "") for o in executed["data"])
    assert printed.startswith("False\n") and SUMMED_HINT in printed
