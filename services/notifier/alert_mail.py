"""Usage alert e-mails: `usage.threshold_crossed` from `usage.alerts` into the durable send
queue (one row per alert: an alert read twice is queued once), sent by the same sender, with
the same retries and template mechanism as invoices.

Its own consumer group (`<group>.mail.usage.alerts`): other consumers of the topic in this
process (the webhooks) keep theirs, so each reads every alert."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faststream.kafka import KafkaRouter

from services.notifier import repository
from shared.consumer import consume
from shared.db import processed
from shared.events.topics import USAGE_ALERTS
from shared.service import Runtime

CONSUMER = "usage.alerts->mail"


def router(runtime: Runtime, domain: str, woken: Callable[[], None]) -> KafkaRouter:
    kafka = KafkaRouter()

    async def enqueue(records: list[Any]) -> None:
        alerts = [USAGE_ALERTS.parse(r.value) for r in records]
        queued = 0
        async with runtime.pool.acquire() as conn, conn.transaction():
            fresh = await processed.claim(conn, CONSUMER, [a.event_id for a in alerts])
            for alert in alerts:
                if alert.event_id in fresh and alert.recipients:  # nobody to tell: no e-mail
                    queued += await repository.enqueue_alert(conn, alert, domain)
        if queued:
            woken()

    consume(
        kafka,
        USAGE_ALERTS,
        f"{runtime.settings.group_id}.mail",
        enqueue,
        lambda: runtime.dead_letters().for_group(
            f"{runtime.settings.group_id}.mail.{USAGE_ALERTS.name}"
        ),
        runtime.settings.consumer_max_attempts,
        max_records=100,
    )
    return kafka
