"""Random rotation + shift of 28x28 images, vectorised over the batch (twin: torch_ref/augment.py).

The geometry is torchvision's ``F.affine(img, angle, translate, scale=1, shear=0, interpolation=BILINEAR, fill=0)``
(torchvision 0.29 ``transforms/v2/functional/_geometry.py``), re-done step by step so the two agree to rounding:

* inverse matrix (``_get_inverse_affine_matrix`` with centre offset 0, scale 1, shear 0): for r = radians(angle),
  ``m = [cos r, sin r, -cos r*tx - sin r*ty, -sin r, cos r, sin r*tx - cos r*ty]``;
* output pixel (i, j) sits at (x, y) = (j - 13.5, i - 13.5); its source is (m0 x + m1 y + m2, m3 x + m4 y + m5),
  passed through ``_affine_grid``'s normalisation (divide by W/2) and ``grid_sample``'s un-normalisation with
  ``align_corners=False`` (u = (g + 1)*W/2 - 0.5), i.e. u = source_x + 13.5 up to rounding;
* bilinear weights from the floor of (u, v), taps outside the image read as 0 (``padding_mode="zeros"``).

Fill convention: we MATCH torchvision's fill=0 path exactly. Because fill is not None, torchvision also samples a
ones-mask with the same grid and returns ``(img - fill) * mask + fill`` = ``img * mask`` for fill 0. Near the border
a pixel whose taps are partly outside is therefore darkened twice (once by the zero taps, once by the mask): an edge
pixel of a uniform image half off the grid comes out 0.25, not 0.5. Matching it keeps the twin at ~1e-15 everywhere,
borders included, at the price of one extra gather-free weighted sum.

Positive angle = what torchvision does with a positive angle: clockwise on screen (+90 equals ``np.rot90(k=-1)``).
Positive tx moves content right, positive ty moves it down.
"""

from __future__ import annotations

import numpy as np

H = W = 28
_HALF = 0.5 * W  # _affine_grid divides by [0.5*w, 0.5*h]; grid_sample's scaling factor is size/2 (both 14.0)

# _affine_grid's base grid: pixel centres relative to the image centre, -13.5 ... 13.5 (exact in float64).
_XS = np.tile(np.arange(W, dtype=np.float64) - (W - 1) * 0.5, H)  # (784,) column coordinate of each output pixel
_YS = np.repeat(np.arange(H, dtype=np.float64) - (H - 1) * 0.5, W)  # (784,) row coordinate

# Out-of-image taps read from a one-pixel zero frame; any index beyond the frame is clipped onto it.
_PW = W + 2
_ONES_PADDED = np.pad(np.ones((H, W)), 1).ravel()  # torchvision's fill mask, sampled with the same taps


def _inverse_matrices(angles: np.ndarray, shifts: np.ndarray) -> tuple[np.ndarray, ...]:
    """torchvision's inverse affine matrix per image, same operation order (so the same rounding)."""
    rot = angles * (np.pi / 180.0)  # math.radians multiplies by pi/180
    cos, sin = np.cos(rot), np.sin(rot)
    # a = cos, b = -sin, c = sin, d = cos;  matrix = [d, -b, 0, -c, a, 0] (scale 1, shear 0)
    m0, m1, m3, m4 = cos, -(-sin), -sin, cos
    tx, ty = shifts[:, 0], shifts[:, 1]
    # matrix[2] += cx - m0*(cx+tx) - m1*(cy+ty) with cx = cy = 0 (center_f is [0, 0] when center is None)
    m2 = 0.0 + ((0.0 - m0 * (0.0 + tx)) - m1 * (0.0 + ty))
    m5 = 0.0 + ((0.0 - m3 * (0.0 + tx)) - m4 * (0.0 + ty))
    return m0, m1, m2, m3, m4, m5


def _taps(coord: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Floor index clipped into the zero frame (both taps), and the fractional part / its complement."""
    lo = np.floor(coord)
    frac = coord - lo
    # Clipping to [-1, size] keeps every out-of-image tap on the zero frame; size+1 would be out of the array.
    i0 = np.clip(lo, -1.0, float(size)).astype(np.intp)
    i1 = np.clip(lo + 1.0, -1.0, float(size)).astype(np.intp)
    return i0 + 1, i1 + 1, frac, 1.0 - frac


def affine(images: np.ndarray, angles: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Rotate each image by angles[k] degrees (torchvision's sign) about its centre, then shift it by shifts[k].

    images (B, 784) float, angles (B,), shifts (B, 2) as (tx, ty) pixels, fractional allowed. Returns (B, 784)
    float64. Matches torchvision F.affine(bilinear, fill=0) including its fill-mask darkening (module docstring).
    """
    images = np.asarray(images, dtype=np.float64)
    angles = np.asarray(angles, dtype=np.float64).reshape(-1)
    shifts = np.asarray(shifts, dtype=np.float64).reshape(-1, 2)
    b = images.shape[0]
    if images.shape[1:] != (H * W,) or angles.shape != (b,) or shifts.shape != (b, 2):
        raise ValueError(f"expected images (B, {H * W}), angles (B,), shifts (B, 2); got "
                         f"{images.shape}, {angles.shape}, {shifts.shape}")
    if b == 0:
        return images.copy()

    m0, m1, m2, m3, m4, m5 = (c[:, None] / _HALF for c in _inverse_matrices(angles, shifts))  # rescaled_theta
    gx = _XS * m0 + _YS * m1 + m2  # normalised grid, as the bmm in _affine_grid
    gy = _XS * m3 + _YS * m4 + m5
    u = (gx + 1.0) * _HALF - 0.5  # grid_sample un-normalisation, align_corners=False
    v = (gy + 1.0) * _HALF - 0.5

    x0, x1, w, e = _taps(u, W)  # w: distance to the west tap, e = 1 - w
    y0, y1, n, s = _taps(v, H)
    nw, ne, sw, se = s * e, s * w, n * e, n * w
    r0, r1 = y0 * _PW, y1 * _PW
    i_nw, i_ne, i_sw, i_se = r0 + x0, r0 + x1, r1 + x0, r1 + x1  # indices into one padded 30x30 image

    padded = np.zeros((b, _PW * _PW))
    padded.reshape(b, _PW, _PW)[:, 1:-1, 1:-1] = images.reshape(b, H, W)
    base = (np.arange(b) * (_PW * _PW))[:, None]
    flat = padded.ravel()
    img = flat[base + i_nw] * nw + flat[base + i_ne] * ne + flat[base + i_sw] * sw + flat[base + i_se] * se
    ones = _ONES_PADDED
    mask = ones[i_nw] * nw + ones[i_ne] * ne + ones[i_sw] * sw + ones[i_se] * se
    return img * mask  # (img - fill) * mask + fill with fill = 0


def sample_params(rng: np.random.Generator, batch: int, max_degrees: float,
                  max_shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Angles U(-d, d) degrees (B,) and shifts U(-s, s) pixels (B, 2), drawn once and given to both sides.

    Fractional shifts on purpose: unlike RandomAffine (which rounds its translation) F.affine takes them as given,
    and bilinear sub-pixel shifts exercise the interpolation that the cross-check is about.
    """
    angles = rng.uniform(-max_degrees, max_degrees, size=batch)
    shifts = rng.uniform(-max_shift, max_shift, size=(batch, 2))
    return angles, shifts
