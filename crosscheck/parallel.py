"""Independent runs in parallel: local processes (joblib's loky backend) or a dask.distributed cluster.

A task carries a Spec and a Plan, never the data. Each worker process loads the data once, from the source the
client resolved, and checks it against the client's fingerprint. So every worker computes on the same arrays as a
serial run, and each holds one float64 copy. What comes back is one run's CheckResults (numbers, messages,
per-epoch curves): a few kB. Each run is single-threaded (crosscheck/threads.py), so a process runs one at a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np
from tqdm.auto import tqdm

from crosscheck.checks import Plan, run_checks
from crosscheck.data import DataError, Dataset, load, resolve
from crosscheck.diff import CheckResult
from crosscheck.spec import Spec

T = TypeVar("T")
CONNECT_TIMEOUT = 5  # seconds to reach a dask scheduler
WORKER_TIMEOUT = 30  # seconds to wait for a scheduler's first worker


class ClusterError(ValueError):
    """The dask cluster cannot be used (no dask.distributed, no scheduler, no workers): one line, no traceback."""


@dataclass(frozen=True)
class Workers:
    """Where runs go: `jobs` local processes (None or 1: serial, in this process; -1: every core), or, with a
    `scheduler` address, a dask cluster (jobs None: every worker thread). `source` is the --data workers load."""

    jobs: int | None = None
    scheduler: str | None = None
    source: str = "auto"

    @property
    def serial(self) -> bool:
        return self.scheduler is None and self.jobs in (None, 1)


def run_all(specs: list[Spec], data: Dataset, plan: Plan, workers: Workers = Workers(), show_progress: bool = True,
            desc: str = "runs") -> list[list[CheckResult]]:
    """run_checks(spec, data, plan=plan) for every spec, in spec order, whichever way the runs are spread."""
    results: list = [None] * len(specs)
    with tqdm(total=len(specs), desc=desc, unit="run", disable=not show_progress, leave=False) as bar:
        for i, checks in _unordered(specs, data, plan, workers):
            results[i] = checks
            bar.update()
    return results


def _unordered(specs: list[Spec], data: Dataset, plan: Plan, workers: Workers
               ) -> Iterator[tuple[int, list[CheckResult]]]:
    """(index, results) as each run finishes."""
    if workers.serial:
        for i, spec in enumerate(specs):
            yield i, run_checks(spec, data, plan=plan)
        return
    source, digest = resolve(workers.source), fingerprint(data)
    yield from spread(_run, ((i, spec, plan, source, digest) for i, spec in enumerate(specs)), workers)


def spread(function: Callable[..., T], calls: Iterable[tuple], workers: Workers) -> Iterator[T]:
    """function(*call) for every call, on the workers' local processes or dask cluster, yielded as each finishes.
    The function and its arguments travel pickled (a module-level function, plain values, never the data: a worker
    loads its own with worker_dataset); each process runs one call at a time."""
    from joblib import Parallel, delayed

    tasks = (delayed(_one_at_a_time)(function, *call) for call in calls)
    with _dask(workers.scheduler) if workers.scheduler else contextlib.nullcontext():
        yield from Parallel(n_jobs=workers.jobs or -1, return_as="generator_unordered")(tasks)


_ONE_RUN_AT_A_TIME = threading.Lock()  # a dask worker with several threads still runs one check at a time


def _one_at_a_time(function: Callable[..., T], *args: Any) -> T:
    with _ONE_RUN_AT_A_TIME:
        return function(*args)


def _run(i: int, spec: Spec, plan: Plan, source: str, digest: str) -> tuple[int, list[CheckResult]]:
    return i, run_checks(spec, worker_dataset(source, digest), plan=plan)


@functools.lru_cache(maxsize=1)
def worker_dataset(source: str, digest: str) -> Dataset:
    """This process's one copy of the data."""
    data = load(source)
    if fingerprint(data) != digest:
        raise DataError(f"worker {socket.gethostname()}: --data {source} holds other arrays than on the client; "
                        "give every worker the same files")
    return data


def fingerprint(data: Dataset) -> str:
    h = hashlib.blake2b(digest_size=16)
    for array in (data.x_train, data.labels_train, data.x_test, data.labels_test):
        h.update(f"{array.dtype}{array.shape}".encode())
        h.update(np.ascontiguousarray(array))  # the array's own buffer: no copy
    return h.hexdigest()


@contextlib.contextmanager
def _dask(address: str) -> Iterator[None]:
    """joblib's dask backend on a Client at `address`; a missing package or an unreachable scheduler is a
    ClusterError."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("--scheduler needs dask.distributed: pip install 'mlp-crosscheck[dask]'") from None
    from joblib import parallel_config

    try:
        _probe(address)
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, ValueError, TimeoutError) as error:
        reason = " ".join(str(error).split()) or f"no answer within {CONNECT_TIMEOUT} s"
        raise ClusterError(f"cannot reach the dask scheduler at {address}: {reason}") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except TimeoutError:
            raise ClusterError(f"the dask scheduler at {address} has no workers after {WORKER_TIMEOUT} s") from None
        threads = client.nthreads()
        if max(threads.values()) > 1:
            print(f"compare.py: warning: dask workers with several threads ({max(threads.values())}) run one check "
                  "at a time each; start them with --nthreads 1 (see crosscheck/threads.py)", file=sys.stderr)
        with parallel_config(backend="dask", client=client):
            yield


def _probe(address: str) -> None:
    """Raise (OSError, ValueError, TimeoutError) unless a dask scheduler answers at `address` within CONNECT_TIMEOUT.

    A Client alone would retry a closed port for the whole timeout, wait forever on a peer that accepts and stays
    silent (distributed's handshake read has no timeout), and fail with a traceback at a worker's address.
    """
    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.core import send_recv

    scheme, location = parse_address(address)
    if scheme in ("tcp", "tls"):  # a refused port or an unknown host, at once and by name
        socket.create_connection(parse_host_port(location), timeout=CONNECT_TIMEOUT).close()

    async def identity() -> dict:
        comm = await connect(address, timeout=CONNECT_TIMEOUT)
        try:
            return await send_recv(comm, op="identity")
        finally:
            await comm.close()

    async def within_timeout() -> dict:
        return await asyncio.wait_for(identity(), CONNECT_TIMEOUT)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a fresh event loop, whatever the caller is running
        kind = pool.submit(asyncio.run, within_timeout()).result().get("type")
    if kind != "Scheduler":
        raise ValueError(f"that is a dask {kind or 'server'}, not a scheduler")
