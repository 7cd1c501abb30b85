"""Turning pushed usage into `usage.raw` events: per-record validation, grouping by service
line (the topic's key), publishing with broker acknowledgement before the 202."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.events.topics import USAGE_RAW
from shared.events.usage import SERVICE_LINE_PATTERN, DailySnapshot, UsageSnapshotsReceived
from shared.kafka import KafkaProducer


class UsageRecordIn(DailySnapshot):
    """One record of `POST /usage/records`: a snapshot of one day of one service line."""

    service_line_number: str = Field(pattern=SERVICE_LINE_PATTERN)


class Rejection(BaseModel):
    index: int
    service_line_number: str | None = None
    reason: str


class IngestResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    accepted: int
    rejected: list[Rejection]


_record = TypeAdapter(UsageRecordIn)


def reason_of(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "; ".join(parts)


def validate_records(raw: list[Any]) -> tuple[list[UsageRecordIn], list[Rejection]]:
    good: list[UsageRecordIn] = []
    bad: list[Rejection] = []
    for index, item in enumerate(raw):
        try:
            good.append(_record.validate_python(item))
        except ValidationError as exc:
            line = item.get("service_line_number") if isinstance(item, dict) else None
            bad.append(
                Rejection(
                    index=index,
                    service_line_number=line if isinstance(line, str) else None,
                    reason=reason_of(exc),
                )
            )
    return good, bad


def group_by_line(
    records: list[UsageRecordIn], source: str, correlation_id: str | None
) -> list[UsageSnapshotsReceived]:
    by_line: dict[str, list[DailySnapshot]] = defaultdict(list)
    for r in records:
        by_line[r.service_line_number].append(
            DailySnapshot.model_construct(**r.model_dump(exclude={"service_line_number"}))
        )
    return [
        UsageSnapshotsReceived(
            source=source, service_line_number=line, snapshots=snaps, correlation_id=correlation_id
        )
        for line, snaps in by_line.items()
    ]


async def publish(producer: KafkaProducer, events: list[UsageSnapshotsReceived]) -> None:
    await producer.send_all((USAGE_RAW.name, USAGE_RAW.key_of(e), e.to_json()) for e in events)
