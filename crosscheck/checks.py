"""The checks: one training run of a candidate beside torch, compared at every stage.

Order follows the data flow, so the first failing check is where a bug first shows: softmax, forward output,
loss, gradients at the start, central finite differences of the candidate's own loss, lockstep updates over
the first steps (gradients and parameters after each step), per-epoch loss and accuracy curves.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable, Iterator

import numpy as np
import torch

import numpy_mlp
import numpy_mlp.augment
import torch_ref.functional
from crosscheck import extra_checks, layout, own_noise
from crosscheck.data import Dataset, batches
from crosscheck.diff import compare, compare_steps
from crosscheck.layout import Label
from crosscheck.results import CandidateError, CheckResult, Curve
from crosscheck.sides import Batch, NumpySide, Side, TorchSide
from crosscheck.spec import Spec
from crosscheck.threads import single_threaded
from crosscheck.tolerances import (ACCURACY_TOLERANCE, CHAOS_CONTROLS, CHAOS_MARGIN, CHAOS_ROUNDOFF, FD_RESOLUTION,
                                   TOL)

@dataclass(frozen=True)
class Plan:
    """How much to compare: lockstep steps, finite-difference coordinates per parameter, test samples."""

    steps: int = 50
    fd_coords: int = 5
    eval_samples: int | None = None  # None: the whole test split
    report_load: bool = False  # a "load" row first: building the candidate can fail (a student's class)
    probe: bool = False  # after the lockstep, steps at other batch sizes and learning rates (see probe_steps)

    def __post_init__(self) -> None:
        if self.steps < 1:  # zero steps would compare nothing, and nothing compared must never read as a PASS
            raise ValueError(f"the lockstep needs at least 1 step, got {self.steps}")
        if self.fd_coords < 0:
            raise ValueError(f"finite-difference coordinates must be >= 0, got {self.fd_coords}")
        if self.eval_samples is not None and self.eval_samples < 1:
            raise ValueError(f"eval_samples must be at least 1, got {self.eval_samples}")


@dataclass
class FailingCall:
    """The candidate's call whose result failed a check, with what it was given: run again under a line tracer
    to name the line where it goes wrong (crosscheck.student.pointer)."""

    method: str  # "feedforward", "backprop" or "update_mini_batch"
    params: list[np.ndarray]
    x: np.ndarray | None = None  # feedforward's rows
    batch: Batch | None = None  # backprop's or update_mini_batch's batch (its lr, where it is not the spec's)
    grads: list[np.ndarray] | None = None  # update_mini_batch: the gradients torch.optim (the judge) was fed
    history: list[tuple[list[np.ndarray], Batch, list[np.ndarray]]] = field(default_factory=list)  # the steps
    # before it from a fresh start, each (parameters, batch, gradients): the optimizer's state comes from them


@dataclass
class Evidence:
    """What a diagnosis may look at: the inputs both sides saw and what each computed, step by step."""

    spec: Spec
    init: list[np.ndarray]
    x_eval: np.ndarray
    out_candidate: np.ndarray | None = None
    out_torch: np.ndarray | None = None
    batches: list[Batch] = field(default_factory=list)  # the lockstep batches, in order
    params_before: list[list[np.ndarray]] = field(default_factory=list)  # torch's, given to both sides per step
    grads_candidate: list[list[np.ndarray]] = field(default_factory=list)  # per lockstep step
    grads_torch: list[list[np.ndarray]] = field(default_factory=list)
    params_candidate: list[list[np.ndarray]] = field(default_factory=list)  # after each lockstep step
    params_torch: list[list[np.ndarray]] = field(default_factory=list)
    params_judge: list[list[np.ndarray]] = field(default_factory=list)  # torch.optim on the candidate's gradients
    n_train: int | None = None  # the training set's size (Nielsen's L2 is λ/n with this n)
    failing_call: FailingCall | None = None  # the first failing forward or backprop call, as it was made

    def failed(self, call: FailingCall) -> None:
        """Keep the first failing call only: later ones may follow from it."""
        self.failing_call = self.failing_call or call


def initial_params(spec: Spec) -> list[np.ndarray]:
    """The spec's initial weights (N(0,1), as the lab draws them), given to every side."""
    mlp = numpy_mlp.MLP(spec.layers, spec.hidden_activation, spec.head, spec.dropout)
    return mlp.init_params(np.random.default_rng(spec.seed))


def make_batch(spec: Spec, data: Dataset, idx: np.ndarray, rng: np.random.Generator, ref: TorchSide) -> Batch:
    """A batch with its randomness drawn once: a dropout seed (and torch's noise for it), augmentation params."""
    batch = Batch(data.x_train[idx], data.y_train[idx], seed=int(rng.integers(2**62)))
    if spec.dropout:
        batch.masks = ref.dropout_noise(len(idx), batch.seed)
    if spec.augments:
        batch.angles, batch.shifts = numpy_mlp.augment.sample_params(rng, len(idx), spec.max_degrees, spec.max_shift)
    return batch


def epoch_batches(spec: Spec, data: Dataset, epoch: int, ref: TorchSide):
    rng = np.random.default_rng([spec.seed, epoch])
    for idx in batches(len(data.x_train), spec.batch_size, rng):
        yield make_batch(spec, data, idx, rng, ref)


def check_softmax(softmax: Callable[[np.ndarray], np.ndarray]) -> CheckResult:
    """A candidate softmax against torch.softmax on random, huge (±1e6, ±1e300), tied and extreme rows."""
    rng = np.random.default_rng(0)
    cases = {
        "random": rng.standard_normal((64, 10)),
        "large": rng.standard_normal((64, 10)) * 1e6,
        "huge": np.sign(rng.standard_normal((8, 10))) * 1e300,
        "ties": np.zeros((4, 10)) + np.arange(4)[:, None],
        "one-hot-ish": np.eye(10) * 800.0,
        "negative": -np.abs(rng.standard_normal((16, 10))) * 1e4,
    }
    want = [torch_ref.functional.softmax(torch.from_numpy(z)).numpy() for z in cases.values()]
    try:
        with np.errstate(all="ignore"):  # an unstable candidate overflows: that is the finding, not a warning
            got = [np.asarray(softmax(z.copy()), dtype=np.float64) for z in cases.values()]
    except CandidateError:
        raise
    except Exception as error:  # a candidate's crash is a verdict
        return CheckResult("softmax", False, message=f"softmax raised {type(error).__name__}: {error}",
                           candidate_error=f"{type(error).__name__}: {error}")
    result = compare("softmax", got, want, [Label(None, f"softmax({name})") for name in cases], TOL["softmax"])
    sums = {name: float(np.abs(g.sum(axis=-1) - 1).max()) for (name, z), g in zip(cases.items(), got)
            if g.shape == z.shape and np.all(np.isfinite(g))}
    if result.passed and sums and max(sums.values()) > TOL["softmax"].rtol:
        result.passed, result.message = False, f"rows sum to 1 only within {max(sums.values()):.2e}"
    result.row_sum_err = sums  # for the hint: finite rows that are not a distribution
    result.nonfinite_cases = [name for name, g in zip(cases, got) if not np.all(np.isfinite(g))]
    return result


def _evaluate(side: Side, x: np.ndarray) -> np.ndarray:
    return np.asarray(side.predict(x), dtype=np.float64)


@contextmanager
def located(check: str, step: int | None = None) -> Iterator[None]:
    """A candidate failure inside this block happened in `check` (at `step`): said where it is known, not guessed."""
    try:
        yield
    except CandidateError as error:
        raise error.locate(check, step)


INFORMATIONAL = frozenset({"eps_placement"})  # measurements shown beside the checks, never scored
CONDITIONAL = frozenset({"optimizer"})  # rows that appear only when an earlier check could not judge their part
Diagnose = Callable[[CheckResult, Evidence], "str | None"]
MakeCandidate = Callable[[Spec, list[np.ndarray]], Side]
Check = Callable[["Run"], "CheckResult | None"]
Locate = Callable[[list[CheckResult], "Run"], None]


@dataclass
class TorchStep:
    """One step of torch on its own: the batch, torch's parameters before the step, its gradients there, its
    parameters after. Nothing a candidate does changes it: the candidate is set to `before` and judged beside it."""

    batch: Batch
    before: list[np.ndarray]
    grads: list[np.ndarray]
    after: list[np.ndarray]


class Reference:
    """torch's side of one spec's checks, which no candidate changes: the initial parameters, the first batch and
    torch's gradients on it, its outputs on the forward's inputs, its lockstep and probe trajectories, its
    free-running curve and the chaos controls. Each part is computed the first time a run asks for it, then kept:
    one Reference given to every candidate of a spec (a class's submissions, crosscheck.grade) computes torch once.

    It holds the Dataset it was made from and serves only runs on that very object: a worker process builds its
    own from its own copy of the data, never a shipped one. Runs only read the shared arrays (every side copies
    what it is given).
    """

    def __init__(self, spec: Spec, data: Dataset, plan: Plan):
        self.spec, self.data, self.plan = spec, data, plan
        self.init = initial_params(spec)
        self.x_eval = data.x_test if plan.eval_samples is None else data.x_test[: plan.eval_samples]
        self.cases = {"test set": self.x_eval, **synthetic_inputs(self.x_eval.shape[1], spec.seed)}
        self.first = next(epoch_batches(spec, data, 0, TorchSide(spec, self.init)))
        self._curve: dict[str, list] | None = None

    def serves(self, spec: Spec, data: Dataset, plan: Plan) -> bool:
        """Is this torch's side of a run of `spec` on `data` under `plan`? (the plan's steps and eval_samples
        shape the parts; its other fields do not)"""
        return (spec == self.spec and data is self.data and plan.steps == self.plan.steps
                and plan.eval_samples == self.plan.eval_samples)

    @cached_property
    def x_cases(self) -> np.ndarray:
        """Every forward input case, stacked, the test set first (the evidence's x_eval)."""
        return np.concatenate(list(self.cases.values()))

    @cached_property
    def outputs(self) -> np.ndarray:
        return _evaluate(TorchSide(self.spec, self.init), self.x_cases)

    @cached_property
    def first_loss_and_grads(self) -> tuple[float, list[np.ndarray]]:
        return TorchSide(self.spec, self.init).loss_and_grads(self.first)

    @cached_property
    def steps(self) -> list[TorchStep]:
        """torch's lockstep trajectory: the first plan.steps batches, epoch after epoch, each step from the last."""
        spec, ref = self.spec, TorchSide(self.spec, self.init)
        batches = (b for epoch in range(spec.epochs) for b in epoch_batches(spec, self.data, epoch, ref))
        return [_torch_step(ref, batch) for _, batch in zip(range(self.plan.steps), batches)]

    @cached_property
    def probes(self) -> list[TorchStep]:
        """torch from the initial parameters again, on batches of PROBE_BATCHES' sizes at probe_lrs (probe_steps)."""
        spec, ref = self.spec, TorchSide(self.spec, self.init)
        rng = np.random.default_rng([spec.seed, 9])
        out = []
        for size, lr in zip(PROBE_BATCHES, probe_lrs(spec)):
            batch = make_batch(spec, self.data, rng.choice(len(self.data.x_train), size, replace=False), rng, ref)
            batch.lr = lr
            out.append(_torch_step(ref, batch))
        return out

    def curve(self, progress: Callable | None = None) -> dict[str, list]:
        """torch's free-running curve from the initial parameters (`progress` ticks while it is computed)."""
        if self._curve is None:
            self._curve = train_curve(self.spec, self.data, TorchSide(self.spec, self.init), self.x_eval, progress)
        return self._curve

    @cached_property
    def stress(self) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """(the stressed parameters, the inputs, torch's outputs there): the forward under stress's torch side."""
        x = self.x_eval[:256]
        params = stressed_params(self.spec, self.init, x)
        return params, x, _evaluate(TorchSide(self.spec, params), x)

    @cached_property
    def chaos_controls(self) -> list[dict[str, list]]:
        return controls(self.spec, self.data, self.init, self.x_eval)


class References:
    """One Reference per (spec, plan), for every run given this object: a batch of candidates computes torch once."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, Plan], Reference] = {}

    def get(self, spec: Spec, data: Dataset, plan: Plan) -> Reference:
        key = (repr(spec), plan)  # a Spec's hparams dict makes it unhashable; its repr is exact (floats included)
        if key not in self._kept or not self._kept[key].serves(spec, data, plan):
            self._kept[key] = Reference(spec, data, plan)
        return self._kept[key]


def _torch_step(ref: TorchSide, batch: Batch) -> TorchStep:
    before, grads = ref.params(), ref.loss_and_grads(batch)[1]
    ref.step(batch)
    return TorchStep(batch, before, grads, ref.params())


class Run:
    """One spec's checks against one candidate: the inputs both sides share, and the one rule for failures.

    Every check runs through `check(name, body)`: a CandidateError raised inside becomes that check's FAIL (at
    the check and step the error was located at), and every later check reports "not run" instead of calling
    into code that has already failed (a dead process, another timeout, another memory bomb).
    """

    def __init__(self, spec: Spec, data: Dataset, make_candidate: MakeCandidate, plan: Plan,
                 progress: Callable | None = None, reference: Reference | None = None):
        self.spec, self.data, self.make_candidate, self.plan, self.progress = spec, data, make_candidate, plan, progress
        self.reference = reference or Reference(spec, data, plan)
        if not self.reference.serves(spec, data, plan):
            raise ValueError(f"this Reference is torch's side of another run than {spec.name}'s")
        self.init = self.reference.init
        self.ref = TorchSide(spec, self.init)
        self.x_eval, self.cases, self.first = self.reference.x_eval, self.reference.cases, self.reference.first
        self.labels = layout.labels(len(self.init))
        self.evidence = Evidence(spec, self.init, self.reference.x_cases, n_train=len(data.x_train))
        self.optimizer_evidence: Evidence | None = None  # the `optimizer` check's pass, on the candidate's gradients
        self.failed_in: str | None = None
        self.first_gradients: tuple[tuple[float | None, list], tuple[float, list]] | None = None
        self.initial_gradients: CheckResult | None = None
        self._candidate: Side | None = None

    def candidate(self) -> Side:
        """The candidate the checks share (built once; a student's load can fail here)."""
        if self._candidate is None:
            self._candidate = self.make_candidate(self.spec, self.init)
        return self._candidate

    def check(self, name: str, body: Check) -> CheckResult | None:
        """body(self), with a candidate failure turned into this check's verdict; None if the check does not apply."""
        if self.failed_in is not None and name in CONDITIONAL:
            return None
        if self.failed_in is not None:
            return CheckResult(name, False, candidate_error=f"failed earlier, in '{self.failed_in}'",
                               message=f"not run: the code under test failed earlier, in '{self.failed_in}'")
        try:
            result = body(self)
        except CandidateError as error:
            error.locate(name)
            result = CheckResult(error.check or name, False, step=error.step, layer=error.layer, param=error.param,
                                 message=str(error), candidate_error=str(error))
        if result is not None and result.candidate_error and self.failed_in is None:
            self.failed_in = result.name
        return result


def stages(spec: Spec, provides: frozenset[str], plan: Plan) -> list[tuple[str, Check]]:
    """The checks for one spec, in data-flow order, given what the candidate provides beyond the lab's interface:
    "softmax" (its softmax function), "loss" (a loss at any parameters), "noise" (it takes the harness's dropout
    masks), "augment" (it augments images itself), "dropout_masks" (its own mask sampler)."""
    out: list[tuple[str, Check]] = [("load", _load)] if plan.report_load else []
    if spec.head == "ce" and "softmax" in provides:
        out.append(("softmax", lambda run: check_softmax(run.candidate().softmax)))
    if spec.augments and "augment" in provides:
        out.append(("augment_images", lambda run: extra_checks.augment_images(run.candidate(), run.ref, run.first)))
    if spec.dropout and "dropout_masks" in provides:
        out.append(("dropout_statistics",
                    lambda run: extra_checks.dropout_statistics(spec, run.candidate().dropout_masks)))
    if spec.dropout and "noise" not in provides:  # its own noise: what can be checked without replaying it
        return out + [("forward", _own_noise_forward), ("dropout", _own_noise_gradients),
                      ("updates", lambda run: own_noise.update(run.spec, run.data, run.candidate(), run.init))]
    out.append(("forward", _forward))
    if "loss" in provides:
        out.append(("loss", _loss))
    out.append(("gradients", _gradients))
    if "loss" in provides and plan.fd_coords:
        out.append(("finite_differences", _finite_differences))
    out += [("updates", lockstep), ("optimizer", judge_optimizer), ("curves", curves)]
    if spec.optimizer == "adagrad-lab":
        out.append(("eps_placement", _eps_placement))
    return out


def run_checks(spec: Spec, data: Dataset, make_candidate: MakeCandidate = NumpySide,
               plan: Plan | None = None, progress: Callable | None = None, diagnose: Diagnose | None = None,
               provides: frozenset[str] | None = None, reference: Reference | None = None,
               locate: Locate | None = None) -> list[CheckResult]:
    """Every check for one spec; the first failure of the candidate's values gets a hint from `diagnose`, and the
    line of the candidate's code where it goes wrong from `locate` (a traceable candidate: a student's class).

    provides: what the candidate offers beyond the lab's interface (see `stages`); by default its class's.
    reference: torch's side of this spec, shared with other runs (see Reference); by default this run's own.
    """
    plan = plan or Plan()
    if spec.only_softmax:
        return [check_softmax(numpy_mlp.softmax)]
    if provides is None:
        provides = getattr(make_candidate, "provides", NumpySide.provides)
    with single_threaded():
        run = Run(spec, data, make_candidate, plan, progress, reference)
        results = run_stages(run, provides)
    add_hint(results, run.evidence, diagnose)
    add_hint([r for r in results if r.name == "optimizer"], run.optimizer_evidence, diagnose)  # a second bug
    if locate is not None:
        with single_threaded():
            locate(results, run)
    return results


def run_stages(run: Run, provides: frozenset[str]) -> list[CheckResult]:
    """Each stage through run.check, in order; a stage that does not apply leaves no row."""
    return [r for name, body in stages(run.spec, provides, run.plan) if (r := run.check(name, body)) is not None]


def add_hint(results: list[CheckResult], evidence: Evidence | None, diagnose: Diagnose | None) -> None:
    """The first scored failure gets a hint, unless the candidate's code failed there (its error says why)."""
    failed = next((r for r in results if not r.passed and r.scored), None)
    if failed is None or diagnose is None or failed.hint or failed.candidate_error:
        return
    try:
        failed.hint = diagnose(failed, evidence)
    except Exception:  # noqa: BLE001 - a hint is optional; the verdict is not
        failed.hint = None


def _load(run: Run) -> CheckResult:
    cand = run.candidate()
    return CheckResult("load", True, message=getattr(cand, "info", "") or f"constructed {cand.label}")


def synthetic_inputs(n_features: int, seed: int, rows: int = 4) -> dict[str, np.ndarray]:
    """Inputs no MNIST image has, so a forward cannot be right by accident of the data: all zeros (only the
    biases act), raw 0-255 pixel values (saturated sigmoids, large logits), and negative values."""
    rng = np.random.default_rng([seed, 8])
    return {"zeros": np.zeros((rows, n_features)), "large": rng.uniform(0, 255, (rows, n_features)),
            "negative": -rng.uniform(0, 1, (rows, n_features))}


def compare_outputs(run: Run, out_c: np.ndarray, out_r: np.ndarray) -> CheckResult:
    """The forward over every input case (the evidence holds them stacked), each case a tensor of its own, with the
    tolerance scaled by the case's largest input: round-off in the logits grows with |x| (raw 0-255 pixels through
    relu: outputs 2e-12 apart, measured)."""
    bounds = np.cumsum([0] + [len(x) for x in run.cases.values()])
    results = []
    for (name, x), a, b in zip(run.cases.items(), bounds[:-1], bounds[1:]):
        tol = replace(TOL["forward"], rtol=TOL["forward"].rtol * max(1.0, float(np.max(np.abs(x)))))
        label = Label(None, "output", case="" if name == "test set" else name)
        results.append(compare("forward", [out_c[a:b]], [out_r[a:b]], [label], tol))
    failed = [r for r in results if not r.passed]
    if failed:
        return failed[0]
    worst = max(results, key=lambda r: r.max_abs_err)
    return replace(worst, scaled_err=max(r.scaled_err for r in results))


def _forward(run: Run) -> CheckResult:
    ev = run.evidence
    ev.out_torch = run.reference.outputs
    with located("forward"):
        ev.out_candidate = _evaluate(run.candidate(), ev.x_eval)
    if ev.out_candidate.shape != ev.out_torch.shape:
        return compare("forward", [ev.out_candidate], [ev.out_torch], [Label(None, "output")], TOL["forward"])
    result = compare_outputs(run, ev.out_candidate, ev.out_torch)
    if result.passed and run.spec.head == "ce":
        return forward_under_stress(run) or result
    if not result.passed:
        ev.failed(FailingCall("feedforward", run.init, x=_worst_rows(run, result)))
    return result


def _worst_rows(run: Run, result: CheckResult) -> np.ndarray:
    """The failing input case's rows where the outputs differ most (a traced feedforward is given these)."""
    ev, bounds = run.evidence, np.cumsum([0] + [len(x) for x in run.cases.values()])
    for (name, x), a, b in zip(run.cases.items(), bounds[:-1], bounds[1:]):
        if str(Label(None, "output", case="" if name == "test set" else name)) in result.failing:
            return _most_different(x, ev.out_candidate[a:b], ev.out_torch[a:b])
    return run.x_eval[:TRACED_ROWS]


TRACED_ROWS = 16  # a failing feedforward is traced on this many of its inputs


def _most_different(x: np.ndarray, got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """The TRACED_ROWS rows of x whose outputs differ most (NaN counts as the most), in their order."""
    gap = np.nan_to_num(np.abs(got - want), nan=np.inf).max(axis=1)
    return x[np.sort(np.argsort(-gap, kind="stable")[:TRACED_ROWS])]


STRESS_LOGITS = 1e3  # far beyond exp's float64 range (~709): an unshifted softmax overflows


def stressed_params(spec: Spec, init: list[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """The initial parameters with the output layer's first two columns made equal (every row ties classes 0 and 1,
    at the top for some rows) and scaled so that the largest logit on x is STRESS_LOGITS in size (torch's logits:
    the ce head's network ends in them)."""
    params = [p.copy() for p in init]
    w, b = layout.index(len(spec.layers) - 2, "weight"), layout.index(len(spec.layers) - 2, "bias")
    params[w][:, 1], params[b][1] = params[w][:, 0], params[b][0]
    logits = TorchSide(spec, params).logits(x)
    scale = STRESS_LOGITS / float(np.max(np.abs(logits)))
    params[w] *= scale
    params[b] *= scale
    return params


def forward_under_stress(run: Run) -> CheckResult | None:
    """The forward at logits of ±1e3 with ties (the lab's init keeps logits small, so an unstable softmax inside
    feedforward would never show): None if it agrees with torch, else the FAIL."""
    params, x, want = run.reference.stress
    cand = run.candidate()
    with located("forward"):
        cand.set_params(params)
        try:
            got = _evaluate(cand, x)
        finally:
            cand.set_params(run.init)
    result = compare("forward", [got], [want], [Label(None, "output", case="logits ±1e3, ties")], TOL["forward"])
    if result.passed:
        return None
    run.evidence.failed(FailingCall("feedforward", params, x=_most_different(x, got, want)))
    if not np.all(np.isfinite(got)):
        result.hint = ("at logits of about ±1e3 your outputs are NaN/inf where torch's are finite: exp overflows "
                       "float64 beyond ~709. Subtract each row's max logit before exp (stable softmax); the shift "
                       "cancels in the ratio.")
        result.kind = "bug"
    return result


def _first_gradients(run: Run) -> tuple[tuple[float | None, list], tuple[float, list]]:
    """The first batch's loss and gradients at the initial parameters, each side's (computed once)."""
    if run.first_gradients is None:
        with located("gradients", 0):
            cand = run.candidate().loss_and_grads(run.first)
        run.first_gradients = cand, run.reference.first_loss_and_grads
    return run.first_gradients


def _loss(run: Run) -> CheckResult | None:
    (loss_c, _), (loss_r, _) = _first_gradients(run)
    if loss_c is None:
        return None
    return compare("loss", [np.array(loss_c)], [np.array(loss_r)], [Label(None, "loss")], TOL["loss"])


def _gradients(run: Run) -> CheckResult:
    (_, grads_c), (_, grads_r) = _first_gradients(run)
    run.initial_gradients = compare("gradients", grads_c, grads_r, run.labels, TOL["gradients"], step=0,
                                    origin="last")
    if not run.initial_gradients.passed:
        run.evidence.failed(FailingCall("backprop", run.init, batch=run.first))
    return run.initial_gradients


def _finite_differences(run: Run) -> CheckResult:
    (_, grads_c), _ = _first_gradients(run)
    return finite_differences(run.candidate(), run.first, grads_c, run.plan.fd_coords,
                              np.random.default_rng(run.spec.seed))


def _own_noise_forward(run: Run) -> CheckResult:
    ev = run.evidence
    with located("forward"):
        ev.out_candidate, ev.out_torch, deterministic = own_noise.forward(run.candidate(), run.ref, ev.x_eval)
    return deterministic if deterministic is not None else compare_outputs(run, ev.out_candidate, ev.out_torch)


def _own_noise_gradients(run: Run) -> CheckResult:
    with located("dropout"):
        return own_noise.gradients(run.spec, run.data, run.candidate(), run.init)


def _eps_placement(run: Run) -> CheckResult:
    return extra_checks.eps_placement(run.spec, run.init, run.make_candidate, run.first, TOL["updates"])


def lockstep(run: Run) -> CheckResult:
    """The first plan.steps steps, each from the same parameters: gradients before it, parameters after it.

    Before every step the candidate is set to torch's parameters, so each step is compared on its own: round-off
    cannot accumulate, even where the trajectory is chaotic (at lr 10, 1e-16 grows ~10x per step). The gradients
    are compared with torch's; the step with torch.optim's step on the candidate's own gradients (a second
    optimizer, the judge), so round-off in a gradient that an adaptive optimizer divides by its own size (Adagrad,
    Adam: a rounding-level entry becomes a step of about lr) is never blamed on the update. Optimizer state
    (momentum, moments) is each side's own and carries over, so a wrong state update still shows.
    """
    spec, cand, evidence, labels = run.spec, run.candidate(), run.evidence, run.labels
    judge = TorchSide(spec, run.init)  # torch.optim fed the candidate's own gradients: it judges the update alone
    worst = {"gradients": 0.0, "updates": 0.0}
    scaled = {"gradients": 0.0, "updates": 0.0}
    for step, torch_step in enumerate(run.reference.steps):
        batch, start, grads_r = torch_step.batch, torch_step.before, torch_step.grads
        with located("gradients", step):
            cand.set_params(start)
            grads_c = cand.loss_and_grads(batch)[1]
        gradients = compare("gradients", grads_c, grads_r, labels, TOL["gradients"], step=step, origin="last")
        if not gradients.passed:
            evidence.failed(FailingCall("backprop", start, batch=batch))
        try:
            with located("updates", step):
                cand.step(batch)
                params_c = [np.array(p, dtype=np.float64) for p in cand.params()]
        except CandidateError as error:
            if gradients.passed:
                raise
            gradients.message += f"; then the code under test failed: {error}"  # the divergence came first
            gradients.candidate_error = str(error)
            return _not_again_at_step_0(run, gradients)
        evidence.batches.append(batch), evidence.params_before.append(start)
        evidence.grads_candidate.append(grads_c), evidence.grads_torch.append(grads_r)
        evidence.params_candidate.append(params_c), evidence.params_torch.append(torch_step.after)
        result = gradients
        if gradients.passed:
            worst["gradients"] = max(worst["gradients"], gradients.max_abs_err)
            scaled["gradients"] = max(scaled["gradients"], gradients.scaled_err)
            judge.set_params(start)
            judge.step_with(grads_c, batch.lr)
            evidence.params_judge.append(judge.params())
            result = compare_steps(params_c, evidence.params_judge[-1], start, TOL["updates"], step)
            if not result.passed:
                evidence.failed(_update_call(evidence, step))
        if not result.passed:
            return _not_again_at_step_0(run, result)
        worst["updates"] = max(worst["updates"], result.max_abs_err)
        scaled["updates"] = max(scaled["updates"], result.scaled_err)
    n = len(evidence.batches)
    probed = probe_steps(run, first_step=n) if run.plan.probe else None
    if probed is not None and not probed.passed:
        return probed
    return CheckResult("updates", True, max_abs_err=worst["updates"], step=n - 1, scaled_err=scaled["updates"],
                       message=f"{n} lockstep steps agree; max abs err: gradients {worst['gradients']:.2e}, "
                               f"steps {worst['updates']:.2e}" + (f"; {probed.message}" if probed else ""))


PROBE_BATCHES = (37, 37, 13)  # an odd batch size, then a final partial batch (smaller than any preset's)
PROBE_LRS = (0.5, 2.0, 0.3)  # x the spec's lr, changed between steps as a scheduler changes torch's param groups


def probe_lrs(spec: Spec) -> list[float]:
    """The probe's learning rates. Where the lr enters the optimizer's state (SGD momentum: the velocity form
    v = mu*v - eta*g equals torch's buffer only at a constant eta) it changes once, to a value no preset uses."""
    if spec.optimizer == "sgd" and spec.hparams.get("momentum"):
        return [0.37 * spec.lr] * len(PROBE_BATCHES)
    return [f * spec.lr for f in PROBE_LRS]


def probe_steps(run: Run, first_step: int) -> CheckResult:
    """A fresh candidate and torch, lockstep again on batches of other sizes at other learning rates: a class
    that divides by a fixed 100 instead of len(y), or ignores its eta, fails here (every preset step is 100 at
    one lr). Numbered after the lockstep's steps."""
    spec = run.spec
    with located("updates", first_step):
        cand = run.make_candidate(spec, run.init)
    try:
        return _probe(run, cand, first_step)
    finally:
        release(cand)


def release(side: Side) -> None:
    """Free a side as soon as its check is done (a student's worker process: fewer alive at once)."""
    close = getattr(side, "close", None)
    if close is not None:
        close()


def _update_call(ev: Evidence, step: int) -> FailingCall:
    """Step `step` of the evidence's steps, with the steps before it, as a failing update_mini_batch call."""
    history = [(ev.params_before[j], ev.batches[j], ev.grads_candidate[j]) for j in range(step)]
    return FailingCall("update_mini_batch", ev.params_before[step], batch=ev.batches[step],
                       grads=ev.grads_candidate[step], history=history)


def _probe(run: Run, cand: Side, first_step: int) -> CheckResult:
    spec = run.spec
    judge = TorchSide(spec, run.init)
    lrs = probe_lrs(spec)
    done: list[tuple[list[np.ndarray], Batch, list[np.ndarray]]] = []
    for i, (size, lr, torch_step) in enumerate(zip(PROBE_BATCHES, lrs, run.reference.probes)):
        step, batch, start, grads_r = first_step + i, torch_step.batch, torch_step.before, torch_step.grads
        with located("gradients", step):
            cand.set_params(start)
            grads_c = cand.loss_and_grads(batch)[1]
        where = f" (a probe step: batch of {size}, lr {lr:g})"
        result = compare("gradients", grads_c, grads_r, run.labels, TOL["gradients"], step=step, origin="last")
        if not result.passed:
            run.evidence.failed(FailingCall("backprop", start, batch=batch))
        if result.passed:
            with located("updates", step):
                cand.step(batch)
                params_c = cand.params()
            judge.set_params(start)
            judge.step_with(grads_c, lr)
            result = compare_steps(params_c, judge.params(), start, TOL["updates"], step)
            if not result.passed:
                run.evidence.failed(FailingCall("update_mini_batch", start, batch=batch, grads=grads_c,
                                                history=list(done)))
            done.append((start, batch, grads_c))
        if not result.passed:
            result.message += where
            result.hint = _probe_hint(result, size, lr, spec)
            result.kind = "bug" if result.hint else None
            return result
    return CheckResult("updates", True, message=f"{len(lrs)} probe steps from a fresh start agree, batch sizes "
                       f"{', '.join(map(str, PROBE_BATCHES))}, lr {', '.join(f'{lr:g}' for lr in lrs)}")


def _probe_hint(result: CheckResult, size: int, lr: float, spec: Spec) -> str | None:
    """The two things only a probe step can show, read off the constant factor of the failing tensor."""
    r = result.ratio
    if r is None:
        return None
    if result.name == "gradients" and abs(r - size / spec.batch_size) < 1e-6 * r:
        return (f"at a batch of {size} the gradient is {r:.4g} = {size}/{spec.batch_size} x torch's: backprop "
                f"divides by a fixed {spec.batch_size} instead of the batch's own size; use len(y)")
    if result.name == "updates" and abs(r - spec.lr / lr) < 1e-6 * r:
        return (f"at lr {lr:g} the step is {r:.4g} = {spec.lr:g}/{lr:g} x torch's: update_mini_batch uses a fixed "
                f"learning rate of {spec.lr:g} instead of its eta argument")
    return None


def judge_optimizer(run: Run) -> CheckResult | None:
    """The candidate's update judged on its own gradients, when `updates` could not compare it (the gradients
    differed first): a second bug in the optimizer is then named too, not hidden behind the first.

    A fresh candidate steps from torch's parameters at every step, as in the lockstep; torch.optim (the judge) is
    fed the gradients the candidate's backprop returned for the same batch and parameters, and the two steps Δp are
    compared. None (no row) when `updates` compared every step it took.
    """
    recorded = run.evidence
    if not recorded.batches or len(recorded.params_judge) == len(recorded.batches):
        return None
    with located("optimizer", 0):
        cand = run.make_candidate(run.spec, run.init)
    try:
        return _judge_optimizer(run, cand)
    finally:
        release(cand)


def _judge_optimizer(run: Run, cand: Side) -> CheckResult:
    spec, recorded = run.spec, run.evidence
    ref, judge = TorchSide(spec, run.init), TorchSide(spec, run.init)
    ev = run.optimizer_evidence = Evidence(spec, run.init, recorded.x_eval, n_train=recorded.n_train)
    batches = (b for epoch in range(spec.epochs) for b in epoch_batches(spec, run.data, epoch, ref))
    for step, batch in zip(range(run.plan.steps), batches):
        start = ref.params()
        with located("optimizer", step):
            cand.set_params(start)
            grads_c = [np.asarray(g, dtype=np.float64) for g in cand.loss_and_grads(batch)[1]]
            cand.step(batch)
            params_c = [np.array(p, dtype=np.float64) for p in cand.params()]
        if [g.shape for g in grads_c] != [p.shape for p in start]:
            return _not_own_gradients(step, "backprop's gradients do not have the parameters' shapes")
        ref.step(batch)
        judge.set_params(start)
        judge.step_with(grads_c, batch.lr)
        ev.batches.append(batch), ev.params_before.append(start), ev.params_candidate.append(params_c)
        ev.grads_candidate.append(grads_c), ev.grads_torch.append(grads_c)  # what torch.optim was fed
        ev.params_torch.append(judge.params()), ev.params_judge.append(ev.params_torch[-1])
        result = compare_steps(params_c, ev.params_torch[-1], start, TOL["updates"], step)
        if not result.passed:
            ev.failed(_update_call(ev, step))
            if compare_steps(params_c, ref.params(), start, TOL["updates"], step).passed:
                return _not_own_gradients(step, "its step equals torch.optim's on torch's gradients, not on the "
                                                "gradients its backprop returned")
            result.name = "optimizer"
            result.message += " (torch.optim fed your backprop's own gradients)"
            return result
    return CheckResult("optimizer", True, step=len(ev.batches) - 1,
                       message=f"{len(ev.batches)} steps of your update agree with torch.optim's fed your backprop's "
                               f"own gradients: the optimizer is right, only the gradients differ")


def _not_own_gradients(step: int, why: str) -> CheckResult:
    """The update cannot be judged on the candidate's gradients: said, and the update stays "not compared"."""
    return CheckResult("optimizer", False, step=step, informational=True,
                       message=f"not compared: your update does not go through your own backprop at step {step} "
                               f"({why})")


def _not_again_at_step_0(run: Run, result: CheckResult) -> CheckResult:
    """Step 0's gradients are the first batch's, already a row of their own: one row for one difference."""
    initial = run.initial_gradients
    if result.name == "gradients" and result.step == 0 and initial is not None and not initial.passed:
        return CheckResult("updates", False, step=0, message="not compared: the gradients already differ at step 0")
    return result


def train_curve(spec: Spec, data: Dataset, side: Side, x_eval: np.ndarray, progress: Callable | None = None
                ) -> dict[str, list]:
    """Free-running training, as the lab does it: test accuracy and mean training loss after each epoch."""
    labels = data.labels_test[: len(x_eval)]
    noise = TorchSide(spec, initial_params(spec))  # draws the dropout noise; its parameters are never used
    accuracy, loss = [], []
    for epoch in range(spec.epochs):
        losses = []
        for batch in epoch_batches(spec, data, epoch, noise):
            losses.append(side.step(batch))
            if progress:
                progress()
        accuracy.append(float(np.mean(np.argmax(_evaluate(side, x_eval), axis=1) == labels)))
        loss.append(None if None in losses else float(np.mean(losses)))
    return {"accuracy": accuracy, "loss": loss}


class RoundedTorchSide(TorchSide):
    """torch with the round-off another implementation of the same arithmetic (another BLAS, FMA or not) adds:
    every gradient entry moved by CHAOS_ROUNDOFF x its tensor's largest entry (random signs) before every step.
    Absolute, as a GEMM's summation error is: an entry at rounding level is moved by all of it, which Adagrad or
    Adam then divide by its own size, as they do another implementation's."""

    def __init__(self, spec: Spec, init: list[np.ndarray], k: int):
        super().__init__(spec, init)
        self.rng = np.random.default_rng([spec.seed, 1, k])

    def step(self, batch: Batch) -> float:
        loss, grads = self.loss_and_grads(batch)
        noisy = [g + CHAOS_ROUNDOFF * np.max(np.abs(g)) * self.rng.choice([-1.0, 1.0], g.shape) for g in grads]
        self.step_with(noisy, batch.lr)
        return loss


def controls(spec: Spec, data: Dataset, init: list[np.ndarray], x_eval: np.ndarray, n: int = CHAOS_CONTROLS
             ) -> list[dict[str, list]]:
    """torch trained n times with round-off of its own (RoundedTorchSide): how far round-off alone moves the curves."""
    return [train_curve(spec, data, RoundedTorchSide(spec, init, k), x_eval) for k in range(n)]


def drift(curve: dict, ref: dict) -> tuple[float, float]:
    """How far a free-running curve gets from torch's over the whole run: the largest accuracy gap, and the largest
    |log(loss / torch's loss)| (a log, because a diverging run's loss grows by factors, not by amounts)."""
    acc = max(abs(a - b) for a, b in zip(curve["accuracy"], ref["accuracy"]))
    if None in curve["loss"]:  # a student's class reports no loss
        return acc, 0.0
    return acc, max(abs(float(np.log(a / b))) for a, b in zip(curve["loss"], ref["loss"]))


def chaos_ratio(cand: dict, ref: dict, drifts: list[dict]) -> float:
    """The candidate's drift over the largest control's, in accuracy and in loss (the larger of the two): a correct
    candidate drifts like another control; inf where it drifts and no control does."""
    mine, theirs = drift(cand, ref), [drift(d, ref) for d in drifts]
    ratios = []
    for k in range(2):
        spread = max(t[k] for t in theirs)
        ratios.append(mine[k] / spread if spread else (0.0 if mine[k] == 0 else np.inf))
    return max(ratios)


def curves(run: Run) -> CheckResult:
    """Both sides trained from the same init on the same batches; per-epoch accuracy and loss must agree.

    Where they do not, controls decide: torch against itself with 1e-15 (relative) round-off added at every step.
    The gaps are excused as chaos only if the candidate's drift over the run (largest accuracy gap, largest
    relative loss gap) is no larger than CHAOS_MARGIN times the largest control's; otherwise every gap fails.
    """
    spec, data, x_eval, progress = run.spec, run.data, run.x_eval, run.progress
    with located("curves"):
        side = run.make_candidate(spec, run.init)
        try:
            cand = train_curve(spec, data, side, x_eval, progress)
        finally:
            release(side)
    ref = run.reference.curve(progress)
    curve = Curve(cand["accuracy"], ref["accuracy"], cand["loss"], ref["loss"])
    bad = _bad_epochs(cand, ref)
    chaotic: list[int] = []
    if bad:
        drifts = run.reference.chaos_controls
        curve.controls = [d["accuracy"] for d in drifts]
        if chaos_ratio(cand, ref, drifts) <= CHAOS_MARGIN:
            chaotic, bad = bad, []
    gap = max(abs(a - b) for a, b in zip(cand["accuracy"], ref["accuracy"]))
    result = CheckResult("curves", not bad, max_abs_err=gap, param="accuracy", curve=curve, chaotic_epochs=chaotic)
    if bad:
        e = bad[0]
        result.step, result.got, result.want = e, cand["accuracy"][e], ref["accuracy"][e]
        result.message = (f"epoch {e}: accuracy {cand['accuracy'][e]:.4f} vs torch {ref['accuracy'][e]:.4f}, "
                          f"loss {_fmt(cand['loss'][e])} vs torch {ref['loss'][e]:.6g}")
    else:
        result.message = (f"{spec.epochs} epochs; final accuracy {cand['accuracy'][-1]:.4f} vs torch "
                          f"{ref['accuracy'][-1]:.4f}")
        if chaotic:
            result.message += (f"; the gap is chaos, not a bug: torch with 1e-15 round-off of its own ({CHAOS_CONTROLS} "
                               f"runs) drifts as far (final accuracies "
                               f"{', '.join(f'{c[-1]:.4f}' for c in curve.controls)})")
    return result


def _bad_epochs(cand: dict, ref: dict) -> list[int]:
    """Epochs whose test accuracy differs, or whose mean training loss is outside the curve tolerance."""
    tol = TOL["curve_loss"]
    bad = []
    for e, (acc_c, acc_r, loss_c, loss_r) in enumerate(zip(cand["accuracy"], ref["accuracy"], cand["loss"],
                                                             ref["loss"])):
        loss_off = loss_c is not None and not abs(loss_c - loss_r) <= tol.rtol * abs(loss_r)
        if abs(acc_c - acc_r) > ACCURACY_TOLERANCE or loss_off:
            bad.append(e)
    return bad


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def finite_differences(cand: NumpySide, batch: Batch, grads: list[np.ndarray], coords: int,
                       rng: np.random.Generator, h: float = 1e-5) -> CheckResult:
    """Central differences of the candidate's own loss at a few coordinates of every parameter (fd_coordinates).

    Independent of torch: it catches a misunderstanding that a hand-written backward and the reference might share.
    Differences below what central differences resolve (FD_RESOLUTION) are round-off, not findings.
    """
    params = [p.copy() for p in cand.params()]
    got, want, labels, losses = [], [], [], []
    if [np.shape(g) for g in grads] != [p.shape for p in params]:
        return CheckResult("finite_differences", False, reference="finite difference",
                           message="gradient shapes differ from the parameters' (see the gradients check)")
    for i, (p, label) in enumerate(zip(params, layout.labels(len(params)))):
        picks = fd_coordinates(np.asarray(grads[i], dtype=np.float64), coords, rng)
        numeric = []
        for index in picks:
            original = p[index]
            p[index] = original + h
            up = cand.loss_fn(params, batch)
            p[index] = original - h
            down = cand.loss_fn(params, batch)
            p[index] = original
            numeric.append((up - down) / (2 * h))
            losses += [up, down]
        got.append(np.array([grads[i][index] for index in picks]))
        want.append(np.array(numeric))
        labels.append(label)
    scale = max((abs(v) for v in losses if np.isfinite(v)), default=0.0)
    resolution = FD_RESOLUTION * np.finfo(float).eps * (1 + scale) / h
    return compare("finite_differences", got, want, labels, replace(TOL["finite_differences"], atol_min=resolution),
                   origin="last", reference="finite difference")


def fd_coordinates(grad: np.ndarray, coords: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """The entry of largest |gradient| and coords - 1 random others.

    The largest is where a wrong formula shows most, and it sets the tensor's scale, which the tolerance's floor is
    relative to. Random entries alone can all have slopes near 0 (at batch size 1 most pixels are 0 in the sample,
    so their slope is exactly 0 on both sides) and would be judged against their own size.
    """
    largest = int(np.argmax(np.abs(grad)))
    others = rng.choice(np.delete(np.arange(grad.size), largest), min(coords, grad.size) - 1, replace=False)
    return [np.unravel_index(int(k), grad.shape) for k in (largest, *others)]
