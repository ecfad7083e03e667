"""Student mode: `compare.py --task N [--model M] --student file.py:Class [--hparam k=v ...]`, and a class's
batch: `--student 'subs/*.ipynb:Task1' [--student ...] --out DIR [--jobs N | --scheduler tcp://HOST:PORT]`.

Exit codes as everywhere: 0 every check passes (in a batch: every submission), 1 the student's class fails a check
(its code crashing, hanging or returning garbage included), 2 the run cannot be set up (no such file, no
`:Class`, a task with several models and no --model, an unknown --hparam; a batch without --out, a glob that
matches nothing). Reports are written only after the students' processes are dead.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import shutil
from functools import partial
from pathlib import Path

from crosscheck import gradescope
from crosscheck.checks import Plan
from crosscheck.cli.common import Output, UsageError, finish, specs_from_args
from crosscheck.data import Dataset, load
from crosscheck.grade import GradeUsageError, class_table, expand, grade, summary, write
from crosscheck.parallel import Workers
from crosscheck.spec import Spec
from crosscheck.student.hparams import HparamError, nielsen_n, parse_hparams
from crosscheck.student.nielsen_side import LAYOUTS, LayoutChoice
from crosscheck.diagnose import diagnose
from crosscheck.student.runner import (STUDENT_EPOCHS, STUDENT_STEPS, StudentRun, StudentUsageError, prepare_specs,
                                       run_student, sandbox_factories)
from crosscheck.student.sandbox import IsolationError, Limits, StudentRef, isolation_summary

MAX_OUTPUT_LINES = 40
GRADESCOPE_NAME = "results.json"  # a batch's Gradescope file in each submission's folder, the name Gradescope reads


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "student mode", "check a student's lab-style class, run in a sandboxed process, instead of the NumPy "
        f"reference; default plan: {STUDENT_STEPS} lockstep steps, {STUDENT_EPOCHS} epochs")
    g.add_argument("--student", metavar="FILE.py:NAME", action="append",
                   help="the student's class with the lab's interface (task 0: the softmax function), e.g. "
                        "submission/network.py:Network; tasks 3 and 4 need --model. Repeatable, and the path may "
                        "be a glob ('subs/*.ipynb:Task1'): several submissions are graded as a batch (needs --out)")
    g.add_argument("--out", metavar="DIR",
                   help="a batch's folder: each submission's report.json (and Gradescope's results with "
                        "--gradescope) in a folder of its own, class.csv, class.html and summary.png")
    g.add_argument("--hparam", metavar="NAME=VALUE", action="append",
                   help="a constructor hyperparameter in the lab's names, repeatable: l2_factor, momentum (task 2, "
                        "nesterov, dropout, augment), p (dropout), beta_1, beta_2, eps, weight_decay (adam, adamw), "
                        "eps (adagrad); lmbda and n (network2's L2: weight decay lmbda/n, wherever l2_factor is "
                        "taken); default: the preset's values; torch is given the same")
    g.add_argument("--layout", choices=LAYOUTS,
                   help="the class's layout: lab ((n_in, n_out) weights, update_mini_batch(x, y, eta)) or nielsen "
                        "(Nielsen's network.py/network2.py: (n_out, n_in) weights, (n_out, 1) biases, column "
                        "vectors, update_mini_batch(mini_batch, eta)); default auto: detected, and the report says why")
    g.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="wall-clock limit per call into the student's code (default 60); all of the student's "
                        "code in the run gets max(600, 10x) seconds")
    g.add_argument("--gradescope", metavar="PATH", nargs="?", const=GRADESCOPE_NAME,
                   help="also write Gradescope's results.json here (one test per check, 1 point each); in a batch, "
                        f"the file's name in each submission's folder (default {GRADESCOPE_NAME})")
    g.add_argument("--sandbox-user", metavar="NAME",
                   help="the user the student's code runs as when the harness is root (default: nobody)")
    g.add_argument("--require-isolation", action="store_true", default=None,
                   help="refuse to run (exit 2) unless the student's code gets its own uid and pid/net/mount "
                        "namespaces (the harness must be root, and namespaces allowed)")


def wants_student_mode(args: argparse.Namespace) -> bool:
    return any(getattr(args, k, None) is not None
               for k in ("student", "hparam", "timeout", "gradescope", "out", "sandbox_user", "require_isolation",
                         "layout"))


def run(args: argparse.Namespace) -> int:
    if args.student is None:
        raise UsageError("--hparam, --layout, --timeout, --gradescope, --out, --sandbox-user and --require-isolation "
                         "apply to --student runs")
    if len(args.student) > 1 or args.out is not None or glob.has_magic(args.student[0].rpartition(":")[0]):
        return _batch(args)
    if args.jobs is not None or args.scheduler is not None:
        raise UsageError("--jobs and --scheduler spread a batch of submissions (several --student, or --out)")
    try:
        student = StudentRef.parse(args.student[0])
    except ValueError as error:
        if args.gradescope:  # the submission is missing: that is a score of 0, not a broken autograder
            gradescope.write(gradescope.error_results(f"could not check the submission: {error}"), args.gradescope)
        raise UsageError(str(error)) from None
    data, specs = _setup(args)
    limits = _limits(args)
    isolation = _isolation(limits)
    factory, function = sandbox_factories(student, limits, _layout(args))
    run = run_student(args.task, specs, data, f"student {student}", factory, function,
                      Plan(steps=args.steps or STUDENT_STEPS), diagnose,
                      show_progress=not args.no_progress)
    run.report.isolation = isolation
    return _finish(args, run)


def _layout(args: argparse.Namespace) -> LayoutChoice:
    """--layout, with network2's n from --hparam n=... (the lmbda/n of its L2)."""
    try:
        return LayoutChoice(args.layout or "auto", nielsen_n(parse_hparams(args.hparam)))
    except (ValueError, HparamError) as error:
        raise UsageError(str(error)) from None


def _isolation(limits: Limits) -> str:
    """The isolation in force, said in every report; --require-isolation where it cannot be had is exit 2."""
    try:
        return isolation_summary(limits)
    except IsolationError as error:
        raise UsageError(str(error)) from None


def _setup(args: argparse.Namespace) -> tuple[Dataset, list[Spec]]:
    """What one submission and a batch share: the flags checked, the data loaded, the specs (one model)."""
    if args.sweep:
        raise UsageError("--sweep is not available with --student")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout}")
    try:
        overrides = parse_hparams(args.hparam)
    except HparamError as error:
        raise UsageError(str(error)) from None
    data = load(args.data)
    try:
        return data, prepare_specs(specs_from_args(args, default_epochs=STUDENT_EPOCHS), overrides)
    except StudentUsageError as error:
        raise UsageError(str(error)) from None


def _batch(args: argparse.Namespace) -> int:
    """A class's submissions (crosscheck.grade): every file under --out, then the class summary, then the exit code
    (0 only if every submission passed)."""
    if args.out is None:
        raise UsageError("several submissions (or a glob) are graded as a batch: give --out DIR for its files")
    if args.json or args.plot:
        raise UsageError("--json and --plot are one submission's; a batch writes each report under --out")
    if args.gradescope and Path(args.gradescope).name != args.gradescope:
        raise UsageError(f"in a batch, --gradescope names the file written in each submission's folder (e.g. "
                         f"{GRADESCOPE_NAME}), not a path: got {args.gradescope}")
    try:
        submissions = expand(args.student)
    except GradeUsageError as error:
        raise UsageError(str(error)) from None
    try:  # before any work: a place the files cannot go is a usage error, not a lost batch
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {args.out}: {error.strerror or error}") from None
    data, specs = _setup(args)
    limits = _limits(args)
    _isolation(limits)  # before any work
    graded = grade(submissions, args.task, specs, data, steps=args.steps or STUDENT_STEPS,
                   limits=limits, choice=_layout(args), workers=Workers(args.jobs, args.scheduler, args.data),
                   show_progress=not args.no_progress)
    table = class_table(graded)
    outputs: list[Output] = [(args.out, partial(write, graded, table, gradescope_name=args.gradescope))]
    return finish(outputs, summary(graded, table), graded.passed)


def _limits(args: argparse.Namespace) -> Limits:
    limits = Limits(sandbox_user=args.sandbox_user, require_isolation=bool(args.require_isolation))
    if args.timeout is None:
        return limits
    return dataclasses.replace(limits, call_timeout=args.timeout,
                               total_timeout=max(limits.total_timeout, 10 * args.timeout))


def _finish(args: argparse.Namespace, run: StudentRun) -> int:
    """Every worker is dead by now: what is written and printed here is the harness's alone, files first."""
    output = "\n".join(f"[{model}]\n{text}" if len(run.output) > 1 else text
                       for model, text in run.output.items() if text)
    for path in (args.json, args.gradescope, args.plot):  # checked before the run: a directory there now is the
        if path and Path(path).is_dir() and not Path(path).is_symlink():  # student's, put there to block the report
            shutil.rmtree(path, ignore_errors=True)
    outputs: list[Output] = [
        (args.json, run.report.write_json),
        (args.gradescope, lambda path: gradescope.write(gradescope.results(run.report, output, run.seconds), path))]
    if args.plot:
        from crosscheck.plot import plot_report  # noqa: PLC0415 - matplotlib only when plotting
        outputs.append((args.plot, partial(plot_report, run.report)))
    text = str(run.report)
    if output:
        lines = output.splitlines()
        text += "\n" + gradescope.labelled("\n".join(lines[:MAX_OUTPUT_LINES]) + (
            f"\n[... {len(lines) - MAX_OUTPUT_LINES} more lines]" if len(lines) > MAX_OUTPUT_LINES else ""))
    return finish(outputs, text, run.passed)
