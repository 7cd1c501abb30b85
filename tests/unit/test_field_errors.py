"""Validation and storage errors in our own words; plain amounts and dates; the edge's JSON depth
scan and the docs page's script hash."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Annotated, Any, Literal

import asyncpg
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.gateway.edge import (
    APP_POLICY,
    Edge,
    Limits,
    Policies,
    docs_policy,
    json_depth_exceeds,
)
from shared.api.catalog import ProductIn, ServiceLineChange
from shared.api.field_errors import field_errors, message, stored_value_message
from shared.api.payments import PaymentIn
from shared.events.topics import USAGE_RAW, validation_fields
from shared.http_errors import on_unexpected


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(max_length=5)]
    count: int = 0
    kind: Literal["a", "b"] = "a"
    note: str = ""

    @field_validator("note")
    @classmethod
    def _no_x(cls, value: str) -> str:
        if "x" in value:
            raise ValueError("must not hold an x")
        return value


def reasons(data: Any, json_text: bool = False) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        if json_text:
            Sample.model_validate_json(data)
        else:
            Sample.model_validate(data)
    return field_errors(info.value.errors())


def test_each_kind_of_error_has_our_text() -> None:
    assert reasons({}) == {"name": "required"}
    assert reasons({"name": "abcdef"}) == {"name": "at most 5 characters"}
    assert reasons({"name": "a", "count": "many"}) == {"count": "must be a whole number"}
    assert reasons({"name": "a", "kind": "c"}) == {"kind": "must be one of 'a' or 'b'"}
    assert reasons({"name": "a", "other": 1}) == {"other": "is not allowed here (unknown field)"}
    assert reasons({"name": "a", "note": "xx"}) == {"note": "must not hold an x"}
    assert reasons(b'{"name": ', json_text=True) == {"body": "not valid JSON"}
    assert message({"type": "something_new", "msg": "Input should be magic"}) == (
        "not a valid value"
    )


def test_a_10_to_the_5_digit_integer_is_refused_without_python_internals() -> None:
    text = reasons({"name": "a", "count": "9" * 100_000})["count"]
    assert "sys" not in text and "digits" not in text
    assert text in ("must be a whole number", "a number is out of range")


@pytest.mark.parametrize(
    "amount", ["1e3", "\u0661\u0662\u0663", "\uff11\uff12\uff13", " 5", "5 ", "12.5.1", "1_0", ""]
)
def test_amounts_are_plain_ascii_decimal_text(amount: str) -> None:
    for model, fields in [
        (PaymentIn, {"amount": amount, "received_on": "2026-11-04", "method": "ACH"}),
        (ProductIn, {"name": "Dish", "unit_price": amount}),
    ]:
        with pytest.raises(ValidationError) as info:
            model.model_validate(fields)
        text = next(iter(field_errors(info.value.errors()).values()))
        assert text.startswith("is not a decimal number written as"), text


def test_plain_amounts_keep_their_rules() -> None:
    paid = PaymentIn.model_validate(
        {"amount": "12.5", "received_on": "2026-11-04", "method": "ACH"}
    )
    assert str(paid.amount) == "12.50"
    with pytest.raises(ValidationError) as info:
        ProductIn.model_validate({"name": "Dish", "unit_price": "9" * 100_000})
    assert field_errors(info.value.errors()) == {
        "unit_price": "has too many characters for an amount"
    }


@pytest.mark.parametrize(
    "day", ["0001-01-01", "9999-12-31", "1899-12-31", "3000-01-01", "2026-11-04T00:00:00", 0]
)
def test_days_are_yyyy_mm_dd_from_1900_to_2999(day: object) -> None:
    with pytest.raises(ValidationError) as info:
        PaymentIn.model_validate({"amount": "1", "received_on": day, "method": "ACH"})
    assert field_errors(info.value.errors())["received_on"].startswith("must be")
    with pytest.raises(ValidationError):
        ServiceLineChange.model_validate({"effective_on": day, "org_id": "o"})
    ok = PaymentIn.model_validate({"amount": "1", "received_on": "1900-01-01", "method": "ACH"})
    assert ok.received_on.year == 1900


def test_dead_letter_reasons_are_ours_too() -> None:
    raw = {"type": "usage.snapshots_received", "snapshots": [{"date": "0001-01-01"}]}
    with pytest.raises(ValidationError) as info:
        USAGE_RAW.adapter.validate_json(json.dumps(raw))
    fields = validation_fields(info.value)
    assert fields, fields
    assert not any("Input should" in text or "Field required" in text for text in fields.values())


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (asyncpg.NumericValueOutOfRangeError, "a number is out of range"),
        (asyncpg.StringDataRightTruncationError, "a text is too long"),
        (asyncpg.CharacterNotInRepertoireError, "a text holds a character that cannot be stored"),
        (asyncpg.InvalidTextRepresentationError, "a text holds a character that cannot be stored"),
        (asyncpg.DataError, "a value cannot be stored"),
    ],
)
def test_a_value_postgresql_refuses_is_named_by_its_class(
    error: type[Exception], reason: str
) -> None:
    exc = error("numeric field overflow\nDETAIL:  A field with precision 14, scale 4 must ...")
    assert stored_value_message(exc) == f"the request cannot be stored: {reason}"


def nest(levels: int) -> bytes:
    return b'{"a": ' * levels + b"1" + b"}" * levels


def test_json_depth_is_counted_outside_strings() -> None:
    assert not json_depth_exceeds(nest(32), 32)
    assert json_depth_exceeds(nest(33), 32)
    assert json_depth_exceeds(b"[" * 40, 32)  # never closed: the parser would recurse first
    tricky = json.dumps({"s": '\\"[[[[[[' + "{" * 50, "t": [[["\\"]]]}).encode()
    assert not json_depth_exceeds(tricky, 4)
    assert json_depth_exceeds(tricky, 3)


def test_the_docs_policy_allows_exactly_its_inline_script_and_cdn() -> None:
    script = "const ui = SwaggerUIBundle({url: '/openapi.json'})"
    html = (
        '<link rel="stylesheet" href="https://cdn.example/ui.css">'
        '<script src="https://cdn.example/ui.js"></script>'
        f"<script>{script}</script>"
    )
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = docs_policy(html)
    assert f"script-src https://cdn.example 'sha256-{digest}';" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy


def test_an_unexpected_error_is_answered_with_the_headers_too() -> None:
    """A 500 comes from past the application's handlers; the edge answers it, secured."""

    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    app = FastAPI()
    app.add_api_route("/broken", broken)
    app.add_middleware(
        Edge,
        limits=Limits(1024, 2048, 5.0, 3.0, 32),
        policies=Policies(),
        on_unexpected=on_unexpected,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/broken")
        deep = client.post("/broken", content=b"[" * 40)
        big = client.post("/broken", content=b"x" * 1025)
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal"
    assert r.headers["content-security-policy"] == APP_POLICY
    assert r.headers["x-content-type-options"] == "nosniff"
    assert deep.status_code == 422 and deep.json()["error"]["fields"]["body"].startswith("at most")
    assert big.status_code == 413 and big.headers["referrer-policy"] == "no-referrer"
