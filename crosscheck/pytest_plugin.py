"""pytest plugin: `pytest --student path/file.py:Class --task N [--model M] [--hparam k=v]` for a course's CI.

One test item per check (load, forward, gradients, updates, curves; dropout and task 0 have their own), named
`crosscheck[<model>-<check>]`; a failing item shows the check's message (and hint). The checks run once, in a
sandboxed process, when the first item runs. Without --student the plugin adds nothing and imports nothing
heavy, so other test suites are unaffected.

Registered as the `mlp_crosscheck` entry point in the `pytest11` group (pyproject.toml), so it loads wherever
the package is installed (`pip install -e .` included); from a source checkout that is not installed, add
`-p crosscheck.pytest_plugin` (not both: pytest refuses to register one plugin twice). It registers the options
--student, --task, --model and --hparam: a plugin defining the same names would conflict.
Other options: --student-data (default auto), --student-epochs (2), --student-steps (20), --student-timeout (60),
--student-head (mse, ce or bce) and --student-hidden (sigmoid, relu or tanh) instead of the preset's,
--student-layout (auto, lab or nielsen: the class's layout, default auto, detected).
"""

from __future__ import annotations

from typing import Any

import pytest

from crosscheck.report import source_lines
from crosscheck.spec import HEADS, HIDDEN_ACTIVATIONS

_RUN_KEY = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("mlp-crosscheck", "check a student's lab class against torch (mlp-crosscheck)")
    g.addoption("--student", metavar="FILE.py:NAME", default=None,
                help="the student's class (task 0: softmax function); adds one test per check")
    g.addoption("--task", dest="crosscheck_task", metavar="N", default=None, help="the lab task (with --student)")
    g.addoption("--model", dest="crosscheck_model", metavar="NAME", default=None,
                help="the task's model the class implements (tasks 3 and 4)")
    g.addoption("--hparam", dest="crosscheck_hparams", metavar="NAME=VALUE", action="append", default=[],
                help="constructor hyperparameter in the lab's names (repeatable)")
    g.addoption("--student-data", default="auto", help="MNIST source: auto, embedded, a directory, download")
    g.addoption("--student-epochs", type=int, default=2, help="epochs for the curves check (default 2)")
    g.addoption("--student-steps", type=int, default=20, help="lockstep steps (default 20)")
    g.addoption("--student-timeout", type=float, default=60.0, help="seconds per call into the student's code")
    g.addoption("--student-head", choices=list(HEADS), default=None,
                help="output head instead of the preset's: mse, ce or bce (sigmoid + binary cross-entropy)")
    g.addoption("--student-hidden", choices=HIDDEN_ACTIVATIONS[:3], default=None,
                help="hidden activation instead of the preset's (sigmoid)")
    g.addoption("--student-layout", choices=("auto", "lab", "nielsen"), default="auto",
                help="the class's layout: lab, nielsen (Michael Nielsen's network.py) or auto (detected)")


def pytest_configure(config: pytest.Config) -> None:
    student = config.getoption("student")
    if student is None:
        return
    from crosscheck.checks import Plan  # noqa: PLC0415
    from crosscheck.student.hparams import HparamError, nielsen_n, parse_hparams  # noqa: PLC0415
    from crosscheck.student.nielsen_side import LayoutChoice  # noqa: PLC0415
    from crosscheck.student.runner import StudentUsageError, expected_checks, student_specs  # noqa: PLC0415
    from crosscheck.student.sandbox import StudentRef  # noqa: PLC0415

    task = config.getoption("crosscheck_task")
    if task is None:
        raise pytest.UsageError("--student needs --task")
    try:
        ref = StudentRef.parse(student)
        changes = {k: v for k, v in (("head", config.getoption("student_head")),
                                     ("hidden_activation", config.getoption("student_hidden"))) if v is not None}
        hparams = parse_hparams(config.getoption("crosscheck_hparams"))
        specs = student_specs(task, config.getoption("crosscheck_model"), hparams,
                              epochs=config.getoption("student_epochs"), **changes)
        choice = LayoutChoice(config.getoption("student_layout"), nielsen_n(hparams))
        plan = Plan(steps=config.getoption("student_steps"))  # a count below 1 is refused here, before any run
        if not config.getoption("student_timeout") > 0:
            raise ValueError(f"--student-timeout must be positive, got {config.getoption('student_timeout')}")
    except (ValueError, HparamError, StudentUsageError) as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[_RUN_KEY] = {"ref": ref, "task": task, "specs": specs, "plan": plan, "run": None, "choice": choice,
                              "names": [(s.name, expected_checks(s)) for s in specs]}


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    state = config.stash.get(_RUN_KEY, None)
    if state is None:
        return
    for m, (model, checks) in enumerate(state["names"]):
        for c, check in enumerate(checks):
            items.append(CheckItem.from_parent(session, name=f"crosscheck[{model}-{check}]", model_index=m,
                                               check_index=c, check=check))


class CheckFailed(Exception):
    pass


class CheckItem(pytest.Item):
    def __init__(self, *, model_index: int, check_index: int, check: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.model_index, self.check_index, self.check = model_index, check_index, check

    def _run(self) -> Any:
        state = self.config.stash[_RUN_KEY]
        if state["run"] is None:
            import dataclasses  # noqa: PLC0415

            from crosscheck.data import load  # noqa: PLC0415
            from crosscheck.diagnose import diagnose  # noqa: PLC0415
            from crosscheck.student.runner import run_student, sandbox_factories  # noqa: PLC0415
            from crosscheck.student.sandbox import Limits  # noqa: PLC0415

            timeout = self.config.getoption("student_timeout")
            limits = dataclasses.replace(Limits(), call_timeout=timeout, total_timeout=max(600.0, 10 * timeout))
            factory, function = sandbox_factories(state["ref"], limits, state["choice"])
            state["run"] = run_student(state["task"], state["specs"], load(self.config.getoption("student_data")),
                                       f"student {state['ref']}", factory, function,
                                       state["plan"], diagnose)
        return state["run"]

    def runtest(self) -> None:
        run = self._run()
        results = list(run.report.results.values())[self.model_index]
        n_expected = len(self.config.stash[_RUN_KEY]["names"][self.model_index][1])
        mine = [results[self.check_index]] if self.check_index < len(results) else []
        if self.check_index == n_expected - 1:  # anything beyond the expected layout lands on the last item
            mine += results[n_expected:]
        failed = [r for r in mine if not r.passed and r.scored]
        if failed:
            lines = []
            for r in failed:
                lines.append(f"{r.name}" + (f" (step {r.step})" if r.step is not None else "") + f": {r.message}")
                if r.hint:
                    lines.append(f"hint: {r.hint}")
                lines += [line.strip("\n") for line in source_lines(r)]  # the line of the student's code, if named
            raise CheckFailed("\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        state = self.config.stash[_RUN_KEY]
        return self.path, None, f"{state['ref']}: {self.name}"
