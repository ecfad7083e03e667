"""Gradescope's results.json from a report: one test per check per model, one point each.

Format (gradescope-autograders.readthedocs.io, "Autograder Specifications"): top-level "score",
"execution_time", "output", "visibility", "stdout_visibility" and "tests", each test with "name", "number",
"score", "max_score", "status" ("passed"/"failed"), "output" and "visibility". The total is the number of
checks passed, so the score is proportional to them; scale it with the assignment's points in Gradescope.
A failing test whose values were traced to a line of the student's code shows it as the text report does.
Informational rows (e.g. eps_placement) are listed with max_score 0 and no status: they are not tests.
The student's own captured output goes into the top-level "output", labelled as such and truncated.
"""

from __future__ import annotations

import json
from pathlib import Path

from crosscheck.files import write_file
from crosscheck.report import Report, source_lines


def results(report: Report, output: str = "", seconds: float | None = None, visibility: str = "visible") -> dict:
    tests = []
    for m, (model, checks) in enumerate(report.results.items(), start=1):
        for c, r in enumerate(checks, start=1):
            text = f"{r.verdict}: {r.message or ''}"
            if r.hint:
                text += f"\nhint{' (a convention, not a bug: you decide)' if r.kind == 'convention' else ''}: {r.hint}"
            text += "".join(f"\n{line}" for line in source_lines(r))  # the line of the student's code it blames
            test = {"name": f"{model}: {r.name}", "number": f"{m}.{c}", "score": 0.0, "max_score": 0.0,
                    "output": text, "visibility": visibility}
            if r.scored:  # an informational row is shown with no points and no status: it is not a test
                test.update(score=1.0 if r.passed else 0.0, max_score=1.0, status="passed" if r.passed else "failed")
            tests.append(test)
    summary = str(report).splitlines()[0] if report.results else f"task {report.task}"
    out = {"score": sum(t["score"] for t in tests), "output": summary + (f"\n\n{labelled(output)}" if output else ""),
           "visibility": visibility, "stdout_visibility": "hidden", "tests": tests}
    if seconds is not None:
        out["execution_time"] = round(seconds, 2)
    return out


def error_results(message: str) -> dict:
    """A submission that could not be checked at all (e.g. the expected file is missing): score 0, one test."""
    return {"score": 0.0, "output": message, "visibility": "visible", "stdout_visibility": "hidden",
            "tests": [{"name": "submission", "number": "1.1", "score": 0.0, "max_score": 1.0, "status": "failed",
                       "output": message, "visibility": "visible"}]}


def labelled(output: str) -> str:
    """The student's captured stdout/stderr, fenced and prefixed so it can never pass for the grader's text."""
    lines = "\n".join(f"  | {line}" for line in output.splitlines())
    return f"--- the submission's own output (captured; not a verdict) ---\n{lines}\n--- end of the submission's output ---"


def write(data: dict, path: str | Path) -> None:
    write_file(path, json.dumps(data, indent=2, allow_nan=False) + "\n")
