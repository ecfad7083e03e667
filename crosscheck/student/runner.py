"""Check a student's class: the harness's own checks, with every failure of the student's code made a verdict.

A student's side is wrapped in `Guarded`, which never raises: the first StudentError (an exception in the
student's code, a timeout, a dead process, a NaN, a wrong shape, ...) is recorded together with the check that
was under way, and from then on the side answers NaN without calling the student's code again. The checks run
to their end unchanged (crosscheck.checks knows nothing of students); `finalize` then puts the recorded reason
on the check it belongs to and marks the later checks of that side "not run". A NaN answer can only fail a
comparison, and the rewrite marks failed whatever it touches, so a broken submission never passes.

Checks for a student (in order): load, forward, gradients (first batch), updates (lockstep: each of the first
plan.steps steps from torch's parameters), curves (free-running training, per-epoch test accuracy).
What a lab class cannot do, and what is checked instead:
- loss: the lab's interface has no loss function, so no loss check and no finite differences (gradients are
  compared to torch's autograd instead);
- dropout: the harness cannot hand its masks to the student's class. Checked: evaluation-mode forward (and that
  it is deterministic), then one-sample backprops whose dropout mask is recovered from the zero rows of the
  student's own gradient and given to torch (gradients must then agree exactly), and the drop rate. Updates and
  curves are not compared (the student's noise cannot be replayed);
- augmentation: the student's class is given the images augmented by torchvision (what torch trains on); its own
  augmentation code, if any, is not checked;
- coupled L2 (SGD/Adam weight_decay): torch's gradient is the data loss's; a class that adds l2*w inside backprop
  trains identically, so the first backprop decides the convention and the term is taken out if it is there;
- nesterov: checked against torch's formulation (p -= lr*(g + mu*b)); the look-ahead form v = mu*v - eta*g(w + mu*v)
  keeps different variables and does not match step by step.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

import torch_ref
from crosscheck.checks import TOL, Evidence, Plan, check_softmax, initial_params, run_checks
from crosscheck.data import Dataset
from crosscheck.diff import CheckResult, Label, compare, param_labels
from crosscheck.report import Report
from crosscheck.sides import Batch, TorchSide
from crosscheck.spec import Spec, preset, run_keys
from crosscheck.student.adapter import (HparamError, LabSide, StudentError, apply_hparams, batch_inputs,
                                        call_function, import_student, lab_kwargs)
from crosscheck.student.sandbox import (IsolationError, Limits, SandboxFunction, SandboxSide, StudentRef,
                                        isolation_summary)

STUDENT_STEPS, STUDENT_EPOCHS, DROPOUT_SAMPLES = 20, 2, 16
CHECK_ORDER = ("load", "forward", "gradients", "updates", "curves")


class StudentUsageError(ValueError):
    """The run cannot be set up as asked (several models, bad hyperparameters): exit 2, not the student's fault."""


def expected_checks(spec: Spec) -> list[str]:
    """The checks a student run of this spec reports, in order (the pytest plugin collects one item each)."""
    if spec.only_softmax:
        return ["load", "softmax"]
    if spec.dropout:
        return ["load", "forward", "dropout", "updates"]
    return list(CHECK_ORDER)


# --- a side that turns the student's failures into a record ---------------------------------------------------


@dataclass
class Failure:
    check: str  # the check under way: load, forward, gradients, updates, curves, dropout
    message: str
    step: int | None = None
    layer: int | None = None
    param: str | None = None
    lockstep: bool = False  # gradients/updates inside the lockstep (rather than the first-batch gradients)


class Guarded:
    """A Side over a student backend (LabSide or SandboxSide) that records the first StudentError and never raises.

    role: "checks" (forward, first gradients, lockstep), "curves" (free training), "extra" (any further side a
    check builds, e.g. eps_placement's one step) or "dropout".
    """

    label = "student"

    def __init__(self, factory: Callable[[], Any], spec: Spec, init: list[np.ndarray], role: str,
                 skip: str | None = None):
        self.spec, self.role = spec, role
        self.shapes = [p.shape for p in init]
        self.failure: Failure | None = None
        self.backend: Any = None
        self.info, self.output, self.note = "", "", ""
        self.decay = coupled_decay(spec) if role == "checks" else None
        self.l2_in_backprop: bool | None = None  # decided at the first backprop, when the spec has coupled L2
        self._predicts = self._grads = self._sets = self._steps = 0
        if skip is not None:
            self.failure = Failure("curves" if role == "curves" else "load", skip)
            return
        try:
            self.backend = factory()
            self.info = getattr(self.backend, "info", "") or getattr(self.backend, "constructed", "")
        except StudentError as error:
            self.failure = Failure("load", str(error))
            self.output = getattr(error, "output", "") or ""

    # where in the checks a call is

    def _phase(self, method: str) -> tuple[str, int | None, bool]:
        if self.role in ("curves", "extra"):
            return self.role, (self._predicts if self.role == "curves" else None), False
        if self.role == "dropout":
            if method == "predict":
                return "forward", None, False
            return ("updates", None, False) if method == "step" or self._steps else ("dropout", self._grads, False)
        if method == "predict":
            return "forward", None, False
        if self._sets == 0:
            return "gradients", 0, False
        return ("gradients" if method == "loss_and_grads" else "updates"), self._sets - 1, True

    def _fail(self, method: str, error: StudentError) -> None:
        check, step, lockstep = self._phase(method)
        self.failure = Failure(check, str(error), step, error.layer, error.param, lockstep)
        self.close()

    def _guard(self, method: str, call: Callable[[], Any], poison: Callable[[], Any]) -> Any:
        if self.failure is None:
            try:
                return call()
            except StudentError as error:
                self._fail(method, error)
        return poison()

    def _nan_params(self) -> list[np.ndarray]:
        return [np.full(s, np.nan) for s in self.shapes]

    # the Side protocol

    def params(self) -> list[np.ndarray]:
        return self._guard("params", lambda: self.backend.params(), self._nan_params)

    def set_params(self, params: list[np.ndarray]) -> None:
        self._guard("set_params", lambda: self.backend.set_params(params), lambda: None)
        self._sets += 1

    def predict(self, x: np.ndarray) -> np.ndarray:
        out = self._guard("predict", lambda: self.backend.predict(x),
                          lambda: np.full((len(x), self.spec.layers[-1]), np.nan))
        self._predicts += 1
        return out

    def loss_and_grads(self, batch: Batch) -> tuple[None, list[np.ndarray]]:
        out = self._guard("loss_and_grads", lambda: self.backend.loss_and_grads(batch),
                          lambda: (None, self._nan_params()))
        self._grads += 1
        if self.decay is not None and self.failure is None:
            out = (out[0], self._data_gradient(batch, out[1]))
        return out

    def _data_gradient(self, batch: Batch, grads: list[np.ndarray]) -> list[np.ndarray]:
        """With coupled L2 (SGD or Adam weight_decay) torch's gradient is the data loss's alone, and torch adds
        wd*p inside the optimizer step; a class may add l2_factor*w in backprop instead and train identically.
        The first backprop decides which convention the class uses (against torch at the same parameters);
        if it is the second, wd*p is taken out again before every comparison, and the report says so."""
        if self.l2_in_backprop is False:
            return grads
        params = self._guard("params", lambda: self.backend.params(), self._nan_params)
        if self.failure is not None:
            return grads
        data_only = without_decay(grads, self.decay, params)
        if self.l2_in_backprop is None:
            want, labels = torch_gradients(self.spec, params, batch), param_labels(len(grads))
            self.l2_in_backprop = (compare("probe", data_only, want, labels, TOL["gradients"]).passed
                                   and not compare("probe", grads, want, labels, TOL["gradients"]).passed)
            if self.l2_in_backprop:
                self.note = ("backprop returns the gradient with the L2 term (l2 * w) included; it is taken out "
                             "before comparing with torch's data-loss gradient (the training is the same)")
        return data_only if self.l2_in_backprop else grads

    def step(self, batch: Batch) -> None:
        self._guard("step", lambda: self.backend.step(batch), lambda: None)
        self._steps += 1
        return None

    def inputs(self, batch: Batch) -> np.ndarray:
        """What the student's class is given for an augmented batch: torchvision's images (see the docstring)."""
        return batch_inputs(batch)

    def close(self) -> None:
        if self.backend is not None and hasattr(self.backend, "close"):
            self.output = self.backend.close() or self.output
        self.backend = None


def coupled_decay(spec: Spec) -> list[float] | None:
    """weight_decay per parameter when torch adds it to the gradient (SGD, Adam), else None (AdamW decouples it)."""
    wd = float(spec.hparams.get("weight_decay") or 0.0)
    if not wd or spec.optimizer not in ("sgd", "adam"):
        return None
    return [wd if i % 2 == 0 or spec.decay_biases else 0.0 for i in range(2 * (len(spec.layers) - 1))]


def without_decay(grads: list[np.ndarray], decay: list[float], params: list[np.ndarray]) -> list[np.ndarray]:
    """The gradients with a coupled L2 term (decay * p, added in backprop by some classes) taken out again."""
    return [g - d * p for g, d, p in zip(grads, decay, params)]


def torch_gradients(spec: Spec, params: list[np.ndarray], batch: Batch) -> list[np.ndarray]:
    """torch's data-loss gradient at the given parameters (a fresh TorchSide: no optimizer state involved)."""
    return TorchSide(spec, params).loss_and_grads(batch)[1]


@dataclass
class _Session:
    """The sides one spec's checks created, in order. Once a side has failed (its load, an exception, a timeout,
    a dead process), later sides are not started (they would repeat it, at the cost of another timeout or
    memory bomb): they fail at once with "not run"."""

    sides: list[Guarded] = field(default_factory=list)

    def make(self, factory: Callable[[Spec, list[np.ndarray]], Any], role: str | None = None) -> Callable:
        def make_candidate(spec: Spec, init: list[np.ndarray]) -> Guarded:
            stop = next((s.failure.message for s in self.sides if s.failure), None)
            kind = role or (("checks", "curves")[len(self.sides)] if len(self.sides) < 2 else "extra")
            side = Guarded(lambda: factory(spec, init), spec, init, kind,
                           skip=None if stop is None else f"not run: {stop}")
            self.sides.append(side)
            return side
        return make_candidate

    def close(self) -> str:
        outputs = []
        for side in self.sides:
            side.close()
            if side.output and side.output not in outputs:
                outputs.append(side.output)
        return "\n".join(outputs)


# --- turning failures into verdicts ---------------------------------------------------------------------------


def _failed(name: str, failure: Failure, message: str | None = None) -> CheckResult:
    return CheckResult(name, False, step=failure.step, layer=failure.layer, param=failure.param,
                       message=message or failure.message, extra={"student_error": True})


def _target(results: list[CheckResult], failure: Failure) -> int | None:
    """The result a failure belongs to: the lockstep's is the last gradients/updates result (after the first
    batch's gradients), the others go by name; None if the checks' layout is not the one expected."""
    names = [r.name for r in results]
    if failure.lockstep:
        hits = [i for i, n in enumerate(names) if n in ("gradients", "updates")]
        return hits[-1] if len(hits) >= 2 else None
    return names.index(failure.check) if failure.check in names else None


def _genuine_first(result: CheckResult, failure: Failure) -> bool:
    """A lockstep step's gradients are compared after its update: when update_mini_batch failed at step k, a
    gradient mismatch at step k was measured on the student's real gradients and is the first divergence."""
    return (failure.lockstep and failure.check == "updates" and not result.passed and result.name == "gradients"
            and result.step == failure.step and not result.extra.get("student_error"))


_SIDE_CHECKS = {"checks": {"forward", "loss", "gradients", "finite_differences", "updates"},
                "dropout": {"forward", "dropout"}, "curves": {"curves"}, "extra": set()}
NOT_FOR_STUDENTS = {"augment_images": "the class is given torchvision's augmented images; its own augmentation "
                                      "code, if any, is not checked"}


def finalize(results: list[CheckResult], session: _Session, spec: Spec, subject: str) -> list[CheckResult]:
    """[load] + results, with each recorded student failure put on its check and that side's later checks
    marked not run. Whatever cannot be placed is appended, so a failure is never lost."""
    notes = [why for name, why in NOT_FOR_STUDENTS.items() if any(r.name == name for r in results)]
    results = [r for r in results if r.name not in NOT_FOR_STUDENTS]
    first = session.sides[0] if session.sides else None
    if first is not None and first.failure and first.failure.check == "load":
        load = _failed("load", first.failure)
        return [load] + [CheckResult(r.name, False, message="not run: the class could not be loaded",
                                     extra={"student_error": True}) for r in results]
    info = first.info if first is not None else ""
    if first is not None and first.note:
        notes.append(first.note)
    load = CheckResult("load", True, message="; ".join([f"loaded {subject}" + (f"; constructed {info}" if info else ""),
                                                        *notes]))
    out = list(results)
    reported = False
    for side in session.sides:
        failure = side.failure
        if failure is None or (side.role == "extra" and reported):
            continue
        reported = True
        index = _target(out, failure)
        if index is None:
            out.append(_failed("student code" if side.role == "extra" else failure.check, failure))
            continue
        if _genuine_first(out[index], failure):  # keep the real divergence; the error came after it
            out[index].message += f"; then the student's code failed: {failure.message}"
            out[index].extra["student_error"] = True
        else:
            out[index] = _failed(out[index].name, failure)
        for j in range(index + 1, len(out)):  # the same side's later checks ran on NaN answers
            if out[j].name in _SIDE_CHECKS[side.role] and not out[j].extra.get("student_error"):
                out[j] = CheckResult(out[j].name, False, message=f"not run: the student's code failed earlier, in "
                                     f"'{out[index].name}'", extra={"student_error": True})
    return [load] + out


# --- dropout ----------------------------------------------------------------------------------------------------


def torch_grads_with_masks(spec: Spec, params: list[np.ndarray], x: np.ndarray, y: np.ndarray,
                           noise: list[np.ndarray]) -> list[np.ndarray]:
    """torch's gradients when each nn.Dropout multiplies by the given (scaled) noise instead of drawing its own."""
    model = torch_ref.build(spec.layers, spec.hidden_activation, spec.head, spec.dropout, torch.float64)
    torch_ref.load_lab_params(model, [torch.from_numpy(p) for p in params])
    h, masks = torch.from_numpy(x), iter(noise)
    for module in model:
        h = h * torch.from_numpy(next(masks)) if isinstance(module, nn.Dropout) else module(h)
    torch_ref.loss(h, torch.from_numpy(y), spec.head).backward()
    return [g.double().numpy() for g in torch_ref.grads_lab_layout(model)]


def dropout_checks(spec: Spec, data: Dataset, make_candidate: Callable, plan: Plan,
                   diagnose: Callable | None = None) -> list[CheckResult]:
    init = initial_params(spec)
    ref, cand = TorchSide(spec, init), make_candidate(spec, init)
    x_eval = data.x_test if plan.eval_samples is None else data.x_test[: plan.eval_samples]
    out_c, out_again, out_r = cand.predict(x_eval), cand.predict(x_eval), ref.predict(x_eval)
    forward = compare("forward", [out_c], [out_r], [Label(None, "output")], TOL["forward"])
    if cand.failure is None and not np.array_equal(out_c, out_again, equal_nan=True):
        forward = CheckResult("forward", False, param="output", message="feedforward gave different outputs for "
                              "the same input twice: dropout must be off when evaluating (only backprop drops)")
    results = [forward, dropout_gradients(spec, data, cand, init), dropout_update(spec, data, cand)]
    failed = next((r for r in results if not r.passed), None)
    if failed is forward and diagnose is not None and cand.failure is None and "twice" not in forward.message:
        evidence = Evidence(spec, init, x_eval, out_candidate=out_c, out_torch=out_r)  # the forward's, no steps
        try:
            failed.extra["hint"] = diagnose(failed, evidence)
        except Exception:  # noqa: BLE001 - a hint is optional
            pass
    return results


def dropout_gradients(spec: Spec, data: Dataset, cand: Guarded, init: list[np.ndarray],
                      n: int = DROPOUT_SAMPLES) -> CheckResult:
    """One-sample backprops: the student's mask read off its gradient, torch given that mask, all must agree."""
    p, labels = spec.dropout, param_labels(len(init))
    rng = np.random.default_rng([spec.seed, 7])
    decay, l2_in_backprop = coupled_decay(spec), False
    dropped = total = 0
    results = []
    for i, k in enumerate(rng.choice(len(data.x_train), n, replace=False)):
        x, y = data.x_train[k : k + 1], data.y_train[k : k + 1]
        _, grads = cand.loss_and_grads(Batch(x, y))
        if cand.failure is not None:
            return CheckResult("dropout", False, message=cand.failure.message)
        if decay is not None and i == 0:  # l2 * w added in backprop fills the dropped rows: does taking it out
            data_only = without_decay(grads, decay, init)  # leave exact zero rows?
            l2_in_backprop = _drops_some(data_only, spec) and not _drops_some(grads, spec)
        if l2_in_backprop:
            grads = without_decay(grads, decay, init)
        keep = _kept_units(grads, spec)
        dropped += sum(int((~m).sum()) for m in keep)
        total += sum(m.size for m in keep)
        want = torch_grads_with_masks(spec, init, x, y, [m[None, :] / (1.0 - p) for m in keep])
        results.append(compare("dropout", grads, want, labels, TOL["gradients"], origin="last"))
        results[-1].message = results[-1].message.replace(" differs", f" differs in one-sample backprop {i}", 1)
        if not results[-1].passed and not any("hint" in r.extra for r in results):
            unscaled = torch_grads_with_masks(spec, init, x, y, [m[None, :] * 1.0 for m in keep])
            if compare("dropout", grads, unscaled, labels, TOL["gradients"]).passed:
                results[-1].extra["hint"] = ("the gradients equal torch's with the kept units left unscaled: inverted "
                                             "dropout multiplies the kept activations by 1/(1-p) while training")
    rate = dropped / total
    spread = 5 * math.sqrt(p * (1 - p) / total) + 1 / total
    if abs(rate - p) > spread:
        why = ("is dropout applied in backprop?" if dropped == 0 else
               "is p the probability of dropping (not keeping) a unit?" if abs(rate - (1 - p)) <= spread else
               "the lab zeroes each hidden activation with probability p")
        return CheckResult("dropout", False, max_abs_err=abs(rate - p), got=rate, want=p, param="drop rate",
                           message=f"backprop dropped {rate:.1%} of the hidden units over {n} one-sample "
                                   f"mini-batches, expected p = {p:.0%}: {why}")
    bad = next((r for r in results if not r.passed), None)
    if bad is not None:
        bad.message += (" (torch was given the student's own dropout mask, read off the zero rows of the "
                        "student's gradient, scaled by 1/(1-p))")
        return bad
    worst = max(r.max_abs_err for r in results)
    return CheckResult("dropout", True, max_abs_err=worst, message=(
        f"{n} one-sample backprops agree with torch given the student's own masks (max abs err {worst:.2e}); "
        f"drop rate {rate:.1%} for p = {p:.0%}"
        + ("; backprop includes the L2 term (l2 * w), taken out before comparing" if l2_in_backprop else "")
        + ". Not compared: the values of updates and curves (a class's own dropout noise cannot be replayed by "
          "torch)"))


def dropout_update(spec: Spec, data: Dataset, cand: Guarded) -> CheckResult:
    """One update_mini_batch: it must run and move the parameters to finite values of the right shapes (the
    adapter checks all that); its values cannot be compared, the class's dropout noise being its own."""
    cand.step(Batch(data.x_train[: spec.batch_size], data.y_train[: spec.batch_size]))
    if cand.failure is not None:
        return CheckResult("updates", False, message=cand.failure.message)
    return CheckResult("updates", True, message="one update_mini_batch ran and moved the parameters; its values "
                       "are not compared: torch cannot replay the class's dropout noise")


def _kept_units(grads: list[np.ndarray], spec: Spec) -> list[np.ndarray]:
    """Unit j of hidden layer l was dropped <=> its activation was 0 <=> row j of the next weight's gradient is 0."""
    return [np.any(grads[2 * (l + 1)] != 0, axis=1) for l in range(len(spec.layers) - 2)]


def _drops_some(grads: list[np.ndarray], spec: Spec) -> bool:
    return not all(kept.all() for kept in _kept_units(grads, spec))


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


def _safe(diagnose: Callable | None, session: _Session) -> Callable | None:
    if diagnose is None:
        return None

    def hint(result: CheckResult, evidence: Any) -> str | None:
        if any(s.failure for s in session.sides if s.role == "checks"):
            return None
        try:
            return diagnose(result, evidence)
        except Exception:  # noqa: BLE001 - a hint is optional; a verdict is not
            return None
    return hint


def default_diagnose() -> Callable | None:
    try:
        from crosscheck.diagnose import diagnose  # noqa: PLC0415 - written in parallel; optional
    except ImportError:
        return None
    return diagnose


def run_student(task: str, specs: list[Spec], data: Dataset, subject: str,
                factory: Callable[[Spec, list[np.ndarray]], Any], function: Callable[[], Any] | None = None,
                plan: Plan | None = None, diagnose: Callable | None = None, show_progress: bool = False) -> StudentRun:
    """Every spec's checks against one student's class (or task 0's function) built by `factory`."""
    plan = plan or Plan(steps=STUDENT_STEPS, fd_coords=0)
    start = time.monotonic()
    run = StudentRun(Report(task, data_source=data.source))
    run.report.subject = subject
    n_train = len(data.x_train)
    total = sum(0 if s.only_softmax or s.dropout else 2 * (n_train // s.batch_size) * s.epochs for s in specs)
    with tqdm(total=total, desc=f"task {task} (student)", unit="step", leave=False, delay=2.0,
              disable=not show_progress or total == 0) as bar:
        for spec, key in zip(specs, run_keys(specs)):
            run.report.results[key], run.output[key] = _run_spec(spec, data, subject, factory, function, plan,
                                                                 diagnose, bar.update)
            if not spec.only_softmax:
                run.hparams[key] = lab_kwargs(spec)[0]
    run.seconds = time.monotonic() - start
    return run


def _run_spec(spec: Spec, data: Dataset, subject: str, factory: Callable, function: Callable | None, plan: Plan,
              diagnose: Callable | None, progress: Callable) -> tuple[list[CheckResult], str]:
    if spec.only_softmax:
        return _run_softmax(function, subject, diagnose)
    session = _Session()
    try:
        if spec.dropout:
            results = dropout_checks(spec, data, session.make(factory, role="dropout"), plan, diagnose)
        else:
            results = run_checks(spec, data, session.make(factory), plan, progress, _safe(diagnose, session))
    finally:
        output = session.close()
    return finalize(results, session, spec, subject), output


def _run_softmax(function: Callable[[], Any] | None, subject: str,
                 diagnose: Callable | None = None) -> tuple[list[CheckResult], str]:
    if function is None:
        raise StudentUsageError("task 0 checks a function: give --student file.py:function_name")
    try:
        fn = function()
    except StudentError as error:
        return [CheckResult("load", False, message=str(error)),
                CheckResult("softmax", False, message="not run: the function could not be loaded")], \
            getattr(error, "output", "") or ""
    try:
        result = check_softmax(fn)
    finally:
        output = fn.close() if hasattr(fn, "close") else ""
    prefix = "softmax raised StudentError: "
    if result.message.startswith(prefix):
        result.message = result.message[len(prefix):]
    elif not result.passed and diagnose is not None:
        try:
            result.extra["hint"] = diagnose(result, None)
        except Exception:  # noqa: BLE001 - a hint is optional
            pass
    return [CheckResult("load", True, message=f"loaded {subject}"), result], output or ""


# --- the Python API ---------------------------------------------------------------------------------------------


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


def sandbox_factories(student: StudentRef, limits: Limits = Limits()) -> tuple[Callable, Callable]:
    """Sandboxed sides sharing one deadline: all the student's code in this run gets limits.total_timeout."""
    deadline = time.monotonic() + limits.total_timeout
    return (lambda spec, init: SandboxSide(spec, init, student, limits, deadline),
            lambda: SandboxFunction(student, limits, deadline))


def in_process_factories(student: StudentRef | type) -> tuple[Callable, Callable]:
    """Trusted code only: the class (or file) runs inside this process, with the same validation."""
    if isinstance(student, StudentRef):
        def load() -> tuple[Any, Path]:
            return import_student(student.path, student.name)

        def side(spec: Spec, init: list[np.ndarray]) -> LabSide:
            cls, origin = load()
            return LabSide(spec, init, cls, origin=origin)

        def function() -> Callable:
            fn, origin = load()
            return lambda z: call_function(fn, z, student.name, origin)
        return side, function
    return (lambda spec, init: LabSide(spec, init, student),
            lambda: (lambda z: call_function(student, z, getattr(student, "__name__", "function"))))


def check_student(student: str | StudentRef | type, task: str, model: str | None = None, *,
                  data: Dataset, hparams: dict[str, float] | None = None, epochs: int = STUDENT_EPOCHS,
                  steps: int = STUDENT_STEPS, limits: Limits = Limits(), isolate: bool = True,
                  diagnose: bool = True, show_progress: bool = False, **changes: Any) -> StudentRun:
    """Check a student's class (or task 0 function) against torch; returns the report and the captured output.

    student: "path/file.py:Name" or a StudentRef (run sandboxed unless isolate=False), or a class/function
    object (run in this process: trusted code only). hparams use the lab's names (see adapter.LAB_HPARAMS).
    Raises StudentUsageError for a run that cannot be set up; the student's own failures are verdicts.
    """
    specs = student_specs(task, model, hparams, epochs, **changes)
    if isinstance(student, str):
        student = StudentRef.parse(student)
    isolation = ""
    if isinstance(student, StudentRef):
        subject = f"student {student}" + ("" if isolate else " (in process)")
        try:
            isolation = isolation_summary(limits) if isolate else ""
        except IsolationError as error:  # --require-isolation where it cannot be had, a bad sandbox_user
            raise StudentUsageError(str(error)) from None
        factory, function = sandbox_factories(student, limits) if isolate else in_process_factories(student)
    else:
        subject = f"student {getattr(student, '__qualname__', student)} (in process)"
        factory, function = in_process_factories(student)
    run = run_student(task, specs, data, subject, factory, function, Plan(steps=steps, fd_coords=0),
                      default_diagnose() if diagnose else None, show_progress)
    run.report.isolation = isolation
    return run
