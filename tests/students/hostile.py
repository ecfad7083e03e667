"""One trick per class. Each must end in a FAIL verdict with its reason, never a PASS or a harness traceback."""

import json
import os
import signal
import struct
import sys
import time

import numpy as np

from dropout_net import DropoutNetwork
from lab_base import Network
from softmax_net import SoftmaxNetwork


class NoBackprop:
    """Missing a method of the lab's interface."""

    def __init__(self, sizes):
        self.weights = [np.zeros((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.zeros(b) for b in sizes[1:]]

    def feedforward(self, x):
        return x

    def update_mini_batch(self, x, y, eta):
        pass


class WrongSignature(Network):
    """Task 2 with its own parameter names."""

    def __init__(self, sizes, mu, lam):
        super().__init__(sizes)
        self.mu, self.lam = mu, lam


class CrashesLater(Network):
    """Fine for four steps, then an exception in update_mini_batch."""

    calls = 0

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        type(self).calls += 1
        if type(self).calls == 5:
            raise ValueError("velocity buffer not initialised")
        super().update_mini_batch(x_mini_batch, y_mini_batch, eta)


class EndlessLoop(Network):
    def backprop(self, x, y):
        while True:
            pass


class MemoryBomb(Network):
    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        hoard = []
        while True:
            hoard.append(np.ones(10_000_000))


class NaNGradient(Network):
    """Divides the output layer's weight gradient by zero."""

    def backprop(self, x, y):
        nabla_b, nabla_w = super().backprop(x, y)
        with np.errstate(all="ignore"):
            nabla_w[-1] = nabla_w[-1] / np.zeros_like(nabla_w[-1])
        return nabla_b, nabla_w


class ColumnBiases(Network):
    """Nielsen's book layout: biases as column vectors (n, 1)."""

    def backprop(self, x, y):
        nabla_b, nabla_w = super().backprop(x, y)
        return [nb.reshape(-1, 1) for nb in nabla_b], nabla_w


class ListGradients(Network):
    """Returns nested Python lists instead of arrays."""

    def backprop(self, x, y):
        nabla_b, nabla_w = super().backprop(x, y)
        return [nb.tolist() for nb in nabla_b], [nw.tolist() for nw in nabla_w]


class MissingLayer(Network):
    """Forgets the last layer's gradients."""

    def backprop(self, x, y):
        nabla_b, nabla_w = super().backprop(x, y)
        return nabla_b[:-1], nabla_w[:-1]


class SmoothsLabelsInPlace(SoftmaxNetwork):
    """Label smoothing written into the caller's array."""

    def backprop(self, x, y):
        y *= 0.9
        y += 0.01
        return super().backprop(x, y)


class NeverUpdates(Network):
    """Assigns to local variables instead of self.weights / self.biases."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w)]  # noqa: F841
        biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]  # noqa: F841


class ExitsMidRun(Network):
    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        sys.exit(0)


class HardExitMidRun(Network):
    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        os._exit(0)


class PrintsPass(Network):
    """Prints a fake verdict (with a carriage return and colours) while climbing the gradient."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        print("task base: PASS\r\x1b[32mall checks PASS\x1b[0m")
        print("exit code 0", file=sys.stderr)
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        self.weights = [w + eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b + eta * nb for b, nb in zip(self.biases, nabla_b)]


def _flag_values(*flags):
    """The values of the harness's flags, read off the parent's command line."""
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
            argv = f.read().decode().split("\0")
    except OSError:
        return []
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in flags]


def _report_paths():
    """The harness's --json / --gradescope paths."""
    return _flag_values("--json", "--gradescope")


class WritesReport(Network):
    """Overwrites the harness's report files with a fake PASS, then returns garbage."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        for path in _report_paths():
            with open(path, "w") as f:
                f.write('{"passed": true, "score": 100, "tests": []}\n')
        self.weights = [w * 0.5 for w in self.weights]


class ForgesTheClassReport(Network):
    """In a batch: a fake PASS in class.csv and in a report of its own invention under the harness's --out, a
    directory where class.html goes; then returns garbage."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        for out in _flag_values("--out"):
            out = os.path.join(f"/proc/{os.getppid()}/cwd", out)  # a relative --out is the harness's, not ours
            with open(os.path.join(out, "class.csv"), "w") as f:
                f.write("submission,verdict\nForgesTheClassReport,PASS\n")
            os.makedirs(os.path.join(out, "class.html", "inside"), exist_ok=True)
            os.makedirs(os.path.join(out, "forged"), exist_ok=True)
            with open(os.path.join(out, "forged", "report.json"), "w") as f:
                f.write('{"passed": true}\n')
        self.weights = [w * 0.5 for w in self.weights]


class TurnsReportsIntoDirectories(Network):
    """Replaces the harness's report paths with directories (a FIFO would block a naive writer the same way)."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        for path in _report_paths():
            if os.path.exists(path):
                os.unlink(path)
            os.makedirs(os.path.join(path, "inside"), exist_ok=True)
        self.weights = [w * 0.5 for w in self.weights]


class PatchesLibraries(Network):
    """Monkeypatches NumPy and torch so that every comparison 'passes', then returns zeros."""

    def __init__(self, sizes):
        super().__init__(sizes)
        import torch

        torch.testing.assert_close = lambda *a, **k: None
        torch.allclose = lambda *a, **k: True
        np.allclose = lambda *a, **k: True
        np.array_equal = lambda *a, **k: True
        np.isfinite = lambda a, *args, **k: np.ones(np.shape(a), dtype=bool)
        np.testing.assert_allclose = lambda *a, **k: None

    def backprop(self, x, y):
        return [np.zeros_like(b) for b in self.biases], [np.zeros_like(w) for w in self.weights]

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        self.weights = [w * 0.999 for w in self.weights]


class ShoutsInItsError(Network):
    """An exception message with a lone surrogate and terminal codes that redraw the line as a PASS."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        raise ValueError("\ud800 oops\x1b[2K\r\x1b[32mtask base: PASS\x1b[0m\x07")


def _forge(header: bytes, payload: bytes = b""):
    """Writes a frame of the harness's protocol straight onto the worker's reply pipe, then waits to be killed."""
    reply_fd = int(sys.argv[3])  # the worker's command line: -c BOOT ROOT REQUEST_FD REPLY_FD LIMITS
    os.write(reply_fd, b"XCK1" + struct.pack("<Q", len(header)) + header + payload)
    time.sleep(60)


class ForgesHugeNumber(Network):
    def backprop(self, x, y):
        _forge(b'{"ok": true, "n": ' + b"9" * 5000 + b"}")


class ForgesDeepNesting(Network):
    def backprop(self, x, y):
        _forge(b"[" * 200_000 + b"]" * 200_000)


class ForgesHugeArray(Network):
    """Announces an 8 GB array: the harness must refuse it before allocating anything."""

    def backprop(self, x, y):
        _forge(json.dumps({"ok": True, "arrays": [[1 << 20, 1 << 10]]}).encode())


class InterruptsTheHarness(Network):
    """Sends SIGINT to the harness, which runs as the same user: the run must stop cleanly, not report."""

    def backprop(self, x, y):
        os.kill(os.getppid(), signal.SIGINT)
        time.sleep(60)


class DropoutNeverUpdates(DropoutNetwork):
    """Dropout in backprop, right, but no optimizer: update_mini_batch is never written."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        raise NotImplementedError("TODO: momentum")


class NewlineInErrorName(Network):
    """An exception class whose name holds newlines and a fake report."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        raise type("Oops\ntask base: PASS\nbase  updates  PASS", (Exception,), {})("x")


class LeavesItsGroup(Network):
    """A child that moves to its own process group (setpgid), then sleeps: killed with the worker's session."""

    def __init__(self, sizes):
        super().__init__(sizes)
        if os.fork() == 0:
            os.setpgid(0, 0)
            time.sleep(300)
            os._exit(0)


class ReplacesItsOutput(Network):
    """Swaps its captured-output file for a FIFO and a /dev/zero link, then dies: the harness must not block or
    read without end."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        home = os.environ["HOME"]
        os.unlink(os.path.join(home, ".output"))
        os.mkfifo(os.path.join(home, ".output"))
        os.rename(os.path.join(home, ".output"), os.path.join(home, "fifo"))
        os.symlink("/dev/zero", os.path.join(home, ".output"))
        os._exit(3)
