"""Turning pushed usage into `usage.raw` events: validation (one pass over the JSON text for a
clean batch; record by record, with reasons, for a batch with errors), grouping by partition,
publishing with broker acknowledgement before the 202."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from operator import itemgetter
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from services.gateway.edge import TOO_DEEP, json_depth_exceeds, too_deep_reason
from shared.errors import BadRequest, ValidationFailed
from shared.events import usage_wire
from shared.events.envelope import error_message, has_long_number, loads_exact
from shared.events.topics import USAGE_RAW
from shared.events.usage import (
    MAX_RECORDS_PER_MESSAGE,
    LineSnapshot,
    LineSnapshotDict,
    UsageRecordsReceived,
    opt_in_exceeds_priority,
)
from shared.kafka import KafkaProducer, partition_for

UsageRecordIn = LineSnapshot


@with_config(ConfigDict(extra="forbid"))
class RecordsBody(TypedDict):
    """Body of `POST /usage/records` (validated in one pass over the JSON text)."""

    records: Annotated[list[LineSnapshotDict], Field(max_length=MAX_RECORDS_PER_MESSAGE)]


_body = TypeAdapter(RecordsBody)


class Rejection(BaseModel):
    index: int
    service_line_number: str | None = None
    reason: str


class IngestResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    accepted: int
    rejected: list[Rejection]


_record = TypeAdapter(LineSnapshot)


def reason_of(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = error_message(err)
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


Records = Sequence[LineSnapshotDict] | usage_wire.PushedColumns
"""Valid records: columns of texts from the fast path, dicts from the models."""


def parse_records_body(raw: bytes, max_records: int) -> tuple[Records, list[Rejection]]:
    """Valid records and the rejected ones, or a 4xx for a body that is not a batch at all."""
    if len(raw) and max_records >= MAX_RECORDS_PER_MESSAGE:
        # msgspec, the common case: figures as text only, so no number passes through a float
        fast = usage_wire.parse_records(raw)
        if fast is not None:
            return fast, []
    if len(raw) and max_records >= MAX_RECORDS_PER_MESSAGE and not has_long_number(raw):
        try:
            clean = _body.validate_json(raw)["records"]
            if not any(opt_in_exceeds_priority(r) for r in clean):
                return clean, []
        except ValidationError:
            pass  # some record is wrong, or the body is: find out exactly below
    body = json_value(raw)
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise ValidationFailed(
            "expected an object with a list `records`",
            fields={"records": "must be a list of usage records"},
        )
    if len(records) > max_records:
        raise ValidationFailed(
            f"at most {max_records} records per request",
            fields={"records": f"{len(records)} records; split the batch"},
        )
    return validate_records(records)


MAX_JSON_DEPTH = 32
"""As the edge's `max_json_depth` default; a usage record and a Starlink page nest about 7."""


def json_value(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The body as Python values; 4xx with our own text for whatever the parser refuses (its
    texts name internals: "use sys.set_int_max_str_digits()")."""
    if not raw:
        raise BadRequest("the request body is empty; send JSON")
    if json_depth_exceeds(raw, max_depth):
        raise ValidationFailed(TOO_DEEP, fields={"body": too_deep_reason(max_depth)})
    try:
        return loads_exact(raw)
    except RecursionError:  # not reached after the depth check; kept so it is never a 500
        raise ValidationFailed(TOO_DEEP, fields={"body": too_deep_reason(max_depth)}) from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError:  # a number of more than 4300 digits
        raise BadRequest("the request body holds a number with too many digits") from None


def validate_records(raw: list[Any]) -> tuple[list[LineSnapshotDict], list[Rejection]]:
    good: list[LineSnapshotDict] = []
    bad: list[Rejection] = []
    for index, item in enumerate(raw):
        try:
            good.append(_record.validate_python(item).model_dump(exclude_unset=True))  # type: ignore[arg-type]
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


def group_by_partition(
    records: Records, source: str, correlation_id: str | None
) -> list[tuple[str, bytes]]:
    """One `usage.raw` event per partition (key, JSON), each record where its service line's
    key puts it, in the order received."""
    if isinstance(records, usage_wire.PushedColumns):
        return [
            (texts[0].split(",", 1)[0], usage_wire.records_message(texts, source, correlation_id))
            for texts in columns_by_partition(records.columns)
        ]
    groups: dict[int, list[LineSnapshotDict]] = defaultdict(list)
    for r in records:
        groups[partition_for(r["service_line_number"])].append(r)
    return [
        (
            group[0]["service_line_number"],
            UsageRecordsReceived.serialize(group, source, correlation_id),
        )
        for _, group in sorted(groups.items())
    ]


def columns_by_partition(columns: list[list[str]]) -> list[list[str]]:
    """The columns' records grouped by their line's partition (in partition order, each group
    in the order received), each group as its seven comma-joined texts. A stable sort of the
    record positions by partition, then one C-level pick per column: no Python loop a record
    beyond reading its partition."""
    lines = columns[0]
    if not lines:
        return []
    part_of = {line: partition_for(line) for line in set(lines)}
    if len(set(part_of.values())) == 1:
        return [[",".join(column) for column in columns]]
    parts = [part_of[line] for line in lines]
    pick = itemgetter(*sorted(range(len(parts)), key=parts.__getitem__))
    ordered = [pick(column) for column in columns]
    groups, start = [], 0
    for _, size in sorted(Counter(parts).items()):
        groups.append([",".join(column[start : start + size]) for column in ordered])
        start += size
    return groups


async def publish(producer: KafkaProducer, messages: list[tuple[str, bytes]]) -> None:
    await producer.send_all((USAGE_RAW.name, key.encode(), payload) for key, payload in messages)
