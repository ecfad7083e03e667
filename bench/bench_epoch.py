#!/usr/bin/env python3
"""Per-epoch wall time, side by side: the NumPy reference vs torch CPU float64 vs the lab's original Network.

    .venv/bin/python bench/bench_epoch.py                  # [784,30,10] and [784,100,30,10], SGD and AdamW
    .venv/bin/python bench/bench_epoch.py --quick          # smoke run: 1 repeat, 6,000 samples
    .venv/bin/python bench/bench_epoch.py --layers 784,100,30,10 --data ~/mnist

One epoch = train on N samples at batch 100 (600 steps for N = 60,000) + evaluate the whole test set:

  numpy  numpy_mlp.MLP + numpy_mlp optimizers (the step NumpySide.step takes), evaluation in one vectorised pass;
  torch  torch_ref.build + torch.optim (as TorchSide configures them), float64 on the CPU, evaluation in one pass
         under no_grad;
  lab    the lab's own Network from <repo>/../shared/lab/network.py (loaded from there at run time, never copied):
         its update_mini_batch loop exactly as in its optimize(), and its per-sample evaluate(). SGD only; the lab
         code has no AdamW, so that cell is n/a.

Batches are the lab's optimize() slices x[i*B:(i+1)*B] (views, no shuffling) for all three, so the input pipeline is
identical and what is timed is the implementation. Every implementation starts from the same parameters. Each
measurement is repeated (--repeats, median reported) with the implementations interleaved, rotating their order,
so machine noise hits all of them alike. This is a benchmark, not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: the project is not necessarily installed
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import numpy_mlp  # noqa: E402
import torch_ref  # noqa: E402
from crosscheck.data import DataError, Dataset, load  # noqa: E402
from crosscheck.sides import NumpySide, TorchSide  # noqa: E402
from crosscheck.spec import MODELS, Spec  # noqa: E402

LAB_PATH = REPO.parent / "shared" / "lab" / "network.py"
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
DEFAULT_LAYERS = [(784, 30, 10), (784, 100, 30, 10)]
# The two regimes of the lab: its base model (sigmoid + MSE, plain SGD at lr 1) and AdamW on a softmax + CE head.
CONFIGS = {"sgd": MODELS["base"].replace(lr=1.0), "adamw": MODELS["adamw"].replace(lr=0.01)}
BATCH = 100
ENV_PATTERN = re.compile(r"^(OPENBLAS|GOTO|OMP|MKL|BLIS|NVPL|VECLIB|KMP|GOMP)_")


# ---------------------------------------------------------------------------------------------------- implementations


class NumpyImpl:
    """numpy_mlp.MLP + a numpy_mlp optimizer, configured by NumpySide; the step is NumpySide.step without Batch."""

    label = "numpy"

    def __init__(self, spec: Spec, init: list[np.ndarray], data: BenchData):
        side = NumpySide(spec, init)
        self.mlp, self.optimizer, self.state, self.params = side.mlp, side.optimizer, side.state, side.params()
        self.data = data

    def train_epoch(self, steps: int) -> None:
        x, y, mlp, optimizer = self.data.x_train, self.data.y_train, self.mlp, self.optimizer
        for i in range(steps):
            _, grads = mlp.loss_and_grads(self.params, x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH])
            updates, self.state = optimizer.update(grads, self.state, self.params)
            self.params = numpy_mlp.optim.apply_updates(self.params, updates)

    def evaluate(self, n: int) -> float:
        probs = self.mlp.predict(self.params, self.data.x_test[:n])
        return float(np.mean(np.argmax(probs, axis=1) == self.data.labels_test[:n]))


class TorchImpl:
    """torch_ref model + torch.optim as TorchSide builds them, float64 CPU; a plain training loop (no per-step
    manual_seed or loss.item(), which TorchSide does for lockstep comparison and which are not the model's cost)."""

    label = "torch"

    def __init__(self, spec: Spec, init: list[np.ndarray], data: BenchData):
        side = TorchSide(spec, init, dtype=torch.float64)
        self.model, self.optimizer, self.head = side.model, side.optimizer, spec.head
        self.x_train, self.y_train = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
        self.x_test, self.labels_test = torch.from_numpy(data.x_test), torch.from_numpy(data.labels_test)

    def train_epoch(self, steps: int) -> None:
        model, optimizer, x, y = self.model, self.optimizer, self.x_train, self.y_train
        model.train()
        for i in range(steps):
            optimizer.zero_grad()
            loss = torch_ref.loss(model(x[i * BATCH:(i + 1) * BATCH]), y[i * BATCH:(i + 1) * BATCH], self.head)
            loss.backward()
            optimizer.step()

    def evaluate(self, n: int) -> float:
        self.model.eval()
        with torch.no_grad():
            probs = torch_ref.probabilities(self.model(self.x_test[:n]), self.head)
            return float((probs.argmax(dim=1) == self.labels_test[:n]).double().mean())


class LabImpl:
    """The lab's Network: the update_mini_batch loop of its optimize() and its per-sample evaluate()."""

    label = "lab"

    def __init__(self, lab: ModuleType, spec: Spec, init: list[np.ndarray], data: BenchData):
        self.net = lab.Network(list(spec.layers))
        self.net.weights = [w.copy() for w in init[0::2]]  # same (n_in, n_out) / (n_out,) layout as numpy_mlp
        self.net.biases = [b.copy() for b in init[1::2]]
        self.eta, self.data = spec.lr, data

    def train_epoch(self, steps: int) -> None:
        x, y, net = self.data.x_train, self.data.y_train, self.net
        with np.errstate(over="ignore"):  # the lab's sigmoid overflows exp for z < -709 (harmlessly: it gives 0)
            for i in range(steps):  # verbatim the inner loop of Network.optimize
                x_mini_batch = x[i * BATCH:(i * BATCH + BATCH)]
                y_mini_batch = y[i * BATCH:(i * BATCH + BATCH)]
                net.update_mini_batch(x_mini_batch, y_mini_batch, self.eta)

    def evaluate(self, n: int) -> float:
        with np.errstate(over="ignore"):
            return float(self.net.evaluate(self.data.x_test[:n], self.data.y_test[:n]))


IMPLS = ("numpy", "torch", "lab")


# --------------------------------------------------------------------------------------------------------- data, lab


@dataclass
class BenchData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels_test: np.ndarray
    source: str


def _tile(a: np.ndarray, n: int) -> np.ndarray:
    """The first n rows of a repeated as often as needed (a itself, contiguous, if it already has n rows)."""
    reps = -(-n // len(a))
    return np.ascontiguousarray(np.tile(a, (reps,) + (1,) * (a.ndim - 1))[:n])


def bench_data(source: str | None, n_train: int, n_test: int) -> BenchData:
    """--data DIR (or any crosscheck.data.load source), else the embedded 5k train + the shared t10k if present."""
    if source is None:
        source = str(SHARED_MNIST) if SHARED_MNIST.is_dir() else "embedded"
    ds: Dataset = load(source)
    how = []
    if len(ds.x_train) != n_train:
        how.append(f"train {len(ds.x_train)} {'tiled' if len(ds.x_train) < n_train else 'cut'} to {n_train}")
    if len(ds.x_test) != n_test:
        how.append(f"test {len(ds.x_test)} {'tiled' if len(ds.x_test) < n_test else 'cut'} to {n_test}")
    return BenchData(_tile(ds.x_train, n_train), _tile(ds.y_train, n_train), _tile(ds.x_test, n_test),
                     _tile(ds.y_test, n_test), _tile(ds.labels_test, n_test),
                     ds.source + (f" ({'; '.join(how)})" if how else ""))


def load_lab(path: Path) -> tuple[ModuleType | None, str]:
    """The lab's network.py imported from its own path (it is reference material, never copied into the project)."""
    if not path.is_file():
        return None, (f"lab code not found at {path} (expected the lab's network.py at <repo>/../shared/lab/"
                      f"network.py, or pass --lab PATH); the lab column is n/a")
    spec = importlib.util.spec_from_file_location("lab_network", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a broken file or a missing dependency of it: report, bench the rest
        return None, f"could not import the lab code at {path} ({type(error).__name__}: {error}); lab column is n/a"
    if not hasattr(module, "Network"):
        return None, f"{path} has no Network class; the lab column is n/a"
    return module, str(path)


# ---------------------------------------------------------------------------------------------------------- measuring


@dataclass
class Timing:
    train: list[float] = field(default_factory=list)
    eval: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)  # share of the machine other processes used, per epoch kept
    retried: int = 0
    accuracy: float = float("nan")

    @property
    def epochs(self) -> list[float]:
        return [t + e for t, e in zip(self.train, self.eval)]


class CpuMonitor:
    """How much of the machine *other* processes used during a stretch of time: all CPUs' busy ticks (/proc/stat)
    minus this process's own ticks (/proc/self/stat, all threads, same tick accounting), over wall time x CPUs. The
    box may be shared; a timed epoch during which someone else computed is measured again (up to --retries times)
    and flagged if it stays contended. Linux only (nan elsewhere); one tick of slack absorbs the tick quantisation."""

    def __init__(self) -> None:
        self.available = self._ticks() is not None
        self.cpus = os.cpu_count() or 1
        self.hz = os.sysconf("SC_CLK_TCK") if self.available else 100

    @staticmethod
    def _ticks() -> tuple[int, int] | None:
        """(busy ticks of all CPUs, ticks of this process) or None without /proc."""
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:9]]
            with open("/proc/self/stat") as f:
                own = f.read().rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3, utime field 14
        except (OSError, ValueError, IndexError):
            return None
        idle = fields[3] + fields[4]  # idle + iowait; steal (taken by the hypervisor) counts as busy
        return sum(fields) - idle, int(own[11]) + int(own[12])

    def start(self) -> tuple[float, tuple[int, int] | None]:
        return time.perf_counter(), self._ticks()

    def others(self, started: tuple[float, tuple[int, int] | None]) -> float:
        """Fraction of all CPUs busy with other processes since start() (nan where /proc is unavailable)."""
        wall, before = started
        after = self._ticks()
        if before is None or after is None:
            return float("nan")
        foreign = (after[0] - before[0]) - (after[1] - before[1]) - 1
        return max(0, foreign) / (self.hz * (time.perf_counter() - wall) * self.cpus)

    def wait_quiet(self, max_wait: float, window: float = 3.0) -> str:
        """Block until other processes have used < CONTENDED of the machine for `window` seconds (or give up)."""
        if not self.available or max_wait <= 0:
            return "not waited"
        deadline, quiet_since = time.monotonic() + max_wait, time.monotonic()
        while time.monotonic() < deadline:
            started = self.start()
            time.sleep(0.5)
            if self.others(started) > CONTENDED:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= window:
                return f"quiet for {window:.0f} s before starting"
        return f"WARNING: the machine did not get quiet within {max_wait:.0f} s"


MONITOR = CpuMonitor()
CONTENDED = 0.10  # other processes using more than this share of the machine during an epoch: measure it again


def _settle() -> None:
    """Let OpenBLAS / OpenMP worker threads stop spinning before the next implementation starts timing."""
    time.sleep(0.2)


def _one_epoch(impl, steps: int, n_test: int, timing: Timing) -> float:
    started = MONITOR.start()  # the watched window includes the settling pause: at least 0.2 s, even for tiny runs
    _settle()
    start = time.perf_counter()
    impl.train_epoch(steps)
    trained = time.perf_counter()
    timing.accuracy = impl.evaluate(n_test)
    done = time.perf_counter()
    others = MONITOR.others(started)
    timing.train.append(trained - start)
    timing.eval.append(done - trained)
    timing.others.append(others)
    return others


def _drop_last(timing: Timing) -> None:
    for values in (timing.train, timing.eval, timing.others):
        values.pop()


def measure_config(impls: dict[str, object], steps: int, n_test: int, repeats: int, warmup_steps: int,
                   retries: int) -> dict[str, Timing]:
    """Interleaved: each repeat runs every implementation once, in an order rotated from the previous repeat.

    Training continues from epoch to epoch (each implementation keeps its own parameters), as in real training; an
    epoch that other processes disturbed is discarded and run again, at most `retries` times.
    """
    timings = {name: Timing() for name in impls}
    for impl in impls.values():  # first calls: thread pools, allocator, torch's lazy initialisation
        impl.train_epoch(warmup_steps)
        impl.evaluate(min(n_test, 500))
    names = list(impls)
    for rep in range(repeats):
        order = names[rep % len(names):] + names[:rep % len(names)]  # rotate, so no one always goes first
        for name in order:
            for attempt in range(retries + 1):
                if _one_epoch(impls[name], steps, n_test, timings[name]) <= CONTENDED or attempt == retries:
                    break
                _drop_last(timings[name])
                timings[name].retried += 1
    return timings


def gemm_peak(n: int, repeats: int) -> float:
    """Best float64 GEMM rate (FLOP/s) numpy reaches on an n x n @ n x n product."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * n**3 / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def gemm_macs(layers: tuple[int, ...]) -> int:
    return sum(n_in * n_out for n_in, n_out in zip(layers[:-1], layers[1:]))


# -------------------------------------------------------------------------------------------------------- environment


def blas_summary() -> list[str]:
    lines = []
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            path = pool.get("filepath", "")
            owner = "numpy" if "numpy" in path else "torch" if "torch" in path else Path(path).name
            extra = ", ".join(f"{k}={pool[k]}" for k in ("version", "architecture", "threading_layer") if pool.get(k))
            lines.append(f"{owner}'s {pool['prefix']}: {pool['internal_api']} threads={pool['num_threads']}"
                         + (f", {extra}" if extra else ""))
    except ImportError:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        lines.append(f"numpy: {config.get('name')} {config.get('version')} (threadpoolctl not installed: "
                     f"thread count unknown)")
    mkl = "MKL" if torch.backends.mkl.is_available() else "no MKL"
    lines.append(f"torch: BLAS {mkl}, intra-op threads={torch.get_num_threads()}, "
                 f"interop threads={torch.get_num_interop_threads()}")
    return lines


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024**2 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


# ---------------------------------------------------------------------------------------------------------------- CLI


def _layers(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if len(layers) < 2 or layers[0] != 784 or layers[-1] != 10 or min(layers) < 1:
        raise argparse.ArgumentTypeError(f"layers must start at 784 and end at 10 (MNIST), got {text!r}")
    return layers


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench_epoch.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=_layers, action="append",
                   help="layer sizes, e.g. 784,100,30,10; repeat for several (default: 784,30,10 and 784,100,30,10)")
    p.add_argument("--data", help="an MNIST directory (or any crosscheck source: embedded, download, auto); default: "
                                  "embedded 5k train + <repo>/../shared/data/mnist t10k if present, else embedded")
    p.add_argument("--optimizers", default="sgd,adamw", help="comma-separated subset of: sgd,adamw (default both)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, 6,000 train / 1,000 test samples")
    p.add_argument("--repeats", type=_positive, help="timed epochs per implementation (default 3, --quick 1)")
    p.add_argument("--train-samples", type=_positive, help="samples per epoch (default 60,000, --quick 6,000)")
    p.add_argument("--test-samples", type=_positive, help="test samples (default 10,000, --quick 1,000)")
    p.add_argument("--retries", type=int, default=2,
                   help="re-measure an epoch up to this many times when other processes used more than "
                        f"{CONTENDED:.0%}% of the machine during it (default 2; 0 to keep every measurement)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="first wait (at most this long) until other processes leave the machine alone for 3 s")
    p.add_argument("--lab", type=Path, default=LAB_PATH, help=f"the lab's network.py (default {LAB_PATH})")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    layer_sets = args.layers or DEFAULT_LAYERS
    optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    if not optimizers or any(o not in CONFIGS for o in optimizers):
        parser().error(f"--optimizers must be a subset of {','.join(CONFIGS)}, got {args.optimizers!r}")
    repeats = args.repeats or (1 if args.quick else 3)
    n_train = args.train_samples or (6_000 if args.quick else 60_000)
    n_test = args.test_samples or (1_000 if args.quick else 10_000)
    if n_train < BATCH:
        parser().error(f"--train-samples must be at least one batch ({BATCH})")
    steps = n_train // BATCH
    peak_n = 1024 if args.quick else 2048

    try:
        data = bench_data(args.data, n_train, n_test)
    except DataError as error:
        print(f"bench_epoch.py: error: {error}", file=sys.stderr)
        return 2
    lab, lab_note = load_lab(args.lab)
    if lab is None:
        print(f"bench_epoch.py: warning: {lab_note}", file=sys.stderr)

    waited = MONITOR.wait_quiet(args.wait_quiet)
    print("== environment")
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"pandas {pd.__version__}")
    print(f"cpu: {cpu_model()}, {os.cpu_count()} logical CPUs; load average at start: {loadavg()} ({waited})")
    for line in blas_summary():
        print(f"blas {line}")
    env = {k: v for k, v in sorted(os.environ.items()) if ENV_PATTERN.match(k)}
    print("env: " + (", ".join(f"{k}={v}" for k, v in env.items()) if env else "no OPENBLAS_/OMP_/MKL_ variables set"))
    print(f"data: {data.source}")
    print(f"epoch: {n_train} samples = {steps} steps of batch {BATCH} + evaluate {n_test}; "
          f"median of {repeats} interleaved repeat(s); lab code: {lab_note}")

    started = MONITOR.start()
    peak = gemm_peak(peak_n, 2 if args.quick else 3)
    print(f"float64 GEMM peak (numpy, {peak_n}x{peak_n} @ {peak_n}x{peak_n}, best of {2 if args.quick else 3}): "
          f"{peak / 1e9:.1f} GFLOP/s (other processes: {100 * MONITOR.others(started):.0f}% of the machine)")
    sys.stdout.flush()

    rows, details = [], []
    for layers in layer_sets:
        for opt in optimizers:
            spec = CONFIGS[opt].replace(layers=layers)
            init = numpy_mlp.MLP(layers).init_params(np.random.default_rng(0))
            impls = {"numpy": NumpyImpl(spec, init, data), "torch": TorchImpl(spec, init, data)}
            if lab is not None and opt == "sgd":  # the lab code is sigmoid + MSE + plain SGD only
                impls["lab"] = LabImpl(lab, spec, init, data)
            timings = measure_config(impls, steps, n_test, repeats, warmup_steps=min(steps, 20),
                                     retries=max(0, args.retries))
            med = {name: statistics.median(t.epochs) for name, t in timings.items()}
            macs = gemm_macs(layers)
            flops = 6 * n_train * macs + 2 * n_test * macs
            rate = flops / med["numpy"]
            rows.append({
                "layers": ",".join(map(str, layers)), "optimizer": opt,
                "numpy [s]": med["numpy"], "torch f64 [s]": med["torch"], "lab [s]": med.get("lab", np.nan),
                "numpy/lab": med["numpy"] / med["lab"] if "lab" in med else np.nan,
                "numpy/torch": med["numpy"] / med["torch"],
                "GFLOP/epoch": flops / 1e9, "numpy GFLOP/s": rate / 1e9, "numpy % peak": 100 * rate / peak,
            })
            for name in IMPLS:
                t = timings.get(name)
                details.append({
                    "layers": ",".join(map(str, layers)), "optimizer": opt, "impl": name,
                    "train [s]": statistics.median(t.train) if t else np.nan,
                    "eval [s]": statistics.median(t.eval) if t else np.nan,
                    "epoch [s]": med[name] if t else np.nan,
                    "min epoch [s]": min(t.epochs) if t else np.nan,
                    "all epochs [s]": " ".join(f"{e:.3f}" for e in t.epochs) if t else "n/a",
                    "ms/step": 1e3 * statistics.median(t.train) / steps if t else np.nan,
                    "test acc": t.accuracy if t else np.nan,
                    "others %": 100 * max(t.others) if t else np.nan,
                    "redone": t.retried if t else np.nan,
                })

    table, detail = pd.DataFrame(rows), pd.DataFrame(details)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print("\n== per-epoch wall time (median), side by side; ratios < 1 mean the NumPy reference is faster")
        print(table.to_string(index=False, na_rep="n/a", float_format=lambda v: f"{v:.3f}"))
        print("\n== breakdown (train = all steps, eval = whole test set; test acc after the last timed epoch, a sanity "
              "check: the runs start from the same parameters; a redone epoch trains one epoch further)")
        print(detail.to_string(index=False, na_rep="n/a", float_format=lambda v: f"{v:.3f}"))
    print(f"\nFLOPs: 6*N*sum(n_in*n_out) training + 2*N_test*sum(n_in*n_out) evaluation (GEMMs only); "
          f"% peak is against the {peak / 1e9:.1f} GFLOP/s measured above")
    print("others % = largest share of the machine (all CPUs) that other processes used during a kept epoch; "
          "redone = epochs measured again because it was above "
          f"{CONTENDED:.0%}")
    contended = detail["others %"].max()
    if contended > 100 * CONTENDED:
        print(f"WARNING: other processes used up to {contended:.0f}% of the machine during kept measurements; "
              "the times above are inflated and the ratios unreliable. Rerun on a quiet machine.")
    print(f"peak RSS: {peak_rss_mb():.0f} MB; load average at end: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
