"""`billport <group> <command> [options]`.

Each subcommand is one `Command` in `COMMANDS` (its group, name, arguments and what it runs),
so adding one (e.g. `billport billing run`) is one more entry and one more function; the
dispatcher does not change. Exit codes: 0 done, 1 the task failed (reason on stderr), 2 the
command line was wrong (argparse's own convention).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.usage.poller import MAX_PAGE_SIZE, PollConfig, PollError, PollSummary, poll

DEFAULT_GATEWAY = "http://127.0.0.1:8000"
SHOWN_REJECTIONS = 5
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass(frozen=True)
class Command:
    """One `billport <group> <name>` subcommand."""

    group: str
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def main(argv: list[str] | None = None) -> int:
    """Parse, then run the chosen subcommand; returns the exit code instead of exiting, so that
    tests and other Python code can call it."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.WARNING, format="billport: %(message)s", stream=sys.stderr)
    command: Command = args.billport_command
    try:
        return command.run(args)
    except KeyboardInterrupt:
        print("billport: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    """The parser for every command in `COMMANDS`. Built per call, since option defaults come
    from the environment at that moment."""
    parser = argparse.ArgumentParser(prog="billport", description="BillPort operator commands.")
    groups = parser.add_subparsers(dest="group", metavar="GROUP", required=True)
    commands_of: dict[str, Any] = {}
    for command in COMMANDS:
        if command.group not in commands_of:
            group = groups.add_parser(command.group, help=GROUP_HELP.get(command.group))
            commands_of[command.group] = group.add_subparsers(
                dest="command", metavar="COMMAND", required=True
            )
        sub = commands_of[command.group].add_parser(
            command.name, help=command.help, description=command.help
        )
        command.add_arguments(sub)
        sub.set_defaults(billport_command=command)
    return parser


# --- billport usage poll -------------------------------------------------------------------


def usage_poll_arguments(parser: argparse.ArgumentParser) -> None:
    """Secrets and endpoints may come from the environment, so they stay out of `ps` output and
    shell history; an option is required only when its variable is not set either."""
    env_option(parser, "--api-url", "STARLINK_API_URL", "Starlink Enterprise API base URL")
    env_option(parser, "--token-url", "STARLINK_TOKEN_URL", "Starlink OAuth2 token URL")
    env_option(parser, "--client-id", "STARLINK_CLIENT_ID", "OAuth2 client id")
    env_option(parser, "--client-secret", "STARLINK_CLIENT_SECRET", "OAuth2 client secret")
    parser.add_argument("--account", help="Starlink account number (sent as accountNumber)")
    env_option(parser, "--gateway", "BILLPORT_GATEWAY_URL", "BillPort gateway URL", DEFAULT_GATEWAY)
    env_option(parser, "--token", "BILLPORT_FEED_TOKEN", "gateway bearer token (role feed)")
    parser.add_argument(
        "--page-size",
        type=page_size,
        default=MAX_PAGE_SIZE,
        help=f"service lines per page, 1..{MAX_PAGE_SIZE} (default: {MAX_PAGE_SIZE})",
    )


def run_usage_poll(args: argparse.Namespace) -> int:
    """Poll Starlink into the gateway: progress per page on stderr, the summary on stdout."""
    config = PollConfig(
        api_url=args.api_url,
        token_url=args.token_url,
        client_id=args.client_id,
        client_secret=args.client_secret,
        gateway_url=args.gateway,
        feed_token=args.token,
        account_number=args.account,
        page_size=args.page_size,
    )
    try:
        summary = asyncio.run(poll(config, on_page=print_progress))
    except PollError as exc:
        print(f"billport usage poll: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(summary_text(summary))
    return EXIT_OK


def print_progress(page_index: int, results: int, accepted: int, rejected: int) -> None:
    print(
        f"page {page_index}: {results} service lines, {accepted} accepted, {rejected} rejected",
        file=sys.stderr,
        flush=True,
    )


def summary_text(summary: PollSummary) -> str:
    lines = [
        f"pages: {summary.pages}",
        f"service lines: {summary.service_lines}",
        f"accepted: {summary.accepted}",
        f"rejected: {summary.rejected}",
    ]
    shown = summary.rejections[:SHOWN_REJECTIONS]
    if shown:
        lines.append("first rejections:")
        lines += [f"  {rejection_text(r)}" for r in shown]
    if summary.rejected > len(shown):
        lines.append(f"  ... and {summary.rejected - len(shown)} more")
    return "\n".join(lines)


def rejection_text(rejection: dict[str, Any]) -> str:
    line = rejection.get("service_line_number") or "?"
    where = f"page {rejection.get('page_index')}, entry {rejection.get('index')}"
    return f"{where}, {line}: {rejection.get('reason')}"


# --- billport payments check ---------------------------------------------------------------


def payments_check_arguments(parser: argparse.ArgumentParser) -> None:
    env_option(parser, "--gateway", "BILLPORT_GATEWAY_URL", "BillPort gateway URL", DEFAULT_GATEWAY)
    env_option(parser, "--token", "BILLPORT_ADMIN_TOKEN", "gateway bearer token (admin or finance)")


def gateway_json(
    args: argparse.Namespace, method: str, path: str, timeout_seconds: float
) -> dict[str, Any] | None:
    """The gateway's 200 answer to `method path`; None (the reason printed) otherwise."""
    import httpx

    try:
        response = httpx.request(
            method,
            args.gateway.rstrip("/") + path,
            headers={"Authorization": f"Bearer {args.token}"},
            timeout=timeout_seconds,
        )
    except httpx.HTTPError as exc:
        print(f"billport: the gateway did not answer: {exc}", file=sys.stderr)
        return None
    if response.status_code != 200:
        print(f"billport: {response.status_code} {response.text}", file=sys.stderr)
        return None
    return dict(response.json())


def run_payments_check(args: argparse.Namespace) -> int:
    """Print the ledger's invariants; exit 1 when any does not hold."""
    check = gateway_json(args, "GET", "/api/v1/payments/ledger-check", 120)
    if check is None:
        return EXIT_FAILED
    accounts = check["accounts"]
    print(
        f"ledger total {check['ledger_total']} (cash {accounts['cash']}, receivable"
        f" {accounts['receivable']}, revenue {accounts['revenue']});"
        f" {check['invoices_checked']} invoices, {check['postings']} postings;"
        f" invoiced {check['invoiced']} = credited {check.get('credited', '0.00')}"
        f" + paid {check['paid']} + balance {check['balance']}"
    )
    for problem in check["problems"]:
        print(f"PROBLEM {problem}")
    print("balanced" if check["balanced"] else "NOT balanced")
    return EXIT_OK if check["balanced"] else EXIT_FAILED


def invoice_check_arguments(parser: argparse.ArgumentParser) -> None:
    payments_check_arguments(parser)
    parser.add_argument(
        "--repair",
        action="store_true",
        help="restate the invoices whose copy differs (admin token)",
    )


def run_invoice_check(args: argparse.Namespace) -> int:
    """Print how the payments service's copy of the invoices compares with the invoices (and
    repair it with --repair); exit 1 when they differ."""
    path = "/api/v1/payments/invoice-check" + ("/repair" if args.repair else "")
    check = gateway_json(args, "POST" if args.repair else "GET", path, 600)
    if check is None:
        return EXIT_FAILED
    print(
        f"{check['invoices_compared']} invoices compared, {check['differences_total']} differences"
    )
    for d in check["differences"]:
        print(
            f"DIFFERS {d['invoice_id']} {d['figure']}: invoicing {d['invoicing']},"
            f" payments {d['payments']}"
        )
    if check["restated"]:
        print(f"restated {len(check['restated'])} invoices; run the check again to confirm")
    print("consistent" if check["consistent"] else "NOT consistent")
    return EXIT_OK if check["consistent"] else EXIT_FAILED


# --- billport usage check / resync ---------------------------------------------------------

SHOWN_DIFFERENCES = 50


def month_arg(text: str) -> str:
    """argparse type for --from: a month YYYY-MM."""
    if len(text) != 7 or text[4] != "-" or not (text[:4] + text[5:]).isdigit():
        raise argparse.ArgumentTypeError(f"not a month YYYY-MM: {text!r}")
    if not 1900 <= int(text[:4]) <= 2999 or not 1 <= int(text[5:]) <= 12:
        raise argparse.ArgumentTypeError(f"not a month YYYY-MM: {text!r}")
    return text


def months_ago(count: int) -> str:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 - count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def usage_check_arguments(parser: argparse.ArgumentParser) -> None:
    env_option(parser, "--gateway", "BILLPORT_GATEWAY_URL", "BillPort gateway URL", DEFAULT_GATEWAY)
    env_option(parser, "--token", "BILLPORT_ADMIN_TOKEN", "gateway bearer token (admin or finance)")
    parser.add_argument(
        "--from",
        dest="from_month",
        type=month_arg,
        default=months_ago(12),
        help="first month compared, YYYY-MM (default: twelve months ago)",
    )


def run_usage_check(args: argparse.Namespace) -> int:
    """Compare invoicing's monthly usage per line with the usage service's; exit 1 on any
    difference or usage not applied."""
    response = gateway_call(args, "GET", "/api/v1/usage/check", params={"from": args.from_month})
    if response is None:
        return EXIT_FAILED
    check = response.json()
    differences, failures = check["differences"], check["apply_failures"]
    print(
        f"usage from {check['from']}: {check['service_lines']} service lines,"
        f" {check['months_compared']} line-months compared;"
        f" {len(differences)} differences, {len(failures)} lines not applied"
    )
    for d in differences[:SHOWN_DIFFERENCES]:
        print(
            f"DIFFERENCE {d['service_line_number']} {d['month']} {d['figure']}:"
            f" usage {d['usage']}, invoicing {d['invoicing']}"
        )
    if len(differences) > SHOWN_DIFFERENCES:
        print(f"... and {len(differences) - SHOWN_DIFFERENCES} more differences")
    for f in failures:
        print(
            f"NOT APPLIED #{f['id']} {f['service_line_number']} ({f['days']} days): {f['reason']}"
        )
    if not check["consistent"]:
        print(f"NOT consistent: run `billport usage resync --from {check['from']}`")
        return EXIT_FAILED
    print("consistent")
    return EXIT_OK


def usage_resync_arguments(parser: argparse.ArgumentParser) -> None:
    env_option(parser, "--gateway", "BILLPORT_GATEWAY_URL", "BillPort gateway URL", DEFAULT_GATEWAY)
    env_option(parser, "--token", "BILLPORT_ADMIN_TOKEN", "gateway bearer token (admin)")
    parser.add_argument(
        "--from", dest="from_month", type=month_arg, required=True, help="first month, YYYY-MM"
    )


def run_usage_resync(args: argparse.Namespace) -> int:
    """Have the usage service announce its days again from a month on (a job; its progress
    on stderr); copies converge as they read them."""
    import time

    response = gateway_call(
        args, "POST", "/api/v1/usage/resync", ok=202, json={"from": args.from_month}
    )
    if response is None:
        return EXIT_FAILED
    job = response.json()
    print(f"resync {job['id']} from {job['from']} started", file=sys.stderr, flush=True)
    while job["state"] == "running":
        time.sleep(1)
        polled = gateway_call(args, "GET", f"/api/v1/usage/resync/{job['id']}")
        if polled is None:
            return EXIT_FAILED
        job = polled.json()
        print(
            f"  {job['days']} days of {job['service_lines']} service lines announced",
            file=sys.stderr,
            flush=True,
        )
    if job["state"] != "done":
        print(f"billport: resync {job['id']} {job['state']}: {job['error']}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"re-announced {job['days']} days of {job['service_lines']} service lines from"
        f" {job['from']} in {job['messages']} messages; the invoicing copy converges as it"
        " reads them: `billport usage check` confirms"
    )
    return EXIT_OK


def usage_dismiss_arguments(parser: argparse.ArgumentParser) -> None:
    env_option(parser, "--gateway", "BILLPORT_GATEWAY_URL", "BillPort gateway URL", DEFAULT_GATEWAY)
    env_option(parser, "--token", "BILLPORT_ADMIN_TOKEN", "gateway bearer token (admin)")
    parser.add_argument("failure_id", type=int, help="the id `billport usage check` shows")
    parser.add_argument("--reason", required=True, help="why the message held nothing to bill")


def run_usage_dismiss(args: argparse.Namespace) -> int:
    """Close a usage failure that was never usage (after looking at its dead letter)."""
    path = f"/api/v1/usage/failures/{args.failure_id}/dismiss"
    if gateway_call(args, "POST", path, json={"reason": args.reason}) is None:
        return EXIT_FAILED
    print(f"usage failure {args.failure_id} dismissed: {args.reason}")
    return EXIT_OK


def gateway_call(
    args: argparse.Namespace, method: str, path: str, ok: int = 200, **kwargs: Any
) -> Any:
    """The gateway's answer (status `ok`), or None after saying on stderr why not."""
    import httpx

    try:
        response = httpx.request(
            method,
            args.gateway.rstrip("/") + path,
            headers={"Authorization": f"Bearer {args.token}"},
            timeout=3600,
            **kwargs,
        )
    except httpx.HTTPError as exc:
        print(f"billport: the gateway did not answer: {exc}", file=sys.stderr)
        return None
    if response.status_code != ok:
        print(f"billport: {response.status_code} {response.text}", file=sys.stderr)
        return None
    return response


# --- billport catalog ... (changes over time) ----------------------------------------------


def catalog_common(parser: argparse.ArgumentParser) -> None:
    env_option(parser, "--gateway", "BILLPORT_GATEWAY_URL", "BillPort gateway URL", DEFAULT_GATEWAY)
    env_option(parser, "--token", "BILLPORT_ADMIN_TOKEN", "gateway bearer token (admin)")


def line_change_arguments(parser: argparse.ArgumentParser) -> None:
    catalog_common(parser)
    parser.add_argument("service_line_number")
    parser.add_argument("--on", required=True, help="effective day YYYY-MM-DD (past days allowed)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--plan", help="plan id to bill the line on from that day")
    target.add_argument("--pool", help="sub-pool id the line joins from that day")
    parser.add_argument("--org", help="organization billed from that day (default: the current)")


def run_line_change(args: argparse.Namespace) -> int:
    body = {"effective_on": args.on}
    for key, value in (("plan_id", args.plan), ("sub_pool_id", args.pool), ("org_id", args.org)):
        if value:
            body[key] = value
    path = f"/api/v1/service-lines/{args.service_line_number}/changes"
    return print_line(gateway_call(args, "POST", path, json=body, ok=201))


def line_end_arguments(parser: argparse.ArgumentParser) -> None:
    catalog_common(parser)
    parser.add_argument("service_line_number")
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--on", help="last active day YYYY-MM-DD (past days allowed)")
    when.add_argument("--reopen", action="store_true", help="open the line again")


def run_line_end(args: argparse.Namespace) -> int:
    body = {"active_to": None if args.reopen else args.on}
    path = f"/api/v1/service-lines/{args.service_line_number}"
    return print_line(gateway_call(args, "PATCH", path, json=body))


def print_line(response: Any) -> int:
    if response is None:
        return EXIT_FAILED
    line = response.json()
    print(f"{line['service_line_number']} ({line['name']}):")
    for a in line["assignments"]:
        target = f"plan {a['plan_id']}" if a["plan_id"] else f"sub-pool {a['sub_pool_id']}"
        print(f"  {a['active_from']} .. {a['active_to'] or 'open'}  {a['org_id']}  {target}")
    return EXIT_OK


def price_version_arguments(parser: argparse.ArgumentParser) -> None:
    catalog_common(parser)
    parser.add_argument("kind", choices=["plan", "sub-pool"])
    parser.add_argument("id")
    parser.add_argument("--from", dest="from_month", type=month_arg, required=True)
    for name in (
        "monthly-price",
        "allowance-gb",
        "overage-price-per-gb",
        "overage-block-gb",
        "overage-block-price",
    ):
        parser.add_argument(f"--{name}")


def run_price_version(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"effective_from": args.from_month}
    for key in (
        "monthly_price",
        "allowance_gb",
        "overage_price_per_gb",
        "overage_block_gb",
        "overage_block_price",
    ):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    path = f"/api/v1/{'plans' if args.kind == 'plan' else 'sub-pools'}/{args.id}"
    response = gateway_call(args, "PATCH", path, json=body)
    if response is None:
        return EXIT_FAILED
    item = response.json()
    print(f"{args.kind} {item['id']} ({item['name']}): versions from")
    for v in item["versions"]:
        print(
            "  "
            + v["effective_from"]
            + ": "
            + ", ".join(f"{k} {v[k]}" for k in v if k != "effective_from" and v[k] is not None)
        )
    return EXIT_OK


# --- billport kafka topics ------------------------------------------------------------------


def kafka_topics_arguments(parser: argparse.ArgumentParser) -> None:
    env_option(parser, "--bootstrap", "BILLPORT_KAFKA_BOOTSTRAP", "Kafka bootstrap servers")


def run_kafka_topics(args: argparse.Namespace) -> int:
    """Create every topic and its dead-letter topic (6 partitions each) unless present."""
    from shared.events.topics import all_topic_names
    from shared.kafka import ensure_topics

    try:
        created = asyncio.run(ensure_topics(args.bootstrap))
    except Exception as exc:  # the broker away: say so, exit 1 (a deploy job retries)
        print(f"billport: cannot reach Kafka at {args.bootstrap}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{len(created)} topics created, {len(all_topic_names()) - len(created)} present:")
    for name in all_topic_names():
        print(f"  {name}{' (created)' if name in created else ''}")
    return EXIT_OK


# --- billport webhooks verify --------------------------------------------------------------


def webhooks_verify_arguments(parser: argparse.ArgumentParser) -> None:
    env_option(parser, "--secret", "BILLPORT_WEBHOOK_SECRET", "the webhook's secret (whsec_…)")
    parser.add_argument(
        "--signature", required=True, help='the BillPort-Signature header: "t=…,v1=…"'
    )
    parser.add_argument(
        "--body-file",
        required=True,
        help="the request body exactly as received (bytes, not re-encoded JSON); - for stdin",
    )
    parser.add_argument(
        "--tolerance-seconds",
        type=int,
        default=300,
        help="how far the signed time may be from now (default 300; 0: any time)",
    )


def run_webhooks_verify(args: argparse.Namespace) -> int:
    """Check a delivery's signature: `valid` (exit 0) or `invalid: <why>` (exit 1)."""
    from services.notifier.webhook_signature import problem

    try:
        if args.body_file == "-":
            body = sys.stdin.buffer.read()
        else:
            with open(args.body_file, "rb") as f:
                body = f.read()
    except OSError as exc:
        print(f"billport: cannot read {args.body_file}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILED
    why = problem(args.secret, args.signature, body, args.tolerance_seconds)
    print("valid" if why is None else f"invalid: {why}")
    return EXIT_OK if why is None else EXIT_FAILED


# --- helpers -------------------------------------------------------------------------------


def env_option(
    parser: argparse.ArgumentParser,
    flag: str,
    variable: str,
    help: str,
    fallback: str | None = None,
) -> None:
    """An option defaulting to an environment variable (then to `fallback`); the help names the
    variable, never its value, since some are secrets."""
    default = os.environ.get(variable) or fallback
    shown = f"${variable}" + (f", else {fallback}" if fallback else "")
    parser.add_argument(
        flag, default=default, required=default is None, help=f"{help} (default: {shown})"
    )


def page_size(text: str) -> int:
    """argparse type for --page-size: refused here so that a bad value is a usage error (2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_PAGE_SIZE}, got {value}")
    return value


GROUP_HELP = {
    "usage": "Starlink usage",
    "catalog": "catalog changes over time (operators script these)",
    "payments": "payments and the ledger",
    "kafka": "Kafka topics",
    "webhooks": "webhook deliveries (for receivers)",
}

COMMANDS: tuple[Command, ...] = (
    Command(
        group="usage",
        name="poll",
        help="Fetch every Starlink data-usage page and push each to the gateway.",
        add_arguments=usage_poll_arguments,
        run=run_usage_poll,
    ),
    Command(
        group="usage",
        name="check",
        help="Compare the invoicing service's usage per line and month with the usage"
        " service's; exit 1 on any difference.",
        add_arguments=usage_check_arguments,
        run=run_usage_check,
    ),
    Command(
        group="usage",
        name="resync",
        help="Announce the usage service's days again from a month on, so copies converge.",
        add_arguments=usage_resync_arguments,
        run=run_usage_resync,
    ),
    Command(
        group="usage",
        name="dismiss",
        help="Close a usage failure that held nothing to bill (garbage on the topic).",
        add_arguments=usage_dismiss_arguments,
        run=run_usage_dismiss,
    ),
    Command(
        group="catalog",
        name="change-line",
        help="From a day on, bill a service line on a plan, in a sub-pool or for another"
        " organization.",
        add_arguments=line_change_arguments,
        run=run_line_change,
    ),
    Command(
        group="catalog",
        name="end-line",
        help="End a service line on a day (inclusive, past days allowed) or reopen it.",
        add_arguments=line_end_arguments,
        run=run_line_end,
    ),
    Command(
        group="catalog",
        name="price-version",
        help="A new price version of a plan or sub-pool for periods from a month on.",
        add_arguments=price_version_arguments,
        run=run_price_version,
    ),
    Command(
        group="payments",
        name="check",
        help="Check the payments ledger: it sums to zero; each invoice's accounts agree.",
        add_arguments=payments_check_arguments,
        run=run_payments_check,
    ),
    Command(
        group="payments",
        name="invoice-check",
        help="Compare the payments service's copy of the invoices with them (--repair).",
        add_arguments=invoice_check_arguments,
        run=run_invoice_check,
    ),
    Command(
        group="kafka",
        name="topics",
        help="Create every BillPort topic and its dead-letter topic if absent.",
        add_arguments=kafka_topics_arguments,
        run=run_kafka_topics,
    ),
    Command(
        group="webhooks",
        name="verify",
        help="Check a webhook delivery's BillPort-Signature against its body and the secret;"
        " prints valid or invalid (exit 0 or 1).",
        add_arguments=webhooks_verify_arguments,
        run=run_webhooks_verify,
    ),
)
