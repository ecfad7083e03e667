"""Measure the chaos control's margin: how far a correct candidate drifts beyond torch's own perturbed controls.

For every preset at the chaotic learning rates, the NumPy reference (a correct candidate) and torch are trained
free-running from the same init, and torch again CHAOS_CONTROLS + 1 times with 1e-15 round-off added at every
step (crosscheck.checks.controls). For each
run whose curve differs from torch's, the ratio of its drift over the run to the largest control's
(crosscheck.checks.chaos_ratio) is what CHAOS_MARGIN must cover; the extra control, set against the others, gives a
second sample of the same ratio.
Run: python bench/measure_chaos.py [--quick] [--data auto]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from crosscheck.checks import chaos_ratio, controls, drift, initial_params, train_curve
from crosscheck.data import load
from crosscheck.sides import NumpySide, TorchSide
from crosscheck.spec import MODELS, preset
from crosscheck.threads import single_threaded
from crosscheck.tolerances import CHAOS_CONTROLS, CHAOS_MARGIN


def ratios(cand: dict, ref: dict, drifts: list[dict]) -> list[dict]:
    """The candidate's chaos ratio (crosscheck.checks.chaos_ratio), if its curves differ from torch's at all."""
    if drift(cand, ref) == (0.0, 0.0):
        return []
    acc, loss = drift(cand, ref)
    return [{"acc_drift": acc, "loss_drift": loss, "ratio": chaos_ratio(cand, ref, drifts),
             "control_acc_drift": max(drift(d, ref)[0] for d in drifts)}]


def cell(spec, data, n_controls: int) -> list[dict]:
    init = initial_params(spec)
    with single_threaded():
        ref = train_curve(spec, data, TorchSide(spec, init), data.x_test)
        cand = train_curve(spec, data, NumpySide(spec, init), data.x_test)
        drifts = controls(spec, data, init, data.x_test, n_controls + 1)
    rows = [dict(r, candidate="numpy") for r in ratios(cand, ref, drifts[:-1])]
    rows += [dict(r, candidate="control") for r in ratios(drifts[-1], ref, drifts[:-1])]
    return [dict(r, model=spec.name, layers=len(spec.layers) - 1, lr=spec.lr, seed=spec.seed) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="lr 10 only, one seed, 5 epochs")
    parser.add_argument("--data", default="auto")
    parser.add_argument("--controls", type=int, default=CHAOS_CONTROLS, help=f"default {CHAOS_CONTROLS}")
    parser.add_argument("--hidden", help="every preset with this hidden activation")
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 (default: 1 with --quick, else 3)")
    args = parser.parse_args()
    data = load(args.data)
    lrs, seeds, epochs = ([10.0], [0], 5) if args.quick else ([1.0, 10.0], [0, 1, 2], 10)
    seeds = list(range(args.seeds)) if args.seeds else seeds
    specs = [MODELS[name] for name in MODELS if name != "softmax"] + preset("4")
    if args.hidden:
        specs = [s.replace(hidden_activation=args.hidden) for s in specs]
    rows = [row for spec in specs for lr in lrs for seed in seeds
            for row in cell(spec.replace(lr=lr, seed=seed, epochs=epochs), data, args.controls)]
    table = pd.DataFrame(rows)
    print(f"{len(specs)} specs x lr {lrs} x seeds {seeds} x {epochs} epochs; {args.controls} controls; "
          f"data: {data.source}")
    if table.empty:
        print("no epoch differed")
        return
    for who, group in table.groupby("candidate"):
        print(f"{who}: {len(group)} runs whose curves differ; worst ratio {group['ratio'].max():.3g} (median "
              f"{group['ratio'].median():.3g}); over CHAOS_MARGIN {CHAOS_MARGIN:g}: "
              f"{int((group['ratio'] > CHAOS_MARGIN).sum())}")
        print(group.nlargest(5, "ratio")[["model", "layers", "lr", "seed", "acc_drift", "control_acc_drift",
                                          "loss_drift", "ratio"]].to_string(index=False))


if __name__ == "__main__":
    main()
