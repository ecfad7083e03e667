"""Shared fixtures: real MNIST, loaded once per session; the hypothesis profile of the property tests."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

from crosscheck.data import Dataset, load

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# CI runs the same examples every time (derandomized, no example database), so a red CI run reproduces locally
# with CI=true; elsewhere hypothesis explores fresh examples and remembers failing ones in .hypothesis/.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev")
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def data() -> Dataset:
    """The embedded 5k real MNIST images, split 4000/1000: offline and identical everywhere."""
    return load("embedded")


@pytest.fixture(scope="session")
def default_data() -> Dataset:
    """load("auto"), what the command line uses by default: where ../shared/data/mnist exists (as in CI), the
    embedded 5k for training and the real MNIST t10k (10,000 images) for testing; elsewhere the embedded split."""
    return load("auto")


@pytest.fixture(params=["embedded", "auto"])
def each_data(request: pytest.FixtureRequest) -> Dataset:
    """The important harness tests run on both: the embedded split (`data`) and the default data (`default_data`)."""
    return request.getfixturevalue("data" if request.param == "embedded" else "default_data")
