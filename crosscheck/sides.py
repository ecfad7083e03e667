"""Adapters that let the harness drive either implementation through one small interface.

A side holds parameters in the lab's layout ([W0 (n_in, n_out), b0, ...]) and its own optimizer state; the
harness feeds both sides the same Batch and compares what comes back. Adapters translate, they never compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

import numpy_mlp
import numpy_mlp.augment
import torch_ref
import torch_ref.augment
from crosscheck import layout
from crosscheck.spec import Spec


@dataclass
class Batch:
    """One training step's inputs, with the randomness drawn once by the harness and given to both sides."""

    x: np.ndarray
    y: np.ndarray
    seed: int = 0  # torch's generator is seeded with this before a training forward (nn.Dropout draws from it)
    masks: list[np.ndarray] | None = None  # the same dropout noise, for sides that take masks
    angles: np.ndarray | None = None  # augmentation parameters per image, applied by each side's own library
    shifts: np.ndarray | None = None
    lr: float | None = None  # this step's learning rate, where it is not the spec's (student mode's probe steps)

    def torch_images(self) -> np.ndarray:
        """The augmented images as the torch side trains on them, in float64: what a lab class is given."""
        return torch_ref.augment.affine(torch.from_numpy(self.x), self.angles, self.shifts).double().numpy()


class Side(Protocol):
    label: str
    provides: frozenset[str]  # beyond the lab's interface; see crosscheck.checks.stages

    def params(self) -> list[np.ndarray]: ...

    def set_params(self, params: list[np.ndarray]) -> None: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def loss_and_grads(self, batch: Batch) -> tuple[float | None, list[np.ndarray]]: ...

    def step(self, batch: Batch) -> float | None: ...


def _numpy_hparams(spec: Spec) -> dict:
    """The spec's hyperparameters for a NumPy optimizer: weight_decay per parameter, from the decay mask."""
    hparams = dict(spec.hparams)
    if "weight_decay" in hparams:
        hparams["weight_decay"] = layout.weight_decays(spec)
    return hparams


class NumpySide:
    label = "numpy"
    provides = frozenset({"softmax", "loss", "noise", "augment", "dropout_masks"})

    def __init__(self, spec: Spec, init: list[np.ndarray]):
        self.spec = spec
        self.mlp = numpy_mlp.MLP(spec.layers, spec.hidden_activation, spec.head, spec.dropout)
        self._params = [p.copy() for p in init]
        self.optimizer = numpy_mlp.OPTIMIZERS[spec.optimizer](lr=spec.lr, **_numpy_hparams(spec))
        self.state = self.optimizer.init(self._params)

    def params(self) -> list[np.ndarray]:
        return self._params

    def set_params(self, params: list[np.ndarray]) -> None:
        self._params = [p.copy() for p in params]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.mlp.predict(self._params, x)

    def inputs(self, batch: Batch) -> np.ndarray:
        """The batch as NumPy sees it: augmented by numpy_mlp.augment when the batch carries parameters."""
        if batch.angles is None:
            return batch.x
        return numpy_mlp.augment.affine(batch.x, batch.angles, batch.shifts)

    def softmax(self, z: np.ndarray) -> np.ndarray:
        return numpy_mlp.softmax(z)

    def dropout_masks(self, rng: np.random.Generator, batch: int) -> list[np.ndarray]:
        """The masks NumPy draws on its own (outside lockstep, where torch's noise is replayed instead)."""
        return self.mlp.dropout_masks(rng, batch)

    def loss_and_grads(self, batch: Batch) -> tuple[float, list[np.ndarray]]:
        return self.mlp.loss_and_grads(self._params, self.inputs(batch), batch.y, batch.masks)

    def loss_fn(self, params: list[np.ndarray], batch: Batch) -> float:
        """The loss at arbitrary parameters, for finite differences."""
        return self.mlp.loss(self.mlp.forward(params, self.inputs(batch), batch.masks), batch.y)

    def step(self, batch: Batch) -> float:
        if batch.lr is not None and batch.lr != self.spec.lr:  # its lr lives in the optimizer's closure
            raise ValueError("the NumPy reference trains at its spec's learning rate")
        loss, grads = self.loss_and_grads(batch)
        updates, self.state = self.optimizer.update(grads, self.state, self._params)
        self._params = numpy_mlp.optim.apply_updates(self._params, updates)
        return loss


class TorchSide:
    label = "torch"
    provides = frozenset({"loss", "noise", "augment"})

    def __init__(self, spec: Spec, init: list[np.ndarray], dtype: torch.dtype = torch.float64):
        self.spec = spec
        self.model = torch_ref.build(spec.layers, spec.hidden_activation, spec.head, spec.dropout, dtype)
        torch_ref.load_lab_params(self.model, [torch.from_numpy(p) for p in init])
        self.optimizer = torch_ref.make_optimizer(spec.optimizer, self.model, spec.lr, layout.decay_mask(spec),
                                                  **spec.hparams)
        self.dtype = dtype

    def params(self) -> list[np.ndarray]:
        return [t.double().numpy() for t in torch_ref.params_lab_layout(self.model)]

    def set_params(self, params: list[np.ndarray]) -> None:
        torch_ref.load_lab_params(self.model, [torch.from_numpy(p) for p in params])

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(self.dtype)

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        with torch.no_grad():
            out = torch_ref.probabilities(self.model(self._tensor(x)), self.spec.head)
        return out.double().numpy()

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The output layer's pre-activations in evaluation mode: the ce head's network ends in them."""
        if self.spec.head != "ce":
            raise ValueError("only the ce head's network ends in its logits")
        self.model.eval()
        with torch.no_grad():
            return self.model(self._tensor(x)).double().numpy()

    def inputs(self, batch: Batch) -> torch.Tensor:
        """The batch as torch sees it: augmented by torchvision when the batch carries augmentation parameters."""
        x = self._tensor(batch.x)
        return x if batch.angles is None else torch_ref.augment.affine(x, batch.angles, batch.shifts)

    def dropout_noise(self, batch: int, seed: int) -> list[np.ndarray]:
        return [t.double().numpy() for t in torch_ref.model.dropout_noise(self.model, batch, seed)]

    def _backward(self, batch: Batch) -> float:
        self.model.train()
        self.optimizer.zero_grad()
        x = self.inputs(batch)
        if self.spec.dropout:  # seeding costs ~1 ms (torch records a stack for CUDA's lazy init): only when used
            torch.manual_seed(batch.seed)
        loss = torch_ref.loss(self.model(x), self._tensor(batch.y), self.spec.head)
        loss.backward()
        return loss.item()

    def loss_and_grads(self, batch: Batch) -> tuple[float, list[np.ndarray]]:
        loss = self._backward(batch)
        return loss, [g.double().numpy() for g in torch_ref.grads_lab_layout(self.model)]

    def step(self, batch: Batch) -> float:
        loss = self._backward(batch)
        self._set_lr(batch.lr)
        self.optimizer.step()
        return loss

    def step_with(self, grads: list[np.ndarray], lr: float | None = None) -> None:
        """One optimizer step on given gradients (a candidate's own): torch.optim judges what it does with them."""
        torch_ref.set_grads_lab_layout(self.model, [self._tensor(g) for g in grads])
        self._set_lr(lr)
        self.optimizer.step()

    def _set_lr(self, lr: float | None) -> None:
        """Every param group's lr for this step: torch.optim reads it afresh at each step."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.spec.lr if lr is None else lr
