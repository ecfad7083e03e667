"""Properties over random batch sizes, learning rates, layer sizes, seeds, heads, hidden activations and the presets'
optimizers: the NumPy reference agrees with torch through every check, and a reference perturbed by a little (a
scaled gradient, a wrong step, one entry of one step) is caught, at the check and place of the perturbation.

The perturbed references are NumpySide subclasses written here; the harness only ever sees a candidate. CI runs
derandomized examples (tests/conftest.py loads the profile), so a CI failure reproduces locally with CI=true.

A scaled gradient is caught with sigmoid, relu and tanh hidden layers. What needs everything else to agree (every
check passing, a wrong step failing while the gradients pass, one wrong entry located) is asserted for sigmoid, the
lab's, where the tolerances were measured: with relu and tanh, float64 round-off alone still fails a check now and
then (in scans of random specs: about 1 in 7 with tanh, 1 in 100 with relu, mostly with Adagrad). The cases found are
kept below as strict xfails, so fixing one turns its test red until the mark is removed.
"""

import dataclasses
from typing import Callable, Sequence

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crosscheck import layout
from crosscheck.checks import Plan, run_checks
from crosscheck.data import Dataset
from crosscheck.results import CheckResult
from crosscheck.sides import NumpySide
from crosscheck.spec import MODELS, Spec
from numpy_mlp.optim import apply_updates

PLAN = Plan(steps=4, fd_coords=1, eval_samples=100)
N_TRAIN = 300  # the largest batch drawn (150) still leaves 2 lockstep steps in the one epoch
EXAMPLES = settings(max_examples=40, deadline=None)  # each example is a whole run_checks: 0.05-1 s
ACTIVATIONS = ("sigmoid", "relu", "tanh")
AGREEING = ("sigmoid",)  # where every check agrees with torch on every spec drawn (see the module's docstring)

# The presets' optimizers with their hyperparameters (dropout and augmentation are not optimizers: left out)
OPTIMIZERS = {(m.optimizer, repr(m.hparams), m.decay_biases): m for m in MODELS.values() if not m.only_softmax}

Check = Callable[..., list[CheckResult]]


@pytest.fixture(scope="module")
def check(data: Dataset) -> Check:
    """run_checks(spec, data, candidate, PLAN) on a few hundred real training images and 100 test images: well
    under a second per spec. (A closure, not the Dataset: hypothesis prints its arguments with a failing example.)"""
    small = dataclasses.replace(data, x_train=data.x_train[:N_TRAIN], labels_train=data.labels_train[:N_TRAIN],
                                x_test=data.x_test[:100], labels_test=data.labels_test[:100])

    def run(spec: Spec, candidate: type[NumpySide] = NumpySide) -> list[CheckResult]:
        return run_checks(spec, small, candidate, PLAN)

    return run


@st.composite
def specs(draw: st.DrawFn, activations: Sequence[str] = ACTIVATIONS) -> Spec:
    """One epoch of MNIST (784 in, 10 out) through 1-2 hidden layers, with any of the presets' optimizers."""
    preset = draw(st.sampled_from(list(OPTIMIZERS.values())))
    return Spec(
        "property",
        layers=(784, *draw(st.lists(st.integers(1, 40), min_size=1, max_size=2)), 10),
        hidden_activation=draw(st.sampled_from(activations)),
        head=draw(st.sampled_from(["mse", "ce"])),
        optimizer=preset.optimizer, hparams=dict(preset.hparams), decay_biases=preset.decay_biases,
        lr=10 ** draw(st.floats(-3, 1)),  # log-uniform over the lab's range, 1e-3 to 10
        batch_size=draw(st.integers(1, 150)),
        seed=draw(st.integers(0, 2**32 - 1)),
        epochs=1,
    )


def relative_offsets() -> st.SearchStrategy[float]:
    """±(1e-6..0.5), log-uniform: from 100× the 1e-8 tolerances of gradients and steps up to a gross error."""
    return st.tuples(st.sampled_from([-1.0, 1.0]), st.floats(-6, np.log10(0.5))).map(lambda s: s[0] * 10 ** s[1])


def failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.scored and not r.passed]


def row(results: list[CheckResult], name: str) -> CheckResult:
    return next(r for r in results if r.name == name)


def scaled_gradients(factor: float) -> type[NumpySide]:
    """The reference with every gradient it reports (and steps with) scaled by factor."""

    class ScaledGradients(NumpySide):
        def loss_and_grads(self, batch):
            loss, grads = super().loss_and_grads(batch)
            return loss, [g * factor for g in grads]

    return ScaledGradients


def edited_steps(edit: Callable[[list[np.ndarray]], list[np.ndarray]]) -> type[NumpySide]:
    """The reference's gradients, and its optimizer's update passed through edit(updates) before it is applied."""

    class EditedSteps(NumpySide):
        def step(self, batch):
            loss, grads = self.loss_and_grads(batch)
            updates, self.state = self.optimizer.update(grads, self.state, self._params)
            self._params = apply_updates(self._params, edit(updates))
            return loss

    return EditedSteps


def step_size(updates: list[np.ndarray]) -> float:
    """The largest |Δp| of one step over every tensor: what a step's error is relative to."""
    return max(float(np.max(np.abs(u))) for u in updates)


WRONG_STEPS = {
    "scaled": lambda off: lambda updates: [u * (1 + off) for u in updates],
    "shifted": lambda off: lambda updates: [u + off * step_size(updates) for u in updates],
}


@EXAMPLES
@given(spec=specs(activations=AGREEING))
@example(spec=Spec("batch-1-fd", layers=(784, 7, 10), lr=1.0, batch_size=1, seed=122, epochs=1)).via(
    "finite differences judged picks of ~0 slope by their own size (fixed: the largest entry is always picked)")
@example(spec=Spec("saturated-fd", layers=(784, 1, 10), lr=1.0, batch_size=1, seed=148, epochs=1)).via(
    "a saturated unit's slope of 7e-12, below what central differences resolve (fixed: an absolute floor)")
def test_the_reference_agrees_with_torch(spec, check):
    results = check(spec)
    assert not failures(results), [(r.name, r.message) for r in failures(results)]
    assert {"forward", "gradients", "finite_differences", "updates", "curves"} <= {r.name for r in results}
    assert row(results, "updates").step == min(PLAN.steps, N_TRAIN // spec.batch_size) - 1  # every step compared


@EXAMPLES
@given(spec=specs(), off=relative_offsets())
def test_a_scaled_gradient_fails_the_gradients_at_step_0(spec, off, check):
    gradients = row(check(spec, scaled_gradients(1 + off)), "gradients")
    assert not gradients.passed and gradients.step == 0, gradients.message
    assert gradients.got == pytest.approx((1 + off) * gradients.want, rel=1e-3 * abs(off)), gradients.message


@EXAMPLES
@given(spec=specs(activations=AGREEING), kind=st.sampled_from(sorted(WRONG_STEPS)), off=relative_offsets())
def test_a_wrong_step_fails_the_updates_while_the_gradients_pass(spec, kind, off, check):
    results = check(spec, edited_steps(WRONG_STEPS[kind](off)))
    updates = row(results, "updates")
    assert row(results, "gradients").passed
    assert not updates.passed and updates.step == 0, updates.message


@EXAMPLES
@given(spec=specs(activations=AGREEING), sign=st.sampled_from([-1.0, 1.0]), pick=st.data())
def test_one_entry_of_the_step_off_by_1e_5_of_the_step_is_found_there(spec, sign, pick, check):
    """Δp is compared relative to torch's step: 1e-5 of the step in one entry of one tensor fails, and is located
    there."""
    shapes = [shape for a, b in zip(spec.layers, spec.layers[1:]) for shape in ((a, b), (b,))]  # [W0, b0, ...]
    tensor = pick.draw(st.integers(0, len(shapes) - 1), label="tensor")
    entry = np.unravel_index(pick.draw(st.integers(0, int(np.prod(shapes[tensor])) - 1), label="entry"),
                             shapes[tensor])

    def nudge(updates):
        updates = [u.copy() for u in updates]
        updates[tensor][entry] += sign * 1e-5 * step_size(updates)
        return updates

    updates = row(check(spec, edited_steps(nudge)), "updates")
    where = layout.label(tensor)
    assert (updates.passed, updates.step, updates.layer, updates.param) == (False, 0, where.layer, where.param), \
        updates.message
    assert updates.index == [int(k) for k in entry], updates.message


# --- float64 false alarms the properties found (relu, tanh), each fixed at its cause and kept as a reproducer -----

def _found(layers, activation, head, preset, lr, batch_size, seed):
    """A spec a property drew, with one of the presets' optimizers."""
    return Spec("found", layers=layers, hidden_activation=activation, head=head, optimizer=MODELS[preset].optimizer,
                hparams=dict(MODELS[preset].hparams), decay_biases=MODELS[preset].decay_biases, lr=lr,
                batch_size=batch_size, seed=seed, epochs=1)


@pytest.mark.parametrize("spec", [
    # Adagrad (eps 1e-10) divides by |g| + eps: a gradient entry of ~1e-12, 5e-17 apart between the two sides
    # (round-off), becomes steps 2e-5 apart. Fixed twice over: the step is judged against torch.optim fed NumPy's own
    # gradient, and the chaos controls add round-off to torch's gradients, so the curves drifting is excused
    _found((784, 18, 10), "tanh", "ce", "adagrad", 0.33770731664159215, 13, 3480101843),
    # one tanh unit, saturated by the one sample: its bias gradient is ~3e-17, pure round-off, 25% apart on the sides;
    # fixed by the gradients' absolute floor (1e-14)
    _found((784, 1, 10), "tanh", "mse", "softmax-ce", 1.0, 1, 3020),
    # raw 0-255 pixels through relu: logits ~1e3 cancel to a sigmoid output of 0.86, 2e-12 apart; fixed by scaling
    # the forward tolerance by each input case's largest value
    _found((784, 9, 10), "relu", "mse", "l2-momentum", 0.169, 14, 105968191),
], ids=["tanh-adagrad-updates", "tanh-saturated-gradients", "relu-large-input-forward"])
def test_former_false_alarm(spec, check):
    failed = failures(check(spec))
    assert not failed, f"{failed[0].name}: {failed[0].message}"
