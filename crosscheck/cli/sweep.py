"""`compare.py --task N --sweep`: the lab's grid (crosscheck.sweep) with the flags' values, printed as a table."""

from __future__ import annotations

import argparse
from functools import partial

import pandas as pd

from crosscheck.checks import Plan
from crosscheck.cli.common import Output, finish, specs_from_args
from crosscheck.data import Dataset
from crosscheck.files import write_file
from crosscheck.parallel import Workers
from crosscheck.sweep import LAB_EPOCHS, LAB_LRS, LAB_SEEDS, sweep

CHAOTIC_NOTE = ("PASS (chaotic): every step agrees in lockstep; the free-running curves drift apart exactly as far "
                "as torch drifts from itself after a 1e-15 perturbation of the init.")


def run(args: argparse.Namespace, data: Dataset) -> int:
    specs = specs_from_args(args, default_lrs=LAB_LRS, default_seeds=LAB_SEEDS, default_epochs=LAB_EPOCHS)
    workers = Workers(args.jobs, args.scheduler, args.data)
    table, curves = sweep(specs, data, Plan(steps=args.steps or 20), not args.no_progress, workers)
    outputs: list[Output] = [(args.json, partial(_write_table, table))]
    if args.plot:
        from crosscheck.plot import plot_sweep  # noqa: PLC0415 - matplotlib only when plotting
        outputs.append((args.plot, partial(plot_sweep, curves)))
    return finish(outputs, _text(args.task, data, table), bool(table["verdict"].str.startswith("PASS").all()))


def _write_table(table: pd.DataFrame, path: str) -> None:
    write_file(path, table.to_json(orient="records", indent=2))


def _text(task: str, data: Dataset, table: pd.DataFrame) -> str:
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        text = f"sweep, task {task} (data: {data.source})\n{table.to_string(index=False)}"
    if (table["verdict"] == "PASS (chaotic)").any():
        text += "\n" + CHAOTIC_NOTE
    return text
