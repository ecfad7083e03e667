"""Measure the chaos control's margin: how far a correct candidate drifts beyond torch's own perturbed controls.

For every preset at the chaotic learning rates, the NumPy reference (a correct candidate) and torch are trained
free-running from the same init, and torch again CHAOS_CONTROLS + 1 times with 1e-15 round-off added at every
step (crosscheck.checks.controls). For each
epoch where the reference's curve differs from torch's, the ratio of its gap to the largest control's gap
(accuracy and loss) is what CHAOS_MARGIN must cover; the extra control, set against the others, gives a second
sample of the same ratio. Epochs where no control drifts but the reference does would be false FAILs: counted.
Run: python bench/measure_chaos.py [--quick] [--data auto]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from crosscheck.checks import controls, initial_params, train_curve
from crosscheck.data import load
from crosscheck.sides import NumpySide, TorchSide
from crosscheck.spec import MODELS, preset
from crosscheck.threads import single_threaded
from crosscheck.tolerances import CHAOS_CONTROLS, CHAOS_MARGIN


def ratios(cand: dict, ref: dict, drifts: list[dict]) -> list[dict]:
    """Per epoch where cand differs from ref: its gap over the controls' largest, accuracy and loss."""
    rows = []
    for e, (acc_c, acc_r) in enumerate(zip(cand["accuracy"], ref["accuracy"])):
        acc_gap, loss_gap = abs(acc_c - acc_r), abs(cand["loss"][e] - ref["loss"][e])
        if acc_gap == 0 and loss_gap <= 1e-8 * abs(ref["loss"][e]):
            continue
        acc_spread = max(abs(d["accuracy"][e] - acc_r) for d in drifts)
        loss_spread = max(abs(d["loss"][e] - ref["loss"][e]) for d in drifts)
        rows.append({"epoch": e, "acc_gap": acc_gap, "acc_spread": acc_spread,
                     "acc_ratio": acc_gap / acc_spread if acc_spread else (0.0 if acc_gap == 0 else np.inf),
                     "loss_ratio": loss_gap / loss_spread if loss_spread else np.inf})
    return rows


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
    args = parser.parse_args()
    data = load(args.data)
    lrs, seeds, epochs = ([10.0], [0], 5) if args.quick else ([1.0, 10.0], [0, 1, 2], 10)
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
        worst = group[["acc_ratio", "loss_ratio"]].max(axis=1)
        print(f"{who}: {len(group)} differing epochs; worst max(acc, loss) ratio {worst.max():.3g} "
              f"(median {worst.median():.3g}); over CHAOS_MARGIN {CHAOS_MARGIN:g}: {int((worst > CHAOS_MARGIN).sum())}")
        print(group.loc[worst.nlargest(5).index, ["model", "layers", "lr", "seed", "epoch", "acc_gap", "acc_spread",
                                                  "acc_ratio", "loss_ratio"]].to_string(index=False))


if __name__ == "__main__":
    main()
