"""Check a student's class: the harness's own checks, run on a side that wraps the student's code.

The student's code raises StudentError (a CandidateError) for anything that goes wrong: an exception in it, a
timeout, a dead process, a NaN, a wrong shape. crosscheck.checks turns that into the verdict of the check under
way, at the step and layer where it happened, and marks the later checks "not run". Nothing here guesses which
check was running.

Checks for a student (in order): load, forward, gradients (first batch), updates (lockstep: each of the first
plan.steps steps from torch's parameters), curves (free-running training, per-epoch test accuracy).
What a lab class cannot do, and what is checked instead:
- loss: the lab's interface has no loss function, so no loss check and no finite differences (gradients are
  compared to torch's autograd instead);
- dropout: the harness cannot hand its masks to the student's class: crosscheck/own_noise.py says what is checked;
- augmentation: the student's class is given the images augmented by torchvision (what torch trains on); its own
  augmentation code, if any, is not checked;
- coupled L2 (SGD/Adam weight_decay): torch's gradient is the data loss's; a class that adds l2*w inside backprop
  trains identically, so the first backprop decides the convention and the term is taken out if it is there;
- nesterov: checked against torch's formulation (p -= lr*(g + mu*b)); the look-ahead form v = mu*v - eta*g(w + mu*v)
  keeps different variables and does not match step by step.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm.auto import tqdm

from crosscheck import layout
from crosscheck.checks import (CONDITIONAL, INFORMATIONAL, TOL, Plan, Reference, References, add_hint, check_softmax,
                               run_checks, stages)
from crosscheck.data import Dataset, check_fit
from crosscheck.diagnose import diagnose as default_diagnose
from crosscheck.diff import compare
from crosscheck.report import Report
from crosscheck.results import CheckResult
from crosscheck.sides import Batch, TorchSide
from crosscheck.spec import Spec, preset, run_keys
from crosscheck.student.hparams import HparamError, apply_hparams, lab_kwargs, nielsen_n
from crosscheck.student.lab_side import LabSide, batch_inputs
from crosscheck.student.loader import call_function, import_student
from crosscheck.student.nielsen_side import LayoutChoice, open_side
from crosscheck.student.pointer import point
from crosscheck.student.sandbox import (IsolationError, Limits, SandboxFunction, SandboxSide, StudentRef,
                                        isolation_summary)
from crosscheck.student.text import StudentError
from crosscheck.student.tracer import Trace

STUDENT_STEPS, STUDENT_EPOCHS = 20, 2
NOT_FOR_STUDENTS = "the class is given torchvision's augmented images; its own augmentation code, if any, is not checked"


class StudentUsageError(ValueError):
    """The run cannot be set up as asked (several models, bad hyperparameters): exit 2, not the student's fault."""


class StudentSide:
    """A harness Side over a student backend (LabSide in process, SandboxSide in a worker).

    Every StudentError passes through to the check under way. The one convention handled here: with coupled L2
    (SGD or Adam weight_decay) torch's gradient is the data loss's alone and torch adds wd*p inside the optimizer
    step; a class may add l2_factor*w in backprop instead and train identically. The first backprop decides which
    convention the class uses (against torch at the same parameters); if it is the second, wd*p is taken out again
    before every comparison, and the load row says so.
    """

    label = "student"
    provides: frozenset[str] = frozenset()  # the lab's interface only: see crosscheck.checks.stages

    def __init__(self, backend: Any, spec: Spec, subject: str):
        self.backend, self.spec = backend, spec
        constructed = getattr(backend, "info", "") or getattr(backend, "constructed", "")
        self.info = f"loaded {subject}" + (f"; constructed {constructed}" if constructed else "")
        self.decay = None if spec.dropout else layout.coupled_decays(spec)  # own_noise reads dropout's itself
        self.l2_in_backprop: bool | None = None
        self.note = ""

    def params(self) -> list[np.ndarray]:
        return self.backend.params()

    def set_params(self, params: list[np.ndarray]) -> None:
        self.backend.set_params(params)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.backend.predict(x)

    def step(self, batch: Batch) -> None:
        self.backend.step(batch)

    def replay_step(self, batch: Batch) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
        return self.backend.replay_step(batch)

    def inputs(self, batch: Batch) -> np.ndarray:
        """What the student's class is given for an augmented batch: torchvision's images (see the docstring)."""
        return batch_inputs(batch)

    def loss_and_grads(self, batch: Batch) -> tuple[None, list[np.ndarray]]:
        _, grads = self.backend.loss_and_grads(batch)
        if self.decay is None or self.l2_in_backprop is False:
            return None, grads
        params = self.backend.params()
        data_only = layout.without_decay(grads, self.decay, params)
        if self.l2_in_backprop is None:
            want, labels = TorchSide(self.spec, params).loss_and_grads(batch)[1], layout.labels(len(grads))
            self.l2_in_backprop = (compare("probe", data_only, want, labels, TOL["gradients"]).passed
                                   and not compare("probe", grads, want, labels, TOL["gradients"]).passed)
            if self.l2_in_backprop:
                self.note = ("backprop returns the gradient with the L2 term (l2 * w) included; it is taken out "
                             "before comparing with torch's data-loss gradient (the training is the same)")
        return None, data_only if self.l2_in_backprop else grads

    @property
    def layout(self) -> str:
        return getattr(self.backend, "layout", "")

    def trace(self, method: str, params: list[np.ndarray], x: np.ndarray, y: np.ndarray | None,
              shapes: set[tuple[int, ...]], lr: float | None = None) -> Trace:
        return self.backend.trace(method, params, x, y, shapes, lr)

    def close(self) -> str:
        close = getattr(self.backend, "close", None)
        return (close() if close else "") or ""


def expected_checks(spec: Spec) -> list[str]:
    """The checks a student run of this spec reports, in order (the pytest plugin collects one item each)."""
    if spec.only_softmax:
        return ["load", "softmax"]
    return [name for name, _ in stages(spec, StudentSide.provides, Plan(report_load=True))
            if name not in INFORMATIONAL | CONDITIONAL]


# --- running ----------------------------------------------------------------------------------------------------


@dataclass
class StudentRun:
    report: Report
    output: dict[str, str] = field(default_factory=dict)  # model -> the student's captured stdout/stderr
    hparams: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> constructor kwargs (lab names)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.report.passed


def run_student(task: str, specs: list[Spec], data: Dataset, subject: str,
                factory: Callable[[Spec, list[np.ndarray]], Any], function: Callable[[], Any] | None = None,
                plan: Plan | None = None, diagnose: Callable | None = None, show_progress: bool = False,
                references: References | None = None) -> StudentRun:
    """Every spec's checks against one student's class (or task 0's function) built by `factory`.

    references: torch's side of each spec, shared by every student checked with the same object (a class's batch).
    """
    plan = dataclasses.replace(plan or Plan(steps=STUDENT_STEPS), fd_coords=0, report_load=True, probe=True)
    check_fit(specs, data)
    start = time.monotonic()
    run = StudentRun(Report(task, data_source=data.source))
    run.report.subject = subject
    factory = _noting_layout(factory, run.report)
    n_train = len(data.x_train)
    total = sum(0 if s.only_softmax or s.dropout else 2 * (n_train // s.batch_size) * s.epochs for s in specs)
    with tqdm(total=total, desc=f"task {task} (student)", unit="step", leave=False, delay=2.0,
              disable=not show_progress or total == 0) as bar:
        for spec, key in zip(specs, run_keys(specs)):
            if spec.only_softmax:
                results, output = _run_softmax(function, subject, diagnose)
            else:
                reference = references.get(spec, data, plan) if references else None
                results, output = _run_spec(spec, data, subject, factory, plan, diagnose, bar.update, reference)
                run.hparams[key] = lab_kwargs(spec)[0]
            run.report.results[key], run.output[key] = results, output
    run.seconds = time.monotonic() - start
    return run


def _noting_layout(factory: Callable, report: Report) -> Callable:
    """The factory, writing the layout the first side it builds was driven in (and why) into the report's header."""
    def build(spec: Spec, init: list[np.ndarray]) -> Any:
        backend = factory(spec, init)
        report.layout = report.layout or getattr(backend, "layout", "")
        return backend
    return build


def _run_spec(spec: Spec, data: Dataset, subject: str, factory: Callable, plan: Plan,
              diagnose: Callable | None, progress: Callable, reference: Reference | None = None
              ) -> tuple[list[CheckResult], str]:
    """One spec's checks; every side the checks build is the student's class, closed (and its output kept) after."""
    sides: list[StudentSide] = []
    outputs: list[str] = []

    def make_candidate(spec: Spec, init: list[np.ndarray]) -> StudentSide:
        try:
            side = StudentSide(factory(spec, init), spec, subject)
        except StudentError as error:  # a failed load: its worker is gone already, its output rides on the error
            outputs.append(getattr(error, "output", "") or "")
            raise
        sides.append(side)
        return side

    try:
        results = run_checks(spec, data, make_candidate, plan, progress, diagnose, provides=StudentSide.provides,
                             reference=reference, locate=point if diagnose else None)
    finally:
        outputs += [side.close() for side in sides]
    load = results[0]
    notes = [side.note for side in sides[:1] if side.note] + ([NOT_FOR_STUDENTS] if spec.augments else [])
    if load.passed and notes:
        load.message = "; ".join([load.message, *notes])
    return results, "\n".join(dict.fromkeys(o for o in outputs if o))


def _run_softmax(function: Callable[[], Any] | None, subject: str,
                 diagnose: Callable | None = None) -> tuple[list[CheckResult], str]:
    if function is None:
        raise StudentUsageError("task 0 checks a function: give --student file.py:function_name")
    try:
        fn = function()
    except StudentError as error:
        return [CheckResult("load", False, message=str(error), candidate_error=str(error)),
                CheckResult("softmax", False, message="not run: the function could not be loaded",
                            candidate_error="not loaded")], getattr(error, "output", "") or ""
    try:
        result = check_softmax(fn)
    except StudentError as error:
        result = CheckResult("softmax", False, message=str(error), candidate_error=str(error))
    finally:
        output = fn.close() if hasattr(fn, "close") else ""
    add_hint([result], None, diagnose)
    info = getattr(fn, "info", "")  # a notebook's skipped cells ride on it
    load = CheckResult("load", True, message=f"loaded {subject}" + (f"; {info}" if info else ""))
    return [load, result], output or ""


def prepare_specs(specs: list[Spec], hparams: dict[str, float] | None = None) -> list[Spec]:
    """One model only (a class implements one), with lab-named hyperparameter overrides applied to both sides."""
    names = list(dict.fromkeys(s.name for s in specs))
    if len(names) > 1:
        raise StudentUsageError(f"this task has several models ({', '.join(names)}); a student's class implements "
                                f"one: choose it with --model")
    out = []
    for spec in specs:
        if spec.only_softmax:
            if hparams:
                raise StudentUsageError("task 0 (softmax) takes no hyperparameters")
            out.append(spec)
            continue
        try:
            out.append(apply_hparams(spec, hparams or {}))
        except HparamError as error:
            raise StudentUsageError(str(error)) from None
    return out


def student_specs(task: str, model: str | None = None, hparams: dict[str, float] | None = None,
                  epochs: int | None = STUDENT_EPOCHS, **changes: Any) -> list[Spec]:
    """The task's preset for one student class, with the student defaults (2 epochs) and overrides."""
    try:
        specs = preset(task, model)
    except KeyError as error:
        raise StudentUsageError(error.args[0]) from None
    if epochs is not None:
        changes["epochs"] = epochs
    return prepare_specs([s.replace(**changes) for s in specs], hparams)


def sandbox_factories(student: StudentRef, limits: Limits = Limits(), choice: LayoutChoice = LayoutChoice()
                      ) -> tuple[Callable, Callable]:
    """Sandboxed sides sharing one deadline: all the student's code in this run gets limits.total_timeout."""
    deadline = time.monotonic() + limits.total_timeout
    return (lambda spec, init: SandboxSide(spec, init, student, limits, deadline, choice),
            lambda: SandboxFunction(student, limits, deadline))


def in_process_factories(student: StudentRef | type, choice: LayoutChoice = LayoutChoice()
                         ) -> tuple[Callable, Callable]:
    """Trusted code only: the class (or file) runs inside this process, with the same validation."""
    if isinstance(student, StudentRef):
        def load() -> tuple[Any, Path]:
            return import_student(student.path, student.name)

        def side(spec: Spec, init: list[np.ndarray]) -> LabSide:
            cls, origin = load()
            return open_side(spec, init, cls, origin=origin, choice=choice)

        def function() -> Callable:
            fn, origin = load()
            return lambda z: call_function(fn, z, student.name, origin)
        return side, function
    return (lambda spec, init: open_side(spec, init, student, choice=choice),
            lambda: (lambda z: call_function(student, z, getattr(student, "__name__", "function"))))


def check_student(student: str | StudentRef | type, task: str, model: str | None = None, *,
                  data: Dataset, hparams: dict[str, float] | None = None, epochs: int = STUDENT_EPOCHS,
                  steps: int = STUDENT_STEPS, limits: Limits = Limits(), isolate: bool = True,
                  diagnose: bool = True, show_progress: bool = False, layout: str = "auto",
                  **changes: Any) -> StudentRun:
    """Check a student's class (or task 0 function) against torch; returns the report and the captured output.

    student: "path/file.py:Name" or a StudentRef (run sandboxed unless isolate=False), or a class/function
    object (run in this process: trusted code only). hparams use the lab's names (see hparams.LAB_HPARAMS), or
    network2's lmbda and n. layout: "auto" (detected), "lab" or "nielsen" (see nielsen_side.py).
    Raises StudentUsageError for a run that cannot be set up; the student's own failures are verdicts.
    """
    specs = student_specs(task, model, hparams, epochs, **changes)
    try:
        choice = LayoutChoice(layout, nielsen_n(hparams))
    except ValueError as error:
        raise StudentUsageError(str(error)) from None
    if isinstance(student, str):
        student = StudentRef.parse(student)
    isolation = ""
    if isinstance(student, StudentRef):
        subject = f"student {student}" + ("" if isolate else " (in process)")
        try:
            isolation = isolation_summary(limits) if isolate else ""
        except IsolationError as error:  # --require-isolation where it cannot be had, a bad sandbox_user
            raise StudentUsageError(str(error)) from None
        factory, function = (sandbox_factories(student, limits, choice) if isolate
                             else in_process_factories(student, choice))
    else:
        subject = f"student {getattr(student, '__qualname__', student)} (in process)"
        factory, function = in_process_factories(student, choice)
    run = run_student(task, specs, data, subject, factory, function, Plan(steps=steps),
                      default_diagnose if diagnose else None, show_progress)
    run.report.isolation = isolation
    return run
