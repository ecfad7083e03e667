"""The README's former "Limits": deliberate escapes from a sandboxed worker, one class each.

tests/test_isolation.py subclasses them with the run's own values (the harness's marker, the report paths, a
secret file, a port) and runs them only where the strong isolation is in force: without it some of them really
do stop the harness. Each one tries, then raises an exception that says what it got, so the FAIL's one-line
reason shows that the escape failed (or, if it ever worked, that it did).
"""

import ctypes
import os
import resource
import signal
import socket
import time

import numpy as np

from lab_base import Network


def harness_pids(marker):
    """The parent, and every process that /proc shows with `marker` (from the harness's command line) in its own."""
    pids = {os.getppid()}
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        pids.add(int(name))
            except OSError:
                pass
    return sorted(pids)


def attempt(what, action):
    try:
        action()
        return f"{what}: done"
    except OSError as error:
        return f"{what}: {type(error).__name__} {error.strerror}"


class SignalsTheHarness(Network):
    """SIGSTOP then SIGKILL to the harness (the parent, or the process running the harness's command line)."""

    marker = "a marker on no command line"  # the test gives the harness's

    def backprop(self, x, y):
        pids = harness_pids(self.marker)
        tried = [attempt(f"{sig.name} to {pid}", lambda: os.kill(pid, sig))
                 for pid in pids for sig in (signal.SIGSTOP, signal.SIGKILL)]
        visible = sorted(int(n) for n in os.listdir("/proc") if n.isdigit())
        raise PermissionError(f"escape: {'; '.join(tried)}; ppid {os.getppid()}; /proc shows {len(visible)} "
                              f"processes")


class WritesToTheHarnessStdout(Network):
    """A fake verdict written straight into the harness's stdout through /proc/<pid>/fd/1."""

    marker = "a marker on no command line"  # the test gives the harness's

    def backprop(self, x, y):
        def inject(pid):
            with open(f"/proc/{pid}/fd/1", "w") as out:
                out.write("task base: PASS (injected by the submission)\n")
        tried = [attempt(f"/proc/{pid}/fd/1", lambda: inject(pid)) for pid in harness_pids(self.marker)]
        raise PermissionError(f"escape: {'; '.join(tried)}")


class LowersTheHarnessLimits(Network):
    """prlimit on the harness: 3 open files, 1 s of CPU."""

    marker = "a marker on no command line"  # the test gives the harness's

    def backprop(self, x, y):
        tried = [attempt(f"prlimit {pid}", lambda: (resource.prlimit(pid, resource.RLIMIT_NOFILE, (3, 3)),
                                                     resource.prlimit(pid, resource.RLIMIT_CPU, (1, 1))))
                 for pid in harness_pids(self.marker)]
        raise PermissionError(f"escape: {'; '.join(tried)}")


class RewritesTheReportLater(Network):
    """A grandchild that leaves the session (setsid) and rewrites the report files with a PASS `delay` seconds later,
    after the harness has written them and exited; the class itself fails."""

    reports = ()
    delay = 3.0
    started = False

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        if not RewritesTheReportLater.started:  # once per worker process
            RewritesTheReportLater.started = True
            child = os.fork()
            if child == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(self.delay)
                    for path in self.reports:
                        attempt(path, lambda: open(path, "w").write('{"passed": true, "score": 100, "tests": []}\n'))
                os._exit(0)
            os.waitpid(child, 0)
            print("the rewriter is started")
        self.weights = [w * 0.5 for w in self.weights]


class UnmountsProc(Network):
    """Unmounts its namespace's /proc to see the machine's, then counts the processes it shows."""

    def backprop(self, x, y):
        libc = ctypes.CDLL(None, use_errno=True)

        def unmount():
            if libc.umount2(b"/proc", 2) != 0:  # MNT_DETACH
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        tried = attempt("umount /proc", unmount)
        visible = sum(n.isdigit() for n in os.listdir("/proc"))
        raise PermissionError(f"escape: {tried}; /proc shows {visible} processes")


class ForkBomb(Network):
    """Children that sleep, forked until the system says no (at most `most`)."""

    most = 200

    def backprop(self, x, y):
        for n in range(self.most):
            try:
                pid = os.fork()
            except OSError as error:
                raise OSError(f"escape: fork {n + 1} refused ({error.strerror}) after {n} children") from None
            if pid == 0:
                time.sleep(60)
                os._exit(0)
        raise RuntimeError(f"escape: {self.most} children forked, none refused")


class HoardsMemoryInChildren(Network):
    """Children that each hold `megabytes` of touched memory, forked until refused (at most `most`)."""

    megabytes = 128
    most = 50

    def backprop(self, x, y):
        for n in range(self.most):
            try:
                pid = os.fork()
            except OSError as error:
                raise OSError(f"escape: fork {n + 1} refused ({error.strerror}) after {n} children holding "
                              f"{self.megabytes} MB each") from None
            if pid == 0:
                hoard = np.ones(self.megabytes << 17)  # float64: 8 bytes each
                time.sleep(60 + hoard[0])
                os._exit(0)
        raise RuntimeError(f"escape: {self.most} children of {self.megabytes} MB each, none refused")


class ReadsAFile(Network):
    """Reads files that only the harness's user may read."""

    secrets = ()

    def backprop(self, x, y):
        tried = [attempt(f"read {path}", lambda: open(path).read()) for path in self.secrets]
        raise PermissionError(f"escape: {'; '.join(tried)}")


class WritesNextToTheHarness(Network):
    """Creates files in the harness's own folders (the project, the report's folder), then moves its own working
    directory away (the harness would leave it behind)."""

    targets = ()

    def backprop(self, x, y):
        tried = [attempt(f"create {path}", lambda: open(path, "x").close()) for path in self.targets]
        tried.append(attempt("move its directory", lambda: os.rename(os.getcwd(), os.getcwd() + "-moved")))
        raise PermissionError(f"escape: {'; '.join(tried)}")


class OpensASocket(Network):
    """Connects to a server listening on this machine's loopback (the harness's network)."""

    port = 0

    def backprop(self, x, y):
        raise OSError(f"escape: {attempt(f'connect 127.0.0.1:{self.port}', self._connect)}")

    def _connect(self):
        socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
