"""The worker's first moments, before any student code runs: entering the isolation the harness chose.

Started by crosscheck.student.sandbox as `[unshare ...] python -I -u -c BOOT ROOT REQ_FD REP_FD LIMITS JAIL`, where
JAIL is the JSON of isolation.Isolation.jail(): {"uid", "gid", "init", "status_fd", "cgroup"}, each optional.

- "init": this process is PID 1 of fresh pid/net/mount namespaces (`unshare --fork`). It stays the harness's user,
  and only waits: it sets up the worker's view of the files (private_folders), joins the cgroup, forks the worker,
  reaps every orphan, and when the worker ends it writes the worker's exit status to status_fd and exits, which
  kills whatever else the submission left in the namespace. The worker is its child rather than PID 1 itself
  because PID 1 ignores every signal it has no handler for, SIGXCPU from RLIMIT_CPU included.
- "uid"/"gid": the worker drops to them (no supplementary groups, no_new_privs: no setuid program gives them back).

Standard library only: this runs before NumPy is imported, and the init never imports more.
"""

from __future__ import annotations

import ctypes
import json
import os
import stat
import struct
import sys
import sysconfig
from pathlib import Path
from typing import Any

MS_NOSUID, MS_NODEV, MS_BIND, MS_REC = 0x2, 0x4, 0x1000, 0x4000
PR_SET_NO_NEW_PRIVS = 38
SHARED_FOLDERS = ("/dev/shm", "/var/tmp", "/run/lock")  # world-writable on a typical system, /dev/shm in memory
STATUS = struct.Struct("<i")  # the worker's exit code as subprocess reports it: negative for a signal


def needed_paths(root: str | Path) -> list[str]:
    """What the worker reads after dropping its uid: the interpreter, the standard library, site-packages, ROOT."""
    paths = [sys.executable, root, *(sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib"))]
    return sorted({os.path.realpath(p) for p in paths if p and os.path.exists(p)})


def may(st: os.stat_result, uid: int, gid: int, mode: int) -> bool:
    """Whether uid (with gid and no other group) has all of `mode` (os.R_OK | os.X_OK ...) by the permission bits."""
    shift = 6 if st.st_uid == uid else 3 if st.st_gid == gid else 0
    return (st.st_mode >> shift) & mode == mode


def blocked(path: str, uid: int, gid: int) -> str | None:
    """The first directory on the way to `path` (a real path) that uid/gid may not enter, else None."""
    parts = Path(path).parts
    for i in range(1, len(parts)):
        folder = os.path.join(*parts[:i])
        if not may(os.stat(folder), uid, gid, os.X_OK):
            return folder
    return None


def unreadable(path: str, uid: int, gid: int) -> bool:
    """The path itself (not its way) is closed to uid/gid: a folder it cannot list and enter, a file it cannot read."""
    st = os.stat(path)
    return not may(st, uid, gid, os.R_OK | (os.X_OK if stat.S_ISDIR(st.st_mode) else 0))


def _libc_call(name: str, *args: Any) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{name}: {os.strerror(error)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = (lambda s: None if s is None else s.encode())
    _libc_call("mount", encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))


def open_paths(paths: list[str], uid: int, gid: int) -> None:
    """In this private mount namespace, make the way to every path enterable by uid/gid. A folder on the way that
    they may not enter (e.g. /root, 0700, holding pyenv's interpreter) is covered by an empty world-enterable tmpfs,
    and only the entries leading to the paths are bind-mounted back into it: the rest of that folder stays out of
    sight. The paths themselves keep their own permissions."""
    while (folder := _first_blocked(paths, uid, gid)) is not None:
        keep_only(folder, paths)


def keep_only(folder: str, paths: list[str]) -> None:
    """Cover `folder` with an empty tmpfs, and bind back only its entries on the way to `paths` (real paths)."""
    if folder == "/":
        raise OSError("cannot cover /")
    depth = len(Path(folder).parts)
    _cover(folder, sorted({Path(p).parts[depth] for p in paths if _below(p, folder)}))


def _below(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def _first_blocked(paths: list[str], uid: int, gid: int) -> str | None:
    return next(filter(None, (blocked(p, uid, gid) for p in paths)), None)


def _cover(folder: str, names: list[str]) -> None:
    fds = {name: os.open(os.path.join(folder, name), os.O_PATH | os.O_NOFOLLOW) for name in names}
    _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
    for name, fd in fds.items():
        target = os.path.join(folder, name)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)  # the original, opened before the cover
        os.close(fd)


def private_folders(paths: list[str], home: str, uid: int, gid: int) -> None:
    """The worker's view of the files, in its mount namespace: the way to `paths` and to its working directory
    `home` open; `home` the only entry left in the temporary folder (other workers' directories, and report files
    someone put there, out of sight); the shared world-writable folders replaced by small private tmpfs (a channel
    between workers closed, and /dev/shm, itself memory, bounded)."""
    paths = [*paths, home]
    open_paths(paths, uid, gid)
    if os.path.dirname(home) != "/":
        keep_only(os.path.dirname(home), paths)
    for folder in SHARED_FOLDERS:
        if os.path.isdir(folder) and not os.path.islink(folder) and not any(_below(p, folder) for p in paths):
            _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")


def drop_privileges(uid: int, gid: int) -> None:
    """For good: no supplementary groups, every uid and gid, and no setuid program can raise them again."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    _libc_call("prctl", PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
               ctypes.c_ulong(0))


def serve_as_init(worker: int, status_fd: int, close: tuple[int, ...]) -> None:
    """PID 1: reap everything; when the worker is reaped, report its status and exit (the namespace dies too)."""
    for fd in close:
        os.close(fd)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os.write(status_fd, STATUS.pack(code))
            os._exit(code if code >= 0 else 128 - code)


def enter(jail: dict[str, Any], root: str, protocol_fds: tuple[int, int]) -> None:
    """Everything the JAIL argument asks for; returns in the worker process, as the worker's user."""
    uid, gid = jail.get("uid"), jail.get("gid")
    if jail.get("init"):
        if uid is not None:
            private_folders(needed_paths(root) + [os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)],
                            os.getcwd(), uid, gid)
        if jail.get("cgroup"):
            Path(jail["cgroup"], "cgroup.procs").write_text("0")  # this process, and so all it forks
        worker = os.fork()  # nothing buffered to duplicate: python -u
        if worker:
            serve_as_init(worker, jail["status_fd"], protocol_fds)
        os.close(jail["status_fd"])
    if uid is not None:
        drop_privileges(uid, gid)


def main(argv: list[str]) -> None:
    root, read_fd, write_fd = argv[0], int(argv[1]), int(argv[2])
    enter(json.loads(argv[4]), root, (read_fd, write_fd))
    from crosscheck.student.worker import main as serve  # noqa: PLC0415 - as the worker's user, in its namespaces

    serve(argv)
