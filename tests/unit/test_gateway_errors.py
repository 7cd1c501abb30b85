"""The gateway's error translation: transient troubles are 503 with Retry-After, never 500."""

from __future__ import annotations

import json

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from shared.http_errors import on_unexpected


async def test_kafka_away_is_503_with_retry_after() -> None:
    for exc in (KafkaConnectionError("down"), KafkaTimeoutError(), ConnectionRefusedError()):
        response = await on_unexpected(None, exc)  # type: ignore[arg-type]
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert json.loads(response.body)["error"]["code"] == "unavailable"


async def test_a_bug_is_500_without_details() -> None:
    response = await on_unexpected(None, KeyError("secret"))  # type: ignore[arg-type]
    assert response.status_code == 500
    assert "secret" not in response.body.decode()
