"""bench/bench_epoch.py must keep running: a tiny --quick run prints its tables. No timing is asserted, on purpose."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_epoch.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_epoch", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while the class is being built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


TINY = ["--quick", "--data", "embedded", "--layers", "784,30,10", "--train-samples", "300", "--test-samples", "100",
        "--retries", "0"]


def test_quick_run_prints_the_tables(bench, capsys):
    assert bench.main(TINY) == 0
    out = capsys.readouterr().out
    for column in ("layers", "optimizer", "numpy [s]", "torch f64 [s]", "lab [s]", "numpy/lab", "numpy/torch",
                   "GFLOP/epoch", "numpy % peak", "train [s]", "eval [s]", "test acc", "others %"):
        assert column in out
    for line in ("float64 GEMM peak", "blas numpy", "peak RSS", "data: embedded"):
        assert line in out
    rows = [line.split() for line in out.splitlines() if line.split()[:2] == ["784,30,10", "sgd"]]
    assert len(rows) == 1 + 3  # the summary row, then numpy / torch / lab in the breakdown


def test_missing_lab_code_is_reported_not_fatal(bench, capsys, tmp_path):
    missing = tmp_path / "network.py"
    assert bench.main([*TINY, "--optimizers", "sgd", "--lab", str(missing)]) == 0
    captured = capsys.readouterr()
    assert f"lab code not found at {missing}" in captured.err
    assert "numpy/torch" in captured.out
