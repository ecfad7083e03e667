"""Isolation of the student's worker (crosscheck/student/isolation.py, jail.py).

Where the strong form is in force (a root harness with namespaces: these machines and CI), every escape that the
README used to list as possible is tried for real through the command line and must end in a FAIL with a one-line
reason, the harness alive and its report its own. Those tests are skipped, with the level found, only where that
capability is absent, since without it some escapes really do stop the harness. The weaker levels run through the
Python API with the level forced; --require-isolation and --sandbox-user are checked on whatever this machine has.
"""

import json
import os
import pwd
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crosscheck.cli import main
from crosscheck.student import isolation, sandbox
from crosscheck.student.isolation import USER_NAMESPACE, Isolation, IsolationError, copy_submission, detect
from crosscheck.student.runner import StudentUsageError, check_student
from crosscheck.student.sandbox import Limits, isolation_summary

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = ROOT / "tests" / "students"
COMMON = ["--data", "embedded", "--epochs", "1", "--no-progress"]
LIMITS = Limits()
HERE = isolation.available()
STRONG = pytest.mark.skipif(not HERE.strong, reason="needs a root harness with pid/net/mount namespaces (CI has "
                            f"both); here: {HERE.describe(LIMITS.memory_mb, LIMITS.processes)}")
STRONG_PREFIX = "uid nobody + pid/net/mount namespaces; memory 4096 MB"
CLOSED = r"(PermissionError Permission denied|FileNotFoundError No such file or directory)"  # out of reach or sight


def student(folder: Path, base: str, **attributes) -> str:
    """A submission in a folder of its own: escapes.<base> with this run's values; returns path:Student."""
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(f"    {key} = {value!r}\n" for key, value in attributes.items()) or "    pass\n"
    (folder / "student.py").write_text(f"import sys\nsys.path.insert(0, {str(STUDENTS)!r})\nfrom escapes import "
                                       f"{base}\n\n\nclass Student({base}):\n{body}")
    return f"{folder / 'student.py'}:Student"


# --- the escapes, through the command line (strong isolation) ------------------------------------------------

# name -> (class in tests/students/escapes.py, its attributes from the run's folder and the port listening)
ESCAPES = {
    "signal": ("SignalsTheHarness", lambda tmp, port: {"marker": str(tmp)}),
    "stdout": ("WritesToTheHarnessStdout", lambda tmp, port: {"marker": str(tmp)}),
    "prlimit": ("LowersTheHarnessLimits", lambda tmp, port: {"marker": str(tmp)}),
    "later": ("RewritesTheReportLater", lambda tmp, port: {"reports": (str(tmp / "r.json"), str(tmp / "g.json"))}),
    "fork_bomb": ("ForkBomb", lambda tmp, port: {}),
    "memory": ("HoardsMemoryInChildren", lambda tmp, port: {}),
    "read": ("ReadsAFile", lambda tmp, port: {"secrets": (str(tmp / "harness" / "secret.txt"), "/etc/shadow")}),
    "write": ("WritesNextToTheHarness", lambda tmp, port: {"targets": (str(ROOT / f"escaped-{tmp.name}"),
                                                                        str(tmp / "escaped"))}),
    "socket": ("OpensASocket", lambda tmp, port: {"port": port}),
}


FORKING = ("fork_bomb", "memory")  # run alone: the process limit is per user, and they would use it up for the rest


@pytest.fixture(scope="module")
def escapes(tmp_path_factory):
    """name -> (exit code, stdout, stderr, the run's folder, when it ended); 3 runs at a time but the FORKING ones,
    a server listening on the loopback meanwhile (it must accept nothing). The run's folder is on the harness's
    command line (the report paths), so a submission can find the harness by it where /proc shows the harness."""
    if not HERE.strong:
        pytest.skip(STRONG.kwargs["reason"])
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)

    def one(name):
        base, attributes = ESCAPES[name]
        tmp = tmp_path_factory.mktemp(name)
        (tmp / "harness").mkdir(mode=0o700)
        (tmp / "harness" / "secret.txt").write_text("the harness's own\n")
        (tmp / "harness" / "secret.txt").chmod(0o600)
        path = student(tmp / "submission", base, **attributes(tmp, server.getsockname()[1]))
        done = subprocess.run([sys.executable, str(ROOT / "compare.py"), "--task", "base", "--student", path,
                               "--json", str(tmp / "r.json"), "--gradescope", str(tmp / "g.json"), *COMMON],
                              cwd=tmp, capture_output=True, text=True, timeout=240)
        return done.returncode, done.stdout, done.stderr, tmp, time.monotonic()

    with server, ThreadPoolExecutor(3) as pool:
        others = [name for name in ESCAPES if name not in FORKING]
        runs = dict(zip(others, pool.map(one, others)))
        runs.update((name, one(name)) for name in FORKING)
        with pytest.raises(BlockingIOError):
            server.accept()
    return runs


def failure(run) -> str:
    """The run's first failure, after the checks every escape must pass: a FAIL verdict (exit 1) stated by a live
    harness with the strong isolation in its header and JSON, one line of reason, and report files of its own."""
    code, out, err, tmp, _ = run
    assert code == 1 and "Traceback" not in err, out + err
    assert out.splitlines()[0].startswith(f"task base: FAIL  (checked: student student.py:Student)  (isolation: "
                                          f"{STRONG_PREFIX}")
    report = json.loads((tmp / "r.json").read_text())
    assert report["passed"] is False and report["isolation"].startswith(STRONG_PREFIX)
    grades = json.loads((tmp / "g.json").read_text())
    assert grades["score"] < len(grades["tests"])
    message = next(c["message"] for c in report["checks"] if not c["passed"])
    assert "\n" not in message
    return message


@STRONG
def test_the_harness_cannot_be_signalled(escapes):
    """Its pid is not visible; its parent is our init, another user's: SIGSTOP and SIGKILL are refused."""
    message = failure(escapes["signal"])
    assert re.search(r"escape: SIGSTOP to 1: PermissionError Operation not permitted; SIGKILL to 1: PermissionError "
                     r"Operation not permitted; ppid 1; /proc shows 2 processes", message), message


@STRONG
def test_the_harness_stdout_cannot_be_written_through_proc(escapes):
    message = failure(escapes["stdout"])
    assert "escape: /proc/1/fd/1: PermissionError Permission denied" in message, message
    assert "injected" not in escapes["stdout"][1]


@STRONG
def test_the_harness_rlimits_cannot_be_lowered(escapes):
    message = failure(escapes["prlimit"])
    assert "escape: prlimit 1: PermissionError Operation not permitted" in message, message


@STRONG
def test_a_delayed_setsid_child_cannot_rewrite_the_report(escapes):
    """The grandchild left the session to rewrite both report files 3 s later: it died with the namespace (and
    could not have opened them). The report still says FAIL 5 s after the harness exited."""
    failure(escapes["later"])
    assert "  | the rewriter is started" in escapes["later"][1]
    tmp, ended = escapes["later"][3], escapes["later"][4]
    time.sleep(max(0.0, ended + 5.0 - time.monotonic()))
    assert json.loads((tmp / "r.json").read_text())["passed"] is False
    grades = json.loads((tmp / "g.json").read_text())
    assert grades["tests"] and grades["score"] < len(grades["tests"])


@STRONG
@pytest.mark.parametrize("name", ["fork_bomb", "memory"])
def test_forked_children_are_bounded(escapes, name):
    """RLIMIT_NPROC under the worker's own uid: the worker and its children are at most Limits.processes (other
    workers running as nobody at the same time count too), so memory is at most processes x memory_mb."""
    message = failure(escapes[name])
    found = re.search(r"escape: fork (\d+) refused \(Resource temporarily unavailable\) after (\d+) children", message)
    assert found, message
    assert int(found[2]) < LIMITS.processes


@STRONG
def test_files_only_the_harness_may_read_stay_closed(escapes):
    """A 0600 file in a 0700 folder (in the temporary folder: out of the worker's sight), and /etc/shadow."""
    message = failure(escapes["read"])
    assert re.search(rf"escape: read /\S+/harness/secret.txt: {CLOSED}; read /etc/shadow: {CLOSED}$", message), message


@STRONG
def test_the_harness_folders_are_not_writable(escapes):
    message = failure(escapes["write"])
    tmp = escapes["write"][3]
    assert len(re.findall(rf"create /\S+: {CLOSED}", message)) == 2, message
    assert "move its directory: PermissionError Permission denied" in message, message
    assert not (ROOT / f"escaped-{tmp.name}").exists() and not (tmp / "escaped").exists()


@STRONG
def test_there_is_no_network(escapes):
    message = failure(escapes["socket"])
    assert re.search(r"escape: connect 127.0.0.1:\d+: OSError Network is unreachable", message), message


# --- staging the submission (strong isolation: the worker's user cannot read pytest's tmp_path) ----------------


@STRONG
def test_messages_name_the_students_own_folder(data, tmp_path):
    """The worker imports a copy of the folder; an error quoting the file's path still names the original."""
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "crashes.py").write_text(f"import sys\nsys.path.insert(0, {str(STUDENTS)!r})\nfrom lab_base import "
                                       f"Network\n\n\nclass Crashes(Network):\n    def backprop(self, x, y):\n"
                                       f"        raise ValueError(__file__)\n")
    result = check_student(f"{folder}/crashes.py:Crashes", "base", data=data, epochs=1, limits=Limits(call_timeout=10))
    message = next(r.message for r in result.report.results["base"] if not r.passed)
    assert f"ValueError: {folder}/crashes.py (at crashes.py:" in message, message


@STRONG
def test_a_folder_too_big_to_copy_is_a_clear_fail(data, tmp_path, monkeypatch):
    monkeypatch.setattr(isolation, "MAX_COPY_FILES", 3)
    for name in "abcd":
        (tmp_path / f"{name}.txt").write_text(name)
    (tmp_path / "net.py").write_text(f"import sys\nsys.path.insert(0, {str(STUDENTS)!r})\nfrom lab_base import "
                                     f"Network\n")
    result = check_student(f"{tmp_path}/net.py:Network", "base", data=data, epochs=1)
    load = result.report.results["base"][0]
    assert (load.name, load.passed) == ("load", False)
    assert f"the submission's folder {tmp_path} holds more than 3 entries" in load.message
    assert "put the submission in a folder of its own" in load.message


def test_the_copy_holds_what_the_worker_could_read_and_no_more(tmp_path):
    """The named file always; a sibling by its own bits; links as links; hidden entries, caches and FIFOs never."""
    uid, gid = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    src = tmp_path / "src"
    (src / "pkg" / "__pycache__").mkdir(parents=True)
    (src / "net.py").write_text("x = 1\n")
    (src / "pkg" / "helper.py").write_text("y = 2\n")
    (src / "pkg" / "__pycache__" / "helper.pyc").write_bytes(b"")
    (src / ".git").mkdir()
    (src / "link.py").symlink_to("net.py")
    os.mkfifo(src / "fifo")
    (src / "private.txt").write_text("owner only")
    (src / "private.txt").chmod(0o600)
    copied = copy_submission(src / "net.py", tmp_path / "copy", uid, gid)
    names = sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*"))
    private = [] if os.geteuid() == 0 else ["private.txt"]  # readable by the worker's user only when it owns it
    assert names == sorted(["link.py", "net.py", "pkg", "pkg/helper.py", *private])
    assert copied == tmp_path / "copy" / "net.py" and copied.read_text() == "x = 1\n"
    assert os.readlink(tmp_path / "copy" / "link.py") == "net.py"
    assert {(p.lstat().st_uid, p.lstat().st_gid) for p in (tmp_path / "copy").rglob("*")} == {(uid, gid)}


# --- the weaker levels, forced ----------------------------------------------------------------------------------


def force(monkeypatch, level: Isolation) -> None:
    monkeypatch.setattr(sandbox, "available", lambda user=None: level)


def test_process_only_still_runs_and_says_so(data, monkeypatch):
    force(monkeypatch, Isolation(missing="forced by the test"))
    result = check_student(f"{STUDENTS}/lab_base.py:Network", "base", data=data, epochs=1)
    assert result.passed, str(result.report)
    assert result.report.isolation == "process only (forced by the test)"
    assert "(isolation: process only (forced by the test))" in str(result.report).splitlines()[0]


def test_a_user_namespace_gives_the_namespaces_without_root(data, monkeypatch):
    """What a non-root harness gets where user namespaces are allowed, forced here: its own uid mapped to itself,
    so no capability inside either (as root the test maps root to 65534 to be in that position). The harness is
    out of sight, and its namespace's /proc cannot be unmounted to see the machine's."""
    prefix = isolation._unshare(("--map-user=65534", "--map-group=65534") if os.geteuid() == 0 else USER_NAMESPACE)
    if not prefix:
        pytest.skip("this kernel grants no user namespaces here")
    force(monkeypatch, Isolation(prefix))
    assert check_student(f"{STUDENTS}/lab_base.py:Network", "base", data=data, epochs=1).passed
    for name, words in (("SignalsTheHarness", "ppid 1; /proc shows 2 processes"),
                        ("UnmountsProc", "umount /proc: PermissionError Operation not permitted; /proc shows 2")):
        result = check_student(f"{STUDENTS}/escapes.py:{name}", "base", data=data, epochs=1)
        assert result.report.isolation.startswith("pid/net/mount namespaces in a user namespace")
        message = next(r.message for r in result.report.results["base"] if not r.passed)
        assert words in message, message


def test_a_uid_without_namespaces(data, monkeypatch):
    """A root harness in a container that refuses namespaces: a separate uid only, if it can reach Python."""
    entry = pwd.getpwnam("nobody")
    closed = isolation._closed(entry.pw_uid, entry.pw_gid, enterable=False) if os.geteuid() == 0 else "not root"
    if closed:
        pytest.skip(f"a uid without a mount namespace cannot work here: nobody may not reach {closed}")
    force(monkeypatch, Isolation(user="nobody", uid=entry.pw_uid, gid=entry.pw_gid, missing="forced by the test"))
    result = check_student(f"{STUDENTS}/lab_base.py:Network", "base", data=data, epochs=1)
    assert result.passed and result.report.isolation.startswith("uid nobody (no namespaces: forced by the test)")


def test_detect_without_namespaces_never_claims_them(monkeypatch):
    monkeypatch.setattr(isolation, "_unshare", lambda extra: ())
    root = detect(None, root=True)
    assert not root.strong and not root.prefix
    assert root.uid is not None or root.describe(4096, 8).startswith("process only (root, but nobody may not reach")
    assert detect(None, root=False).describe(4096, 8) == "process only (not root, no user namespaces)"


def test_each_level_says_what_it_is():
    assert Isolation(("unshare",), "nobody", 65534, 65534).describe(4096, 8) == (
        "uid nobody + pid/net/mount namespaces; memory 4096 MB per process x at most 8 processes")
    assert Isolation(("unshare",), "nobody", 65534, 65534, cgroup="/sys/fs/cgroup/x").describe(1024, 8) == (
        "uid nobody + pid/net/mount namespaces; memory 1024 MB in all (cgroup v2)")
    assert Isolation(user="nobody", uid=65534, gid=65534, missing="unshare refused here").describe(4096, 8) == (
        "uid nobody (no namespaces: unshare refused here); memory 4096 MB per process x at most 8 processes")
    assert Isolation(("unshare", "--user")).describe(4096, 8).startswith(
        "pid/net/mount namespaces in a user namespace (not root")
    assert Isolation(missing="not root, no user namespaces").describe(4096, 8) == (
        "process only (not root, no user namespaces)")


# --- --require-isolation and --sandbox-user ---------------------------------------------------------------------


def test_require_isolation_runs_or_refuses_with_exit_2(tmp_path):
    """On this machine as it is: a run where the strong form is available, exit 2 (never a skip) where it is not."""
    done = subprocess.run([sys.executable, str(ROOT / "compare.py"), "--task", "base", "--student",
                           f"{STUDENTS}/lab_base.py:Network", "--require-isolation", "--json", str(tmp_path / "r.json"),
                           *COMMON], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    if HERE.strong:
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"(isolation: {STRONG_PREFIX}" in done.stdout.splitlines()[0]
        assert json.loads((tmp_path / "r.json").read_text())["isolation"].startswith(STRONG_PREFIX)
    else:
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stdout + done.stderr
        assert "--require-isolation: a separate uid with pid/net/mount namespaces is not available" in done.stderr


def test_require_isolation_refuses_a_weaker_level(monkeypatch, capsys, data):
    force(monkeypatch, Isolation(missing="not root, no user namespaces"))
    code = main(["--task", "base", "--student", f"{STUDENTS}/lab_base.py:Network", "--require-isolation", *COMMON])
    out, err = capsys.readouterr()
    assert code == 2 and out == "", out + err
    assert err == ("compare.py: error: --require-isolation: a separate uid with pid/net/mount namespaces is not "
                   "available here (only: process only (not root, no user namespaces))\n")
    with pytest.raises(StudentUsageError, match="--require-isolation"):
        check_student(f"{STUDENTS}/lab_base.py:Network", "base", data=data, limits=Limits(require_isolation=True))


@pytest.mark.parametrize("user, words", [("no-such-user-here", "no such user: no-such-user-here"),
                                         ("root", "root is root: the worker must run as an unprivileged user")])
def test_a_sandbox_user_that_cannot_be_used_is_exit_2(user, words, capsys):
    code = main(["--task", "base", "--student", f"{STUDENTS}/lab_base.py:Network", "--sandbox-user", user, *COMMON])
    out, err = capsys.readouterr()
    assert code == 2 and len(err.splitlines()) == 1, out + err
    assert (words if os.geteuid() == 0 else "switching users needs the harness to run as root") in err


def test_detect_refuses_what_it_cannot_do():
    with pytest.raises(IsolationError, match="needs the harness to run as root"):
        detect("nobody", root=False)
    with pytest.raises(IsolationError, match="no such user"):
        detect("no-such-user-here", root=True)


@STRONG
def test_another_sandbox_user(data):
    if not any(e.pw_name == "daemon" for e in pwd.getpwall()):
        pytest.skip("no 'daemon' user on this machine")
    result = check_student(f"{STUDENTS}/lab_base.py:Network", "base", data=data, epochs=1,
                           limits=Limits(sandbox_user="daemon"))
    assert result.passed and result.report.isolation.startswith("uid daemon + pid/net/mount namespaces")
    assert isolation_summary(Limits(sandbox_user="daemon")) == result.report.isolation


# --- a cgroup v2 memory limit, where one is delegated ------------------------------------------------------------


def test_a_cgroup_bounds_the_whole_submission(data, tmp_path):
    """Where a cgroup v2 delegates the memory controller, each worker gets a child cgroup with memory.max."""
    parent = isolation.cgroup_parent()
    if not (HERE.strong and parent):
        pytest.skip("no cgroup v2 here delegates the memory controller to this process (none is mounted on this "
                    "project's machines)")
    (tmp_path / "reader.py").write_text(f"""import sys
sys.path.insert(0, {str(STUDENTS)!r})
from lab_base import Network


class Reader(Network):
    def backprop(self, x, y):
        own = open("/proc/self/cgroup").read().split("0::")[1].strip()
        mount = next(line.split()[1] for line in open("/proc/self/mounts") if line.split()[2] == "cgroup2")
        raise ValueError("memory.max " + open(mount + own + "/memory.max").read().strip())
""")
    limits = Limits(memory_mb=768, call_timeout=60)
    result = check_student(f"{tmp_path}/reader.py:Reader", "base", data=data, epochs=1, limits=limits)
    assert result.report.isolation.endswith("memory 768 MB in all (cgroup v2)")
    message = next(r.message for r in result.report.results["base"] if not r.passed)
    assert f"ValueError: memory.max {768 << 20}" in message, message
