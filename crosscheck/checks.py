"""The checks: one training run of a candidate beside torch, compared at every stage.

Order follows the data flow, so the first failing check is where a bug first shows: softmax, forward output,
loss, gradients at the start, lockstep updates over the first steps (gradients and parameters after each
step), per-epoch loss and accuracy curves, and central finite differences of the candidate's own loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

import numpy_mlp
import numpy_mlp.augment
import torch_ref.functional
from crosscheck.data import Dataset, batches
from crosscheck.diff import CheckResult, Label, Tolerance, compare, param_labels
from crosscheck.sides import Batch, NumpySide, Side, TorchSide
from crosscheck.spec import Spec

# Tolerances, each from measurement (tests/test_tolerances.py re-measures and keeps them honest); see README.
TOL = {
    "softmax": Tolerance(rtol=1e-13),
    "forward": Tolerance(rtol=1e-12),
    "loss": Tolerance(rtol=1e-12),
    "gradients": Tolerance(rtol=1e-10),
    "updates": Tolerance(rtol=1e-10),
    "curve_loss": Tolerance(rtol=1e-8),
    "finite_differences": Tolerance(rtol=1e-6, floor_scale=1.0),
}
ACCURACY_TOLERANCE = 0.0  # fraction of test samples; argmax on outputs ~1e-12 apart agrees unless a near-tie


@dataclass
class Plan:
    """How much to compare: lockstep steps, finite-difference coordinates per parameter, test samples."""

    steps: int = 50
    fd_coords: int = 5
    eval_samples: int | None = None  # None: the whole test split


@dataclass
class Evidence:
    """What a diagnosis may look at: the inputs both sides saw and what each computed, step by step."""

    spec: Spec
    init: list[np.ndarray]
    x_eval: np.ndarray
    out_candidate: np.ndarray | None = None
    out_torch: np.ndarray | None = None
    batches: list[Batch] = field(default_factory=list)  # the lockstep batches, in order
    grads_candidate: list[list[np.ndarray]] = field(default_factory=list)  # per lockstep step
    grads_torch: list[list[np.ndarray]] = field(default_factory=list)
    params_candidate: list[list[np.ndarray]] = field(default_factory=list)  # after each lockstep step
    params_torch: list[list[np.ndarray]] = field(default_factory=list)


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
        got = [np.asarray(softmax(z.copy()), dtype=np.float64) for z in cases.values()]
    except Exception as error:  # a candidate's crash is a verdict
        return CheckResult("softmax", False, message=f"softmax raised {type(error).__name__}: {error}")
    result = compare("softmax", got, want, [Label(None, f"softmax({name})") for name in cases], TOL["softmax"])
    sums = [np.abs(g.sum(axis=-1) - 1).max() for g in got if g.ndim == 2 and np.all(np.isfinite(g))]
    if result.passed and sums and max(sums) > 1e-13:
        result.passed, result.message = False, f"rows sum to 1 only within {max(sums):.2e}"
    return result


def _evaluate(side: Side, x: np.ndarray) -> np.ndarray:
    return np.asarray(side.predict(x), dtype=np.float64)


Diagnose = Callable[[CheckResult, Evidence], "str | None"]


def run_checks(spec: Spec, data: Dataset, make_candidate: Callable[[Spec, list[np.ndarray]], Side] = NumpySide,
               plan: Plan | None = None, progress: Callable | None = None,
               diagnose: Diagnose | None = None) -> list[CheckResult]:
    """Every check for one spec; the first failure gets a hint from `diagnose` when one is given."""
    plan = plan or Plan()
    if spec.only_softmax:
        return [check_softmax(numpy_mlp.softmax)]
    init = initial_params(spec)
    ref, cand = TorchSide(spec, init), make_candidate(spec, init)
    x_eval = data.x_test if plan.eval_samples is None else data.x_test[: plan.eval_samples]
    evidence = Evidence(spec, init, x_eval, _evaluate(cand, x_eval), _evaluate(ref, x_eval))
    labels = param_labels(len(init))
    results = [compare("forward", [evidence.out_candidate], [evidence.out_torch], [Label(None, "output")],
                       TOL["forward"])]
    first = next(epoch_batches(spec, data, 0, ref))
    (loss_c, grads_c), (loss_r, grads_r) = cand.loss_and_grads(first), ref.loss_and_grads(first)
    if loss_c is not None:
        results.append(compare("loss", [np.array(loss_c)], [np.array(loss_r)], [Label(None, "loss")], TOL["loss"]))
    results.append(compare("gradients", grads_c, grads_r, labels, TOL["gradients"], step=0, origin="last"))
    if hasattr(cand, "loss_fn"):
        results.append(finite_differences(cand, first, grads_c, plan.fd_coords, np.random.default_rng(spec.seed)))
    results += lockstep_and_curves(spec, data, cand, ref, plan, evidence, labels, progress)
    failed = next((r for r in results if not r.passed), None)
    if failed is not None and diagnose is not None:
        failed.extra["hint"] = diagnose(failed, evidence)
    return results


def lockstep_and_curves(spec: Spec, data: Dataset, cand: Side, ref: TorchSide, plan: Plan, evidence: Evidence,
                        labels: list[Label], progress: Callable | None) -> list[CheckResult]:
    """Train both sides from the same init on the same batches; compare each of the first steps, then curves."""
    step, update_result, curve = 0, None, {"numpy": [], "torch": [], "loss_numpy": [], "loss_torch": []}
    worst = {"gradients": 0.0, "updates": 0.0}
    x_eval = evidence.x_eval
    eval_labels = data.labels_test[: len(x_eval)]
    for epoch in range(spec.epochs):
        losses_c, losses_r = [], []
        for batch in epoch_batches(spec, data, epoch, ref):
            if step < plan.steps and update_result is None:
                update_result = _lockstep_step(cand, ref, batch, labels, step, evidence)
                losses_c.append(update_result.extra.pop("loss_candidate"))
                losses_r.append(update_result.extra.pop("loss_torch"))
                if update_result.passed:
                    worst.update({k: max(worst[k], v) for k, v in update_result.extra.pop("max_abs").items()})
                    update_result = None
            else:
                losses_c.append(cand.step(batch))
                losses_r.append(ref.step(batch))
            step += 1
            if progress:
                progress()
        curve["numpy"].append(float(np.mean(np.argmax(_evaluate(cand, x_eval), axis=1) == eval_labels)))
        curve["torch"].append(float(np.mean(np.argmax(_evaluate(ref, x_eval), axis=1) == eval_labels)))
        curve["loss_numpy"].append(float(np.mean(losses_c)) if None not in losses_c else None)
        curve["loss_torch"].append(float(np.mean(losses_r)))
    if update_result is None:
        n = min(step, plan.steps)
        update_result = CheckResult("updates", True, max_abs_err=worst["updates"], step=n - 1,
                                    message=f"{n} lockstep steps agree; max abs err: gradients "
                                            f"{worst['gradients']:.2e}, parameters {worst['updates']:.2e}")
    return [update_result, curves_result(curve)]


def _lockstep_step(cand: Side, ref: TorchSide, batch: Batch, labels: list[Label], step: int,
                   evidence: Evidence) -> CheckResult:
    """One step of both sides: gradients before it, parameters after it; the first failure is the result."""
    (loss_c, grads_c), (loss_r, grads_r) = cand.loss_and_grads(batch), ref.loss_and_grads(batch)
    result = compare("gradients", grads_c, grads_r, labels, TOL["gradients"], step=step, origin="last")
    cand.step(batch), ref.step(batch)
    evidence.batches.append(batch)
    evidence.grads_candidate.append(grads_c), evidence.grads_torch.append(grads_r)
    evidence.params_candidate.append([np.array(p, dtype=np.float64) for p in cand.params()])
    evidence.params_torch.append(ref.params())
    if result.passed:
        grad_err = result.max_abs_err
        result = compare("updates", cand.params(), ref.params(), labels, TOL["updates"], step=step)
        result.extra["max_abs"] = {"gradients": grad_err, "updates": result.max_abs_err}
    result.extra.update(loss_candidate=loss_c, loss_torch=loss_r)
    return result


def curves_result(curve: dict[str, list]) -> CheckResult:
    acc_gap = max(abs(a - b) for a, b in zip(curve["numpy"], curve["torch"]))
    result = CheckResult("curves", acc_gap <= ACCURACY_TOLERANCE, max_abs_err=acc_gap, param="accuracy",
                         extra={"curve": curve})
    if not result.passed:
        epoch = next(e for e, (a, b) in enumerate(zip(curve["numpy"], curve["torch"])) if abs(a - b) > 0)
        result.step, result.got, result.want = epoch, curve["numpy"][epoch], curve["torch"][epoch]
        result.message = f"test accuracy differs at epoch {epoch}: {result.got:.4f} vs torch {result.want:.4f}"
        return result
    if None not in curve["loss_numpy"]:
        loss = compare("curves", [np.array(curve["loss_numpy"])], [np.array(curve["loss_torch"])],
                       [Label(None, "epoch loss")], TOL["curve_loss"])
        loss.extra, loss.max_abs_err = {"curve": curve}, max(loss.max_abs_err or 0.0, acc_gap)
        if not loss.passed:
            return loss
    result.message = f"{len(curve['numpy'])} epochs; final accuracy {curve['numpy'][-1]:.4f} vs torch {curve['torch'][-1]:.4f}"
    return result


def finite_differences(cand: NumpySide, batch: Batch, grads: list[np.ndarray], coords: int,
                       rng: np.random.Generator, h: float = 1e-5) -> CheckResult:
    """Central differences of the candidate's own loss at a few random coordinates of every parameter.

    Independent of torch: it catches a misunderstanding that a hand-written backward and the reference might share.
    """
    params = [p.copy() for p in cand.params()]
    got, want, labels = [], [], []
    for i, (p, label) in enumerate(zip(params, param_labels(len(params)))):
        picks = [np.unravel_index(k, p.shape) for k in rng.choice(p.size, min(coords, p.size), replace=False)]
        numeric = []
        for index in picks:
            original = p[index]
            p[index] = original + h
            up = cand.loss_fn(params, batch)
            p[index] = original - h
            down = cand.loss_fn(params, batch)
            p[index] = original
            numeric.append((up - down) / (2 * h))
        got.append(np.array([grads[i][index] for index in picks]))
        want.append(np.array(numeric))
        labels.append(label)
    result = compare("finite_differences", got, want, labels, TOL["finite_differences"], origin="last")
    result.message = result.message.replace("torch", "finite difference")
    return result
