"""`python -m bench`: boots its own stack from cold (cached jars, fresh data) on ports of its
own, measures, and stops it again. Figures go to stdout, progress to stderr."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from bench import billing as billing_bench
from bench import credential as credential_bench
from bench import invoice_list as list_bench
from bench import payments as payments_bench
from bench import pdf as pdf_bench
from bench import slice as slice_bench
from bench import usage as usage_bench
from bench import usage_watch as watch_bench
from bench.report import figure, progress
from devstack.__main__ import parse_replicas
from devstack.procs import rss_mb
from devstack.stack import ROOT, Stack, StackConfig, wipe

HOME = ROOT / ".local" / "bench"
TOKEN = "bp_bench_admin_4Rt7Mz2Xq9Kd6Wv3Ln8Hp5"


def postgres_pid(home: Path) -> int:
    return int((home / "postgres" / "pgdata" / "postmaster.pid").read_text().split()[0])


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack on SIGTERM too
    sign_us, verify_us, sign_reused_us, verify_reused_us = credential_bench.run()
    figure("internal_credential_sign_us", sign_us, "us")
    figure("internal_credential_verify_us", verify_us, "us")
    figure("internal_credential_sign_reused_us", sign_reused_us, "us")
    figure("internal_credential_verify_reused_us", verify_reused_us, "us")
    wipe(HOME)
    replicas = parse_replicas(os.environ.get("BENCH_REPLICAS", ""))
    config = StackConfig.isolated(HOME, slot=2, admin_token=TOKEN, replicas=replicas)
    # The seller's tax id, so that the bench PDFs carry their Factur-X (see bench/pdf.py).
    config.extra_env["BILLPORT_NOTIFIER_RESELLER_TAX_ID"] = pdf_bench.SELLER_TAX_ID
    stack = Stack(config)
    try:
        progress("booting a fresh stack")
        started = time.perf_counter()
        stack.start_infra()
        stack.start_services()
        figure("boot_seconds", time.perf_counter() - started, "s")
        time.sleep(2)  # let the processes settle before reading their memory
        for name, proc in stack.procs.items():
            figure(f"rss_mb_{name.replace('-', '_')}", rss_mb(proc.popen.pid), "MB")
        figure("rss_mb_postgres", rss_mb(postgres_pid(HOME)), "MB")

        lines = int(os.environ.get("BENCH_SLICE_LINES", "2000"))
        days = int(os.environ.get("BENCH_SLICE_DAYS", "100"))
        progress(f"slice: {lines * days} records through gateway -> usage -> invoicing")
        rps = asyncio.run(slice_bench.run(config.gateway_url, TOKEN, config.dsn, lines, days))
        figure("slice_rps", rps, "records/s")

        lines = int(os.environ.get("BENCH_USAGE_LINES", "10000"))
        days = int(os.environ.get("BENCH_USAGE_DAYS", "100"))
        pids = {name: proc.popen.pid for name, proc in stack.procs.items()}
        pids["postgres"] = postgres_pid(HOME)
        usage = usage_bench.measure(config.gateway_url, TOKEN, config.dsn, lines, days, pids)

        progress("watching usage: a 500-line pool's usage; usage -> alert under ingest load")
        watch_bench.report(
            asyncio.run(
                watch_bench.run(config.gateway_url, TOKEN, config.bootstrap, usage.ingest_rps)
            )
        )

        lines = int(os.environ.get("BENCH_BILLING_LINES", "100000"))
        seconds, _, barrier_ms = asyncio.run(
            billing_bench.run(
                config.gateway_url,
                TOKEN,
                config.dsn,
                lines=lines,
                orgs=lines // 20,
                pools=lines // 100,
            )
        )
        figure("billing_run_seconds", seconds, "s")
        figure("billing_run_barrier_ms", barrier_ms, "ms")
        figure("billing_run_lines_per_s", lines / seconds, "lines/s")

        paid = asyncio.run(payments_bench.run(config.gateway_url, TOKEN))
        figure("payment_to_balance_p99_ms", paid.to_balance_p99_ms, "ms")
        figure("payment_to_balance_p50_ms", paid.to_balance_p50_ms, "ms")
        figure("payments_per_s", paid.payments_per_s, "payments/s")
        figure("payment_to_balance_p99_at_half_ms", paid.at_half_p99_ms, "ms")
        figure("payment_to_balance_p50_at_half_ms", paid.at_half_p50_ms, "ms")

        notifier_url = config.service_urls("notifier")[0]
        pdfs = asyncio.run(
            pdf_bench.run(config.gateway_url, TOKEN, notifier_url, config.internal_secret)
        )
        pdf_bench.report(pdfs)

        count = int(os.environ.get("BENCH_LIST_INVOICES", "1000000"))
        default_p99, filtered_p99 = asyncio.run(
            list_bench.run(config.gateway_url, TOKEN, config.dsn, count)
        )
        figure("invoices_list_p99_ms", default_p99, "ms")
        figure("invoices_filtered_p99_ms", filtered_p99, "ms")
    finally:
        progress("stopping the bench stack")
        stack.stop()


if __name__ == "__main__":
    main()
