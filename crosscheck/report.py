"""The report: a pandas table for people, a stable JSON for machines, and the first divergence spelled out."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from crosscheck.diff import CheckResult

JSON_FIELDS = ("name", "passed", "max_abs_err", "max_rel_err", "step", "layer", "param", "index", "ratio", "message")


@dataclass
class Report:
    task: str
    results: dict[str, list[CheckResult]] = field(default_factory=dict)  # model name -> its checks, in order
    data_source: str = ""
    subject: str = ""  # what was checked when it is not the NumPy reference, e.g. "student network.py:Network"

    @property
    def passed(self) -> bool:
        return all(r.passed for checks in self.results.values() for r in checks)

    def first_failure(self) -> tuple[str, CheckResult] | None:
        for model, checks in self.results.items():
            for result in checks:
                if not result.passed:
                    return model, result
        return None

    @property
    def table(self) -> pd.DataFrame:
        rows = [{
            "model": model, "check": r.name, "verdict": "PASS" if r.passed else "FAIL",
            "max_abs_err": r.max_abs_err, "max_rel_err": r.max_rel_err, "step": r.step,
            "where": _where(r), "message": r.message,
        } for model, checks in self.results.items() for r in checks]
        table = pd.DataFrame(rows, columns=["model", "check", "verdict", "max_abs_err", "max_rel_err", "step",
                                            "where", "message"])
        return table.astype({"step": "Int64"})

    def to_dict(self) -> dict:
        checks = []
        for model, results in self.results.items():
            for r in results:
                entry = {key: _jsonable(asdict(r)[key]) for key in JSON_FIELDS}
                entry.update(model=model, got=_jsonable(r.got), want=_jsonable(r.want),
                             hint=r.extra.get("hint"))
                checks.append(entry)
        out = {"passed": self.passed, "task": self.task, "data": self.data_source, "checks": checks}
        if self.subject:
            out["subject"] = self.subject
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    def __str__(self) -> str:
        lines = [f"task {self.task}: {'PASS' if self.passed else 'FAIL'}"
                 + (f"  (checked: {self.subject})" if self.subject else "")
                 + (f"  (data: {self.data_source})" if self.data_source else "")]
        failure = self.first_failure()
        if failure:
            model, r = failure
            lines.append(f"first divergence: model {model}, check '{r.name}'"
                         + (f", step {r.step}" if r.step is not None else "") + f": {r.message}")
            if r.max_abs_err is not None:
                lines.append(f"  max abs err {r.max_abs_err:.3e}, max rel err {r.max_rel_err:.3e}")
            if r.extra.get("hint"):
                lines.append(f"  hint: {r.extra['hint']}")
        with pd.option_context("display.max_colwidth", 90, "display.width", 200,
                               "display.float_format", "{:.2e}".format):
            lines.append(self.table.to_string(index=False))
        return "\n".join(lines)


def _where(r: CheckResult) -> str:
    if r.param is None:
        return ""
    place = r.param if r.layer is None else f"{'weights' if r.param == 'weight' else 'biases'}[{r.layer}]"
    return place + (str(r.index) if r.index else "")


def _jsonable(value):
    """NaN and inf have no JSON form: they travel as strings, so the report always parses."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
