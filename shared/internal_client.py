"""HTTP clients of the services' internal APIs; each service may run several replicas. Every
call carries a credential signed for its callee that names the caller (see `internal_auth`).

aiohttp, not httpx: httpx's pool looks at every idle connection (a `poll` system call each) on
every request, so with 64 calls at once a third of the gateway's CPU went to choosing a
connection; aiohttp takes one from a queue."""

from __future__ import annotations

import asyncio
import itertools
import json as jsonlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from shared import correlation
from shared.errors import BillPortError, TransientError
from shared.internal_auth import HEADER, Caller, sign

log = logging.getLogger(__name__)


class ServiceError(BillPortError):
    """A 4xx answer of a service, passed on to the caller as it was."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(str(error.get("message", "request refused")), fields=error.get("fields"))
        self.http_status = status
        self.code = str(error.get("code", "refused"))


@dataclass(frozen=True)
class Answer:
    """A service's answer, read whole (its connection is back in the pool already)."""

    status_code: int
    headers: CIMultiDictProxy[str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self) -> Any:
        return jsonlib.loads(self.content)


def _body(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """httpx-style keywords (json, content, params, headers, timeout) as aiohttp's."""
    out: dict[str, Any] = {"headers": dict(kwargs.get("headers", {}))}
    if "json" in kwargs:
        out["data"] = jsonlib.dumps(kwargs["json"]).encode()
        out["headers"].setdefault("Content-Type", "application/json")
    elif "content" in kwargs:
        content = kwargs["content"]
        out["data"] = content.encode() if isinstance(content, str) else content
    params = kwargs.get("params")
    if params:
        out["params"] = _query(params)
    if "timeout" in kwargs:
        out["timeout"] = aiohttp.ClientTimeout(total=kwargs["timeout"])
    return out


def _query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query parameters as httpx wrote them: a list repeats its key, booleans are `true` and
    `false`, None is empty."""
    pairs = []
    for key, value in params.items():
        for one in value if isinstance(value, list | tuple) else [value]:
            text = "" if one is None else str(one).lower() if isinstance(one, bool) else str(one)
            pairs.append((key, text))
    return pairs


class ServiceClients:
    def __init__(
        self, urls: dict[str, list[str]], secret: str, timeout_seconds: float = 10.0
    ) -> None:
        self._urls = urls
        self._secret = secret
        self._turn = {name: itertools.cycle(range(len(u))) for name, u in urls.items()}
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        """The session, opened at first use: an aiohttp session belongs to the running loop,
        and this object may be made before it starts. Up to 100 connections, all kept alive."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, limit_per_host=0),
                timeout=self._timeout,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def names(self) -> list[str]:
        return list(self._urls)

    def urls(self, service: str) -> list[str]:
        return self._urls[service]

    def acting_as(self, caller: Caller) -> CallerClients:
        """These clients, each call signed for `caller`."""
        return CallerClients(self, caller)

    async def request(
        self, caller: Caller, service: str, method: str, path: str, **kwargs: Any
    ) -> Answer:
        """Round-robin over the replicas. A replica that refuses the connection is skipped; a
        change (POST, PATCH) that reached one is never sent to another, so it cannot happen
        twice; a read is tried on the next replica after a timeout or a 5xx too."""
        urls = self._urls[service]
        start = next(self._turn[service])
        headers = {**kwargs.get("headers", {}), HEADER: sign(caller, self._secret, service)}
        cid = correlation.current()
        if cid:  # the services log it and put it on the events the request causes
            headers[correlation.HEADER] = cid
        kwargs["headers"] = headers
        body = _body(kwargs)
        safe = method == "GET"
        for i in range(len(urls)):
            base = urls[(start + i) % len(urls)]
            try:
                response = await self._send(method, base + path, body)
            except aiohttp.ClientConnectorError:
                continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                if safe:
                    continue
                raise TransientError(
                    f"the {service} service did not answer in time ({type(exc).__name__}); "
                    "the change may still complete: check before retrying"
                ) from None
            if not safe:  # a change is logged with its correlation id; reads would flood
                log.info("%s %s%s: %d", method, base, path, response.status_code)
            if response.status_code >= 500:
                if safe:
                    continue
                raise TransientError(f"the {service} service failed; nothing is assumed done")
            if response.status_code >= 400:
                raise ServiceError(response.status_code, response.json())
            return response
        raise TransientError(f"the {service} service is not reachable; try again shortly")

    async def _send(self, method: str, url: str, body: dict[str, Any]) -> Answer:
        async with self._http().request(method, url, **body) as r:
            return Answer(r.status, r.headers, await r.read())

    async def health(self, service: str) -> dict[str, Any]:
        async def one(base: str) -> dict[str, Any]:
            try:
                r = await self._send("GET", base + "/readyz", _body({"timeout": 2.0}))
                body = r.json()
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return {"url": base, "state": "down"}
            instance = {"url": base, "state": body.get("state", "down")}
            if body.get("detail"):  # alarms such as usage not applied
                instance["detail"] = body["detail"]
            return instance

        instances = await asyncio.gather(*(one(u) for u in self._urls[service]))
        up = sum(1 for i in instances if i["state"] == "up")
        state = "up" if up == len(instances) else ("degraded" if up else "down")
        return {"state": state, "instances": list(instances)}


class CallerClients:
    """The service clients bound to one caller (the user of a request, or a service)."""

    def __init__(self, clients: ServiceClients, caller: Caller) -> None:
        self._clients = clients
        self.caller = caller

    async def get(self, service: str, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self.call(service, "GET", path, params=params)

    async def call(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(service, method, path, **kwargs)).json()

    async def request(self, service: str, method: str, path: str, **kwargs: Any) -> Answer:
        return await self._clients.request(self.caller, service, method, path, **kwargs)
