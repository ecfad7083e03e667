"""Single-defect candidates: the NumPy reference with one slip injected (subclasses of NumpySide, hand-written update
rules), and correct look-alikes. Shared by tests/test_diagnose.py and bench/bench_diagnosis.py; the bug code lives
here, with the tests, never in the harness.
"""

import dataclasses

import numpy as np

import numpy_mlp
from crosscheck import layout
from crosscheck.sides import NumpySide
from numpy_mlp.optim import Optimizer, apply_updates

B = 100  # the presets' batch size

def reported_grads(transform, reported_only=False):
    """A candidate whose gradients go through transform(self, grads, batch); its update uses them too, unless the
    bug is in the reported gradient only (shape bugs: the update would not even broadcast)."""

    class Candidate(NumpySide):
        def loss_and_grads(self, batch):
            loss, grads = super().loss_and_grads(batch)
            return loss, transform(self, list(grads), batch)

        def step(self, batch):
            if not reported_only:
                return super().step(batch)
            loss, grads = NumpySide.loss_and_grads(self, batch)
            updates, self.state = self.optimizer.update(grads, self.state, self._params)
            self._params = apply_updates(self._params, updates)
            return loss

    return Candidate


def every(factor):
    return lambda self, grads, batch: [g * factor for g in grads]


def only(index, fn):
    return lambda self, grads, batch: [fn(g, self) if i == index else g for i, g in enumerate(grads)]


def biases(fn):
    return lambda self, grads, batch: [fn(g) if i % 2 else g for i, g in enumerate(grads)]


def configured(**changes):
    """The reference configured differently from the spec it is checked against (e.g. another torch option)."""

    class Candidate(NumpySide):
        def __init__(self, spec, init):
            super().__init__(spec.replace(**changes), init)

    return Candidate


def with_hparams(**hp):
    class Candidate(NumpySide):
        def __init__(self, spec, init):
            super().__init__(spec.replace(hparams={**spec.hparams, **hp}), init)

    return Candidate


def without_hparam(name):
    class Candidate(NumpySide):
        def __init__(self, spec, init):
            super().__init__(spec.replace(hparams={k: v for k, v in spec.hparams.items() if k != name}), init)

    return Candidate


def with_optimizer(make):
    """A candidate with its own update rule, make(spec) -> Optimizer (hand-written here, as a student would)."""

    class Candidate(NumpySide):
        def __init__(self, spec, init):
            super().__init__(spec, init)
            self.optimizer = make(spec)
            self.state = self.optimizer.init(self._params)

    return Candidate


def velocity_momentum(spec):
    """The course's v = μv − ηg; w += v (v₀ = 0): equal to torch's SGD momentum at a constant lr."""
    mu = spec.hparams["momentum"]

    def init(params):
        return layout.weight_decays(spec), [np.zeros_like(p) for p in params]

    def update(grads, state, params):
        decays, vs = state
        vs = [mu * v - spec.lr * (g + wd * p) for g, p, v, wd in zip(grads, params, vs, decays)]
        return vs, (decays, vs)

    return Optimizer(init, update)


def ema_momentum_from_zero(spec):
    """v = μv + (1 − μ)g with v₀ = 0: an EMA, not the lab's momentum."""
    mu = spec.hparams["momentum"]

    def init(params):
        return layout.weight_decays(spec), [np.zeros_like(p) for p in params]

    def update(grads, state, params):
        decays, vs = state
        vs = [mu * v + (1 - mu) * (g + wd * p) for g, p, v, wd in zip(grads, params, vs, decays)]
        return [-spec.lr * v for v in vs], (decays, vs)

    return Optimizer(init, update)


def adam_without_bias_correction(spec):
    b1, b2 = spec.hparams["betas"]
    eps = spec.hparams["eps"]

    def init(params):
        return [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]

    def update(grads, state, params):
        ms = [b1 * m + (1 - b1) * g for m, g in zip(state[0], grads)]
        vs = [b2 * v + (1 - b2) * g * g for v, g in zip(state[1], grads)]
        return [-spec.lr * m / (np.sqrt(v) + eps) for m, v in zip(ms, vs)], (ms, vs)

    return Optimizer(init, update)


def nielsen_l2(n_train):
    """Nielsen's L2, w ← (1 − ηλ/n)·w with n the training set's size: the preset's λ divided by n."""
    return lambda spec: spec.replace(hparams={**spec.hparams, "weight_decay": spec.hparams["weight_decay"] / n_train})


def respecified(change):
    """The reference with its spec changed by change(spec) (a convention or slip that is a torch configuration)."""

    class Candidate(NumpySide):
        def __init__(self, spec, init):
            super().__init__(change(spec), init)

    return Candidate


def kingma_ba_adam(spec):
    """Kingma & Ba's Algorithm 1 with their "efficient" step size, ε added to √v as printed: correct, not torch's."""
    return adam_rule(efficient_eps=lambda eps, bc2: eps)(spec)


def adamw_counter_per_layer(spec):
    """AdamW whose step counter t is advanced inside the loop over layers (layer l sees t = l + 1 at step 0)."""
    b1, b2 = spec.hparams["betas"]
    eps, wd = spec.hparams["eps"], spec.hparams["weight_decay"]

    def init(params):
        return 0, [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]

    def update(grads, state, params):
        t, ms, vs = state
        updates = []
        for i, (g, p) in enumerate(zip(grads, params)):
            t += i % 2 == 0  # once per layer, at its weight
            ms[i] = b1 * ms[i] + (1 - b1) * g
            vs[i] = b2 * vs[i] + (1 - b2) * g * g
            m_hat, v_hat = ms[i] / (1 - b1**t), vs[i] / (1 - b2**t)
            updates.append(-spec.lr * wd * p - spec.lr * m_hat / (np.sqrt(v_hat) + eps))
        return updates, (t, ms, vs)

    return Optimizer(init, update)


class EditedUpdates(NumpySide):
    """The reference's update, then edit(updates, t) before it is applied (t = this side's step counter)."""

    t = 0

    def edit(self, updates, params):
        return updates

    def step(self, batch):
        loss, grads = self.loss_and_grads(batch)
        updates, self.state = self.optimizer.update(grads, self.state, self._params)
        self._params = apply_updates(self._params, self.edit(updates, self._params))
        self.t += 1
        return loss


class FrozenBiases(EditedUpdates):
    def edit(self, updates, params):
        return [u if i % 2 == 0 else np.zeros_like(u) for i, u in enumerate(updates)]


class LaggingUpdate(EditedUpdates):
    pending = None

    def edit(self, updates, params):
        applied = self.pending if self.pending is not None else [np.zeros_like(u) for u in updates]
        self.pending = updates
        return applied


class StaleGradient(NumpySide):
    """From the second step on, the update uses the previous batch's gradient."""

    previous = None

    def step(self, batch):
        loss, grads = self.loss_and_grads(batch)
        use, self.previous = (grads if self.previous is None else self.previous), grads
        updates, self.state = self.optimizer.update(use, self.state, self._params)
        self._params = apply_updates(self._params, updates)
        return loss


class LearningRateDropsAfter25Steps(EditedUpdates):
    def edit(self, updates, params):
        return [u * 0.5 for u in updates] if self.t >= 25 else updates


class NudgeAtStep3(EditedUpdates):
    def edit(self, updates, params):
        return [u + 1e-6 if (i == 2 and self.t == 3) else u for i, u in enumerate(updates)]


class GradientAscent(EditedUpdates):
    """p + lr·g: the update's sign flipped (numpy_mlp refuses a negative lr itself, as torch.optim does)."""

    def edit(self, updates, params):
        return [-u for u in updates]


class SigmoidPrimeOfActivation(NumpySide):
    """sigmoid_prime(a) instead of sigmoid_prime(z): backward's a(1 − a) is fed σ(a) in place of a."""

    def loss_and_grads(self, batch):
        cache = self.mlp.forward(self._params, self.inputs(batch), batch.masks)
        cache.hidden = [numpy_mlp.sigmoid(h) for h in cache.hidden]
        return self.mlp.loss(cache, batch.y), self.mlp.backward(self._params, cache, batch.y)


class NoHiddenDerivative(NumpySide):
    """delta @ W.T carried down without the activation derivative."""

    def __init__(self, spec, init):
        super().__init__(spec, init)
        self.mlp = dataclasses.replace(self.mlp, hidden_activation="sigmoid-no-derivative")


class HiddenSoftmax(NumpySide):
    def predict(self, x):
        a, p = x, self._params
        for layer in range(len(p) // 2 - 1):
            a = numpy_mlp.softmax(a @ p[2 * layer] + p[2 * layer + 1])
        return numpy_mlp.softmax(a @ p[-2] + p[-1])


class UnstableSoftmax(NumpySide):
    def predict(self, x):
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(self.mlp.forward(self._params, x).logits)
            return e / e.sum(axis=1, keepdims=True)


class UnscaledDropout(NumpySide):
    """Keep-masks of 0/1: dropped units zeroed, kept ones not rescaled by 1/(1 − p)."""

    report_loss = True

    def loss_and_grads(self, batch):
        masks = [(m != 0).astype(np.float64) for m in batch.masks]
        loss, grads = self.mlp.loss_and_grads(self._params, self.inputs(batch), batch.y, masks)
        return (loss if self.report_loss else None), grads


class UnscaledDropoutNoLoss(UnscaledDropout):
    report_loss = False


class ClassicDropout(UnscaledDropout):
    """Unscaled masks in training, activations × (1 − p) at evaluation."""

    def predict(self, x):
        keep = 1 - self.spec.dropout
        return self.mlp.forward(self._params, x, [np.full((len(x), n), keep) for n in self.spec.layers[1:-1]]).out


class DropoutAtEvaluation(NumpySide):
    rng = np.random.default_rng(1)

    def predict(self, x):
        return self.mlp.forward(self._params, x, self.mlp.dropout_masks(self.rng, len(x))).out


def adam_rule(exponent=lambda t: t, eps_inside=False, efficient_eps=None):
    """Adam/AdamW hand-written with one choice changed: the bias corrections' exponent e(t) (None: no correction),
    ε under the square root, or Kingma & Ba's "efficient" form α_t = α·√(1 − β2^t)/(1 − β1^t), α_t·m/(√v + ε̂) with
    ε̂ = efficient_eps(ε, 1 − β2^t): ε itself in the paper (torch's Adam with ε/√(1 − β2^t)), ε·√(1 − β2^t) to be
    torch's exactly. AdamW decays decoupled, lr·wd·p; Adam adds wd·p to the gradient."""

    def make(spec):
        b1, b2 = spec.hparams["betas"]
        eps, wd = spec.hparams["eps"], spec.hparams.get("weight_decay", 0.0)
        decoupled = spec.optimizer == "adamw"

        def init(params):
            decays = [wd if i % 2 == 0 or spec.decay_biases else 0.0 for i in range(len(params))]
            return 0, decays, [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]

        def update(grads, state, params):
            t, decays, ms, vs = state[0] + 1, state[1], state[2], state[3]
            grads = grads if decoupled else [g + d * p for g, d, p in zip(grads, decays, params)]
            ms = [b1 * m + (1 - b1) * g for m, g in zip(ms, grads)]
            vs = [b2 * v + (1 - b2) * g * g for v, g in zip(vs, grads)]
            e = exponent(t)
            bc1, bc2 = (1.0, 1.0) if e is None else (1 - b1**e, 1 - b2**e)
            if efficient_eps is not None:
                alpha, eps_hat = spec.lr * np.sqrt(bc2) / bc1, efficient_eps(eps, bc2)
                steps = [alpha * m / (np.sqrt(v) + eps_hat) for m, v in zip(ms, vs)]
            elif eps_inside:
                steps = [spec.lr * (m / bc1) / np.sqrt(v / bc2 + eps) for m, v in zip(ms, vs)]
            else:
                steps = [spec.lr * (m / bc1) / (np.sqrt(v / bc2) + eps) for m, v in zip(ms, vs)]
            decay = [spec.lr * d * p if decoupled else 0.0 * p for d, p in zip(decays, params)]
            return [-s - k for s, k in zip(steps, decay)], (t, decays, ms, vs)

        return Optimizer(init, update)

    return make


def decay_then_step(spec):
    """SGD with L2 written as w ← (1 − lr·wd)·w − lr·g: torch's weight_decay exactly when there is no momentum."""
    decays = [spec.hparams.get("weight_decay", 0.0) if i % 2 == 0 else 0.0 for i in range(2 * (len(spec.layers) - 1))]

    def update(grads, state, params):
        return [(1 - spec.lr * d) * p - spec.lr * g - p for g, d, p in zip(grads, decays, params)], state

    return Optimizer(lambda params: None, update)


class LogSumExpSoftmax(NumpySide):
    """Softmax as exp(z − m − log Σ exp(z − m)): the stable log-domain form, correct everywhere."""

    def softmax(self, z):
        shifted = z - z.max(axis=-1, keepdims=True)
        return np.exp(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)))


def per_layer_fan_in(self, grads, batch):
    """Each layer's gradients divided by its fan-in instead of the batch size."""
    return [g * len(batch.y) / self.spec.layers[i // 2] for i, g in enumerate(grads)]
