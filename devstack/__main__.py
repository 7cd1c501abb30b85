"""`python -m devstack run|stop|status`: the local stack's supervisor.

`run` brings everything up, prints the URL and the admin token, and stays until Ctrl-C or
SIGTERM (`make stop`), then stops every process it started. A service that dies is started
again. It needs no terminal: standard input may be closed."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from devstack import demo, postgres
from devstack.procs import StackError, alive, stop_group
from devstack.stack import ROOT, SERVICES, Stack, StackConfig, admin_token, kill_leftovers

HOME = ROOT / ".local"
PIDFILE = HOME / "run" / "supervisor.pid"


def parse_replicas(text: str) -> dict[str, int]:
    replicas: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = part.partition("=")
        if name not in SERVICES or not count.isdigit() or int(count) < 1:
            raise SystemExit(f"bad replica setting {part!r}: use e.g. usage=2,invoicing=3")
        replicas[name] = int(count)
    return replicas


DEMO_SELLER_TAX_ID = "91-1234567"


def run(replicas: dict[str, int]) -> int:
    if PIDFILE.exists() and alive(int(PIDFILE.read_text() or 0)):
        print(
            f"BillPort is already running (supervisor pid {PIDFILE.read_text()}); make stop first"
        )
        return 1
    kill_leftovers(HOME / "run")
    config = StackConfig(
        home=HOME,
        gateway_port=int(os.environ.get("BILLPORT_GATEWAY_PORT", "8000")),
        admin_token=admin_token(HOME),
        replicas=replicas,
        # The demo seller's tax id (EN 16931 requires one for the Factur-X in every PDF);
        # the environment's own BILLPORT_NOTIFIER_RESELLER_TAX_ID wins.
        extra_env={
            "BILLPORT_NOTIFIER_RESELLER_TAX_ID": os.environ.get(
                "BILLPORT_NOTIFIER_RESELLER_TAX_ID", DEMO_SELLER_TAX_ID
            )
        },
    )
    stack = Stack(config)
    stopping = False

    def on_signal(signum: int, _: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    PIDFILE.parent.mkdir(parents=True, exist_ok=True)
    PIDFILE.write_text(str(os.getpid()))
    started = time.monotonic()
    try:
        print("Starting BillPort …", flush=True)
        stack.start_infra()
        print(
            "  · services:",
            ", ".join(f"{s} x{replicas.get(s, 1)}" for s in SERVICES),
            "+ gateway",
            flush=True,
        )
        stack.start_services()
        print("  ·", demo.load(config.gateway_url, config.admin_token), flush=True)
        print(
            f"\nBillPort is up in {time.monotonic() - started:.1f}s\n"
            f"  URL:          {config.gateway_url}\n"
            f"  API docs:     {config.gateway_url}/docs\n"
            f"  Admin token:  {config.admin_token}\n"
            f"  Mail inbox:   {config.home / 'mail'}\n"
            f"  Secrets:      {config.home / 'secrets'} (database passwords, internal secret)\n"
            f"  Logs:         {stack.log_dir}\n"
            "Stop with Ctrl-C or `make stop`.",
            flush=True,
        )
        while not stopping:
            time.sleep(0.5)
            _revive_dead(stack)
    except StackError as exc:
        print(f"\nBillPort could not start: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("Stopping BillPort …", flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
        PIDFILE.unlink(missing_ok=True)
        print("Stopped.", flush=True)
    return 0


def _revive_dead(stack: Stack) -> None:
    for name, proc in list(stack.procs.items()):
        if name != "kafka" and proc.popen.poll() is not None:
            print(f"  ! {name} exited with {proc.popen.returncode}; starting it again", flush=True)
            stack.restart(name)


def stop() -> int:
    if PIDFILE.exists():
        pid = int(PIDFILE.read_text() or 0)
        if pid and alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 90
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if alive(pid):
                stop_group(pid)
        PIDFILE.unlink(missing_ok=True)
    leftovers = kill_leftovers(HOME / "run")
    postgres.stop(HOME / "postgres")
    print("BillPort stopped" + (f" (cleaned up: {', '.join(leftovers)})" if leftovers else ""))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="start the whole stack and stay in the foreground")
    run_p.add_argument(
        "--replicas",
        default=os.environ.get("REPLICAS", ""),
        help="instances per service, e.g. usage=2,invoicing=3",
    )
    sub.add_parser("stop", help="stop a running stack (from another shell)")
    args = parser.parse_args()
    if args.command == "run":
        sys.exit(run(parse_replicas(args.replicas)))
    sys.exit(stop())


if __name__ == "__main__":
    main()
