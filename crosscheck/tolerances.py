"""Every tolerance in one place, each with the measurement behind it (bench/measure_tolerances.py)."""

from crosscheck.diff import Tolerance

# Tolerances, each set from bench/measure_tolerances.py: the worst scaled error (max|numpy - torch| / max|torch|)
# over all 20 presets x the lab's 5 learning rates, with the margin it leaves. Round-off grows with the size of the
# logits, so the worst cells are at lr 10 (AdamW: parameters ~1e2, logits ~1e4); at lr <= 1 gradients agree to
# <= 4e-14 and parameters to <= 4e-13. A real bug (a factor, a wrong formula) shows at 1e-3 or more.
TOL = {
    "softmax": Tolerance(rtol=1e-13),  # worst 1.9e-16 (margin 500)
    "forward": Tolerance(rtol=1e-12),  # worst 2.1e-15 (margin 470), at the initial parameters
    "loss": Tolerance(rtol=1e-12),  # worst 2.1e-16 (margin 4800)
    "gradients": Tolerance(rtol=1e-8),  # worst 8.2e-10 (lab Adagrad, lr 10, saturated; margin 12); 2e-15 at lr 0.1
    "updates": Tolerance(rtol=1e-8),  # of the step Δp: worst 9.5e-11 (AdamW, deep, lr 10; margin 100)
    "curve_loss": Tolerance(rtol=1e-8),  # per-epoch mean training loss, free-running; chaos handled by a control
    "finite_differences": Tolerance(rtol=1e-6),  # worst 3.4e-8 (margin 29): truncation (h^2) plus rounding (eps/h)
}
# Central differences resolve slopes only down to the round-off of the two losses over 2h: ~eps·(1 + |loss|)/h in
# absolute terms, whatever the gradient's size. The floor of the finite-difference comparison is this many times that;
# the worst measured over 400 random specs (batch 1-100; sigmoid, relu, tanh; mse and ce) was 0.32 of it.
FD_RESOLUTION = 4.0
ACCURACY_TOLERANCE = 0.0  # fraction of test samples; argmax on outputs ~1e-12 apart agrees unless a near-tie

# numpy_mlp.augment vs torchvision F.affine: max |diff| measured 7e-15 inside, 1.2e-14 at the border (FMA rounding
# in torch's grid and bilinear sums; tests/test_augment.py). About 3x the worst measurement.
AUGMENT_TOL = Tolerance(rtol=3e-14)
