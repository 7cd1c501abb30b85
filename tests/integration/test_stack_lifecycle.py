"""A stack dies with the run that started it, and a new run on the same folder stops what an
earlier one left. Real processes: a small stack (Kafka, PostgreSQL, the SMTP inbox and the
notifier with its render workers) started by a test session of its own in a subprocess, which
is then killed (SIGKILL, as CI's time limit does), interrupted (SIGTERM), or frozen while a
second session starts on the same folder. Ports of their own beside the suite's stack."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import guard
from devstack.procs import StackError
from devstack.stack import ROOT, StackConfig, belongs_to, check_ports_free, stop_stale, wipe
from tests.integration.conftest import SLOT

HOME = ROOT / ".local" / f"lifecycle-{SLOT}"
GONE_WITHIN_SECONDS = 10.0
BOOT_SECONDS = 150.0

CHILD = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    import pytest
    from devstack.procs import wait_port
    from devstack.stack import Stack
    from tests.integration.test_stack_lifecycle import HOME, small_config

    @pytest.fixture
    def small_stack():
        stack = Stack(small_config())
        try:
            stack.start_infra()
            notifier = stack.start_service("notifier")
            wait_port(notifier.port, 120, notifier.popen, "notifier", notifier.log)
            yield stack
        finally:
            stack.stop()

    def test_hold(small_stack):
        (HOME / f"ready-{os.getpid()}").write_text("up")
        time.sleep(600)
    """
)


def small_config() -> StackConfig:
    """Beside the suite's own stack on this slot: the same slot's ranges, other ports."""
    config = StackConfig.isolated(HOME, slot=SLOT, admin_token="bp_lifecycle_admin_token_0")
    config.kafka_port += 500
    config.controller_port += 500
    config.pg_port += 5
    config.smtp_port += 20
    config.service_base_port += 200
    config.gateway_port += 240
    return config


def ours() -> list[int]:
    owned = belongs_to(HOME)
    return [pid for pid in guard.pids() if owned(pid)]


def start_session(tmp_path: Path) -> subprocess.Popen[bytes]:
    """A pytest session of its own, with the suite's run guard and signal handling
    (`-p tests.conftest`), holding a small stack until it is told otherwise."""
    test_file = tmp_path / "test_child_stack.py"
    test_file.write_text(CHILD)
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("-p", "tests.conftest", "--rootdir", str(tmp_path), str(test_file)),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(session: subprocess.Popen[bytes]) -> list[int]:
    """Wait for the session's stack to be up; the processes of the folder then."""
    flag = HOME / f"ready-{session.pid}"
    deadline = time.monotonic() + BOOT_SECONDS
    while not flag.exists():
        if session.poll() is not None:
            output = session.stdout.read().decode() if session.stdout else ""
            raise AssertionError(f"the session ended before its stack was up:\n{output}")
        assert time.monotonic() < deadline, f"no stack within {BOOT_SECONDS}s"
        time.sleep(0.2)
    return ours()


def wait_gone(pids: list[int]) -> list[int]:
    """The processes among `pids` (and of the folder) still alive after a few seconds."""
    deadline = time.monotonic() + GONE_WITHIN_SECONDS
    while True:
        left = sorted({p for p in pids if _running(p)} | set(ours()))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _describe(pids: list[int]) -> str:
    return "; ".join(f"{p}: {' '.join(guard.cmdline(p))[:100]}" for p in pids)


def _kinds(pids: list[int]) -> set[str]:
    found = set()
    for pid in pids:
        line = " ".join(guard.cmdline(pid))
        for kind in ("kafka.Kafka", "postgres", "smtp_inbox", "services.notifier", "forkserver"):
            if kind in line:
                found.add(kind)
    return found


@pytest.fixture
def clean_home() -> Iterator[None]:
    wipe(HOME)
    yield
    stop_stale(HOME)


def test_a_terminated_session_stops_its_stack_cleanly(clean_home: None, tmp_path: Path) -> None:
    session = start_session(tmp_path)
    pids = wait_ready(session)

    os.kill(session.pid, signal.SIGTERM)
    output, _ = session.communicate(timeout=60)

    assert session.returncode == 2, output.decode()  # pytest's "interrupted"
    assert wait_gone(pids) == []
    # stopped by its fixture, not by the guard: PostgreSQL shut down cleanly, pid files gone
    assert "database system is shut down" in (HOME / "postgres" / "postgres.log").read_text()
    assert list((HOME / "run").glob("*.pid")) == []


def test_a_new_session_stops_what_a_hung_one_left_and_a_killed_one_leaves_nothing(
    clean_home: None, tmp_path: Path
) -> None:
    hung = start_session(tmp_path)
    first = wait_ready(hung)
    os.kill(hung.pid, signal.SIGSTOP)  # alive but stuck: its children do not die with it
    try:
        session = start_session(tmp_path)
        wait_ready(session)
        assert [p for p in first if _running(p)] == [], _describe(first)

        # Kafka's JVM, the postmaster and its backends, the inbox, the notifier and the
        # forkserver of its render workers (started as it warms up): children and
        # grandchildren of the session, none of them left of the first one.
        kinds = {"kafka.Kafka", "postgres", "smtp_inbox", "services.notifier", "forkserver"}
        deadline = time.monotonic() + 60
        while not kinds <= _kinds(pids := ours()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert kinds <= _kinds(pids), _describe(pids)
        assert set(pids).isdisjoint(first)

        os.kill(session.pid, signal.SIGKILL)  # as CI's time limit does
        session.wait()

        left = wait_gone(pids)
        assert left == [], f"still running after a SIGKILL of their session: {_describe(left)}"
    finally:
        os.kill(hung.pid, signal.SIGKILL)
        hung.wait()


def test_a_port_held_by_another_program_is_named() -> None:
    config = small_config()
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", config.smtp_port))
        holder.listen()
        with pytest.raises(StackError) as error:
            check_ports_free(config)
    message = str(error.value)
    assert f"port {config.smtp_port} for the SMTP inbox" in message
    assert f"held by pid {os.getpid()} (" in message
    assert "not part of this stack" in message
