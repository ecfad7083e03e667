"""Every tolerance in one place, each with the measurement behind it (bench/measure_tolerances.py, measure_chaos.py).

Scaled error = max|numpy - torch| / max|torch| per tensor. Measured on the default data (embedded 5k train, real
t10k test) over the 21 presets (tasks 1-4 and l2-sgd) at lr 0.01 and 10 (`measure_tolerances.py --quick`); the
worst cells are at lr 10, where round-off grows with the logits. A real bug (a factor, a wrong formula) shows at
1e-3 or more.
"""

from crosscheck.diff import Tolerance

TOL = {
    "softmax": Tolerance(rtol=1e-13),  # worst 1.9e-16 (margin 530)
    "forward": Tolerance(rtol=1e-12),  # worst 2.1e-14 (deep base, raw 0-255 inputs; margin 48)
    "loss": Tolerance(rtol=1e-12),  # worst 2.2e-16 (bce, relu and tanh included; margin 4500)
    # atol_min: a whole tensor at rounding level (a saturated tanh/relu layer at lr 10: max |g| ~1e-16..1e-9) is
    # off by up to 8.1e-16 absolute (measured); the floor sits 12x above that
    "gradients": Tolerance(rtol=1e-8, atol_min=1e-14),  # worst 5.2e-12 (dropout, lr 10); 1.9e-8 with tanh before
    # the floor; earlier full grid: 8.2e-10 (lab Adagrad, lr 10, saturated)
    # the step Δp against torch.optim fed the candidate's own gradients: worst 2.7e-12 measured; Δp = p_after -
    # p_before itself carries ulp(p)/|Δp| of rounding, ~1e-10 at lr 0.001 on small gradients: 1e-8 covers that
    "updates": Tolerance(rtol=1e-8),
    "curve_loss": Tolerance(rtol=1e-8),  # per-epoch mean training loss, free-running; chaos handled by controls
    # truncation (h^2) plus rounding (eps/h); crosscheck.checks.finite_differences adds an absolute rounding floor
    "finite_differences": Tolerance(rtol=1e-6),  # worst 2.1e-8 (margin 48)
}
# Central differences resolve slopes only down to the round-off of the two losses over 2h: ~eps·(1 + |loss|)/h in
# absolute terms, whatever the gradient's size. The floor of the finite-difference comparison is this many times that;
# the worst measured over 400 random specs (batch 1-100; sigmoid, relu, tanh; mse and ce) was 0.32 of it.
FD_RESOLUTION = 4.0
ACCURACY_TOLERANCE = 0.0  # fraction of test samples; argmax on outputs ~1e-12 apart agrees unless a near-tie

# numpy_mlp.augment vs torchvision F.affine: max |diff| measured 7e-15 inside, 1.2e-14 at the border (FMA rounding
# in torch's grid and bilinear sums; tests/test_augment.py). About 3x the worst measurement.
AUGMENT_TOL = Tolerance(rtol=3e-14)

# The chaos control (crosscheck.checks.curves): at a chaotic learning rate the free-running curves of two correct
# implementations drift apart from round-off alone. When the curves differ, torch is trained CHAOS_CONTROLS more
# times with CHAOS_ROUNDOFF x each gradient tensor's largest entry added to its entries before every step; the gaps
# are excused only if the candidate's drift over the run is at most CHAOS_MARGIN x the largest control's
# (crosscheck.checks.chaos_ratio). bench/measure_chaos.py measures that ratio for a correct candidate (the NumPy
# reference) and for one more control: worst 4.64 and 4.16 over 63 runs at lr 10 (21 presets x 3 seeds, 5 epochs).
CHAOS_CONTROLS = 3
CHAOS_ROUNDOFF = 1e-15
CHAOS_MARGIN = 8.0
