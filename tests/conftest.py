"""Shared fixtures: real MNIST, loaded once per session."""

from pathlib import Path

import pytest

from crosscheck.data import Dataset, load

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def data() -> Dataset:
    """The embedded 5k real MNIST images, split 4000/1000: offline and identical everywhere."""
    return load("embedded")
