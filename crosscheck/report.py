"""The report: a pandas table for people, a stable JSON for machines, and the first divergence spelled out."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from crosscheck.files import write_file
from crosscheck.layout import Label
from crosscheck.results import CheckResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "INFO": "#57606a"}
JSON_FIELDS = ("name", "passed", "max_abs_err", "max_rel_err", "step", "layer", "param", "index", "ratio", "message")


@dataclass
class Report:
    task: str
    results: dict[str, list[CheckResult]] = field(default_factory=dict)  # model name -> its checks, in order
    data_source: str = ""
    subject: str = ""  # what was checked when it is not the NumPy reference, e.g. "student network.py:Network"
    isolation: str = ""  # how the student's code was isolated, e.g. "uid nobody + pid/net/mount namespaces; ..."
    layout: str = ""  # the student's class's layout and why, e.g. "nielsen (weights[0] is (30, 784): (n_out, n_in); ...)"

    @property
    def passed(self) -> bool:
        """Every scored check passed (informational rows carry no verdict)."""
        return all(r.passed for checks in self.results.values() for r in checks if r.scored)

    def first_failure(self) -> tuple[str, CheckResult] | None:
        for model, checks in self.results.items():
            for result in checks:
                if result.scored and not result.passed:
                    return model, result
        return None

    @property
    def table(self) -> pd.DataFrame:
        rows = [{
            "model": model, "check": r.name, "verdict": r.verdict,
            "max_abs_err": r.max_abs_err, "max_rel_err": r.max_rel_err, "step": r.step,
            "where": _where(r), "message": r.message,
        } for model, checks in self.results.items() for r in checks]
        table = pd.DataFrame(rows, columns=["model", "check", "verdict", "max_abs_err", "max_rel_err", "step",
                                            "where", "message"])
        return table.astype({"step": "Int64", "max_abs_err": float, "max_rel_err": float})

    def to_dict(self) -> dict:
        checks = []
        for model, results in self.results.items():
            for r in results:
                entry = {key: _jsonable(getattr(r, key)) for key in JSON_FIELDS}
                entry.update(model=model, got=_jsonable(r.got), want=_jsonable(r.want),
                             hint=r.hint, kind=r.kind)
                if r.informational:  # a measurement, not a test: no verdict
                    entry.update(passed=None, informational=True)
                checks.append(entry)
        out = {"passed": self.passed, "task": self.task, "data": self.data_source, "checks": checks}
        if self.subject:
            out["subject"] = self.subject
        if self.isolation:
            out["isolation"] = self.isolation
        if self.layout:
            out["layout"] = self.layout
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def write_json(self, path: str | Path) -> None:
        write_file(path, self.to_json() + "\n")

    def plot(self) -> Figure:
        """A matplotlib Figure: accuracy curves against torch and, on a mismatch, the failing tensor's relative error
        as a heat map. Jupyter shows it as the cell's value; fig.savefig(path) saves it."""
        import matplotlib.pyplot as plt  # noqa: PLC0415 - matplotlib only when plotting

        from crosscheck.plot import report_figure  # noqa: PLC0415

        fig = report_figure(self, plt.figure)  # made by pyplot, so that Jupyter's inline display is set up
        plt.close(fig)  # and shown once, as the cell's value, not again by pyplot at the end of the cell
        return fig

    def _summary(self) -> tuple[str, str, list[str]]:
        """(headline, its details, the first divergence's lines and a second bug's, found in the optimizer on the
        candidate's own gradients): what __str__ and _repr_html_ both show."""
        details = ((f"  (checked: {self.subject})" if self.subject else "")
                   + (f"  (isolation: {self.isolation})" if self.isolation else "")
                   + (f"  (layout: {self.layout})" if self.layout else "")
                   + (f"  (data: {self.data_source})" if self.data_source else ""))
        lines = []
        failure = self.first_failure()
        model, first = failure if failure else ("", None)
        shown = [("first divergence", first)] if first else []
        shown += [("and in the optimizer", r) for r in self.results.get(model, [])
                  if r.name == "optimizer" and r.hint and r is not first]
        for lead, r in shown:
            lines.append(f"{lead}: model {model}, check '{r.name}'"
                         + (f", step {r.step}" if r.step is not None else "") + f": {r.message}")
            errors = [f"max {kind} err {value:.3e}" for kind, value in (("abs", r.max_abs_err), ("rel", r.max_rel_err))
                      if value is not None]
            if errors:
                lines.append("  " + ", ".join(errors))
            if r.hint:
                mark = " (a convention, not a bug: you decide)" if r.kind == "convention" else ""
                lines.append(f"  hint{mark}: {r.hint}")
        return f"task {self.task}: {'PASS' if self.passed else 'FAIL'}", details, lines

    def _repr_html_(self) -> str:
        """Jupyter's rendering; every string is escaped (messages and hints quote the student's code and errors)."""
        headline, details, lines = self._summary()
        table = (self.table.style.hide(axis="index")
                 .format(na_rep="", escape="html")
                 .format("{:.2e}", subset=["max_abs_err", "max_rel_err"], na_rep="")
                 .map(lambda verdict: f"color: {_COLOURS[verdict]}; font-weight: bold", subset=["verdict"]))
        divergence = "\n".join(lines)
        return (f'<div><p><b style="color: {_COLOURS["PASS" if self.passed else "FAIL"]}">{html.escape(headline)}'
                f"</b>{html.escape(details)}</p>"
                + (f'<pre style="white-space: pre-wrap">{html.escape(divergence)}</pre>' if lines else "")
                + table.to_html() + "</div>")

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython's text form: the terminal rendering
        printer.text(str(self))

    def __str__(self) -> str:
        headline, details, lines = self._summary()
        lines = [headline + details] + lines
        table = self.table
        table["step"] = table["step"].astype("string").fillna("")
        text = {c: _left(table[c].astype(str).str.len().max()) for c in ("model", "check", "where", "message")}
        with pd.option_context("display.max_colwidth", 90, "display.width", 200,
                               "display.float_format", "{:.2e}".format):
            lines += [line.rstrip() for line in table.to_string(index=False, formatters=text, justify="left", na_rep="")
                      .splitlines()]
        return "\n".join(lines)


def _left(width: int):
    """A to_string formatter that left-aligns a text column (pandas right-aligns them)."""
    return lambda value: f"{value:<{width}}"


def _where(r: CheckResult) -> str:
    if r.param is None:
        return ""
    return str(Label(r.layer, r.param)) + (str(r.index) if r.index else "")


def _jsonable(value):
    """NaN and inf have no JSON form: they travel as strings, so the report always parses."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
