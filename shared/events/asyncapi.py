"""The AsyncAPI 3.0 description of every topic, built from the event models themselves (so it
cannot drift from what is produced): channels with their key, messages with their payload
schema, and who sends and receives each. Served by the gateway at `/asyncapi.json`."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from shared.events.topics import ALL_TOPICS, DEAD_LETTER, PARTITIONS

# Who produces and who consumes each topic (consumer group `billport-<service>.<topic>`).
FLOWS = {
    "usage.raw": ("gateway", ["usage"]),
    "usage.recorded": ("usage", ["invoicing"]),
    "invoicing.events": ("invoicing", ["payments", "notifier"]),
    "payments.events": ("payments", ["invoicing", "notifier"]),
    "usage.alerts": ("invoicing", ["notifier"]),
    "notifier.commands": ("invoicing", ["notifier"]),
    "notifier.events": ("notifier", ["invoicing"]),
}


def _message(model: type[Any]) -> tuple[str, dict[str, Any]]:
    schema = TypeAdapter(model).json_schema(mode="serialization")
    name = model.model_fields["type"].default
    return name, {
        "name": name,
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip().split("\n")[0] or name,
        "contentType": "application/json",
        "payload": schema,
    }


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in ALL_TOPICS:
        producer, consumers = FLOWS[topic.name]
        messages = dict(_message(m) for m in topic.events)
        channels[topic.name] = {
            "address": topic.name,
            "description": f"Key: `{topic.key_field}` (per-key order); {PARTITIONS} partitions."
            f" Produced by {producer} (outbox or acknowledged send); consumed by"
            f" {', '.join(consumers)}, each event once (processed-event table).",
            "messages": messages,
        }
        channels[topic.dlq] = {
            "address": topic.dlq,
            "description": f"Dead letters of {topic.name}: the record as it came, with the reason.",
            "messages": {
                "dead_letter": {
                    "name": "dead_letter",
                    "contentType": "application/json",
                    "payload": DEAD_LETTER.json_schema(mode="serialization"),
                }
            },
        }
        refs = [{"$ref": f"#/channels/{topic.name}/messages/{n}"} for n in messages]
        operations[f"{producer}.send.{topic.name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic.name}"},
            "messages": refs,
        }
        for consumer in consumers:
            operations[f"{consumer}.receive.{topic.name}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{topic.name}"},
                "messages": refs,
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "BillPort events",
            "version": "1",
            "description": "The Kafka topics between BillPort's services. Every event carries"
            " `event_id`, `occurred_at`, `schema_version` and its `type`; money and GB are"
            " decimal strings.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
    }
