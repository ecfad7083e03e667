"""Student mode through the real command line (`python compare.py ... --student file.py:Class`) and the pytest
plugin: exit codes, the report header, the labelled student output, report files written after the worker is dead,
Gradescope's results.json. The CLI runs start together (each pays ~5 s of imports) and are read by the tests."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from crosscheck.student.isolation import available

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = ROOT / "tests" / "students"
LAB = ROOT.parent / "shared/lab/network.py"
COMMON = ["--data", "embedded", "--epochs", "1", "--no-progress"]

RUNS = {
    "lab": ["--task", "base", "--student", f"{LAB}:Network"],
    "batch_sum": ["--task", "1", "--student", f"{STUDENTS}/buggy.py:BatchSumSoftmax", "--json", "{tmp}/r.json"],
    "adamw_hparams": ["--task", "3", "--model", "adamw", "--student", f"{STUDENTS}/adamw_net.py:AdamWNetwork",
                      "--hparam", "weight_decay=0.05", "--hparam", "beta_1=0.8", "--gradescope", "{tmp}/g.json"],
    "writes_report": ["--task", "base", "--student", f"{STUDENTS}/hostile.py:WritesReport",
                      "--json", "{tmp}/r.json", "--gradescope", "{tmp}/g.json"],
    "report_dirs": ["--task", "base", "--student", f"{STUDENTS}/hostile.py:TurnsReportsIntoDirectories",
                    "--json", "{tmp}/r.json", "--gradescope", "{tmp}/g.json"],
    "prints_pass": ["--task", "base", "--student", f"{STUDENTS}/hostile.py:PrintsPass"],
    "syntax": ["--task", "base", "--student", f"{STUDENTS}/syntax_error.py:Network", "--gradescope", "{tmp}/g.json"],
    "endless": ["--task", "base", "--student", f"{STUDENTS}/hostile.py:EndlessLoop", "--timeout", "2"],
    "shouts": ["--task", "base", "--student", f"{STUDENTS}/hostile.py:ShoutsInItsError", "--json", "{tmp}/r.json",
               "--gradescope", "{tmp}/g.json"],
    "curves": ["--task", "base", "--student", f"{STUDENTS}/buggy.py:HalvesEtaAfter20Steps", "--json", "{tmp}/r.json"],
}
USAGE = {  # these stop before any work: run through crosscheck.cli.main in this process
    "no_file": ["--task", "base", "--student", "missing/network.py:Network", "--gradescope", "{tmp}/g.json"],
    "no_class": ["--task", "base", "--student", f"{STUDENTS}/lab_base.py"],
    "several_models": ["--task", "3", "--student", f"{STUDENTS}/adamw_net.py:AdamWNetwork"],
    "unknown_hparam": ["--task", "2", "--student", f"{STUDENTS}/momentum_l2.py:MomentumL2Network", "--hparam",
                       "mu=0.9"],
    "hparam_alone": ["--task", "2", "--hparam", "momentum=0.9"],
    "hparam_range": ["--task", "2", "--student", f"{STUDENTS}/momentum_l2.py:MomentumL2Network", "--hparam",
                     "momentum=1"],
    "batch_too_big": ["--task", "base", "--student", f"{STUDENTS}/lab_base.py:Network", "--batch-size", "6000"],
}


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """name -> (exit code, stdout, stderr, its tmp dir), every run started at once (3 at a time)."""

    def one(name):
        tmp = tmp_path_factory.mktemp(name)
        args = [a.replace("{tmp}", str(tmp)) for a in RUNS[name]]
        if name == "lab" and not LAB.exists():
            return None
        done = subprocess.run([sys.executable, str(ROOT / "compare.py"), *args, *COMMON], cwd=tmp,
                              capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout, done.stderr, tmp

    with ThreadPoolExecutor(3) as pool:
        return dict(zip(RUNS, pool.map(one, RUNS)))


def test_the_labs_network_passes_through_the_cli(cli):
    if cli["lab"] is None:
        pytest.skip("the lab's network.py is not next to this checkout")
    code, out, err, _ = cli["lab"]
    assert code == 0, out + err
    assert out.splitlines()[0].startswith("task base: PASS  (checked: student network.py:Network)")


def test_a_bug_exits_1_and_the_json_localises_it(cli):
    code, out, err, tmp = cli["batch_sum"]
    assert code == 1, out + err
    report = json.loads((tmp / "r.json").read_text())
    assert report["passed"] is False and report["subject"] == "student buggy.py:BatchSumSoftmax"
    first = next(c for c in report["checks"] if not c["passed"])
    assert (first["name"], first["step"], first["layer"], first["param"]) == ("gradients", 0, 1, "bias")
    assert first["ratio"] == pytest.approx(100.0)
    assert "batch size" in first["hint"]
    source = first["source"]  # traced in a fresh sandboxed worker: the line where the factor 100 appears
    assert (source["file"], source["function"], source["code"]) == ("buggy.py", "BatchSumSoftmax.output_delta",
                                                                    "return a_last - y")
    assert source["found"] == "100 × δ₁" and f"in your code: buggy.py:{source['line']}" in out


def test_hparams_and_gradescope_results(cli):
    code, out, err, tmp = cli["adamw_hparams"]
    assert code == 0, out + err
    assert "AdamWNetwork([784, 30, 10], beta_1=0.8, beta_2=0.999, eps=1e-08, weight_decay=0.05)" in out
    results = json.loads((tmp / "g.json").read_text())
    names = [t["name"] for t in results["tests"]]
    assert names == ["adamw: load", "adamw: forward", "adamw: gradients", "adamw: updates", "adamw: curves"]
    assert results["score"] == 5 and all(t["max_score"] == 1 and t["status"] == "passed" for t in results["tests"])


def test_the_report_files_are_the_harnesss_not_the_students(cli):
    """WritesReport overwrites --json and --gradescope with a fake PASS mid-run; the harness writes last."""
    code, out, err, tmp = cli["writes_report"]
    assert code == 1, out + err
    assert json.loads((tmp / "r.json").read_text())["passed"] is False
    grades = json.loads((tmp / "g.json").read_text())
    assert grades["tests"] and grades["score"] < len(grades["tests"])
    assert any(t["name"] == "base: updates" and t["status"] == "failed" for t in grades["tests"])


def test_report_paths_turned_into_directories_are_still_written(cli):
    code, out, err, tmp = cli["report_dirs"]
    assert code == 1 and "Traceback" not in err, out + err
    assert json.loads((tmp / "r.json").read_text())["passed"] is False
    assert json.loads((tmp / "g.json").read_text())["score"] < 5


def test_a_closed_stdout_keeps_the_verdict_and_the_files(tmp_path):
    """`compare.py ... | true`: the reader is gone before the report is printed; the exit code is still the
    verdict's (1, never 0) and the files are written."""
    done = subprocess.run(f"set -o pipefail; {sys.executable} {ROOT / 'compare.py'} --task base --student "
                          f"{STUDENTS}/buggy.py:SignErrorNetwork --json {tmp_path}/r.json {' '.join(COMMON)} | true",
                          shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          executable="/bin/bash")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is False


def test_printed_pass_lines_are_fenced_off(cli):
    code, out, err, _ = cli["prints_pass"]
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("task base: FAIL")
    start = lines.index("--- the submission's own output (captured; not a verdict) ---")
    fenced = lines[start + 1 : lines.index("--- end of the submission's output ---")]
    assert fenced and all(line.startswith("  | ") for line in fenced)
    assert not any("PASS" in line for line in lines[start + len(fenced) + 2 :])
    assert "\x1b" not in out and "\r" not in out
    assert not any("all checks PASS" in line for line in lines[:start])


def test_an_error_message_cannot_break_or_redraw_the_report(cli):
    """A lone surrogate (unprintable in UTF-8) and terminal codes in the student's exception message."""
    code, out, err, tmp = cli["shouts"]
    assert code == 1 and "Traceback" not in err, out + err
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert "ValueError: \\ud800 oops\\rtask base: PASS\\x07" in out
    assert out.splitlines()[0].startswith("task base: FAIL")
    assert json.loads((tmp / "r.json").read_text())["passed"] is False
    assert json.loads((tmp / "g.json").read_text())["score"] < 5


def test_a_curves_only_failure_reports_and_writes_the_json(cli):
    code, out, err, tmp = cli["curves"]
    assert code == 1 and "Traceback" not in err, out + err
    assert "first divergence: model base, check 'curves', step 0" in out and "max abs err" in out
    first = next(c for c in json.loads((tmp / "r.json").read_text())["checks"] if not c["passed"])
    assert first["name"] == "curves" and first["max_rel_err"] is None


def test_a_sigint_from_the_student_stops_the_run_cleanly(tmp_path):
    """With the strong isolation the student cannot signal the harness (its parent is our init, another user's):
    a FAIL like any error. Without it the harness is interrupted, which is not a verdict: exit 130, one line, no
    report, no worker left behind."""
    work = tmp_path / "tmp"
    work.mkdir()
    done = subprocess.run([sys.executable, str(ROOT / "compare.py"), "--task", "base", "--student",
                           f"{STUDENTS}/hostile.py:InterruptsTheHarness", "--json", str(tmp_path / "r.json"), *COMMON],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TMPDIR": str(work)})
    if available().strong:
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
        assert "backprop raised PermissionError: [Errno 1] Operation not permitted" in done.stdout
        assert json.loads((tmp_path / "r.json").read_text())["passed"] is False
    else:
        assert done.returncode == 130, done.stdout + done.stderr
        assert done.stderr.strip().splitlines() == ["compare.py: interrupted; no report written"]
        assert not (tmp_path / "r.json").exists()
    assert not list(work.glob("crosscheck-student-*"))


def test_ctrl_c_stops_the_run_cleanly(tmp_path):
    """SIGINT to the harness while the student's code runs: exit 130, one line, no report, no worker left behind."""
    work = tmp_path / "tmp"
    work.mkdir()
    harness = subprocess.Popen([sys.executable, str(ROOT / "compare.py"), "--task", "base", "--student",
                                f"{STUDENTS}/hostile.py:EndlessLoop", "--json", str(tmp_path / "r.json"), *COMMON],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TMPDIR": str(work)})
    deadline = time.monotonic() + 120
    while not list(work.glob("crosscheck-student-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # into the endless backprop
    harness.send_signal(signal.SIGINT)
    out, err = harness.communicate(timeout=60)
    assert harness.returncode == 130, out + err
    assert err.strip().splitlines() == ["compare.py: interrupted; no report written"]
    assert not (tmp_path / "r.json").exists() and not list(work.glob("crosscheck-student-*"))


def test_broken_code_is_a_fail_verdict_not_a_usage_error(cli):
    code, out, err, tmp = cli["syntax"]
    assert code == 1, out + err
    assert re.search(r"^base +load +FAIL", out, re.M) and "syntax error at line 5" in out
    grades = json.loads((tmp / "g.json").read_text())
    assert grades["score"] == 0 and grades["tests"][0]["name"] == "base: load"
    assert "syntax error" in grades["tests"][0]["output"]


def test_an_endless_loop_times_out(cli):
    code, out, err, _ = cli["endless"]
    assert code == 1
    assert "backprop did not finish within 2 s" in out


@pytest.mark.parametrize("name, words", [
    ("no_file", "--student: no such file: missing/network.py"),
    ("no_class", "--student expects path/to/file.py:ClassName"),
    ("several_models", "choose it with --model"),
    ("unknown_hparam", "model l2-momentum has no hyperparameter 'mu'; it takes: momentum, l2_factor"),
    ("hparam_alone", "apply to --student runs"),
    ("hparam_range", "momentum=1: Invalid momentum value: 1.0 (expected a number in [0, 1))"),
    ("batch_too_big", "Invalid batch_size value: 6000 is larger than the 4000 training samples"),
])
def test_setup_errors_exit_2_with_one_line(name, words, tmp_path, capsys):
    from crosscheck.cli import main
    code = main([a.replace("{tmp}", str(tmp_path)) for a in USAGE[name]] + COMMON)
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1 and err.startswith("compare.py: error: ")
    assert words in err
    if name == "no_file":  # a missing submission is scored 0 rather than leaving Gradescope without results
        grades = json.loads((tmp_path / "g.json").read_text())
        assert grades["score"] == 0 and "no such file" in grades["tests"][0]["output"]


def _pytest(args, cwd):
    """pytest in a fresh process; the plugin comes from its entry point when the package is installed (pip install
    -e, as CI does), else with -p (loading it both ways is a double registration pytest refuses)."""
    installed = any(e.value == "crosscheck.pytest_plugin" for e in entry_points(group="pytest11"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    plugin = [] if installed else ["-p", "crosscheck.pytest_plugin"]
    return subprocess.run([sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", "-q", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def test_pytest_plugin_one_item_per_check(tmp_path):
    done = _pytest(["--student", f"{STUDENTS}/buggy.py:L2OnBiases", "--task", "2", "--student-data", "embedded",
                    "--student-epochs", "1"], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED ::crosscheck[l2-momentum-updates]" in done.stdout
    assert "hint: Weight decay is applied to the biases too" in done.stdout
    assert "in your code: buggy.py:33" in done.stdout and "nb + self.l2_factor * b" in done.stdout
    assert "3 passed" in done.stdout  # load, forward, gradients


def test_pytest_plugin_is_inert_without_student(tmp_path):
    done = _pytest(["--collect-only"], tmp_path)
    assert done.returncode == 5 and "no tests collected" in done.stdout  # pytest's "nothing to run"
    bad = _pytest(["--student", f"{STUDENTS}/momentum_l2.py:MomentumL2Network", "--task", "3"], tmp_path)
    assert bad.returncode == 4 and "choose it with --model" in bad.stderr  # a usage error, before any test
