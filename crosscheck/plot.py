"""Accuracy curves, NumPy or student (solid) against torch (dashed), one panel per model; on a mismatch, a heat map
of the first failing tensor's relative error.

Figures are made by matplotlib's Figure class, not pyplot: no backend is chosen or switched, so this works
headless and leaves a notebook's backend and open figures alone. Report.plot passes pyplot's figure() instead,
because Jupyter's inline display is set up when pyplot first makes a figure.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from crosscheck.files import write_file

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from crosscheck.diff import CheckResult

REL_FLOOR = 1e-16  # the heat map's lowest colour: float64 round-off and below look the same


class ReportView(Protocol):
    """What a figure reads of a crosscheck.report.Report. Named by its shape, not imported: Report.plot draws with
    this module, so an import of report here would close a circle."""

    results: dict[str, list[CheckResult]]
    subject: str

    def first_failure(self) -> tuple[str, CheckResult] | None: ...


def _figure(n_panels: int, new_figure: Callable[..., Figure] = Figure) -> tuple[Figure, list[Axes]]:
    cols = min(n_panels, 3)
    rows = -(-n_panels // cols)
    fig = new_figure(figsize=(5 * cols, 3.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs (and tensor indices) are whole numbers
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def report_figure(report: ReportView, new_figure: Callable[..., Figure] = Figure) -> Figure:
    """Test accuracy per epoch for every model with curves, and the heat map of the first failure's tensor."""
    curves = {model: next((r.curve for r in results if r.name == "curves"), None)
              for model, results in report.results.items()}
    curves = {m: c for m, c in curves.items() if c}
    failure = report.first_failure()
    want = failure[1].want_array if failure else None
    mismatch = failure if want is not None and want.ndim in (1, 2) and want.size > 1 else None
    fig, axes = _figure(max(len(curves) + (mismatch is not None), 1), new_figure)
    candidate = "student" if report.subject else "NumPy"
    for ax, (model, curve) in zip(axes, curves.items()):
        epochs = range(1, len(curve.candidate) + 1)
        ax.plot(epochs, curve.candidate, "-o", label=candidate)
        ax.plot(epochs, curve.torch, "--x", label="torch")
        ax.set(title=model, xlabel="epoch", ylabel="test accuracy")
        ax.set_xticks(list(epochs))
        ax.legend()
    if mismatch is not None:
        relative_error_map(fig, axes[len(curves)], *mismatch)
    fig.tight_layout()
    return fig


def relative_error_map(fig: Figure, ax: Axes, model: str, result: CheckResult) -> None:
    """|got - want| / (|want| + tiny) over the whole tensor (a vector is one row), log colour scale; x marks the
    reported worst entry. A weight matrix is (input unit, output unit), so a transposed or mis-scaled block shows."""
    from crosscheck.diff import Label  # noqa: PLC0415 - diff imports torch; this module need not

    got, want = result.got_array, result.want_array
    with np.errstate(invalid="ignore", over="ignore"):
        rel = np.abs(got - want) / (np.abs(want) + np.finfo(float).tiny)
    same = (got == want) | (np.isnan(got) & np.isnan(want))  # equal infinities and NaN where torch has NaN
    rel = np.where(same, 0.0, np.where(np.isnan(rel), np.inf, rel))
    image = np.clip(np.atleast_2d(rel), REL_FLOOR, np.finfo(float).max)
    shown = ax.imshow(image, aspect="auto", interpolation="nearest", cmap="magma",
                      norm=LogNorm(vmin=REL_FLOOR, vmax=max(float(image.max()), 10 * REL_FLOOR)))
    fig.colorbar(shown, ax=ax, label="|got − torch| / |torch|")
    step = f", step {result.step}" if result.step is not None else ""
    ax.set(title=f"{model}: {result.name}{step}, {Label(result.layer, result.param or '')}",
           xlabel="column" if rel.ndim == 2 else "index", ylabel="row" if rel.ndim == 2 else "")
    if rel.ndim == 1:
        ax.set_yticks([])
    if result.index:
        row, col = result.index if rel.ndim == 2 else (0, result.index[0])
        ax.plot(col, row, "x", color="cyan", markersize=10, label=f"worst {result.index}")
        ax.legend(loc="upper right", fontsize=7)


def plot_report(report: ReportView, path: str | Path) -> None:
    _save(report_figure(report), path)


def _save(fig: Figure, path: str | Path) -> None:
    """PNG bytes rendered here, then written whole by write_file (never opened at a path someone else chose)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    write_file(path, buffer.getvalue())


def plot_sweep(curves: dict, path: str | Path) -> None:
    """curves: {(model, lr): {"numpy": [[acc per epoch] per seed], "torch": [...]}}; seeds are averaged."""
    models = list(dict.fromkeys(model for model, _ in curves))
    fig, axes = _figure(len(models))
    for ax, model in zip(axes, models):
        for index, ((name, lr), sides) in enumerate((k, v) for k, v in curves.items() if k[0] == model):
            color = f"C{index}"
            for side, style in (("numpy", "-"), ("torch", "--")):
                per_seed = sides[side]
                mean = [sum(vals) / len(vals) for vals in zip(*per_seed)]
                ax.plot(range(1, len(mean) + 1), mean, style, color=color,
                        label=f"lr={lr:g} {'NumPy' if side == 'numpy' else 'torch'}")
        ax.set(title=model, xlabel="epoch", ylabel="test accuracy (mean over seeds)", ylim=(0, 1))
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    _save(fig, path)


def plot_class(table: pd.DataFrame, path: str | Path, top: int = 12) -> None:
    """A graded class (crosscheck.grade.class_table): how many passed and where the others first failed, then the
    most common defects, so a TA sees at a glance what to explain in the next lecture."""
    outcomes = table["verdict"].where(table["verdict"] == "PASS", "FAIL at " + table["check"].astype(str))
    outcomes = outcomes.value_counts().sort_index(key=lambda labels: labels != "PASS", kind="stable")
    defects = table["defect"].dropna().value_counts().head(top)
    fig = Figure(figsize=(13, max(3.6, 0.45 * len(defects) + 1.2)))
    left, right = fig.subplots(1, 2, width_ratios=[1, 2])
    left.bar(outcomes.index, outcomes.values, color=["#1a7f37" if o == "PASS" else "#cf222e" for o in outcomes.index])
    left.set(title=f"verdicts ({len(table)} submissions)", ylabel="submissions")
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    left.tick_params(axis="x", labelrotation=30)
    labels = [textwrap.shorten(label, 60) for label in defects.index]
    right.barh(labels[::-1], defects.values[::-1], color="#cf222e")
    right.set(title="defects of the failing submissions (first failure each)", xlabel="submissions")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.tick_params(axis="y", labelsize=8)
    if defects.empty:
        right.text(0.5, 0.5, "every submission passed", ha="center", va="center", transform=right.transAxes)
    fig.tight_layout()
    _save(fig, path)
