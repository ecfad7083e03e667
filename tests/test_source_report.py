"""Showing the line of a student's code a failure is traced to (CheckResult.source): the text report, its JSON,
Jupyter's HTML, Gradescope's results and the class table; every string the submission controls kept on its line,
bounded and escaped. Reports are built from synthetic results: nothing here runs a student's code."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from crosscheck import gradescope
from crosscheck.grade import ClassRun, Submission, class_table
from crosscheck.report import MAX_CHARS, SOURCE_CHARS, Report
from crosscheck.results import CheckResult, Source, SourceLine
from crosscheck.student.runner import StudentRun
from crosscheck.student.sandbox import StudentRef

BACKPROP = Source(
    file="network.py", function="Network.backprop", line=32, code="nabla_b[0] = np.sum(delta, axis=0)",
    name="nabla_b[0]", expected="∂L/∂b₀", found="none of torch's intermediates",
    why="It sums delta after multiplying it by the weights.", iteration=1,
    last_good="network.py:30 `delta = (a - y) / n` (∂L/∂z₁)",
    context=[SourceLine(31, "        delta = np.dot(delta, w.T)"),
             SourceLine(32, "        nabla_b[0] = np.sum(delta, axis=0)"),
             SourceLine(33, "        nabla_w[0] = np.dot(x.T, delta)")])
NOTEBOOK = Source(file="lab.ipynb", function="Network.feedforward", line=12, code="a = z", name="a",
                  expected="a₀ = σ(z₀)", found="z₀", cell=4)
NOTE = "not traced: the code installs its own tracer (sys.settrace)"
LONG = "x" * 10_000
HOSTILE = Source(
    file="<script>alert('file')</script>\ntask 1: PASS", function="f\x1b[2K\rtask 1: PASS", line=7,
    code="y = x  # \x1b[32mPASS\x1b[0m\n\u2028first divergence: none" + LONG, name="<b>y</b>\r\ntask 1: PASS",
    expected="a\u202eb", found=LONG, why="\x85" + LONG, last_good=LONG,
    context=[SourceLine(7, "\ty = x\n<script>alert('code')</script>" + LONG)] * 50)
MESSAGE = "biases[0] differ"


def report(source: Source | None = None, note: str = "") -> Report:
    """One failing gradients check (with the source or note given) after a passing forward one."""
    failing = CheckResult("gradients", False, step=0, layer=0, param="bias", message=MESSAGE, source=source,
                          source_note=note, hint="the bias gradient differs")
    return Report("1", {"softmax-ce": [CheckResult("forward", True), failing]}, data_source="embedded")


def block(text: str) -> list[str]:
    """The lines from 'in your code' to the report's table."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  in your code: "))
    end = next(i for i, line in enumerate(lines) if line.startswith("model"))
    return lines[start:end]


def test_the_text_report_points_at_the_line():
    assert block(str(report(BACKPROP))) == [
        "  in your code: network.py:32, in Network.backprop (2nd pass of its loop): "
        "`nabla_b[0] = np.sum(delta, axis=0)`",
        "       31 |         delta = np.dot(delta, w.T)",
        "    →  32 |         nabla_b[0] = np.sum(delta, axis=0)",
        "       33 |         nabla_w[0] = np.dot(x.T, delta)",
        "  `nabla_b[0]` should be ∂L/∂b₀; it is none of torch's intermediates. "
        "It sums delta after multiplying it by the weights.",
        "  last line that matches torch: network.py:30 `delta = (a - y) / n` (∂L/∂z₁)"]
    lines = str(report(BACKPROP)).splitlines()
    assert lines.index("  hint: the bias gradient differs") + 1 == lines.index(block(str(report(BACKPROP)))[0])


def test_a_notebook_cell_without_context_shows_the_line_alone():
    assert block(str(report(NOTEBOOK))) == [
        "  in your code: lab.ipynb, cell 4, line 12, in Network.feedforward: `a = z`",
        "    →  12 | a = z",
        "  `a` should be a₀ = σ(z₀); it is z₀."]


def test_a_note_says_why_no_line_is_named():
    assert block(str(report(note=NOTE))) == [f"  in your code: {NOTE}"]
    assert "in your code" not in str(report())


def test_the_optimizer_row_points_at_its_own_line():
    optimizer = CheckResult("optimizer", False, message="the update differs", hint="momentum", source=NOTEBOOK)
    first = CheckResult("updates", False, message="weights differ", source=BACKPROP)
    text = str(Report("2", {"momentum": [first, optimizer]}))
    assert text.count("  in your code: ") == 2 and "  in your code: lab.ipynb, cell 4, line 12" in text


def test_the_json_report_carries_the_source():
    checks = json.loads(json.dumps(report(BACKPROP).to_dict(), allow_nan=False))["checks"]
    assert "source" not in checks[0] and "source_note" not in checks[0]
    source = checks[1]["source"]
    assert {"file", "function", "line", "code", "name", "expected", "found", "why", "last_good"} <= set(source)
    assert (source["file"], source["line"], source["iteration"], source["name"]) == ("network.py", 32, 1, "nabla_b[0]")
    assert source["context"][1] == {"number": 32, "code": "        nabla_b[0] = np.sum(delta, axis=0)"}
    assert checks[1]["message"] == MESSAGE and checks[1]["hint"] == "the bias gradient differs"
    assert json.loads(report(NOTEBOOK).to_json())["checks"][1]["source"]["cell"] == 4
    noted = json.loads(report(note=NOTE).to_json())["checks"][1]
    assert noted["source_note"] == NOTE and "source" not in noted


def test_the_html_highlights_the_culprit():
    page = report(BACKPROP)._repr_html_()
    assert ('<span style="background: #ffebe9">    →  32 |         nabla_b[0] = np.sum(delta, axis=0)</span>'
            in page)
    assert "       31 |         delta = np.dot(delta, w.T)\n" in page and page.count("#ffebe9") == 1
    assert "should be ∂L/∂b₀; it is none of torch&#x27;s intermediates" in page


def test_gradescope_shows_the_same_block():
    grades = gradescope.results(report(BACKPROP))
    failing = next(t for t in grades["tests"] if t["status"] == "failed")
    assert failing["output"].splitlines()[2:] == block(str(report(BACKPROP)))
    assert "in your code" not in next(t for t in grades["tests"] if t["status"] == "passed")["output"]
    noted = next(t for t in gradescope.results(report(note=NOTE))["tests"] if t["status"] == "failed")
    assert noted["output"].endswith(f"\n  in your code: {NOTE}")


def test_hostile_strings_stay_on_their_lines_bounded_and_escaped():
    text = str(report(HOSTILE))
    lines = block(text)
    assert len(lines) == 2 + 5 + 1  # the place, at most 5 lines of context, what it should be, the last good line
    assert [line for line in text.splitlines() if line not in lines] == str(report()).splitlines()  # no line forged
    assert "\x1b" not in text and "\r" not in text and "\u2028" not in text and "\u202e" not in text
    assert "\\r" in lines[0] and "\\n" in lines[0] and "\\u202e" in lines[-2] and "\\x85" in lines[-2]
    assert max(len(line) for line in lines) < 4 * MAX_CHARS
    assert all(len(line) < 2 * SOURCE_CHARS["code"] for line in lines[1:-2])
    entry = json.loads(report(HOSTILE).to_json())["checks"][1]
    source = entry["source"]
    assert all(len(value) <= MAX_CHARS for value in source.values() if isinstance(value, str))
    assert len(source["context"]) == 5 and "\n" not in source["code"] and "\x1b" not in source["function"]
    page = report(HOSTILE)._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;file&#x27;)" in page and "<b>y</b>" not in page
    failing = next(t for t in gradescope.results(report(HOSTILE))["tests"] if t["status"] == "failed")
    assert failing["output"].splitlines()[2:] == lines


def test_the_class_table_names_the_first_failures_line():
    names = ["a/lab.py:Network", "b/lab.py:Network", "c/lab.py:Network"]
    submissions = [Submission(name, StudentRef(Path(name.split(":")[0]), "Network")) for name in names]
    runs = [StudentRun(report(BACKPROP)), StudentRun(report(note=NOTE)), StudentRun(report(HOSTILE))]
    table = class_table(ClassRun("1", "embedded", submissions, runs))
    column = list(table["code_line"])
    assert column[0] == "network.py:32" and pd.isna(column[1])
    assert "\n" not in column[2] and column[2].endswith(":7") and len(column[2]) <= SOURCE_CHARS["file"] + 2
