"""The report: a pandas table for people, a stable JSON for machines, and the first divergence spelled out."""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from crosscheck.files import write_file
from crosscheck.layout import Label
from crosscheck.results import CheckResult, Source, SourceLine
from crosscheck.student.text import printable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "INFO": "#57606a"}
JSON_FIELDS = ("name", "passed", "max_abs_err", "max_rel_err", "step", "layer", "param", "index", "ratio", "message")
# The longest each of a Source's strings is shown (text, HTML, JSON; any other: MAX_CHARS): a submission controls
# them all.
SOURCE_CHARS = {"file": 80, "function": 80, "code": 160, "name": 60, "expected": 100, "found": 100, "last_good": 200}
MAX_CHARS = 300
CONTEXT_LINES = 5  # the most lines of code shown around a culprit
_CULPRIT_COLOUR = "#ffebe9"


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
                if r.source:
                    entry["source"] = _source_dict(r.source)
                if r.source_note:
                    entry["source_note"] = _shown(r.source_note, "note")
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
            lines += source_lines(r)
        return f"task {self.task}: {'PASS' if self.passed else 'FAIL'}", details, lines

    def _repr_html_(self) -> str:
        """Jupyter's rendering; every string is escaped (messages and hints quote the student's code and errors)."""
        headline, details, lines = self._summary()
        table = (self.table.style.hide(axis="index")
                 .format(na_rep="", escape="html")
                 .format("{:.2e}", subset=["max_abs_err", "max_rel_err"], na_rep="")
                 .map(lambda verdict: f"color: {_COLOURS[verdict]}; font-weight: bold", subset=["verdict"]))
        divergence = "\n".join(_html_line(line) for line in lines)
        return (f'<div><p><b style="color: {_COLOURS["PASS" if self.passed else "FAIL"]}">{html.escape(headline)}'
                f"</b>{html.escape(details)}</p>"
                + (f'<pre style="white-space: pre-wrap">{divergence}</pre>' if lines else "")
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


class _Culprit(str):
    """The line of code a failure is blamed on: a type, not a pattern in the text, tells the HTML to highlight it."""


def source_lines(r: CheckResult) -> list[str]:
    """Where in the candidate's code `r` first went wrong: the line, the code around it, what its array should
    have been and is. Or the note saying why no line is named. Nothing when the code was not traced."""
    s = r.source
    if s is None:
        return [f"  in your code: {_shown(r.source_note, 'note')}"] if r.source_note else []
    function = f", in {_shown(s.function, 'function')}" if s.function else ""
    loop = f" ({_ordinal(s.iteration + 1)} pass of its loop)" if s.iteration is not None else ""
    code = f": `{_shown(s.code.strip(), 'code')}`" if s.code.strip() else ""
    found = f"; it is {_shown(s.found, 'found')}" if s.found else ""
    why = f" {_shown(_sentence(s.why), 'why')}" if s.why else ""
    return ([f"  in your code: {place(s)}{function}{loop}{code}"]
            + _context(s)
            + [f"  `{_shown(s.name, 'name')}` should be {_shown(s.expected, 'expected')}{found}.{why}"]
            + ([f"  last line that matches torch: {_shown(s.last_good, 'last_good')}"] if s.last_good else []))


def _sentence(text: str) -> str:
    """A capital for a sentence that starts with a word ("it uses ..."), never for one that starts with a symbol
    ("b₀ is not used")."""
    return text[:1].upper() + text[1:] if re.match(r"[a-z]{2,}\b", text) else text


def place(s: Source) -> str:
    """`network.py:32` or `lab.ipynb, cell 4, line 12`, the file name made safe to show."""
    return dataclasses.replace(s, file=_shown(s.file, "file")).place


def _context(s: Source) -> list[str]:
    """The code around the culprit, numbered, the culprit marked (and typed) as such; the culprit alone if the
    tracer kept no context."""
    shown = s.context[:CONTEXT_LINES] or [SourceLine(s.line, s.code)]
    width = max(len(str(c.number)) for c in shown)
    lines = []
    for c in shown:
        culprit = c.number == s.line
        text = f"    {'→' if culprit else ' '}  {c.number:>{width}} | {_code(c.code)}"
        lines.append(_Culprit(text) if culprit else text)
    return lines


def _code(code: str) -> str:
    """A line of code as shown: indentation kept, tabs as spaces, bounded."""
    return _shown(code.expandtabs(4).rstrip(), "code")


def _shown(text: str, kind: str) -> str:
    """A string the candidate controls, on one line (nothing in it can start a report line or move the cursor) and
    cut to its kind's length."""
    text, limit = printable(text, lines=False), SOURCE_CHARS.get(kind, MAX_CHARS)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _source_dict(s: Source) -> dict:
    """Source.to_dict, its strings as the text report shows them, with the numbered context."""
    out = {key: _shown(value, key) if isinstance(value, str) else value for key, value in s.to_dict().items()}
    out["context"] = [{"number": c.number, "code": _code(c.code)} for c in s.context[:CONTEXT_LINES]]
    return out


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 11th, 22nd: a loop's pass, counted as a student counts."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _html_line(line: str) -> str:
    """A line of the divergence for the HTML <pre>: escaped, and highlighted if it is the culprit's."""
    escaped = html.escape(line)
    return f'<span style="background: {_CULPRIT_COLOUR}">{escaped}</span>' if isinstance(line, _Culprit) else escaped


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
