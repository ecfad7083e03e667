"""`compare.py --task N`: the NumPy reference against torch on the task's models, one report."""

from __future__ import annotations

import argparse
from functools import partial

from crosscheck.checks import Plan
from crosscheck.cli.common import Output, finish, specs_from_args
from crosscheck.data import Dataset
from crosscheck.run import run_task


def run(args: argparse.Namespace, data: Dataset) -> int:
    specs = specs_from_args(args)
    plan = Plan(steps=args.steps or (20 if args.quick else 50))
    report = run_task(args.task, specs, data, plan, show_progress=not args.no_progress)
    outputs: list[Output] = [(args.json, report.write_json)]
    if args.plot:
        from crosscheck.plot import plot_report  # noqa: PLC0415 - matplotlib only when plotting
        outputs.append((args.plot, partial(plot_report, report)))
    return finish(outputs, str(report), report.passed)
