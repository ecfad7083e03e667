"""Grading a class in one command (crosscheck.grade, `--student GLOB --out DIR`): a batch of correct, buggy,
hostile and missing submissions gives a row each, with the verdict a single run gives; the files under --out;
the same class.csv serially, with --jobs 2 and on a dask LocalCluster; and torch's side computed once.

The CLI batches start together (each pays ~5 s of imports) and are read by the tests. The serial one runs as its
own process so that the hostile submission finds --out on its parent's command line."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from crosscheck import checks
from crosscheck.checks import Plan, References, run_checks
from crosscheck.cli import main
from crosscheck.diagnose import diagnose
from crosscheck.grade import (CODE_FAILED, MISSING, NOT_LOADED, GradeUsageError, Submission, defect, expand,
                              submission_folders)
from crosscheck.results import CheckResult
from crosscheck.sides import NumpySide, TorchSide
from crosscheck.spec import MODELS
from crosscheck.student.runner import in_process_factories, run_student, student_specs
from crosscheck.student.isolation import available
from crosscheck.student.sandbox import StudentRef

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = ROOT / "tests" / "students"
COMMON = ["--task", "base", "--data", "embedded", "--epochs", "1", "--no-progress", "--timeout", "5"]
CLASS = {  # a student's folder -> the class its lab.py hands in, as `Network`
    "alice": "lab_base:Network",
    "bob": "buggy:SignErrorNetwork",
    "carol": "hostile:ForgesTheClassReport",
    "dave": "hostile:EndlessLoop",
    "erin": "hostile:PrintsPass",
    "frank": "buggy:HalvesEtaAfter20Steps",
}
PATTERNS = ["class/*/lab.py:Network", "class/gina/lab.py:Network", "class/alice/lab_base.py:Nope"]
EXPECTED = {  # submission -> (verdict, first failing check, words of its reason)
    "class/alice/lab.py:Network": ("PASS", None, None),
    "class/bob/lab.py:Network": ("FAIL", "updates", "got = -1 x torch everywhere"),
    "class/carol/lab.py:Network": ("FAIL", "updates", None),
    "class/dave/lab.py:Network": ("FAIL", "gradients", "backprop did not finish within 5 s"),
    "class/erin/lab.py:Network": ("FAIL", "updates", None),
    "class/frank/lab.py:Network": ("FAIL", "curves", "epoch 0"),
    "class/gina/lab.py:Network": ("FAIL", "load", "no such file: class/gina/lab.py"),
    "class/alice/lab_base.py:Nope": ("FAIL", "load", "lab_base.py has no 'Nope'"),
}
FORGES = not available().strong  # whether carol's forgery can reach --out at all (root + namespaces stop it)
FOLDERS = ["alice__lab.py__Network", "bob__lab.py__Network", "carol__lab.py__Network", "dave__lab.py__Network",
           "erin__lab.py__Network", "frank__lab.py__Network", "gina__lab.py__Network", "alice__lab_base.py__Nope"]


def make_class(folder: Path) -> None:
    """One folder per student, each with the test submissions beside a lab.py that hands in its class."""
    for student, handed_in in CLASS.items():
        module, name = handed_in.split(":")
        shutil.copytree(STUDENTS, folder / "class" / student, ignore=shutil.ignore_patterns("__pycache__"))
        (folder / "class" / student / "lab.py").write_text(f"from {module} import {name} as Network\n")


def _compare(args: list[str], cwd: Path) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, str(ROOT / "compare.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    return done.returncode, done.stdout, done.stderr


def _batch_args(out: str) -> list[str]:
    return [arg for pattern in PATTERNS for arg in ("--student", pattern)] + ["--out", out, "--gradescope", *COMMON]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[int, str, str]]:
    """The serial batch, the --jobs 2 batch and bob's single run (all from the class's parent folder); each run's
    (exit code, stdout, stderr), its folder under runs['dir']."""
    work = tmp_path_factory.mktemp("grade")
    make_class(work)
    commands = {"serial": _batch_args("serial"), "jobs2": [*_batch_args("jobs2"), "--jobs", "2"],
                "single": ["--student", "class/bob/lab.py:Network", "--json", "bob.json", *COMMON]}
    with ThreadPoolExecutor(3) as pool:
        done = dict(zip(commands, pool.map(lambda args: _compare(args, work), commands.values())))
    return {**done, "dir": work}


def _table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "class.csv", keep_default_na=False)


def test_a_row_per_submission_with_its_verdict(runs):
    code, out, err = runs["serial"]
    assert code == 1 and "Traceback" not in err, out + err
    table = _table(runs["dir"] / "serial")
    assert list(table["submission"]) == list(EXPECTED)
    for row in table.itertuples():
        verdict, check, words = EXPECTED[row.submission]
        assert (row.verdict, row.check or None) == (verdict, check), row
        assert words is None or words in row.message, row
    bob = table.set_index("submission").loc["class/bob/lab.py:Network"]
    assert "the other way" in bob["hint"] and bob["step"] == "0"


def test_the_summary_counts_the_class(runs):
    _, out, _ = runs["serial"]
    lines = out.splitlines()
    assert lines[0].startswith("task base: 8 submissions, 1 PASS, 7 FAIL  (data: embedded")
    assert "first failing check: updates 3, load 2, gradients 1, curves 1" in lines
    assert lines[lines.index("defects, most common first:") + 1:] != []
    assert not any("PASS" in line for line in lines[1:] if "class/alice/lab.py" not in line)  # erin's print stays hers


def test_every_file_is_written_under_out(runs):
    out = runs["dir"] / "serial"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted([*FOLDERS, *(["forged"] if FORGES else [])])
    for folder, (submission, (verdict, _, _)) in zip(FOLDERS, EXPECTED.items()):
        report = json.loads((out / folder / "report.json").read_text())
        assert report["passed"] is (verdict == "PASS")
        grades = json.loads((out / folder / "results.json").read_text())
        assert (grades["score"] == len(grades["tests"])) is (verdict == "PASS") and grades["tests"]
    assert "no such file" in json.loads((out / "gina__lab.py__Network" / "results.json").read_text())["output"]
    page = (out / "class.html").read_text()
    assert page.count("<tr>") == 1 + len(EXPECTED) and "class/dave/lab.py:Network" in page
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_hostile_submission_changes_no_other_row(runs):
    """carol writes a fake PASS into class.csv and a directory at class.html mid-run: under the strong isolation
    (root: another uid, its own mount namespace) she cannot reach --out at all; without it, the harness writes last."""
    out = runs["dir"] / "serial"
    if FORGES:
        assert (out / "forged").is_dir(), "the hostile submission did not run its trick: this test tests nothing"
    else:
        assert not (out / "forged").exists(), "the sandbox let a submission write under --out"
    assert _table(out).set_index("submission").loc["class/carol/lab.py:Network", "verdict"] == "FAIL"
    assert (out / "class.html").is_file()


def test_local_processes_give_the_serial_class(runs):
    code, out, err = runs["jobs2"]
    assert code == 1 and "Traceback" not in err, out + err
    serial, jobs2 = runs["dir"] / "serial", runs["dir"] / "jobs2"
    pd.testing.assert_frame_equal(_table(jobs2).drop(columns="seconds"), _table(serial).drop(columns="seconds"))
    for folder in FOLDERS:
        assert (jobs2 / folder / "report.json").read_text() == (serial / folder / "report.json").read_text()


def test_a_dask_cluster_gives_the_serial_class(runs, monkeypatch):
    import distributed  # in the test extra: this test must run, never skip

    monkeypatch.chdir(runs["dir"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with contextlib.redirect_stdout(io.StringIO()):
            code = main([*_batch_args("dask"), "--scheduler", cluster.scheduler_address])
    assert code == 1
    pd.testing.assert_frame_equal(_table(runs["dir"] / "dask").drop(columns="seconds"),
                                  _table(runs["dir"] / "serial").drop(columns="seconds"))


def test_a_batch_report_is_the_single_runs(runs):
    code, out, err = runs["single"]
    assert code == 1, out + err
    single = (runs["dir"] / "bob.json").read_text()
    assert (runs["dir"] / "serial" / "bob__lab.py__Network" / "report.json").read_text() == single


def test_a_class_that_passes_exits_0(runs, monkeypatch, capsys):
    """One submission with --out is a batch too: the same files, whatever the class's size."""
    monkeypatch.chdir(runs["dir"])
    assert main(["--student", "class/alice/lab.py:Network", "--out", "alone", *COMMON]) == 0
    assert capsys.readouterr().out.startswith("task base: 1 submission, 1 PASS, 0 FAIL")
    assert list(_table(runs["dir"] / "alone")["verdict"]) == ["PASS"]


@pytest.mark.parametrize("args, words", [
    (["--student", "a.py:A", "--student", "b.py:B"], "give --out DIR"),
    (["--student", "nowhere/*.py:Network", "--out", "{tmp}"], "no file matches nowhere/*.py"),
    (["--student", "a.py", "--student", "b.py:B", "--out", "{tmp}"], "expects path/to/file.py:ClassName"),
    (["--student", "a.py:A", "--out", "{tmp}", "--json", "{tmp}/r.json"], "--json and --plot are one submission's"),
    (["--student", "a.py:A", "--out", "{tmp}", "--gradescope", "{tmp}/g.json"], "not a path"),
    (["--student", "a.py:A", "--out", "{tmp}/file/below"], "--out"),
    (["--student", f"{STUDENTS}/lab_base.py:Network", "--jobs", "2"], "--jobs and --scheduler spread a batch"),
])
def test_batch_usage_errors_exit_2_with_one_line(args, words, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main([*[a.replace("{tmp}", str(tmp_path)) for a in args], *COMMON]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compare.py: error: ") and err.count("\n") == 1 and words in err, err


# --- expanding patterns -----------------------------------------------------------------------------------------


def test_globs_expand_sorted_and_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("b", "a"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "lab.py").write_text("")
    found = expand(["*/lab.py:Net", "a/lab.py:Net", "./b/lab.py:Net", "c/lab.py:Net"])
    assert [s.name for s in found] == ["a/lab.py:Net", "b/lab.py:Net", "c/lab.py:Net"]
    assert [s.student is None for s in found] == [False, False, True]
    assert found[2].problem == "no such file: c/lab.py"
    with pytest.raises(GradeUsageError, match="no file matches d/"):
        expand(["d/*.py:Net"])


def test_submission_folders_are_unique_and_readable():
    names = ["x/alice/lab.py:Task1", "x/bob/lab.py:Task1", "x/alice/lab.py:Task2", "x/a_l/ice.py:Task1"]
    folders = submission_folders([Submission(n) for n in names])
    assert folders == ["alice__lab.py__Task1", "bob__lab.py__Task1", "alice__lab.py__Task2", "a_l__ice.py__Task1"]
    assert submission_folders([Submission("a b/c.py:N"), Submission("a_b/c.py:N")]) == ["a_b__c.py__N",
                                                                                          "a_b__c.py__N-2"]


def test_a_defect_is_the_hints_first_clause_without_a_students_numbers():
    checked = Submission("a.py:N", StudentRef(Path("a.py"), "N"))
    hint = ("Only the weight gradients differ (weights[0]) (100 × torch's) while every bias gradient matches, so "
            "delta is right: the weight gradient is layer_input.T @ delta")
    assert defect(checked, CheckResult("gradients", False, hint=hint)) == (
        "Only the weight gradients differ while every bias gradient matches, so delta is right")
    assert defect(checked, CheckResult("load", False, candidate_error="no class")) == NOT_LOADED
    assert defect(checked, CheckResult("updates", False, candidate_error="timeout")) == f"updates: {CODE_FAILED}"
    assert defect(Submission("b.py:N", problem="no such file"), CheckResult("load", False)) == MISSING


# --- the reference once -----------------------------------------------------------------------------------------


SPEC, PLAN = MODELS["l2-momentum"].replace(epochs=1), Plan(steps=5)


def off_lr(spec, init):
    """A candidate that steps at 1.01 x the lr: its updates fail, and its curves too (the chaos controls run)."""
    return NumpySide(spec.replace(lr=spec.lr * 1.01), init)


@pytest.mark.parametrize("candidate", [NumpySide, off_lr])
def test_a_shared_reference_gives_a_runs_own_results(candidate, data):
    references = References()
    run_checks(SPEC, data, NumpySide, PLAN, reference=references.get(SPEC, data, PLAN))  # fills it first
    shared = run_checks(SPEC, data, candidate, PLAN, reference=references.get(SPEC, data, PLAN))
    assert pickle.dumps(shared) == pickle.dumps(run_checks(SPEC, data, candidate, PLAN))


def test_a_students_run_with_shared_references_is_its_own(data):
    """Student mode adds the probe steps; a class whose curves alone differ uses every part of the Reference."""
    specs = student_specs("base", epochs=1)
    side, function = in_process_factories(StudentRef.parse(f"{STUDENTS}/buggy.py:HalvesEtaAfter20Steps"))

    def report(references: References | None) -> str:
        return run_student("base", specs, data, "student", side, function, Plan(steps=5), diagnose,
                           references=references).report.to_json()

    references = References()
    assert report(references) == report(None) == report(references)
    assert '"name": "curves",\n      "passed": false' in report(references)


def test_torch_runs_once_for_every_candidate(data, monkeypatch):
    references = References()
    run_checks(SPEC, data, off_lr, PLAN, reference=references.get(SPEC, data, PLAN))
    calls = []
    for method in ("loss_and_grads", "step", "predict"):
        original = getattr(TorchSide, method)
        monkeypatch.setattr(TorchSide, method, lambda self, *a, _f=original, _m=method: calls.append(_m) or _f(self, *a))
    results = run_checks(SPEC, data, off_lr, PLAN, reference=references.get(SPEC, data, PLAN))
    assert calls == [] and not results[-1].passed  # the curves differ: torch's curve and controls came shared
    run_checks(SPEC, data, off_lr, PLAN)
    own = calls.count("step") + calls.count("loss_and_grads")  # a control steps through loss_and_grads + step_with
    assert own > 4 * len(data.x_train) // SPEC.batch_size  # its own curve and chaos controls


def test_references_keep_one_reference_per_spec_and_data(data):
    references = References()
    first = references.get(SPEC, data, PLAN)
    assert references.get(SPEC.replace(), data, Plan(steps=5)) is first
    assert references.get(SPEC.replace(lr=1.0), data, PLAN) is not first
    with pytest.raises(ValueError, match="another run"):
        checks.Run(SPEC.replace(seed=1), data, NumpySide, PLAN, reference=first)
