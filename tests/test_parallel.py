"""A sweep spread over local processes or a dask cluster prints exactly what the serial sweep prints."""

from __future__ import annotations

import contextlib
import io
import pickle
import socket
import sys

import pytest

from crosscheck import parallel
from crosscheck.checks import Plan, run_checks
from crosscheck.cli import main
from crosscheck.data import DataError
from crosscheck.spec import MODELS

TINY = ["--task", "2", "--model", "l2-momentum", "--sweep", "--lr", "0.1,1", "--seeds", "0,1", "--epochs", "1",
        "--data", "embedded", "--no-progress"]


def _run_cli(argv: list[str], tmp_path, name: str) -> tuple[int, str, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*argv, "--json", str(tmp_path / name)])
    return code, out.getvalue(), (tmp_path / name).read_text()


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> tuple[int, str, str]:
    return _run_cli(TINY, tmp_path_factory.mktemp("serial"), "serial.json")


def test_serial_tiny_sweep_has_a_row_per_lr(serial):
    code, out, _ = serial
    assert code == 0
    assert out.count("l2-momentum") == 2


def test_local_processes_give_the_serial_table(serial, tmp_path):
    assert _run_cli([*TINY, "--jobs", "2"], tmp_path, "jobs2.json") == serial


def test_dask_cluster_gives_the_serial_table(serial, tmp_path):
    import distributed  # in the test extra: this test must run, never skip
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = _run_cli([*TINY, "--scheduler", cluster.scheduler_address], tmp_path, "dask.json")
    assert result == serial


def test_a_worker_hands_back_a_few_kilobytes(data):
    spec, plan = MODELS["l2-momentum"].replace(epochs=1), Plan(steps=20)
    i, results = parallel._run(3, spec, plan, "embedded", parallel.fingerprint(data))
    assert i == 3
    assert pickle.dumps(results) == pickle.dumps(run_checks(spec, data, plan=plan))
    assert len(pickle.dumps(results)) < 10_000


def test_a_worker_refuses_other_data():
    with pytest.raises(DataError, match="other arrays than on the client"):
        parallel.worker_dataset("embedded", "not the client's fingerprint")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_peer():
    """A port that accepts connections and never answers: distributed's own Client would wait on it forever."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("address", ["closed", "silent", "not-an-address"])
def test_unreachable_scheduler_is_one_line_exit_2(address, silent_peer, monkeypatch, capsys):
    import distributed  # noqa: F401 - in the test extra: run, never skip
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 1)
    address = {"closed": f"tcp://127.0.0.1:{_free_port()}", "silent": silent_peer}.get(address, address)
    assert main([*TINY, "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compare.py: error: cannot reach the dask scheduler at") and err.count("\n") == 1


def test_scheduler_without_distributed_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main([*TINY, "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert capsys.readouterr().err == ("compare.py: error: --scheduler needs dask.distributed: "
                                       "pip install 'mlp-crosscheck[dask]'\n")


@pytest.mark.parametrize("flags", [["--jobs", "2"], ["--scheduler", "tcp://127.0.0.1:8786"]])
def test_parallel_flags_need_sweep(flags, capsys):
    assert main(["--task", "2", "--data", "embedded", *flags]) == 2
    assert capsys.readouterr().err == ("compare.py: error: --jobs and --scheduler apply to --sweep and to a batch of "
                                       "--student submissions\n")
