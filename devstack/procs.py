"""Starting, watching and stopping child processes; each in its own process group, and each
dying with the process that started it.

Every child asks the kernel for SIGKILL when its parent goes (`PR_SET_PDEATHSIG`), so a test
run or supervisor killed outright (CI's time limit, SIGKILL) takes its children with it. The
kernel sends that signal when the *thread* that forked the child ends, not the process: every
child is therefore forked by one long-lived thread of ours (`_SPAWNER`), never by a worker
thread of `asyncio.to_thread` that may come and go."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devstack-spawner")
"""Lives until the interpreter exits; its children get SIGKILL then, if still running."""


class StackError(RuntimeError):
    """The stack could not be brought up; the message says what to look at."""


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """Runs in the child between fork and exec (after any change of user, which would clear
    the setting): SIGKILL when the forking thread ends. If the parent is already gone by
    then, the kernel will not tell us: leave at once."""

    def preexec() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def spawn(
    cmd: Sequence[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `cmd` in a new session (its own process group, so it and its children are
    stopped together), output to `log_path`, as `user` when given (we are root then)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    uid: int | None = None
    gid: int | None = None
    groups: list[int] | None = None
    if user is not None:
        pw = pwd.getpwnam(user)
        uid, gid, groups = pw.pw_uid, pw.pw_gid, []
    with open(log_path, "ab") as log:  # the child has its own copy of the descriptor

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                list(cmd),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
                user=uid,
                group=gid,
                extra_groups=groups,
            )

        return _SPAWNER.submit(start).result()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def wait_port(
    port: int,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    what: str = "",
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if proc is not None and proc.poll() is not None:
            raise StackError(
                f"{what} exited with code {proc.returncode} before opening port "
                f"{port}; see {log}:\n{tail(log)}"
            )
        time.sleep(0.1)
    raise StackError(
        f"{what} did not open port {port} within {timeout:.0f}s; see {log}:\n{tail(log)}"
    )


def wait_port_free(port: int, timeout: float, what: str) -> None:
    """Wait until nothing listens on `port` any more; a clear error if something still does."""
    deadline = time.monotonic() + timeout
    while port_open(port):
        if time.monotonic() > deadline:
            raise StackError(f"port {port} for {what} is still in use after {timeout:.0f}s")
        time.sleep(0.2)


def listener_of(port: int) -> str:
    """Which process listens on a TCP `port` of this machine: `pid 123 (java -cp …)`, from
    /proc (the socket's inode in /proc/net/tcp*, then the process holding that socket)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                if os.readlink(fd.path) in inodes:
                    raw = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                    command = raw.replace(b"\0", b" ").decode(errors="replace").strip()
                    return f"pid {entry.name} ({command[:120]})"
    return "a process we cannot see (another user's, or in another namespace)"


def tail(path: Path | None, lines: int = 25) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop_group(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the process group; once its leader has ended (or after `timeout` seconds),
    SIGKILL whatever is left of the group."""
    stop_groups([pid], timeout)


def stop_groups(pids: Sequence[int], timeout: float = 15.0) -> None:
    """`stop_group` for several groups at once: every SIGTERM first, then one shared wait."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    # The whole group, not only the leaders still running: a member may have been started
    # after the SIGTERM (a notifier replacing its render workers, killed by that SIGTERM, while
    # it shut down), and it outlives its leader as an orphan otherwise (seen in a test run).
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def reap(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=0.1)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total_kb = 0
    for p in [pid, *children(pid)]:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in children(k)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (the live ones), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in [pid, *children(pid)]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / ticks
