"""The internal client writes requests as the services expect them (it once used httpx, whose
conventions the callers were written for)."""

from __future__ import annotations

import json

from shared.internal_client import _body, _query


def test_query_parameters_are_written_as_before() -> None:
    assert _query({"limit": 50, "paid": True, "open": False, "tag": ["a", "b"], "none": None}) == [
        ("limit", "50"),
        ("paid", "true"),
        ("open", "false"),
        ("tag", "a"),
        ("tag", "b"),
        ("none", ""),
    ]


def test_a_json_body_is_sent_as_json_with_its_type() -> None:
    body = _body({"json": {"amount": "10.00"}, "headers": {"Idempotency-Key": "k"}})
    assert json.loads(body["data"]) == {"amount": "10.00"}
    assert body["headers"] == {"Idempotency-Key": "k", "Content-Type": "application/json"}


def test_raw_content_is_sent_as_bytes_with_the_callers_type() -> None:
    body = _body({"content": '{"a": 1}', "headers": {"Content-Type": "application/json"}})
    assert body["data"] == b'{"a": 1}'
    assert body["headers"] == {"Content-Type": "application/json"}
    assert "params" not in body
