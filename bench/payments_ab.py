"""`python -m bench.payments_ab REF [ROUNDS]`: the payments figures of this tree and of an older
commit, measured in one session, in alternating order, each on a fresh stack of its own tree.

Absolute figures swing twofold between runs on a shared machine; figures taken side by side in
one session do not. The old tree is `git archive REF` unpacked in a temporary folder; each run
is a child process started in its tree (so it imports that tree's code, services included) that
boots `StackConfig.isolated(<tree>/.local/bench-payments, slot)`, runs this tree's load
(`bench/payments.py` of this tree, the same client for both: an old bench's client cost more
CPU than the services it measured) and stops the stack. Prints `BENCH payments_per_s_baseline` and
`BENCH payments_per_s` (means over the rounds), their ratio, and each run on stderr. The slot is
`BENCH_SLOT` (default 2, the bench's own ports); `BENCH_PAYMENTS_POSTINGS` and
`BENCH_PAYMENTS_BURST` shrink the two parts (defaults: the bench's 2,000 and 5,000);
`BENCH_NEW_PYTHONPATH` is put on the new tree's import path only (a dependency it adds that the
shared virtualenv does not have yet)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench.report import figure, progress
from devstack.stack import ROOT

TOKEN = "bp_bench_admin_4Rt7Mz2Xq9Kd6Wv3Ln8Hp5"
LOAD = ROOT / "bench" / "payments.py"

# Run in a tree's folder: `python -c` puts the current folder first on sys.path, so this
# imports the stack launcher of that tree, whichever commit it is; the load is loaded from
# this tree's file.
CHILD = """
import asyncio, importlib.util, json, sys, time
from pathlib import Path
from devstack.procs import cpu_seconds
from devstack.stack import Stack, StackConfig, wipe

home, slot, token = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
postings, burst = int(sys.argv[4]), int(sys.argv[5])
spec = importlib.util.spec_from_file_location("payments_load", sys.argv[6])
payments = sys.modules["payments_load"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(payments)
wipe(home)
config = StackConfig.isolated(home, slot=slot, admin_token=token)
stack = Stack(config)
try:
    stack.start_infra()
    stack.start_services()
    time.sleep(2)
    pids = {name: proc.popen.pid for name, proc in stack.procs.items()}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    found = asyncio.run(payments.run(config.gateway_url, token, postings, burst))
    cpu = {name: round(cpu_seconds(pid) - before[name], 2) for name, pid in pids.items()}
    print("RESULT " + json.dumps({
        "payments_per_s": found.payments_per_s,
        "to_balance_p99_ms": found.to_balance_p99_ms,
        "to_balance_p50_ms": found.to_balance_p50_ms,
        "at_half_p99_ms": getattr(found, "at_half_p99_ms", 0.0),
        "at_half_p50_ms": getattr(found, "at_half_p50_ms", 0.0),
        "cpu_seconds": cpu,
    }), flush=True)
finally:
    stack.stop()
    wipe(home)
"""


def unpack(ref: str, into: Path) -> Path:
    """The tree of commit `ref`, unpacked under `into` (no git worktree: nothing is registered
    in the repository)."""
    archive = into / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", ref], cwd=ROOT, stdout=out, check=True)
    tree = into / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def measure(tree: Path, slot: int, env: dict[str, str]) -> dict[str, object]:
    home = tree / ".local" / "bench-payments"
    sizes = [
        os.environ.get(f"BENCH_PAYMENTS_{n}", d)
        for n, d in (("POSTINGS", "2000"), ("BURST", "5000"))
    ]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), str(slot), TOKEN, *sizes, str(LOAD)],
        cwd=tree,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, object] = json.loads(line.removeprefix("RESULT "))
            return result
    raise RuntimeError(f"the payments bench in {tree} failed:\n{done.stdout}\n{done.stderr}")


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m bench.payments_ab REF [ROUNDS]  (REF: the commit before)")
    ref, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
    slot = int(os.environ.get("BENCH_SLOT", "2"))
    runs: dict[str, list[dict[str, object]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="billport-ab-") as tmp:
        Path(tmp).chmod(0o755)  # initdb runs as the `postgres` user when we are root
        trees = {"old": unpack(ref, Path(tmp)), "new": ROOT}
        extra = os.environ.get("BENCH_NEW_PYTHONPATH")
        envs = {"old": {}, "new": {"PYTHONPATH": extra} if extra else {}}
        for n in range(rounds):
            # Alternate which tree goes first, so a drift of the machine favours neither.
            order = ("old", "new") if n % 2 == 0 else ("new", "old")
            for label in order:
                progress(f"round {n + 1}/{rounds}: {label} tree")
                result = measure(trees[label], slot, envs[label])
                runs[label].append(result)
                progress(f"{label}: {json.dumps(result)}")

    def mean(label: str, name: str) -> float:
        return statistics.mean(float(r[name]) for r in runs[label])  # type: ignore[arg-type]

    figure("payments_per_s_baseline", mean("old", "payments_per_s"), "payments/s")
    figure("payments_per_s", mean("new", "payments_per_s"), "payments/s")
    ratio = mean("new", "payments_per_s") / mean("old", "payments_per_s")
    figure("payments_per_s_vs_baseline", ratio, "ratio")
    figure("payment_to_balance_p99_ms_baseline", mean("old", "to_balance_p99_ms"), "ms")
    figure("payment_to_balance_p99_ms", mean("new", "to_balance_p99_ms"), "ms")
    figure("payment_to_balance_p50_ms_baseline", mean("old", "to_balance_p50_ms"), "ms")
    figure("payment_to_balance_p50_ms", mean("new", "to_balance_p50_ms"), "ms")
    for name in ("p99", "p50"):
        half = f"payment_to_balance_{name}_at_half_ms"
        figure(f"{half}_baseline", mean("old", f"at_half_{name}_ms"), "ms")
        figure(half, mean("new", f"at_half_{name}_ms"), "ms")


if __name__ == "__main__":
    main()
