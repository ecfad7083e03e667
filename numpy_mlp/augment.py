"""Random rotation + shift of 28x28 images, vectorised over the batch (twin: torch_ref/augment.py).

The geometry is torchvision's ``F.affine(img, angle, translate, scale=1, shear=0, interpolation=BILINEAR, fill=0)``
(torchvision 0.29 ``transforms/v2/functional/_geometry.py`` + ATen's CPU ``grid_sample``), redone step by step in
the same operation order so the two agree to rounding:

* inverse matrix (``_get_inverse_affine_matrix``, centre offset 0, scale 1, shear 0), r = radians(angle):
  ``m = [cos r, sin r, -cos r*tx - sin r*ty, -sin r, cos r, sin r*tx - cos r*ty]``;
* output pixel (i, j) sits at (x, y) = (j - 13.5, i - 13.5); ``_affine_grid`` maps it to the normalised source
  ``g = x*m0/14 + y*m1/14 + m2/14`` (likewise for rows), and ``grid_sample(align_corners=False)`` un-normalises it
  to the 0-based source pixel ``u = (g + 1)*14 - 0.5`` (= m0 x + m1 y + m2 + 13.5 up to rounding);
* bilinear weights from floor(u), floor(v); taps outside the image read as 0 (``padding_mode="zeros"``).

Fill convention: this MATCHES torchvision's fill=0 path. With fill not None torchvision also samples a ones-mask
with the same grid and returns ``(img - fill)*mask + fill`` = ``img*mask`` for fill 0, so a pixel whose taps are
partly outside is darkened twice (an edge pixel of a uniform image half a pixel off the grid comes out 0.25, not
0.5). Reproducing it costs one more weighted sum and keeps the twin at rounding level everywhere, borders included.

Not bit for bit: torch's CPU kernels contract multiply-adds into FMA (the grid's bmm is fma(y, b, x*a) + c,
un-normalisation fma(g + 1, 14, -0.5), the four-tap sum a chain of fma); NumPy has no fused multiply-add. With
those FMAs emulated exactly the outputs were identical; without, they differ by a few 1e-15 (tests/test_augment.py).

Sign: positive angle = what torchvision does with a positive angle, clockwise on screen (+90 == np.rot90(k=-1));
positive tx moves content right, positive ty moves it down.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

H = W = 28
_HALF = 0.5 * W  # _affine_grid divides by [w/2, h/2]; grid_sample's align_corners=False scale is size/2 (14 both)

# _affine_grid's base grid: pixel centres relative to the image centre, -13.5 ... 13.5 (exact in float64).
_XS = np.arange(W, dtype=np.float64) - (W - 1) * 0.5
_YS = np.arange(H, dtype=np.float64) - (H - 1) * 0.5

# Taps outside the image read from a zero frame. Floors are clipped to [-2, 28] first: a clipped floor had both of
# its taps outside anyway (value 0 whatever the weights), and the frame must be 2 wide so floor+1 stays outside.
_F = 2
_P = W + 2 * _F  # padded side, 32


@lru_cache(maxsize=4)
def _ones_frame(batch: int) -> np.ndarray:
    """torchvision's fill mask before sampling: ones on the image, zeros in the frame (read-only, reused)."""
    ones = np.zeros((batch, _P, _P))
    ones[:, _F:-_F, _F:-_F] = 1.0
    ones = ones.ravel()
    ones.flags.writeable = False
    return ones


def _inverse_matrices(angles: np.ndarray, shifts: np.ndarray) -> tuple[np.ndarray, ...]:
    """torchvision's inverse affine matrix per image, same operation order (so the same rounding)."""
    rot = angles * (np.pi / 180.0)  # math.radians multiplies by pi/180
    cos, sin = np.cos(rot), np.sin(rot)
    # a = cos, b = -sin, c = sin, d = cos;  matrix = [d, -b, 0, -c, a, 0] (scale 1, shear 0)
    m0, m1, m3, m4 = cos, sin, -sin, cos
    tx, ty = shifts[:, 0], shifts[:, 1]
    # matrix[2] += cx - m0*(cx+tx) - m1*(cy+ty) with cx = cy = 0 (center_f is [0, 0] when center is None)
    m2 = 0.0 + ((0.0 - m0 * (0.0 + tx)) - m1 * (0.0 + ty))
    m5 = 0.0 + ((0.0 - m3 * (0.0 + tx)) - m4 * (0.0 + ty))
    return m0, m1, m2, m3, m4, m5


def _source(ca: np.ndarray, cb: np.ndarray, cc: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One source coordinate (B, 28, 28): clipped floor index, fractional part, 1 - fractional part."""
    # (x*a + y*b) + c, the bmm's order, as a (B, 1, 28) + (B, 28, 1) broadcast; then un-normalise in place.
    g = np.add(_XS * ca[:, None, None], _YS[:, None] * cb[:, None, None])
    g += cc[:, None, None]
    g += 1.0
    g *= _HALF
    g -= 0.5
    lo = np.floor(g)
    frac = np.subtract(g, lo, out=g)
    comp = np.subtract(1.0, frac)
    np.clip(lo, -_F, size, out=lo)
    return lo.astype(np.intp), frac, comp


def affine(images: np.ndarray, angles: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Rotate each image by angles[k] degrees (torchvision's sign) about its centre and shift it by shifts[k].

    images (B, 784) float, angles (B,), shifts (B, 2) as (tx, ty) pixels, fractional allowed. Returns (B, 784)
    float64. Same result as torchvision F.affine(bilinear, fill=0), fill-mask darkening included (module docstring).
    One pass over the whole batch (no per-image loop): ~2.5 ms for B=100 on one core.
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

    m0, m1, m2, m3, m4, m5 = (c / _HALF for c in _inverse_matrices(angles, shifts))  # _affine_grid's rescaled theta
    ix, w, e = _source(m0, m1, m2, W)  # w: distance past the west tap, e = 1 - w
    iy, n, s = _source(m3, m4, m5, H)  # n: distance past the north tap, s = 1 - n
    idx = iy  # flat index of the north-west tap in the padded batch
    idx *= _P
    idx += ix
    idx += (np.arange(b) * (_P * _P) + (_F * _P + _F))[:, None, None]
    nw = s * e  # grid_sample's weights; the last three overwrite buffers no longer needed
    sw = np.multiply(e, n, out=e)
    ne = np.multiply(s, w, out=s)
    se = np.multiply(n, w, out=n)

    padded = np.zeros((b, _P, _P))
    padded[:, _F:-_F, _F:-_F] = images.reshape(b, H, W)
    flat, ones = padded.ravel(), _ones_frame(b)
    # Taps summed in grid_sample's order nw, ne, sw, se; the ones-mask gets the same taps and weights.
    img = np.take(flat, idx, mode="clip")  # indices are always in range; "clip" just skips the checked path
    img *= nw
    mask = np.take(ones, idx, mode="clip")
    mask *= nw
    buf = nw
    for step, weight in ((1, ne), (_P - 1, sw), (1, se)):
        idx += step
        np.take(flat, idx, out=buf, mode="clip")
        buf *= weight
        img += buf
        np.take(ones, idx, out=buf, mode="clip")
        buf *= weight
        mask += buf
    img *= mask  # (img - fill)*mask + fill with fill = 0
    return img.reshape(b, H * W)


def sample_params(rng: np.random.Generator, batch: int, max_degrees: float,
                  max_shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Angles U(-d, d) degrees (B,) and shifts U(-s, s) pixels (B, 2), drawn once and given to both sides.

    Shifts stay fractional on purpose: RandomAffine would round them, but F.affine takes them as given, and
    sub-pixel shifts exercise the bilinear interpolation that the cross-check is about.
    """
    angles = rng.uniform(-max_degrees, max_degrees, size=batch)
    shifts = rng.uniform(-max_shift, max_shift, size=(batch, 2))
    return angles, shifts
