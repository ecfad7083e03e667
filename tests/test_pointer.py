"""Point at the line: the tracer (what a line reads and makes), torch's intermediates, the trace's wire format, and
the whole path through the command line, sandboxed: text, JSON and Gradescope name the line for the lab's layout,
Nielsen's and a notebook; hostile code cannot turn the tracer against the harness (the FAIL stands, with a note).
The corpus of single-defect classes and its line score: tests/test_defect_corpus.py, bench/bench_diagnosis.py."""

import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from crosscheck.blame import match
from crosscheck.checks import initial_params
from crosscheck.intermediates import functions, intermediates
from crosscheck.spec import preset
from crosscheck.student.loader import import_student
from crosscheck.student.runner import check_student
from crosscheck.student.sandbox import Limits
from crosscheck.student.tracer import Trace, statements, trace_call
from tests.students.defects.manifest import ENTRIES, accepted_lines

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = ROOT / "tests" / "students"
HOSTILE = STUDENTS / "hostile_tracing.py"


# --- the tracer on its own -----------------------------------------------------------------------------------


def test_a_line_reads_what_it_loads_not_what_it_stores_into():
    code = ["def f(self, delta, activations, l, nabla_w):\n",
            "    nabla_w[-l] = np.dot(delta, activations[-l - 1].T)\n",
            "    nabla_w[l] += delta.sum(0)\n",
            "    return ([a.sum(0) for a in activations], [delta, self.zs[-1]])\n"]
    lines = statements(code)
    names = lambda line: sorted({base for base, _ in lines[line][2]})  # noqa: E731
    assert names(2) == ["activations", "delta", "l", "np.dot"]  # not nabla_w: it is stored into
    assert names(3) == ["delta.sum", "l", "nabla_w"]  # += reads its target; `delta.sum` resolves to delta
    parts = {target: sorted(base for base, _ in reads) for target, reads in lines[4][3]}
    assert parts["return[0]"] == ["activations"] and parts["return[1][1]"] == ["self.zs"]


def _tiny(tmp_path: Path) -> Path:
    (tmp_path / "tiny.py").write_text(
        "import numpy as np\n"
        "def double(v):\n"
        "    return 2 * v\n"
        "def f(x, w):\n"
        "    zs = []\n"
        "    for k in range(2):\n"
        "        z = x @ w\n"
        "        zs.append(z)\n"
        "    a = double(zs[-1])\n"
        "    a *= 3.0\n"
        "    return a, zs\n")
    return tmp_path / "tiny.py"


def test_the_trace_records_lines_passes_reads_calls_and_in_place_changes(tmp_path):
    f, folder = import_student(_tiny(tmp_path), "f")
    x, w = np.arange(6.0).reshape(2, 3), np.ones((3, 2))
    trace = trace_call(f, (x, w), folder, {(2, 2), (2, 3), (3, 2)})
    by_name = {}
    for b in trace.bindings:
        by_name.setdefault(b.name, []).append(b)
    frames = {f.function: f for f in trace.frames}
    (z0, z1) = by_name["z"]
    assert (z0.line, z0.iteration, z1.iteration) == (7, 0, 1)  # one line, two passes of its loop
    assert set(z0.reads) == {by_name["x"][0].seq, by_name["w"][0].seq}
    returned = frames["double"].returned[0]
    assert trace.bindings[returned].line == 3 and frames["double"].call_line == 9
    (scaled,) = by_name["a"]  # a = double(...) is the helper's array itself; a *= 3 changes it in place
    assert scaled.line == 10 and scaled.replaced == returned
    assert trace.result["return[0]"] == scaled.seq and trace.result["return[1][1]"] == z1.seq
    assert trace.lines["tiny.py|"][9] == "    a = double(zs[-1])"
    assert Trace.from_wire(*trace.to_wire()) == trace


def test_a_malformed_trace_is_a_value_error_and_nothing_else():
    trace = Trace()
    header, arrays = trace.to_wire()
    rng = np.random.default_rng(0)
    good = {"bindings": [[0, 0, 3, 0, "a", [], None]], "frames": [[0, "f.py", None, "f", [], [0], None, None, 3]],
            "result": {"return": 0}, "lines": {"f.py|": {"3": "return a"}}, "note": "", "stores": []}
    assert len(Trace.from_wire(good, [np.zeros(2)]).bindings) == 1
    bad = [None, {}, dict(good, bindings="x"), dict(good, result={"return": 5}), dict(good, frames=[[1] * 9]),
           dict(good, bindings=[[0, 0, 3, 0, "a", [7], None]]), dict(good, stores=[[0, 1, "n", 9]]),
           dict(good, bindings=[[0, 0, 3, 0, "a", [], -1]]), dict(good, lines={"f": {"x": 1}})]
    for header in bad:
        with pytest.raises(ValueError):
            Trace.from_wire(header, [np.zeros(2)])
    with pytest.raises(ValueError):
        Trace.from_wire(good, [])  # an array per binding
    for _ in range(200):  # random corruption of a real header: a ValueError or a trace, never another exception
        noisy = json.loads(json.dumps(good))
        noisy["bindings"][0][int(rng.integers(7))] = [None, "x", -3, 10**6, [], {}][int(rng.integers(6))]
        try:
            Trace.from_wire(noisy, [np.zeros(2)])
        except ValueError:
            pass


# --- torch's side -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["mse", "ce", "bce"])
def test_intermediates_are_torchs_and_agree_with_each_other(data, head):
    """δ = ∂L/∂a ⊙ f′(z) and ∂L/∂W = aᵀδ hold between what autograd retained (no retained grad is polluted)."""
    spec = preset("1")[0].replace(head=head)
    params = initial_params(spec)
    x, y = data.x_train[:8], data.y_train[:8]
    refs = {(r.kind, r.layer): r.array for r in intermediates(spec, params, x, y)}
    np.testing.assert_allclose(refs[("delta", 0)], refs[("dL/da", 0)] * refs[("fprime", 0)], rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(refs[("dW", 1)], refs[("a", 0)].T @ refs[("delta", 1)], rtol=1e-12, atol=1e-18)
    nielsen = {(r.kind, r.layer): r.array for r in intermediates(spec, params, x[:1], y[:1], "nielsen")}
    assert nielsen[("z", 0)].shape == (30, 1) and nielsen[("W", 0)].shape == (30, 784)
    np.testing.assert_array_equal(nielsen[("delta", 1)], nielsen[("db", 1)])  # one sample: δ is ∂L/∂b


def test_a_match_names_the_intermediate_and_its_form(data):
    spec = preset("base")[0]
    refs = intermediates(spec, initial_params(spec), data.x_train[:100], data.y_train[:100])
    delta = next(r for r in refs if (r.kind, r.layer) == ("delta", 1)).array
    assert match(delta.copy(), refs).describe() == "δ₁"
    assert match(100 * delta, refs).describe() == "100 × δ₁"
    assert match(-delta.T.copy(), refs).describe() == "-1 × δ₁ transposed"
    assert match(delta + 1e-3, refs) is None
    a = next(r for r in refs if (r.kind, r.layer) == ("a", 1)).array
    assert match(a * np.arange(1.0, 101.0)[:, None], refs).describe() == "a₁ up to a per-row scale"
    names = {f.name for f in functions()}
    assert {"sigmoid", "σ′", "relu", "softmax", "(a − y)/B"} <= names


def test_right_arrays_in_the_wrong_place_name_where_they_were_put(data, tmp_path):
    """Every array is right, only the returned list is out of order (two hidden layers of 30): the return line."""
    square = STUDENTS / "defects" / "lab_layout.py"
    source = (
        "import sys\n"
        f"sys.path.insert(0, {str(square.parent)!r})\n"
        "from lab_layout import VecNetwork\n"
        "class Swapped(VecNetwork):\n"
        "    def backprop(self, x, y):\n"
        "        nabla_b, nabla_w = super().backprop(x, y)\n"
        "        return [nabla_b[1], nabla_b[0], nabla_b[2]], nabla_w\n")
    path = tmp_path / "swapped_layers.py"
    path.write_text(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run = check_student(f"{path}:Swapped", "base", data=data, epochs=1, steps=2, isolate=False,
                            layers=(784, 30, 30, 10))
    (results,) = run.report.results.values()
    first = next(r for r in results if not r.passed)
    s = first.source
    assert (first.name, s.line, s.code) == ("gradients", 7, "return [nabla_b[1], nabla_b[0], nabla_b[2]], nabla_w")
    assert s.found == "∂L/∂b₁" and "the layers are out of order" in s.why


# --- through the command line, sandboxed ---------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict, dict]:
    run = subprocess.run([sys.executable, str(ROOT / "compare.py"), "--data", "embedded", "--epochs", "1",
                          "--no-progress", "--steps", "3", "--json", str(tmp_path / "r.json"), "--gradescope",
                          str(tmp_path / "g.json"), *args], capture_output=True, text=True, timeout=600, cwd=ROOT)
    return run, json.loads((tmp_path / "r.json").read_text()), json.loads((tmp_path / "g.json").read_text())


CASES = {  # a class in each layout: the corpus entry, and what the report must say
    "lab": ("lab_layout.py:NoSigmaPrimeHidden", "σ′(z₀) is missing"),
    "nielsen": ("nielsen_layout.py:NielsenPrimeOfActivation", "is given a₀ where z₀ belongs"),
    "notebook": ("lab_notebook.ipynb:Task1Logits", "is given z₁ where a₁ belongs"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_line_is_named_in_text_json_and_gradescope(tmp_path, case):
    name, words = CASES[case]
    entry = next(e for e in ENTRIES if e.name == name)
    args = ["--task", entry.task, "--student", entry.ref, "--layout", entry.layout]
    run, report, gradescope = _cli(tmp_path, *args)
    assert run.returncode == 1, run.stderr
    check = next(c for c in report["checks"] if c["name"] == entry.check)
    source = check["source"]
    assert (source["file"], source.get("cell"), source["line"]) in accepted_lines(entry)
    assert {"file", "function", "line", "code", "name", "expected"} <= set(source) and words in source["why"]
    place = f"{source['file']}:{source['line']}" if "cell" not in source else \
        f"{source['file']}, cell {source['cell']}, line {source['line']}"
    assert f"in your code: {place}" in run.stdout and "→" in run.stdout
    test = next(t for t in gradescope["tests"] if t["name"].endswith(f": {entry.check}"))
    assert f"in your code: {place}" in test["output"] and words in test["output"]
    assert "/tmp/" not in json.dumps(source)  # the worker's copy of the folder never shows


# --- hostile code ---------------------------------------------------------------------------------------------


def _first_failure(data, name: str, **limits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run = check_student(f"{HOSTILE}:{name}", "1", data=data, epochs=1, steps=2,
                            limits=Limits(**limits) if limits else Limits())
    (results,) = run.report.results.values()
    return run, next(r for r in results if r.scored and not r.passed)


@pytest.mark.parametrize("name, note", [
    ("InstallsItsOwnTracer", "installs its own tracer (sys.settrace)"),
    ("ForgesTheTrace", "malformed trace"),
])
def test_a_tracer_turned_against_is_a_note_and_the_fail_stands(data, name, note):
    run, first = _first_failure(data, name)
    assert (first.name, first.ratio, first.source) == ("gradients", pytest.approx(100), None)
    assert note in first.source_note and not run.passed
    assert "100 is the batch size" in first.hint  # the diagnosis before the trace is untouched


def test_code_that_hangs_when_traced_is_killed_and_the_fail_stands(data):
    run, first = _first_failure(data, "HangsWhenTraced", call_timeout=3.0)
    assert (first.name, first.ratio, first.source) == ("gradients", pytest.approx(100), None)
    assert "not traced" in first.source_note and "did not finish within 3 s" in first.source_note


def test_a_flood_of_arrays_hits_the_caps_and_the_line_is_still_named(data):
    run, first = _first_failure(data, "FloodsTheTracer")
    assert first.name == "gradients" and first.source is not None
    assert first.source.code == "return a_last - y" and "1/100 is missing" in first.source.why
    assert "recording stopped" in first.source_note


def test_the_tracer_itself_never_runs_in_the_harness_for_a_sandboxed_class():
    """The harness side only decodes: the tracer module is the worker's (ast: nothing in the harness calls it)."""
    used = {node.attr if isinstance(node, ast.Attribute) else node.id
            for path in (ROOT / "crosscheck").rglob("*.py") if path.name not in ("tracer.py", "lab_side.py")
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.Name, ast.Attribute))}
    assert "trace_call" not in used
