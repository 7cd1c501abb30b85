"""The AsyncAPI document is built from the event models: every topic, key and event type."""

from __future__ import annotations

import json

from shared.events.asyncapi import document
from shared.events.topics import ALL_TOPICS, all_topic_names


def test_every_topic_and_event_type_is_described() -> None:
    doc = document()
    assert doc["asyncapi"].startswith("3.")
    assert set(doc["channels"]) == set(all_topic_names())
    for topic in ALL_TOPICS:
        channel = doc["channels"][topic.name]
        assert topic.key_field in channel["description"]
        assert set(channel["messages"]) == {e.model_fields["type"].default for e in topic.events}
        for message in channel["messages"].values():
            props = message["payload"]["properties"]
            assert {"event_id", "occurred_at", "schema_version", "type"} <= set(props)
    json.dumps(doc)  # serializable as it is served


def test_every_operation_points_at_a_channel_and_its_messages() -> None:
    doc = document()
    for name, operation in doc["operations"].items():
        channel = operation["channel"]["$ref"].split("/")[-1]
        assert channel in doc["channels"], name
        for ref in operation["messages"]:
            *_, ch, _, message = ref["$ref"].split("/")
            assert message in doc["channels"][ch]["messages"]
