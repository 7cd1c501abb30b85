"""Shared test setup. Integration tests get a real Kafka broker and a real PostgreSQL,
started once in `.local/test` on their own ports, and stopped after (tests/integration/
conftest.py); the fault tests get a stack of their own (tests/faults/conftest.py).

For the whole run, here:
- what is running: a heading per part (unit, integration, faults), each module's time at
  the end of its line, and at the end the time per part and the slowest modules;
- nothing outlives the run: SIGTERM and SIGHUP end it as Ctrl-C does (fixtures torn down,
  stacks stopped), and a guard process kills whatever still carries this run's marker once
  the run is gone, however it went (SIGKILL included: Chromium, a test's own gateway)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from types import FrameType

import pytest

from devstack import guard
from devstack.procs import stop_group
from devstack.stack import ROOT

SLOWEST_MODULES = 8


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP as Ctrl-C: pytest stops and tears its fixtures down. Only once: a
    second signal must not cut the stacks' shutdown short (the guard would finish it)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


class RunGuard:
    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        run_id = uuid.uuid4().hex
        os.environ[guard.TEST_RUN] = run_id  # inherited by every process the run starts
        log = ROOT / ".local" / "test-guards" / f"{os.getpid()}.log"
        self.process = guard.start(os.getpid(), guard.TEST_RUN, run_id, log)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _interrupt)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.process is not None:
            stop_group(self.process.pid, timeout=5)
            self.process.wait()
            (ROOT / ".local" / "test-guards" / f"{os.getpid()}.log").unlink(missing_ok=True)


def _part(nodeid: str) -> str:
    """`tests/integration/test_x.py::test_y` → `integration`."""
    parts = nodeid.split("::")[0].split("/")
    return parts[1] if len(parts) > 2 else parts[0]


def _clock(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


class Progress:
    """Where the run is: without flooding the output (one heading per part, a few
    characters per module)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started = time.monotonic()
        self.module: str | None = None
        self.module_started = self.last_finished = self.started
        self.modules: dict[str, float] = {}
        self.part_sizes: dict[str, tuple[int, int]] = {}
        self.last_nodeid: str | None = None

    @property
    def reporter(self) -> pytest.TerminalReporter | None:
        return self.config.pluginmanager.get_plugin("terminalreporter")

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        modules: dict[str, set[str]] = {}
        tests: dict[str, int] = {}
        for item in items:
            part = _part(item.nodeid)
            modules.setdefault(part, set()).add(item.nodeid.split("::")[0])
            tests[part] = tests.get(part, 0) + 1
        self.part_sizes = {p: (len(modules[p]), tests[p]) for p in modules}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        module = nodeid.split("::")[0]
        if module == self.module:
            return
        previous, self.module = self.module, module
        if previous is not None:
            self._close_module(previous)
        self.module_started = time.monotonic()
        part = _part(nodeid)
        if previous is None or _part(previous) != part:
            self._heading(part)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.last_nodeid = session.items[-1].nodeid if session.items else None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.last_finished = time.monotonic()
        if nodeid == self.last_nodeid:  # before pytest closes the line of the last module
            self._close_module(nodeid.split("::")[0])

    def _close_module(self, module: str) -> None:
        if module in self.modules:
            return
        self.modules[module] = self.last_finished - self.module_started
        reporter = self.reporter
        if reporter is not None and reporter.verbosity == 0 and reporter.currentfspath:
            reporter.write(f" {_clock(self.modules[module])}", cyan=True)

    def _heading(self, part: str) -> None:
        reporter = self.reporter
        if reporter is None:
            return
        modules, tests = self.part_sizes.get(part, (0, 0))
        elapsed = _clock(time.monotonic() - self.started)
        if reporter.currentfspath and hasattr(
            reporter, "_write_progress_information_filling_space"
        ):
            reporter._write_progress_information_filling_space()
            reporter.currentfspath = None
        reporter.ensure_newline()
        reporter.write_sep(
            "-", f"{part}: {modules} modules, {tests} tests (at {elapsed})", bold=True
        )
        reporter.flush()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.module is not None and self.module not in self.modules:
            self._close_module(self.module)
        if not self.modules:
            return
        by_part: dict[str, float] = {}
        for module, seconds in self.modules.items():
            by_part[_part(module)] = by_part.get(_part(module), 0.0) + seconds
        terminalreporter.write_sep("=", "time per part")
        for part, seconds in by_part.items():
            count = sum(1 for m in self.modules if _part(m) == part)
            terminalreporter.write_line(f"{part:<12} {_clock(seconds):>8}  ({count} modules)")
        terminalreporter.write_line(f"{'total':<12} {_clock(time.monotonic() - self.started):>8}")
        slowest = sorted(self.modules.items(), key=lambda kv: -kv[1])[:SLOWEST_MODULES]
        terminalreporter.write_line(
            "slowest modules: "
            + ", ".join(f"{m.rsplit('/', 1)[-1]} {_clock(s)}" for m, s in slowest)
        )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RunGuard(), "billport-run-guard")
    config.pluginmanager.register(Progress(config), "billport-progress")
