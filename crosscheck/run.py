"""Run the checks for a task: the presets with the user's overrides, one progress bar, one report."""

from __future__ import annotations

from typing import Callable

from tqdm.auto import tqdm

from crosscheck.checks import Plan, run_checks
from crosscheck.data import Dataset, check_fit
from crosscheck.diagnose import diagnose
from crosscheck.report import Report
from crosscheck.sides import NumpySide, Side
from crosscheck.spec import Spec, run_keys


def steps_per_epoch(spec: Spec, data: Dataset) -> int:
    return len(data.x_train) // spec.batch_size


def run_task(task: str, specs: list[Spec], data: Dataset, plan: Plan,
             make_candidate: Callable[..., Side] = NumpySide, show_progress: bool = True) -> Report:
    check_fit(specs, data)
    report = Report(task, data_source=data.source)
    total = sum(0 if s.only_softmax else 2 * steps_per_epoch(s, data) * s.epochs for s in specs)  # both sides
    with tqdm(total=total, desc=f"task {task}", unit="step", disable=not show_progress or total == 0,
              leave=False) as bar:
        for spec, key in zip(specs, run_keys(specs)):
            bar.set_postfix_str(key)
            report.results[key] = run_checks(spec, data, make_candidate, plan, progress=lambda: bar.update(),
                                             diagnose=diagnose)
    return report
