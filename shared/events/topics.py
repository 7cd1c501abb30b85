"""Every topic, its key and its one event union. The only place topic names are spelled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar, Union

from pydantic import Field, TypeAdapter, ValidationError

from shared.api.field_errors import message
from shared.errors import ValidationFailed
from shared.events.alerts import UsageThresholdCrossed
from shared.events.dead_letter import DeadLetter
from shared.events.envelope import Event, has_long_number, loads_exact
from shared.events.invoicing import (
    CreditNoteIssued,
    InvoiceApproved,
    InvoiceGenerated,
    InvoiceRestated,
    InvoiceRevised,
    InvoiceStatusChanged,
)
from shared.events.notifier import InvoiceSendFailed, InvoiceSendRequested, InvoiceSent
from shared.events.payments import PaymentPosted, PaymentReversed
from shared.events.usage import UsageRecorded, UsageRecordsReceived, UsageSnapshotsReceived

E = TypeVar("E")

PARTITIONS = 6


@dataclass(frozen=True)
class Topic(Generic[E]):
    name: str
    key_field: str
    adapter: TypeAdapter[E]
    events: tuple[type[Event], ...] = ()
    """The event classes on this topic (its union's members), for the AsyncAPI document."""

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    def parse(self, raw: bytes | str) -> E:
        """Bytes off the wire to the topic's event; a PermanentError says exactly what is wrong.

        Validated straight from the JSON text (fast, and exact: see `shared.money`)."""
        data = raw.encode() if isinstance(raw, str) else raw
        try:
            if has_long_number(data):
                return self.adapter.validate_python(loads_exact(data))
            return self.adapter.validate_json(data)
        except RecursionError:
            raise ValidationFailed("not JSON: nested too deeply") from None
        except ValueError as exc:
            if not isinstance(exc, ValidationError):  # the parser's text may name internals
                raise ValidationFailed("not JSON: the text cannot be read as JSON") from None
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise ValidationFailed("not JSON") from None
            raise ValidationFailed(
                f"not a valid {self.name} event", fields=validation_fields(exc)
            ) from None

    def key_of(self, event: Event) -> bytes:
        return str(getattr(event, self.key_field)).encode()


def validation_fields(exc: ValidationError) -> dict[str, str]:
    """Field path -> message. The union member (an event type such as `usage.recorded`) is
    left out of the path; a missing or unknown event type is reported on `type`."""
    fields = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if loc and "." in loc[0]:
            loc = loc[1:]
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["type"]
        fields[".".join(loc) or "body"] = message(err)
    return fields


def _union(*models: type[Any]) -> Any:
    return Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007


def _topic(name: str, key_field: str, *models: type[Event]) -> Topic[Any]:
    """A topic of one event type, or of a union discriminated by `type`."""
    shape = models[0] if len(models) == 1 else _union(*models)
    return Topic(name, key_field, TypeAdapter(shape), models)


USAGE_RAW: Topic[UsageSnapshotsReceived | UsageRecordsReceived] = _topic(
    "usage.raw", "service_line_number", UsageSnapshotsReceived, UsageRecordsReceived
)
USAGE_RECORDED: Topic[UsageRecorded] = _topic(
    "usage.recorded", "service_line_number", UsageRecorded
)
INVOICING_EVENTS: Topic[Any] = _topic(
    "invoicing.events",
    "invoice_id",
    InvoiceGenerated,
    InvoiceRevised,
    InvoiceApproved,
    InvoiceStatusChanged,
    CreditNoteIssued,
    InvoiceRestated,
)
PAYMENTS_EVENTS: Topic[Any] = _topic(
    "payments.events", "invoice_id", PaymentPosted, PaymentReversed
)
USAGE_ALERTS: Topic[UsageThresholdCrossed] = _topic(
    "usage.alerts", "subject_id", UsageThresholdCrossed
)
NOTIFIER_COMMANDS: Topic[InvoiceSendRequested] = _topic(
    "notifier.commands", "invoice_id", InvoiceSendRequested
)
NOTIFIER_EVENTS: Topic[Any] = _topic(
    "notifier.events", "invoice_id", InvoiceSent, InvoiceSendFailed
)

ALL_TOPICS: tuple[Topic[Any], ...] = (
    USAGE_RAW,
    USAGE_RECORDED,
    INVOICING_EVENTS,
    PAYMENTS_EVENTS,
    USAGE_ALERTS,
    NOTIFIER_COMMANDS,
    NOTIFIER_EVENTS,
)
DEAD_LETTER: TypeAdapter[DeadLetter] = TypeAdapter(DeadLetter)


def all_topic_names() -> list[str]:
    """Every topic with its dead-letter companion, as created by the local stack."""
    return [name for topic in ALL_TOPICS for name in (topic.name, topic.dlq)]
