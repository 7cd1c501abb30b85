"""The gateway's error translation: transient troubles are 503 with Retry-After, never 500."""

from __future__ import annotations

import json

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.http_errors import install, on_unexpected


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


def test_a_transient_failure_is_answered_without_reaching_the_server() -> None:
    """Answered by its own handler: the server gets no exception (the test client would raise
    it), so no traceback is logged for a 503; a bug still reaches the catch-all."""
    app = FastAPI()
    install(app)
    failures: dict[str, Exception] = {
        "refused": ConnectionRefusedError(),
        "starting": asyncpg.CannotConnectNowError("the database system is starting up"),
        "gone": asyncpg.ConnectionDoesNotExistError("connection was closed"),
        "kafka": KafkaConnectionError("down"),
    }

    @app.get("/{name}")
    async def fail(name: str) -> None:
        raise failures[name]

    with TestClient(app) as client:
        for name in failures:
            response = client.get(f"/{name}")
            assert response.status_code == 503, name
            assert response.json()["error"]["code"] == "unavailable"
    with TestClient(app, raise_server_exceptions=False) as client:
        failures["bug"] = KeyError("secret")
        assert client.get("/bug").status_code == 500
