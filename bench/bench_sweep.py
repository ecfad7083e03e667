"""The lab's sweep, timed side by side: mlp-crosscheck (both backends, every check on) vs the lab's own code alone.

The lab's code runs the same grid (models x learning rates x seeds x epochs, batch 100) with NumPy only: its
Network.optimize, which evaluates the test set sample by sample every epoch. Only SGD exists there, so each grid
cell runs the lab's Network; it stands for the cost of the lab's numpy-only pattern, not for the same optimizer.
Run: python bench/bench_sweep.py [--task 3] [--jobs 2] [--data auto]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_epoch import LAB_PATH, load_lab  # noqa: E402

from crosscheck.checks import Plan  # noqa: E402
from crosscheck.data import load  # noqa: E402
from crosscheck.parallel import Workers  # noqa: E402
from crosscheck.spec import preset  # noqa: E402
from crosscheck.sweep import LAB_EPOCHS, LAB_LRS, LAB_SEEDS, sweep  # noqa: E402


def lab_grid(lab, data, cells: list[tuple[tuple[int, ...], float]], epochs: int) -> float:
    """Seconds for the lab's Network to run every (layers, lr) cell x 3 seeds, as its evaluate_model does."""
    start = time.perf_counter()
    for layers, lr in cells:
        np.random.seed(42)
        for _ in LAB_SEEDS:
            with contextlib.redirect_stderr(io.StringIO()), np.errstate(over="ignore"):
                lab.Network(list(layers)).optimize((data.x_train, data.y_train), epochs=epochs, mini_batch_size=100,
                                                   eta=lr, test_data=(data.x_test, data.y_test))
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="3")
    p.add_argument("--jobs", type=int, default=2, help="worker processes for mlp-crosscheck (the lab's code is serial)")
    p.add_argument("--data", default="auto")
    p.add_argument("--epochs", type=int, default=LAB_EPOCHS)
    args = p.parse_args()
    lab, why = load_lab(LAB_PATH)
    if lab is None:
        print(f"bench_sweep.py: error: {why}", file=sys.stderr)
        return 2
    data = load(args.data)
    specs = [s.replace(lr=lr, seed=seed, epochs=args.epochs)
             for s in preset(args.task) for lr in LAB_LRS for seed in LAB_SEEDS]
    start = time.perf_counter()
    sweep(specs, data, Plan(steps=20), False, Workers(args.jobs, None, args.data))
    ours = time.perf_counter() - start
    cells = [(s.layers, lr) for s in preset(args.task) for lr in LAB_LRS]
    lab_seconds = lab_grid(lab, data, cells, args.epochs)
    print(f"data: {data.source}; grid: {len(preset(args.task))} models x {len(LAB_LRS)} lrs x {len(LAB_SEEDS)} seeds "
          f"x {args.epochs} epochs = {len(specs)} runs")
    print(f"mlp-crosscheck sweep, both backends, every check (--jobs {args.jobs}): {ours:8.1f} s")
    print(f"the lab's code, NumPy alone, serial:                       {lab_seconds:8.1f} s")
    print(f"ratio (target <= 1.0):                                      {ours / lab_seconds:8.2f}")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
