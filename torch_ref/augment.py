"""Per-image rotation + shift by torchvision's own F.affine (twin: numpy_mlp/augment.py).

Nothing is re-derived here: each image goes through ``torchvision.transforms.v2.functional.affine`` with its own
angle and translate, scale 1, shear 0, bilinear, fill=0 (fill=0, not None: torchvision then multiplies by a sampled
ones-mask, which the NumPy twin reproduces). F.affine takes a single angle per call, hence the loop; this is the
reference, not the training path (~14 ms per batch of 100 on CPU vs ~2.5 ms for the NumPy twin; measured in
tests/test_augment.py::test_timing_per_batch_of_100).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

H = W = 28


def _rows(values: Sequence | np.ndarray | torch.Tensor) -> list:
    """Plain Python floats: F.affine's argument checks accept int/float, not 0-d tensors."""
    if isinstance(values, (torch.Tensor, np.ndarray)):
        return values.tolist()
    return [list(v) if isinstance(v, (list, tuple)) else float(v) for v in values]


def affine(images: torch.Tensor, angles: Sequence[float] | np.ndarray | torch.Tensor,
           shifts: Sequence[Sequence[float]] | np.ndarray | torch.Tensor) -> torch.Tensor:
    """images (B, 784) float tensor, angles (B,) degrees, shifts (B, 2) as (tx, ty) pixels -> (B, 784), same dtype."""
    angle_list, shift_list = _rows(angles), _rows(shifts)
    if images.ndim != 2 or images.shape[1] != H * W or not len(angle_list) == len(images) == len(shift_list):
        raise ValueError(f"expected images (B, {H * W}), angles (B,), shifts (B, 2); got {tuple(images.shape)}, "
                         f"{len(angle_list)} angles, {len(shift_list)} shifts")
    out = [F.affine(img.reshape(1, H, W), angle=float(a), translate=[float(t[0]), float(t[1])], scale=1.0,
                    shear=[0.0, 0.0], interpolation=InterpolationMode.BILINEAR, fill=0.0)
           for img, a, t in zip(images, angle_list, shift_list)]
    return torch.stack(out).reshape(len(images), H * W)
