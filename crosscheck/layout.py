"""The flat parameter list [W0, b0, W1, b1, ...] in one place: labels, indices and the weight-decay mask.

Every side, the diff, the report, the diagnosis and the student adapter read the list through these helpers, so
"weights[l]" always means params[2 * l] and "weights only" decay is derived once, from the Spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, TypeVar

from crosscheck.spec import Spec

T = TypeVar("T")


@dataclass(frozen=True)
class Label:
    """What a compared tensor is: a parameter (layer, "weight" | "bias") or a named array (None, "output").

    prefix and case only change how it reads: "Δweights[0]" (a parameter's step), "output(zeros)" (an input case).
    """

    layer: int | None
    param: str
    prefix: str = ""
    case: str = ""

    def __str__(self) -> str:
        base = self.param if self.layer is None else f"{'weights' if self.param == 'weight' else 'biases'}[{self.layer}]"
        return self.prefix + base + (f"({self.case})" if self.case else "")


def label(i: int) -> Label:
    return Label(i // 2, "weight" if i % 2 == 0 else "bias")


def labels(n_params: int, prefix: str = "") -> list[Label]:
    return [Label(lab.layer, lab.param, prefix) for lab in map(label, range(n_params))]


def index(layer: int, param: str) -> int:
    """The position of weights[layer] ("weight") or biases[layer] ("bias") in the flat list."""
    return 2 * layer + (param == "bias")


def n_params(spec: Spec) -> int:
    return 2 * (len(spec.layers) - 1)


def weights(params: Sequence[T]) -> list[T]:
    return list(params[0::2])


def biases(params: Sequence[T]) -> list[T]:
    return list(params[1::2])


def interleave(ws: Sequence[T], bs: Sequence[T]) -> list[T]:
    """[W0, b0, W1, b1, ...] from the lab's two lists."""
    return [p for pair in zip(ws, bs) for p in pair]


def decay_mask(spec: Spec) -> list[bool]:
    """Which parameters weight decay applies to: every weight, and the biases only if the spec decays them."""
    return [i % 2 == 0 or spec.decay_biases for i in range(n_params(spec))]


def weight_decays(spec: Spec) -> list[float]:
    """weight_decay per parameter (0 where the mask is off), as the NumPy optimizers take it."""
    wd = float(spec.hparams.get("weight_decay") or 0.0)
    return [wd if on else 0.0 for on in decay_mask(spec)]


def coupled_decays(spec: Spec) -> list[float] | None:
    """weight_decay per parameter where torch adds it to the gradient (SGD, Adam: L2), else None (AdamW decouples
    it, and a spec without decay has none)."""
    decays = weight_decays(spec)
    return decays if any(decays) and spec.optimizer in ("sgd", "adam") else None


def without_decay(grads: Sequence, decays: Sequence[float], params: Sequence) -> list:
    """The gradients with a coupled L2 term (decay * p, which some classes add in backprop) taken out again."""
    return [g - d * p for g, d, p in zip(grads, decays, params)]
