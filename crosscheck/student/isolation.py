"""How far a student's worker is isolated on this machine: decided once per harness process, stated in the report.

Levels, strongest first (the README's "Untrusted code" says what each one guarantees, and which tests show it):
- root, namespaces allowed: the worker runs as an unprivileged user (default nobody) in fresh pid/net/mount
  namespaces, under an init of ours (jail.py); RLIMIT_NPROC bounds the submission's processes, and where a cgroup
  v2 delegates the memory controller to us, memory.max bounds its memory in all. This is the strong form;
- root, no namespaces (a container without CAP_SYS_ADMIN): the unprivileged user only, provided it can read the
  interpreter and this package where they are (without a mount namespace nothing can open the way for it);
- not root, user namespaces allowed: the same namespaces inside a user namespace; same uid, memory per process;
- process only: a separate process and session with rlimits, nothing more.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crosscheck.student.jail import blocked, may, needed_paths, unreadable

NAMESPACES = ("--pid", "--fork", "--kill-child", "--mount", "--mount-proc", "--net")
USER_NAMESPACE = ("--user", "--map-current-user")  # not root inside either: no capability to unmount its /proc
DEFAULT_USER = "nobody"
MAX_COPY_BYTES, MAX_COPY_FILES = 64 << 20, 2000  # the most of a submission's folder copied for its worker
ROOT = Path(__file__).resolve().parents[2]  # this project: the worker imports it


class IsolationError(ValueError):
    """The isolation asked for (--sandbox-user, --require-isolation) cannot be had here: a usage error."""


@dataclass(frozen=True)
class Isolation:
    prefix: tuple[str, ...] = ()  # `unshare ...` before the worker's command: pid/net/mount namespaces
    user: str | None = None  # the worker's own user (root harness only), with its uid and primary gid
    uid: int | None = None
    gid: int | None = None
    cgroup: str | None = None  # a cgroup v2 folder delegating the memory controller: one child per worker
    missing: str = ""  # why a stronger level is not had, in words

    @property
    def strong(self) -> bool:
        """A separate uid and fresh namespaces: what --require-isolation insists on."""
        return self.uid is not None and bool(self.prefix)

    def describe(self, memory_mb: int, processes: int) -> str:
        """The level in force, for the report header and the JSON, with the memory bound it gives."""
        if self.uid is None:
            return ("pid/net/mount namespaces in a user namespace (not root: the harness's own uid; memory "
                    f"{memory_mb} MB per process)" if self.prefix else f"process only ({self.missing})")
        where = " + pid/net/mount namespaces" if self.prefix else f" (no namespaces: {self.missing})"
        bound = (f"{memory_mb} MB in all (cgroup v2)" if self.cgroup
                 else f"{memory_mb} MB per process x at most {processes} processes")
        return f"uid {self.user}{where}; memory {bound}"

    def jail(self, status_fd: int | None, cgroup: str | None) -> dict[str, Any]:
        """jail.py's instructions for a worker."""
        out: dict[str, Any] = {}
        if self.uid is not None:
            out.update(uid=self.uid, gid=self.gid)
        if self.prefix:
            out.update(init=True, status_fd=status_fd, cgroup=cgroup)
        return out


@functools.cache
def available(user: str | None = None) -> Isolation:
    """The strongest level this machine gives (probed once per process: a few milliseconds)."""
    return detect(user, os.geteuid() == 0)


def detect(user: str | None, root: bool) -> Isolation:
    if not root:
        if user is not None:
            raise IsolationError(f"--sandbox-user {user}: switching users needs the harness to run as root")
        prefix = _unshare(USER_NAMESPACE)
        return Isolation(prefix, missing="" if prefix else "not root, no user namespaces")
    name = user or DEFAULT_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if user is None:
            return Isolation(missing=f"root, but there is no user {name} to run the submission as")
        raise IsolationError(f"--sandbox-user: no such user: {name}") from None
    if entry.pw_uid == 0:
        raise IsolationError(f"--sandbox-user: {name} is root: the worker must run as an unprivileged user")
    uid, gid, prefix = entry.pw_uid, entry.pw_gid, _unshare(())
    closed = _closed(uid, gid, enterable=bool(prefix))
    if closed:
        return Isolation(missing=f"root, but {name} may not reach {closed}")
    if not prefix:
        return Isolation(user=name, uid=uid, gid=gid, missing="unshare refused here")
    return Isolation(prefix, name, uid, gid, cgroup_parent())


def _unshare(extra: tuple[str, ...]) -> tuple[str, ...]:
    """The unshare command line if the kernel grants these namespaces here, else ()."""
    exe = shutil.which("unshare")
    if exe is None:
        return ()
    command = (exe, *extra, *NAMESPACES)
    try:
        done = subprocess.run([*command, "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (*command, "--") if done.returncode == 0 else ()


def _closed(uid: int, gid: int, enterable: bool) -> str | None:
    """A path the worker needs but could not read as uid/gid. With a mount namespace the way to it can be opened
    (jail.open_paths), so only the paths' own permissions count; without one, every folder on the way does, the
    way to its own working directory (in the temporary folder) included."""
    closed = next((p for p in needed_paths(ROOT) if unreadable(p, uid, gid)), None)
    if closed or enterable:
        return closed
    way = [*needed_paths(ROOT), os.path.join(os.path.realpath(tempfile.gettempdir()), "worker")]
    return next(filter(None, (blocked(p, uid, gid) for p in way)), None)


def cgroup_parent() -> str | None:
    """Our cgroup v2 folder (or its parent) when its subtree has the memory controller and we may write there."""
    try:
        own = next(line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))
        mounts = [f.split()[1] for f in Path("/proc/self/mounts").read_text().splitlines() if f.split()[2] == "cgroup2"]
    except (OSError, StopIteration, IndexError):
        return None
    for mount in mounts:
        here = Path(mount, own.lstrip("/"))
        for folder in (here, here.parent) if here != Path(mount) else (here,):
            try:
                if "memory" in (folder / "cgroup.subtree_control").read_text().split() and os.access(folder, os.W_OK):
                    return str(folder)
            except OSError:
                continue
    return None


def make_cgroup(parent: str, memory_bytes: int, processes: int) -> str:
    """A child cgroup for one worker: memory.max for the whole submission, no swap, pids.max where counted."""
    folder = Path(tempfile.mkdtemp(prefix="crosscheck-", dir=parent))
    for name, value in (("memory.max", memory_bytes), ("memory.swap.max", 0), ("pids.max", processes)):
        if (folder / name).exists():
            (folder / name).write_text(str(value))
    return str(folder)


def copy_submission(file: Path, target: Path, uid: int, gid: int) -> Path:
    """The student's file and its folder (for sibling imports), copied for a worker whose user may not reach them
    (pytest's tmp_path sits in a 0700 folder), owned by that user; returns the file's copy. Copied: the file itself,
    and whatever else the folder's own permission bits let that user read (so nothing it could not read anyway);
    links stay links, resolved later with the worker's own rights; hidden entries and __pycache__ are left out.
    Raises ValueError past MAX_COPY_FILES entries or MAX_COPY_BYTES."""
    entries, size = [], 0
    for relative, st in _walk(file.parent, uid, gid):
        entries.append((relative, st))
        size += st.st_size if stat.S_ISREG(st.st_mode) else 0
        if len(entries) > MAX_COPY_FILES or size > MAX_COPY_BYTES:
            raise ValueError(f"the submission's folder {file.parent} holds more than {MAX_COPY_FILES} entries or "
                             f"{MAX_COPY_BYTES >> 20} MB, the most copied for the sandboxed worker: put the "
                             f"submission in a folder of its own")
    if Path(file.name) not in {relative for relative, _ in entries}:
        entries.append((Path(file.name), file.lstat()))
    target.mkdir(mode=0o700)  # closed to the worker's user until every file is written (no link planted meanwhile)
    for relative, st in entries:
        to = target / relative
        if stat.S_ISDIR(st.st_mode):
            to.mkdir()
        elif stat.S_ISLNK(st.st_mode):
            to.symlink_to(os.readlink(file.parent / relative))
        else:
            shutil.copyfile(file.parent / relative, to, follow_symlinks=False)
    for relative, _ in entries:
        os.chown(target / relative, uid, gid, follow_symlinks=False)
    os.chown(target, uid, gid)
    return target / file.name


def _walk(folder: Path, uid: int, gid: int, relative: Path = Path()) -> Any:
    """(relative path, lstat) of what uid/gid may read below `folder` by its own bits; parents first, links as such."""
    with os.scandir(folder / relative) as it:
        for entry in sorted(it, key=lambda e: e.name):
            st = entry.stat(follow_symlinks=False)
            if entry.name.startswith(".") or entry.name == "__pycache__":
                continue
            if stat.S_ISDIR(st.st_mode) and may(st, uid, gid, os.R_OK | os.X_OK):
                yield relative / entry.name, st
                yield from _walk(folder, uid, gid, relative / entry.name)
            elif stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and may(st, uid, gid, os.R_OK)):
                yield relative / entry.name, st
