"""Grade a class: many submissions of one task checked as one batch, torch's side computed once per spec.

Plain values in (no argparse). `expand` turns `path:Name` patterns (globs allowed) into Submissions; `grade`
checks each exactly as one `--student` run does, in its own sandboxed worker, serially here or spread with
crosscheck.parallel over local processes or a dask cluster, and gives back every StudentRun in submission order;
`class_table` has one row per submission, `summary` says it in a few lines, `write` puts the files under a folder.

A submission that does not exist is a FAIL row with its reason; one that crashes, hangs or is hostile fails in its
own worker, under its own limits, and changes no other row. What a batch saves over a `compare.py` per submission
is what they all share: the imports, the data, and torch's side of each spec (crosscheck.checks.Reference), paid
once per process instead of once per submission.
"""

from __future__ import annotations

import glob
import html
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd
from tqdm.auto import tqdm

from crosscheck import gradescope
from crosscheck.checks import Plan, References
from crosscheck.data import Dataset, check_fit, resolve
from crosscheck.diagnose import diagnose
from crosscheck.files import write_file
from crosscheck.parallel import Workers, fingerprint, spread, worker_dataset
from crosscheck.report import Report, place
from crosscheck.results import CheckResult
from crosscheck.spec import Spec, run_keys
from crosscheck.student.runner import STUDENT_STEPS, StudentRun, run_student, sandbox_factories
from crosscheck.student.nielsen_side import LayoutChoice
from crosscheck.student.sandbox import Limits, StudentRef, isolation_summary

COLUMNS = ["submission", "verdict", "check", "step", "layer", "param", "code_line", "hint", "message", "defect",
           "seconds"]
DEFECT_CHARS = 90  # a defect's label: the hint's first clause, cut here
MISSING = "submission missing or unreadable"
NOT_LOADED = "could not load the class (a syntax or import error, no such class or method, its constructor)"
CODE_FAILED = "the code failed (an exception, a timeout, a bad value)"


class GradeUsageError(ValueError):
    """The batch cannot be set up (a pattern without :Name, a glob that matches nothing): one line, exit 2."""


@dataclass(frozen=True)
class Submission:
    """One submission: its name in the class table (`path:Name` as expanded), and what to load or why it cannot be."""

    name: str
    student: StudentRef | None = None
    problem: str | None = None  # why it cannot be checked: its row is a FAIL with this reason


def expand(patterns: Iterable[str]) -> list[Submission]:
    """`path:Name` patterns, the path a glob or not ('subs/*.ipynb:Task1', 'subs/*/lab.py:Task2'), in the order
    given, each glob's matches sorted, a submission named twice kept once. A plain path that does not exist is a
    Submission with its problem (a FAIL row); a glob that matches nothing is a GradeUsageError."""
    out: dict[str, Submission] = {}
    for pattern in patterns:
        path, sep, name = str(pattern).rpartition(":")
        if not sep or not path or not name.isidentifier():
            raise GradeUsageError(f"--student expects path/to/file.py:ClassName (globs allowed), got {pattern!r}")
        paths = [path]
        if glob.has_magic(path):
            paths = sorted(glob.glob(path, recursive=True))
            if not paths:
                raise GradeUsageError(f"--student {pattern}: no file matches {path}")
        for match in paths:
            text = f"{os.path.normpath(match)}:{name}"
            out.setdefault(text, _submission(text))
    return list(out.values())


def _submission(text: str) -> Submission:
    try:
        return Submission(text, StudentRef.parse(text))
    except ValueError as error:  # no such file, not .py/.ipynb, a corrupt notebook: said in its row
        return Submission(text, problem=str(error).removeprefix("--student: "))


@dataclass
class ClassRun:
    """A graded class: each submission's run (its report, captured output and seconds), in submission order."""

    task: str
    data_source: str
    submissions: list[Submission]
    runs: list[StudentRun]

    @property
    def passed(self) -> bool:
        return all(run.passed for run in self.runs)


def grade(submissions: list[Submission], task: str, specs: list[Spec], data: Dataset, *, steps: int = STUDENT_STEPS,
          limits: Limits = Limits(), choice: LayoutChoice = LayoutChoice(), workers: Workers = Workers(),
          show_progress: bool = False) -> ClassRun:
    """Every submission checked as one `--student` run checks it (specs: crosscheck.student.runner.prepare_specs's,
    one model), with the same results whichever way `workers` spreads them."""
    if not submissions:
        raise GradeUsageError("no submissions to grade")
    check_fit(specs, data)  # once, before any work: a spec that does not fit is the TA's usage error, not a row
    runs: list = [None] * len(submissions)
    with tqdm(total=len(submissions), desc=f"task {task}", unit="submission", disable=not show_progress) as bar:
        for i, run in _unordered(submissions, task, specs, data, Plan(steps=steps), limits, choice, workers):
            runs[i] = run
            bar.update()
    return ClassRun(task, data.source, submissions, runs)


def _unordered(submissions: list[Submission], task: str, specs: list[Spec], data: Dataset, plan: Plan,
               limits: Limits, choice: LayoutChoice, workers: Workers) -> Iterator[tuple[int, StudentRun]]:
    """(index, run) as each submission finishes."""
    if workers.serial:
        references = References()
        for i, submission in enumerate(submissions):
            yield i, check_submission(submission, task, specs, data, plan, limits, references, choice)
        return
    source, digest = resolve(workers.source), fingerprint(data)
    calls = ((i, s, task, specs, plan, limits, source, digest, data.source, choice)
             for i, s in enumerate(submissions))
    yield from spread(_in_worker, calls, workers)


_WORKER_REFERENCES = References()  # a worker process's: torch's side computed once there, for all it checks


def _in_worker(i: int, submission: Submission, task: str, specs: list[Spec], plan: Plan, limits: Limits,
               source: str, digest: str, data_name: str, choice: LayoutChoice) -> tuple[int, StudentRun]:
    run = check_submission(submission, task, specs, worker_dataset(source, digest), plan, limits, _WORKER_REFERENCES,
                           choice)
    run.report.data_source = data_name  # the client's name for the same arrays (a worker's own names a resolved path)
    return i, run


def check_submission(submission: Submission, task: str, specs: list[Spec], data: Dataset, plan: Plan,
                     limits: Limits, references: References, choice: LayoutChoice = LayoutChoice()) -> StudentRun:
    """One submission's run, exactly as `--student` checks it; one that cannot be checked is a load FAIL."""
    if submission.student is None:
        return _not_checked(submission, task, specs, data, submission.problem or MISSING)
    factory, function = sandbox_factories(submission.student, limits, choice)  # its own deadline, from now
    try:
        run = run_student(task, specs, data, f"student {submission.student}", factory, function, plan, diagnose,
                          references=references)
        run.report.isolation = isolation_summary(limits)
        return run
    except Exception as error:  # noqa: BLE001 - the harness failing on one submission is that row, not the batch
        return _not_checked(submission, task, specs, data, f"the harness could not check it: "
                                                           f"{type(error).__name__}: {error}")


def _not_checked(submission: Submission, task: str, specs: list[Spec], data: Dataset, reason: str) -> StudentRun:
    report = Report(task, data_source=data.source, subject=f"student {submission.name}")
    report.results = {key: [CheckResult("load", False, message=reason, candidate_error=reason)]
                      for key in run_keys(specs)}
    return StudentRun(report)


# --- the class table, its summary, its files ------------------------------------------------------------------


def class_table(graded: ClassRun) -> pd.DataFrame:
    """One row per submission: its verdict, and where it first fails (check, step, layer, param, and the line of
    its code when traced), the hint or the reason, a short defect label to count, and its seconds."""
    rows = []
    for submission, run in zip(graded.submissions, graded.runs):
        row = {"submission": submission.name, "verdict": "PASS" if run.passed else "FAIL",
               "seconds": round(run.seconds, 2)}
        failure = run.report.first_failure()
        if failure:
            r = failure[1]
            row.update(check=r.name, step=r.step, layer=r.layer, param=r.param,
                       code_line=place(r.source) if r.source else None, hint=r.hint, message=r.message,
                       defect=defect(submission, r))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS).astype({"step": "Int64", "layer": "Int64"})


def defect(submission: Submission, result: CheckResult) -> str:
    """What went wrong, short enough to count across a class: the hint's first clause (the evidence it read, before
    its explanation), or the kind of failure where there is no hint."""
    if submission.student is None:
        return MISSING
    if result.hint:
        clause = _first_clause(result.hint)
        return clause if len(clause) <= DEFECT_CHARS else clause[: DEFECT_CHARS - 1] + "…"
    if result.name == "load":
        return NOT_LOADED
    return f"{result.name}: {CODE_FAILED if result.candidate_error else 'values differ (no hint)'}"


def _first_clause(hint: str) -> str:
    """The hint up to its first ': ' or '; ', parentheses left out: they hold a student's own numbers and tensor
    names ('(weights[0]) (100 × torch's)'), which would split one defect into many."""
    text = hint
    while (plainer := re.sub(r" ?\([^()]*\)", "", text)) != text:
        text = plainer
    return re.split(r": |; ", text, maxsplit=1)[0]


def summary(graded: ClassRun, table: pd.DataFrame) -> str:
    """The class at a glance: each submission's verdict and first failure, then the counts a TA reads first."""
    verdicts, n = Counter(table["verdict"]), len(table)
    lines = [f"task {graded.task}: {n} submission{'s' * (n != 1)}, {verdicts['PASS']} PASS, {verdicts['FAIL']} FAIL  "
             f"(data: {graded.data_source})"]
    shown = table[["submission", "verdict", "check", "step", "layer", "param"]].astype("string").fillna("")
    with pd.option_context("display.width", 200, "display.max_rows", None, "display.max_colwidth", 80):
        lines += [line.rstrip() for line in shown.to_string(index=False).splitlines()]
    failed = table[table["verdict"] == "FAIL"]
    if len(failed):  # most common first; ties in the table's order
        checks = Counter(failed["check"]).most_common()
        lines.append("first failing check: " + ", ".join(f"{name} {count}" for name, count in checks))
        lines.append("defects, most common first:")
        lines += [f"  {count:4d}  {label}" for label, count in Counter(failed["defect"]).most_common()]
    return "\n".join(lines)


def submission_folders(submissions: list[Submission]) -> list[str]:
    """A folder name per submission, unique and readable: its path below the submissions' common folder, with
    the class name ('alice/lab.py:Task1' -> 'alice__lab.py__Task1')."""
    paths = [os.path.abspath(s.name.rpartition(":")[0]) for s in submissions]
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    names: list[str] = []
    for submission, path in zip(submissions, paths):
        base = re.sub(r"[^\w.-]", "_", "__".join([*Path(os.path.relpath(path, root)).parts,
                                                    submission.name.rpartition(":")[2]]))
        name, k = base, 1
        while name in names:
            k += 1
            name = f"{base}-{k}"
        names.append(name)
    return names


def write(graded: ClassRun, table: pd.DataFrame, out: str | Path, gradescope_name: str | None = None) -> None:
    """Every file of a batch under `out`: per submission its folder with report.json (the --json schema) and,
    with gradescope_name, Gradescope's results; then class.csv, class.html and summary.png. Called after every
    worker is dead; whatever a submission left at one of these paths (a directory, a link) is replaced."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for folder, submission, run in zip(submission_folders(graded.submissions), graded.submissions, graded.runs):
        where = _fresh_folder(out / folder)
        run.report.write_json(_fresh_file(where / "report.json"))
        if gradescope_name:
            results = (gradescope.error_results(f"could not check the submission: {submission.problem}")
                       if submission.student is None else
                       gradescope.results(run.report, _output(run), run.seconds))
            gradescope.write(results, _fresh_file(where / gradescope_name))
    write_file(_fresh_file(out / "class.csv"), table.to_csv(index=False))
    write_file(_fresh_file(out / "class.html"), class_html(graded, table))
    from crosscheck.plot import plot_class  # noqa: PLC0415 - matplotlib only when plotting
    plot_class(table, _fresh_file(out / "summary.png"))


def _output(run: StudentRun) -> str:
    """The student's captured output, as the single run hands it to Gradescope (labelled per model if several)."""
    return "\n".join(f"[{model}]\n{text}" if len(run.output) > 1 else text for model, text in run.output.items()
                     if text)


def _fresh_folder(path: Path) -> Path:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    path.mkdir(exist_ok=True)
    return path


def _fresh_file(path: Path) -> Path:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    return path


_VERDICT_COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e"}


def class_html(graded: ClassRun, table: pd.DataFrame) -> str:
    """The class table as HTML (pandas Styler), every string escaped: messages quote the students' code."""
    styled = (table.style.hide(axis="index")
              .format(na_rep="", escape="html")
              .format("{:.2f}", subset=["seconds"])
              .map(lambda verdict: f"color: {_VERDICT_COLOURS[verdict]}; font-weight: bold", subset=["verdict"]))
    title = html.escape(summary(graded, table).splitlines()[0])
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\n"
            f"<h1>{title}</h1>\n{styled.to_html()}\n</body></html>\n")
