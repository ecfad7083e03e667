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


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tolerance_table_records_a_failing_cell(data):
    """bench/measure_tolerances.py must show a cell whose agreement is worse than its tolerance, not drop it."""
    from crosscheck.checks import Plan
    from crosscheck.sides import NumpySide
    from crosscheck.spec import MODELS
    from crosscheck.tolerances import TOL

    class SlightlyOffGradient(NumpySide):
        def loss_and_grads(self, batch):
            loss, grads = super().loss_and_grads(batch)
            return loss, [g * (1 + 1e-6) for g in grads]

    measure = _load("measure_tolerances")
    rows = measure.cell(MODELS["softmax-ce"].replace(epochs=1), data, Plan(steps=3, fd_coords=1), SlightlyOffGradient)
    gradients = [r for r in rows if r["check"] == "gradients"]
    assert gradients and max(r["scaled_err"] for r in gradients) > TOL["gradients"].rtol
    assert all(r["failed"] == "gradients" for r in rows)


def test_the_line_score_counts_hits_misses_and_false_lines(data, capsys):
    """bench_diagnosis's line score on three corpus classes, traced for real: a hit, a known miss, a correct class."""
    spec = importlib.util.spec_from_file_location("bench_diagnosis", BENCH.parent / "bench_diagnosis.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        chosen = {"lab_layout.py:WrongSigmoidPrimeHelper", "lab_layout.py:DeepLoopStopsEarly",
                  "correct.py:SumThenDivide"}
        entries = [e for e in module.corpus.ENTRIES if e.name in chosen]
        module.corpus.ENTRIES, original = entries, module.corpus.ENTRIES
        try:
            module.report_lines(module.line_scores(data, module.Plan(steps=2, eval_samples=200), False), False)
        finally:
            module.corpus.ENTRIES = original
    finally:
        sys.modules.pop(spec.name, None)
    out = capsys.readouterr().out
    assert "MISS lab_layout.py:DeepLoopStopsEarly" in out and "WrongSigmoidPrimeHelper" not in out
    assert "all                    1/2 = 50%" in out and "lines named for correct classes: 0 of 1" in out
    assert "tracing one failing call: median" in out and "recorded arrays equal to an intermediate" in out
