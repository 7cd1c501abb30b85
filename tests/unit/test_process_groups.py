"""Stopping a process group leaves nothing of it, even what was started after the SIGTERM
(a service replacing a worker while it shuts down): real processes, no stack."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from devstack.procs import stop_group

# On SIGTERM the leader starts one more member of its group, then ends.
LATE_MEMBER = "trap 'sleep 60 & echo $! > {out}; exit 0' TERM; while true; do sleep 0.05; done"


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_member_started_after_the_sigterm_dies_with_its_group(tmp_path: Path) -> None:
    out = tmp_path / "late.pid"
    leader = subprocess.Popen(["bash", "-c", LATE_MEMBER.format(out=out)], start_new_session=True)
    time.sleep(0.3)  # the trap is set
    stop_group(leader.pid, timeout=5)
    leader.wait(timeout=5)
    late = int(out.read_text())
    deadline = time.monotonic() + 5
    while group_alive(leader.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not group_alive(leader.pid), f"the late member {late} outlived its group"
