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
from crosscheck import extra_checks
from crosscheck.data import Dataset, batches
from crosscheck.diff import CheckResult, Label, Tolerance, compare, param_labels
from crosscheck.sides import Batch, NumpySide, Side, TorchSide
from crosscheck.spec import Spec
from crosscheck.threads import single_threaded

# Tolerances, each set from bench/measure_tolerances.py: the worst scaled error (max|numpy - torch| / max|torch|)
# over all 20 presets x the lab's 5 learning rates, with the margin it leaves. Round-off grows with the size of the
# logits, so the worst cells are at lr 10 (AdamW: parameters ~1e2, logits ~1e4); at lr <= 1 gradients agree to
# <= 4e-14 and parameters to <= 4e-13. A real bug (a factor, a wrong formula) shows at 1e-3 or more.
TOL = {
    "softmax": Tolerance(rtol=1e-13),  # worst 1.9e-16 (margin 500)
    "forward": Tolerance(rtol=1e-12),  # worst 2.1e-15 (margin 470), at the initial parameters
    "loss": Tolerance(rtol=1e-12),  # worst 2.1e-16 (margin 4800)
    "gradients": Tolerance(rtol=1e-8),  # worst 8.2e-10 (lab Adagrad, lr 10, saturated; margin 12); 2e-15 at lr 0.1
    "updates": Tolerance(rtol=1e-9),  # worst 2.1e-11 (AdamW, deep, lr 10; margin 48)
    "curve_loss": Tolerance(rtol=1e-8),  # per-epoch mean training loss, free-running; chaos handled by a control
    "finite_differences": Tolerance(rtol=1e-6),  # worst 3.4e-8 (margin 29): truncation (h^2) plus rounding (eps/h)
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
    params_before: list[list[np.ndarray]] = field(default_factory=list)  # torch's, given to both sides per step
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
        with np.errstate(all="ignore"):  # an unstable candidate overflows: that is the finding, not a warning
            got = [np.asarray(softmax(z.copy()), dtype=np.float64) for z in cases.values()]
    except Exception as error:  # a candidate's crash is a verdict
        return CheckResult("softmax", False, message=f"softmax raised {type(error).__name__}: {error}")
    result = compare("softmax", got, want, [Label(None, f"softmax({name})") for name in cases], TOL["softmax"])
    sums = {name: float(np.abs(g.sum(axis=-1) - 1).max()) for (name, z), g in zip(cases.items(), got)
            if g.shape == z.shape and np.all(np.isfinite(g))}
    if result.passed and sums and max(sums.values()) > TOL["softmax"].rtol:
        result.passed, result.message = False, f"rows sum to 1 only within {max(sums.values()):.2e}"
    result.extra["row_sum_err"] = sums  # for the hint: finite rows that are not a distribution
    result.extra["nonfinite"] = [name for name, g in zip(cases, got) if not np.all(np.isfinite(g))]
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
    with single_threaded():
        return _run_checks(spec, data, make_candidate, plan, progress, diagnose)


def _run_checks(spec: Spec, data: Dataset, make_candidate: Callable[[Spec, list[np.ndarray]], Side], plan: Plan,
                progress: Callable | None, diagnose: Diagnose | None) -> list[CheckResult]:
    init = initial_params(spec)
    ref, cand = TorchSide(spec, init), make_candidate(spec, init)
    x_eval = data.x_test if plan.eval_samples is None else data.x_test[: plan.eval_samples]
    evidence = Evidence(spec, init, x_eval, _evaluate(cand, x_eval), _evaluate(ref, x_eval))
    labels = param_labels(len(init))
    first = next(epoch_batches(spec, data, 0, ref))
    results = []
    if spec.head == "ce" and hasattr(cand, "softmax"):
        results.append(check_softmax(cand.softmax))
    if spec.augments:
        results.append(extra_checks.augment_images(cand, ref, first))
    if spec.dropout:
        results.append(extra_checks.dropout_statistics(spec, getattr(cand, "dropout_masks", None)))
    results.append(compare("forward", [evidence.out_candidate], [evidence.out_torch], [Label(None, "output")],
                           TOL["forward"]))
    (loss_c, grads_c), (loss_r, grads_r) = cand.loss_and_grads(first), ref.loss_and_grads(first)
    if loss_c is not None:
        results.append(compare("loss", [np.array(loss_c)], [np.array(loss_r)], [Label(None, "loss")], TOL["loss"]))
    initial_gradients = compare("gradients", grads_c, grads_r, labels, TOL["gradients"], step=0, origin="last")
    results.append(initial_gradients)
    if hasattr(cand, "loss_fn"):
        results.append(finite_differences(cand, first, grads_c, plan.fd_coords, np.random.default_rng(spec.seed)))
    stepped = lockstep(spec, data, cand, ref, plan, evidence, labels)
    if stepped.name == "gradients" and stepped.step == 0 and not initial_gradients.passed:  # one row, not two
        stepped = CheckResult("updates", False, step=0, message="not compared: the gradients already differ at step 0")
    results.append(stepped)
    results.append(curves(spec, data, make_candidate, x_eval, progress))
    if spec.optimizer == "adagrad-lab":
        results.append(extra_checks.eps_placement(spec, init, make_candidate, first, TOL["updates"]))
    failed = next((r for r in results if not r.passed), None)
    if failed is not None and diagnose is not None:
        failed.extra["hint"] = diagnose(failed, evidence)
    return results


def lockstep(spec: Spec, data: Dataset, cand: Side, ref: TorchSide, plan: Plan, evidence: Evidence,
             labels: list[Label]) -> CheckResult:
    """The first plan.steps steps, each from the same parameters: gradients before it, parameters after it.

    Before every step the candidate is set to torch's parameters, so each step is compared on its own: round-off
    cannot accumulate, even where the trajectory is chaotic (at lr 10, 1e-16 grows ~10x per step). Optimizer
    state (momentum, moments) is each side's own and carries over, so a wrong state update still shows.
    """
    worst = {"gradients": 0.0, "updates": 0.0}
    scaled = {"gradients": 0.0, "updates": 0.0}
    batches = (b for epoch in range(spec.epochs) for b in epoch_batches(spec, data, epoch, ref))
    for step, batch in zip(range(plan.steps), batches):
        start = ref.params()
        cand.set_params(start)
        (loss_c, grads_c), (loss_r, grads_r) = cand.loss_and_grads(batch), ref.loss_and_grads(batch)
        cand.step(batch), ref.step(batch)
        evidence.batches.append(batch), evidence.params_before.append(start)
        evidence.grads_candidate.append(grads_c), evidence.grads_torch.append(grads_r)
        evidence.params_candidate.append([np.array(p, dtype=np.float64) for p in cand.params()])
        evidence.params_torch.append(ref.params())
        result = compare("gradients", grads_c, grads_r, labels, TOL["gradients"], step=step, origin="last")
        if result.passed:
            worst["gradients"] = max(worst["gradients"], result.max_abs_err)
            scaled["gradients"] = max(scaled["gradients"], result.extra["scaled_err"])
            result = compare("updates", evidence.params_candidate[-1], evidence.params_torch[-1], labels,
                             TOL["updates"], step=step)
        if not result.passed:
            return result
        worst["updates"] = max(worst["updates"], result.max_abs_err)
        scaled["updates"] = max(scaled["updates"], result.extra["scaled_err"])
    n = len(evidence.batches)
    return CheckResult("updates", True, max_abs_err=worst["updates"], step=n - 1, extra={"scaled_err": scaled},
                       message=f"{n} lockstep steps agree; max abs err: gradients {worst['gradients']:.2e}, "
                               f"parameters {worst['updates']:.2e}")


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


def curves(spec: Spec, data: Dataset, make_candidate: Callable, x_eval: np.ndarray,
           progress: Callable | None) -> CheckResult:
    """Both sides trained from the same init on the same batches; per-epoch accuracy and loss must agree.

    Where they do not, a control decides: torch against itself from an init perturbed by 1e-15 (relative). An
    epoch where torch does not reproduce itself is chaotic, and there round-off, not the candidate, sets the gap.
    """
    init = initial_params(spec)
    cand = train_curve(spec, data, make_candidate(spec, init), x_eval, progress)
    ref = train_curve(spec, data, TorchSide(spec, init), x_eval, progress)
    curve = {"numpy": cand["accuracy"], "torch": ref["accuracy"], "loss_numpy": cand["loss"], "loss_torch": ref["loss"]}
    bad = _bad_epochs(cand, ref)
    control = None
    if bad:
        rng = np.random.default_rng(spec.seed + 1)
        perturbed = [p * (1 + 1e-15 * rng.choice([-1.0, 1.0], p.shape)) for p in init]
        control = train_curve(spec, data, TorchSide(spec, perturbed), x_eval)
        chaotic = set(_bad_epochs(control, ref))
        curve["control"] = control["accuracy"]
        bad = [e for e in bad if e not in chaotic]
    gap = max(abs(a - b) for a, b in zip(cand["accuracy"], ref["accuracy"]))
    result = CheckResult("curves", not bad, max_abs_err=gap, param="accuracy", extra={"curve": curve})
    if bad:
        e = bad[0]
        result.step, result.got, result.want = e, cand["accuracy"][e], ref["accuracy"][e]
        result.message = (f"epoch {e}: accuracy {cand['accuracy'][e]:.4f} vs torch {ref['accuracy'][e]:.4f}, "
                          f"loss {_fmt(cand['loss'][e])} vs torch {ref['loss'][e]:.6g}")
    else:
        result.message = (f"{spec.epochs} epochs; final accuracy {cand['accuracy'][-1]:.4f} vs torch "
                          f"{ref['accuracy'][-1]:.4f}")
        if control is not None:
            result.extra["chaotic"] = True
            result.message += ("; the gap is chaos, not a bug: torch from a 1e-15-perturbed init drifts as far "
                               f"(control accuracy {control['accuracy'][-1]:.4f})")
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
    """Central differences of the candidate's own loss at a few random coordinates of every parameter.

    Independent of torch: it catches a misunderstanding that a hand-written backward and the reference might share.
    """
    params = [p.copy() for p in cand.params()]
    got, want, labels = [], [], []
    if [np.shape(g) for g in grads] != [p.shape for p in params]:
        return CheckResult("finite_differences", False, message="gradient shapes differ from the parameters' "
                                                                 "(see the gradients check)")
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
