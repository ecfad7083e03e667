"""One BLAS thread and one torch thread while the two sides run interleaved.

Measured on 2 cores: a 100x784 @ 784x30 product alternating between NumPy (OpenBLAS) and torch took 26 ms per
pair with both pools at 2 threads (each pool spins while the other works) and 0.24 ms with one thread each.
Parallelism comes from running independent runs in separate processes instead.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from threadpoolctl import threadpool_limits


@contextmanager
def single_threaded() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)
