"""Printing figures and progress."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from devstack.procs import cpu_seconds


def figure(name: str, value: float, unit: str) -> None:
    text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}"
    print(f"BENCH {name} {text} {unit}", flush=True)


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


class CpuMeter:
    """CPU seconds each process (and its children) spent between `start` and `report`."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._pids = dict(pids)
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: cpu_seconds(pid) for name, pid in self._pids.items()}

    def report(self, what: str, records: int) -> dict[str, float]:
        """Print and answer the microseconds of CPU per record of each process that worked."""
        per_record = {
            name: (cpu_seconds(pid) - self._before[name]) / records * 1e6
            for name, pid in self._pids.items()
        }
        busy = {name: us for name, us in per_record.items() if us * records / 1e6 > 0.5}
        progress(
            f"CPU per record during {what}: "
            + ", ".join(f"{name} {us:.1f} us" for name, us in busy.items())
            + f"; total {sum(busy.values()):.1f} us"
        )
        return busy
