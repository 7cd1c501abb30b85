"""The gateway's one authentication dependency (`deps.Bearer`): the token read, authenticated
once a request however many of a route's dependencies ask for the caller, and each role check
made on the caller so found."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from services.gateway import deps
from services.gateway.auth import Principal
from shared.errors import Forbidden, Unauthorized

FINANCE = Principal(token_id="tok_1", name="books", role="finance")


class Limiter:
    def retry_after_seconds(self, _client: str) -> int:
        return 0

    def failed(self, _client: str) -> bool:
        return False


def a_request(authorization: str | None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return Request({"type": "http", "headers": headers, "client": ("10.0.0.9", 5000)})


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Token lookups made (each a database read in the gateway); every token is FINANCE's."""
    made: list[str] = []
    gateway = SimpleNamespace(auth_failures=Limiter(), admin_token="a" * 40)

    @contextlib.asynccontextmanager
    async def acquire() -> AsyncIterator[object]:
        yield object()

    async def authenticate(_conn: Any, token: str, _admin: str) -> Principal:
        made.append(token)
        return FINANCE

    monkeypatch.setattr(deps.resources, "of", lambda _request: gateway)
    monkeypatch.setattr(
        deps, "_runtime", lambda _r: SimpleNamespace(pool=SimpleNamespace(acquire=acquire))
    )
    monkeypatch.setattr(deps, "authenticate", authenticate)
    return made


async def test_a_route_asking_twice_for_the_caller_authenticates_once(lookups: list[str]) -> None:
    request = a_request("Bearer bp_token_of_finance")
    staff, anyone = deps.require("admin", "finance"), deps.current_user
    assert await staff(request) == FINANCE
    assert await anyone(request) == FINANCE
    assert lookups == ["bp_token_of_finance"]


async def test_each_role_check_holds_for_the_caller_already_found(lookups: list[str]) -> None:
    request = a_request("Bearer bp_token_of_finance")
    assert await deps.current_user(request) == FINANCE
    with pytest.raises(Forbidden, match="needs the role admin; you are finance"):
        await deps.require("admin")(request)
    assert lookups == ["bp_token_of_finance"]


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Bearer "])
async def test_no_bearer_token_is_refused_before_any_lookup(
    lookups: list[str], header: str | None
) -> None:
    with pytest.raises(Unauthorized, match="missing bearer token"):
        await deps.require("admin", "finance")(a_request(header))
    assert lookups == []


async def test_a_new_request_authenticates_again(lookups: list[str]) -> None:
    for _ in range(2):
        await deps.current_user(a_request("Bearer bp_token_of_finance"))
    assert lookups == ["bp_token_of_finance"] * 2
