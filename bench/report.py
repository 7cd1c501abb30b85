"""Printing figures and progress."""

from __future__ import annotations

import sys


def figure(name: str, value: float, unit: str) -> None:
    text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}"
    print(f"BENCH {name} {text} {unit}", flush=True)


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)
