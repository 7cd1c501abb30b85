"""Making sure no process of a stack or test run outlives it, and finding those of a run before.

Every process a stack starts carries two variables in its environment, which its own children
inherit (a notifier's render workers, a test's Chromium): `BILLPORT_STACK_HOME` (the stack's
folder: a later run on that folder finds what is left of an earlier one) and a run marker
unique to this start (`BILLPORT_STACK_RUN`, or `BILLPORT_TEST_RUN` for a whole test session).

`python -m devstack.guard --parent PID --marker KEY=VALUE` is the watchdog: it waits for PID to
end, however it ends (SIGKILL included), then kills every process whose environment holds
KEY=VALUE. The direct children die with their parent anyway (`procs.spawn` sets a parent-death
signal); the guard catches their children too."""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

STACK_HOME = "BILLPORT_STACK_HOME"
STACK_RUN = "BILLPORT_STACK_RUN"
TEST_RUN = "BILLPORT_TEST_RUN"
MARKERS = (STACK_HOME, STACK_RUN, TEST_RUN)


def pids() -> Iterator[int]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def environ(pid: int) -> set[bytes]:
    """The environment a process started with; empty for a zombie or one gone meanwhile."""
    try:
        return set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
    except OSError:
        return set()


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def carrying(key: str, value: str) -> Callable[[int], bool]:
    entry = f"{key}={value}".encode()
    return lambda pid: entry in environ(pid)


def sweep(match: Callable[[int], bool], rounds: int = 100, quiet: int = 3) -> list[int]:
    """SIGKILL every process `match` accepts, again until `quiet` looks in a row find none (a
    process may fork while we look, and one in the middle of `exec` shows no environment
    yet). Returns the pids killed."""
    killed: list[int] = []
    me = os.getpid()
    empty = 0
    for _ in range(rounds):
        found = [pid for pid in pids() if pid != me and match(pid)]
        if not found:
            empty += 1
            if empty >= quiet:
                break
            time.sleep(0.05)
            continue
        empty = 0
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed += found
        time.sleep(0.05)
    return killed


def start(parent_pid: int, key: str, value: str, log: Path) -> subprocess.Popen[bytes]:
    """Start the watchdog of `parent_pid`. Deliberately not through `procs.spawn`: it must
    outlive its parent, in a session of its own, and without the marker it looks for."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in MARKERS}
    root = Path(__file__).resolve().parent.parent
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devstack.guard",
                "--parent",
                str(parent_pid),
                "--marker",
                f"{key}={value}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=root,
            start_new_session=True,
        )


def wait_for_end(pid: int) -> None:
    """Block until `pid` has ended (a pidfd becomes readable then; no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.guard", description=__doc__)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--marker", required=True, help="KEY=VALUE")
    args = parser.parse_args()
    key, _, value = args.marker.partition("=")
    # Our parent started us; if it is someone else already, the parent is gone.
    if os.getppid() == args.parent:
        wait_for_end(args.parent)
    killed = sweep(carrying(key, value))
    if killed:
        print(f"{args.parent} ended; killed {len(killed)} processes left with {key}", flush=True)


if __name__ == "__main__":
    main()
