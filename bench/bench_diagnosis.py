"""How well the harness names a defect: single-defect candidates and correct look-alikes, scored.

Each defect is the NumPy reference (or a student-style class) with one slip or one legitimate convention, and says
where its first failure must be (check, layer, parameter), the words its hint must contain and its kind ("bug" or
"convention"). Each look-alike is correct in another form and must pass every check. Scores:
detection (a scored check fails), localisation (the first failure is where expected), hint (the first failure's hint
contains every word and has the expected kind), false alarms (look-alikes that fail). Builders are shared with
tests/test_diagnose.py (tests/candidates.py).

The line score: every class of tests/students/defects (single-defect student classes in the lab's layout, Nielsen's
and a notebook, and correct classes) is checked with its failing call traced, and the line named is scored against
the class's `# <- defect` line (or, for an omission, its `# <- consumer` line); correct classes must name none. The
tracing overhead is timed on the same calls.

Run: PYTHONPATH=. python bench/bench_diagnosis.py [--quick] [--verbose] [--lines-only] [--sandbox]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from crosscheck.blame import MATCH_RTOL  # noqa: E402
from crosscheck.checks import FailingCall, Plan, run_checks  # noqa: E402
from crosscheck.data import Dataset, load  # noqa: E402
from crosscheck.diagnose import diagnose  # noqa: E402
from crosscheck.results import CheckResult  # noqa: E402
from crosscheck.sides import NumpySide  # noqa: E402
from crosscheck.spec import MODELS, Spec  # noqa: E402
from crosscheck.student import pointer  # noqa: E402
from crosscheck.student.runner import check_student  # noqa: E402
from tests import candidates as c  # noqa: E402
from tests.students.defects import manifest as corpus  # noqa: E402

STUDENTS = ROOT / "tests" / "students"
L2_NO_MOMENTUM = MODELS["l2-momentum"].replace(hparams=dict(weight_decay=1e-3))
ADAM_L2 = MODELS["adam"].replace(hparams={**MODELS["adam"].hparams, "weight_decay": 1e-2})
SQUARE = MODELS["softmax-ce"].replace(layers=(784, 30, 30, 10))
EMA_LR = MODELS["l2-momentum"].replace(lr=0.05)  # at the preset's lr = 1 − μ an EMA and "lr applied twice" coincide


@dataclass(frozen=True)
class Case:
    """One candidate: where its first failure must be, and what its hint must say (where=None: it must pass)."""

    name: str
    family: str
    spec: Spec | str  # a Spec for a NumPy candidate; "task[/model]" for a student class
    candidate: Callable[[Dataset], object]  # data -> make_candidate (a Side class) or "file.py:Class"
    where: tuple[str, int | None, str | None] | None = None
    words: tuple[str, ...] = ()
    kind: str = "bug"


def numpy(name, family, spec, candidate, where=None, words=(), kind="bug") -> Case:
    return Case(name, family, spec, lambda data: candidate, where, tuple(words), kind)


def student(name, family, task, ref, where=None, words=(), kind="bug") -> Case:
    return Case(name, family, task, lambda data: ref, where, tuple(words), kind)


OUT_B, OUT_W = ("gradients", 1, "bias"), ("gradients", 1, "weight")
UPD_B, UPD_W = ("updates", 1, "bias"), ("updates", 1, "weight")

DEFECTS = [
    # gradient factors, per layer
    numpy("summed", "gradient factor", MODELS["softmax-ce"], c.reported_grads(c.every(c.B)), OUT_B, ["summed"]),
    numpy("averaged-twice", "gradient factor", MODELS["softmax-ce"], c.reported_grads(c.every(1 / c.B)), OUT_B,
          ["twice"]),
    numpy("sign", "gradient factor", MODELS["softmax-ce"], c.reported_grads(c.every(-1.0)), OUT_B, ["sign"]),
    numpy("mse-no-half", "gradient factor", MODELS["base"], c.reported_grads(c.every(2.0)), OUT_B, ["1/2"]),
    numpy("per-layer-fan-in", "gradient factor", MODELS["softmax-ce"], c.reported_grads(c.per_layer_fan_in), OUT_B,
          ["fan-in", "instead of the batch size"]),
    numpy("one-tensor-fan-in", "gradient factor", MODELS["softmax-ce"],
          c.reported_grads(c.only(2, lambda g, s: g / s.spec.layers[1])), OUT_W, ["fan-in"]),
    numpy("weights-only", "gradient factor", MODELS["softmax-ce"],
          c.reported_grads(lambda self, grads, batch: [g if i % 2 else 2 * g for i, g in enumerate(grads)]), OUT_W,
          ["only the weight gradients"]),
    numpy("biases-only", "gradient factor", MODELS["softmax-ce"], c.reported_grads(c.biases(lambda g: g / c.B)),
          OUT_B, ["only the bias gradients", "axis=0"]),
    numpy("transposed", "gradient", SQUARE, c.reported_grads(c.only(2, lambda g, s: g.T)), OUT_W, ["transposed"]),
    numpy("sigmoid-prime-of-a", "gradient", MODELS["softmax-ce"], c.SigmoidPrimeOfActivation, ("gradients", 0, "bias"),
          ["derivative"]),
    # L2
    numpy("l2-without-lr", "L2", L2_NO_MOMENTUM, c.with_hparams(weight_decay=1e-2), UPD_W,
          ["not scaled by the learning rate"]),
    numpy("l2-without-lr-momentum", "L2", MODELS["l2-momentum"], c.with_hparams(weight_decay=1e-2), UPD_W,
          ["not scaled by the learning rate"]),
    numpy("l2-on-biases", "L2", MODELS["l2-momentum"], c.configured(decay_biases=True), UPD_B, ["biases too"]),
    numpy("l2-doubled", "L2", MODELS["l2-momentum"], c.with_hparams(weight_decay=2e-3), UPD_W, ["doubled"]),
    numpy("l2-coupled-in-adamw", "L2", MODELS["adamw"], c.configured(optimizer="adam"), UPD_B, ["Adam-style L2"]),
    numpy("l2-decoupled-in-adam", "L2", ADAM_L2, c.configured(optimizer="adamw"), UPD_W, ["AdamW's decoupled"]),
    numpy("l2-over-batch", "L2", MODELS["l2-momentum"], c.with_hparams(weight_decay=1e-5), UPD_W,
          ["divided by the batch size"]),
    numpy("l2-missing", "L2", MODELS["l2-momentum"], c.without_hparam("weight_decay"), UPD_W, ["no weight decay"]),
    # momentum
    numpy("momentum-sign", "momentum", MODELS["l2-momentum"], c.GradientAscent, UPD_B, ["the other way"]),
    numpy("nesterov-missing", "momentum", MODELS["nesterov"], c.with_hparams(nesterov=False), UPD_B,
          ["Nesterov momentum is missing"]),
    numpy("nesterov-extra", "momentum", MODELS["l2-momentum"], c.with_hparams(nesterov=True), UPD_B,
          ["Nesterov momentum is used"]),
    numpy("momentum-missing", "momentum", MODELS["l2-momentum"], c.without_hparam("momentum"), UPD_B,
          ["momentum is missing"]),
    numpy("one-step-late", "momentum", MODELS["l2-momentum"], c.LaggingUpdate, UPD_B, ["one step late"]),
    numpy("stale-gradient", "momentum", MODELS["softmax-ce"], c.StaleGradient, UPD_B, ["lags"]),
    # adaptive optimizers
    numpy("adagrad-eps-inside", "adaptive", MODELS["adagrad"], c.configured(optimizer="adagrad-lab"), UPD_B,
          ["inside the square root"]),
    numpy("adagrad-eps-outside", "adaptive", MODELS["adagrad-lab"], c.configured(optimizer="adagrad"), UPD_B,
          ["outside the square root"]),
    numpy("adam-eps-inside", "adaptive", MODELS["adam"], c.with_optimizer(c.adam_rule(eps_inside=True)), UPD_B,
          ["ε inside the square root"]),
    numpy("adamw-eps-inside", "adaptive", MODELS["adamw"], c.with_optimizer(c.adam_rule(eps_inside=True)), UPD_B,
          ["ε inside the square root"]),
    numpy("adam-no-bias-correction", "adaptive", MODELS["adam"], c.with_optimizer(c.adam_without_bias_correction),
          UPD_B, ["bias correction"]),
    numpy("adam-correction-batch-exponent", "adaptive", MODELS["adam"],
          c.with_optimizer(c.adam_rule(exponent=lambda t: c.B)), UPD_B, ["batch size as the exponent"]),
    numpy("adam-correction-t-plus-1", "adaptive", MODELS["adam"],
          c.with_optimizer(c.adam_rule(exponent=lambda t: t + 1)), UPD_B, ["t + 1"]),
    numpy("adamw-counter-per-layer", "adaptive", MODELS["adamw"], c.with_optimizer(c.adamw_counter_per_layer), UPD_B,
          ["step counter t"]),
    numpy("adamw-biases-undecayed", "adaptive", MODELS["adamw"], c.configured(decay_biases=False), UPD_B,
          ["missing on the biases"]),
    numpy("adam-l2-on-biases", "adaptive", ADAM_L2, c.configured(decay_biases=True), UPD_B, ["biases too"]),
    # forward and dropout
    numpy("sigmoid-head", "forward", MODELS["l2-momentum"], c.configured(head="mse"), ("forward", None, "output"),
          ["ends in sigmoid + MSE"]),
    numpy("hidden-softmax", "forward", MODELS["softmax-ce"], c.HiddenSoftmax, ("forward", None, "output"),
          ["hidden activation"]),
    numpy("dropout-unscaled", "dropout", MODELS["dropout"], c.UnscaledDropout, ("loss", None, "loss"),
          ["not rescaled"]),
    numpy("dropout-at-evaluation", "dropout", MODELS["dropout"], c.DropoutAtEvaluation, ("forward", None, "output"),
          ["active at evaluation"]),
    # conventions
    numpy("ema-momentum", "convention", EMA_LR, c.with_optimizer(c.ema_momentum_from_zero), UPD_B,
          ["EMA", "equivalent to torch's SGD(momentum=μ)"], "convention"),
    numpy("ema-dampening", "convention", MODELS["l2-momentum"], c.with_hparams(dampening=0.9), UPD_B,
          ["equivalent to torch's SGD with dampening"], "convention"),
    numpy("classic-dropout", "convention", MODELS["dropout"], c.ClassicDropout, ("forward", None, "output"),
          ["'classic' dropout", "equivalent to torch's"], "convention"),
    numpy("kingma-ba-adam", "convention", MODELS["adam"], c.with_optimizer(c.kingma_ba_adam), UPD_B,
          ["Kingma & Ba", "per-step ε_t"], "convention"),
    Case("nielsen-l2", "convention", MODELS["l2-momentum"], lambda data: c.respecified(c.nielsen_l2(len(data.x_train))),
         UPD_W, ("Nielsen's λ/n", "equivalent to torch's weight_decay"), "convention"),
    # student classes (run in this process)
    student("student-batch-sum", "gradient factor", "1", "buggy.py:BatchSumSoftmax", OUT_B, ["summed"]),
    student("student-eta-twice", "momentum", "2", "momentum_l2.py:EtaTwice", UPD_B, ["applied twice"]),
    student("student-l2-on-biases", "L2", "2", "buggy.py:L2OnBiases", UPD_B, ["biases too"]),
    student("student-double-l2", "L2", "2", "momentum_l2.py:DoubleL2InBackprop", ("gradients", 1, "weight"),
            ["2·l2·w"]),
    student("student-classic-dropout", "convention", "3/dropout", "buggy.py:ClassicDropout",
            ("forward", None, "output"), ["'classic' dropout"], "convention"),
]

LOOK_ALIKES = [
    numpy("velocity-momentum", "momentum", MODELS["l2-momentum"], c.with_optimizer(c.velocity_momentum)),
    numpy("decay-then-step", "L2", L2_NO_MOMENTUM, c.with_optimizer(c.decay_then_step)),
    numpy("adam-efficient-exact-eps", "adaptive", MODELS["adam"],
          c.with_optimizer(c.adam_rule(efficient_eps=lambda eps, bc2: eps * bc2**0.5))),
    numpy("adamw-hand-written", "adaptive", MODELS["adamw"], c.with_optimizer(c.adam_rule())),
    numpy("log-sum-exp-softmax", "forward", MODELS["softmax-ce"], c.LogSumExpSoftmax),
    student("student-l2-in-backprop", "L2", "2", "momentum_l2.py:MomentumL2InBackprop"),
    student("student-momentum-l2", "momentum", "2", "momentum_l2.py:MomentumL2Network"),
    student("student-adamw", "adaptive", "3/adamw", "adamw_net.py:AdamWNetwork"),
    student("student-adagrad-lab", "adaptive", "3/adagrad-lab", "adagrad_lab.py:AdagradNetwork"),
    student("student-dropout-l2-in-backprop", "dropout", "3/dropout", "dropout_net.py:DropoutL2InBackprop"),
]


def results_of(case: Case, data: Dataset, plan: Plan) -> list[CheckResult]:
    """Every check's result for one case, hints included."""
    made = case.candidate(data)
    if isinstance(case.spec, Spec):
        return run_checks(case.spec.replace(epochs=1), data, make_candidate=made, plan=plan, diagnose=diagnose)
    task, _, model = case.spec.partition("/")
    run = check_student(str(STUDENTS / made), task, model or None, data=data, epochs=1, steps=plan.steps,
                        isolate=False)
    (results,) = run.report.results.values()
    return results


@dataclass
class Score:
    detected: bool
    localised: bool
    hinted: bool
    first: CheckResult | None


def score(case: Case, results: list[CheckResult]) -> Score:
    failed = [r for r in results if r.scored and not r.passed]
    first = failed[0] if failed else None
    if first is None or case.where is None:
        return Score(first is not None, False, False, first)
    localised = (first.name, first.layer, first.param) == case.where
    hint = (first.hint or "").lower()
    hinted = all(w.lower() in hint for w in case.words) and first.kind == case.kind
    return Score(True, localised, hinted, first)


def percent(n: int, total: int) -> str:
    return f"{n}/{total} = {100 * n / total:.0f}%" if total else "n/a"


@dataclass
class LineScore:
    """One corpus class traced: the line named (file, cell, line) or None, and the timings of its failing call."""

    entry: corpus.Entry
    named: tuple[str, int | None, int] | None
    first: CheckResult | None
    plain: float = 0.0  # seconds: the failing call, untraced (in process)
    traced: float = 0.0  # the same call under the tracer (in a worker when sandboxed: the request included)
    pointing: float = 0.0  # the whole step: a fresh candidate (a worker when sandboxed), trace, torch's side, blame
    distances: list[float] = field(default_factory=list)  # per recorded array: max|a − r| / max|r| to the nearest r


def line_scores(data: Dataset, plan: Plan, sandbox: bool) -> list[LineScore]:
    """Every class of tests/students/defects, checked with its line traced (timed, see LineScore)."""
    scores = []
    for entry in corpus.ENTRIES:
        timing = LineScore(entry, None, None)
        with _timed(timing, sandbox):
            run = check_student(entry.ref, entry.task, data=data, epochs=1, steps=plan.steps, isolate=sandbox,
                                **entry.options)
        (results,) = run.report.results.values()
        timing.first = next((r for r in results if r.scored and not r.passed), None)
        s = timing.first.source if timing.first else None
        timing.named = (s.file, s.cell, s.line) if s else None
        scores.append(timing)
    return scores


@contextmanager
def _timed(score: LineScore, sandbox: bool) -> Iterator[None]:
    """Time crosscheck.student.pointer's step, and (in process) the failing call with and without the tracer."""
    original = pointer.trace_and_locate

    def timed(spec: Spec, cand: object, call: FailingCall, failed: CheckResult):
        if not sandbox:  # the same call on a copy of the object (an update would move its optimizer's state)
            _, x, y = pointer.traced_inputs(cand, call)
            side = cand.backend
            args = side._traced_args(call.method, x, y, call.batch.lr if call.batch else None)
            side.set_params(call.params)
            obj = copy.deepcopy(side.obj)
            start = time.perf_counter()
            try:
                getattr(obj, call.method)(*args)
            except Exception:  # noqa: BLE001 - a failing call may raise; its time still counts
                pass
            score.plain = time.perf_counter() - start
        trace = cand.trace

        def timed_trace(*args: object):
            begin = time.perf_counter()
            try:
                return trace(*args)
            finally:
                score.traced = time.perf_counter() - begin

        cand.trace = timed_trace
        start = time.perf_counter()
        try:
            return original(spec, cand, call, failed)
        finally:
            score.pointing = time.perf_counter() - start

    locate = pointer.locate

    def measured(trace, refs, *args):  # how near each recorded array is to its nearest intermediate (no factor)
        score.distances = [_nearest(a, refs) for a in trace.arrays]
        return locate(trace, refs, *args)

    pointer.trace_and_locate, pointer.locate = timed, measured
    try:
        yield
    finally:
        pointer.trace_and_locate, pointer.locate = original, locate


def _nearest(array, refs) -> float:
    """max|a − r| / max|r| for the intermediate r of a's shape (or transposed) nearest to a."""
    out = float("inf")
    for ref in refs:
        for want in (ref.array, ref.array.T):
            if want.shape == array.shape and np.any(want) and np.all(np.isfinite(array)):
                out = min(out, float(np.max(np.abs(array - want)) / np.max(np.abs(want))))
    return out


def report_lines(scores: list[LineScore], verbose: bool) -> None:
    """The line score (by check and layout), false lines on correct classes, and the tracing overhead."""
    hits: dict[str, list[bool]] = {}
    false_lines = 0
    for s in scores:
        if not s.entry.defective:
            false_lines += s.named is not None
            continue
        ok = s.named in corpus.accepted_lines(s.entry)
        for key in (s.entry.check, s.entry.layout + (" (notebook)" if s.entry.file.endswith(".ipynb") else ""),
                    "all"):
            hits.setdefault(key, []).append(ok)
        if verbose or not ok:
            note = s.first.source_note if s.first else "every check passed"
            print(f"{'ok ' if ok else 'MISS'} {s.entry.name}: named {s.named or note}, marked "
                  f"{corpus.accepted_lines(s.entry)}")
    print("line named (the defective line, or for an omission its first consumer):")
    for key in sorted(hits, key=lambda k: (k != "all", k not in ("forward", "gradients", "updates"), k)):
        print(f"  {key:<22} {percent(sum(hits[key]), len(hits[key]))}")
    n_correct = sum(not s.entry.defective for s in scores)
    print(f"  lines named for correct classes: {false_lines} of {n_correct}")
    timed = [s for s in scores if s.entry.defective and s.pointing]
    if any(s.plain for s in timed):
        ratios = sorted(s.traced / s.plain for s in timed if s.plain)
        print(f"  tracing one failing call: median {1e3 * statistics.median(s.traced for s in timed):.0f} ms, "
              f"{statistics.median(ratios):.0f}x the untraced call ({ratios[0]:.0f}x-{ratios[-1]:.0f}x)")
    elif timed:
        print(f"  tracing one failing call in a worker (the request, the trace, its arrays back): median "
              f"{1e3 * statistics.median(s.traced for s in timed):.0f} ms")
    distances = sorted(d for s in scores for d in s.distances if np.isfinite(d))
    matched = [d for d in distances if d <= MATCH_RTOL]
    if matched:
        print(f"  recorded arrays equal to an intermediate: {len(matched)}, the farthest {max(matched):.1e} from it "
              f"(blame.MATCH_RTOL = {MATCH_RTOL:g}); the nearest of the other {len(distances) - len(matched)}: "
              f"{min((d for d in distances if d > MATCH_RTOL), default=float('nan')):.1e}")
    if timed:
        print(f"  naming the line after a failure (trace, torch's intermediates, blame): median "
              f"{1e3 * statistics.median(s.pointing for s in timed):.0f} ms, max "
              f"{1e3 * max(s.pointing for s in timed):.0f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 lockstep steps, 200 test samples (a few minutes)")
    parser.add_argument("--verbose", action="store_true", help="print every case's first failure and hint")
    parser.add_argument("--data", default="embedded", help="'embedded' (default), 'auto' or a path")
    parser.add_argument("--lines-only", action="store_true", help="only the line score (tests/students/defects)")
    parser.add_argument("--sandbox", action="store_true",
                        help="line score: each class in sandboxed workers (the tracer in a fresh worker)")
    args = parser.parse_args(argv)
    plan = Plan(steps=5, eval_samples=200) if args.quick else Plan(steps=20)
    data = load(args.data)
    start = time.perf_counter()
    report_lines(line_scores(data, plan, args.sandbox), args.verbose)
    print(f"({len(corpus.ENTRIES)} corpus classes, {time.perf_counter() - start:.0f} s)")
    if args.lines_only:
        return 0
    start = time.perf_counter()
    defects = [(case, score(case, results_of(case, data, plan))) for case in DEFECTS]
    alikes = [(case, score(case, results_of(case, data, plan))) for case in LOOK_ALIKES]
    for case, s in defects + alikes:
        ok = (s.detected and s.localised and s.hinted) if case.where else not s.detected
        if args.verbose or not ok:
            where = (f"{s.first.name} {s.first.layer} {s.first.param} [{s.first.kind}]: {s.first.hint}" if s.first
                     else "every check passed")
            print(f"{'ok ' if ok else 'MISS'} {case.name} ({case.family}): {where}")
    n = len(defects)
    print(f"{n} defects ({sum(c.kind == 'convention' for c in DEFECTS)} conventions) in "
          f"{len({c.family for c in DEFECTS})} families, {len(alikes)} correct look-alikes, "
          f"{plan.steps} lockstep steps, {time.perf_counter() - start:.0f} s")
    print(f"detected:   {percent(sum(s.detected for _, s in defects), n)}")
    print(f"localised:  {percent(sum(s.localised for _, s in defects), n)}")
    print(f"hint names: {percent(sum(s.hinted for _, s in defects), n)}")
    print(f"false alarms: {sum(s.detected for _, s in alikes)}/{len(alikes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
