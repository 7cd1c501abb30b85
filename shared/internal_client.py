"""HTTP clients of the services' internal APIs; each service may run several replicas. Every
call carries a credential signed for its callee that names the caller (see `internal_auth`)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx

from shared import correlation
from shared.errors import BillPortError, TransientError
from shared.internal_auth import HEADER, Caller, sign


class ServiceError(BillPortError):
    """A 4xx answer of a service, passed on to the caller as it was."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(str(error.get("message", "request refused")), fields=error.get("fields"))
        self.http_status = status
        self.code = str(error.get("code", "refused"))


class ServiceClients:
    def __init__(
        self, urls: dict[str, list[str]], secret: str, timeout_seconds: float = 10.0
    ) -> None:
        self._urls = urls
        self._secret = secret
        self._turn = {name: itertools.cycle(range(len(u))) for name, u in urls.items()}
        # As many idle connections kept as may be open (httpx keeps 20 by default): beyond 20
        # calls at once, each call's connection was closed after it and a new one opened.
        self._http = httpx.AsyncClient(
            timeout=timeout_seconds,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        )

    async def close(self) -> None:
        await self._http.aclose()

    def names(self) -> list[str]:
        return list(self._urls)

    def urls(self, service: str) -> list[str]:
        return self._urls[service]

    def acting_as(self, caller: Caller) -> CallerClients:
        """These clients, each call signed for `caller`."""
        return CallerClients(self, caller)

    async def request(
        self, caller: Caller, service: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
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
        safe = method == "GET"
        for i in range(len(urls)):
            base = urls[(start + i) % len(urls)]
            try:
                response = await self._http.request(method, base + path, **kwargs)
            except httpx.ConnectError:
                continue
            except httpx.TransportError as exc:
                if safe:
                    continue
                raise TransientError(
                    f"the {service} service did not answer in time ({type(exc).__name__}); "
                    "the change may still complete: check before retrying"
                ) from None
            if response.status_code >= 500:
                if safe:
                    continue
                raise TransientError(f"the {service} service failed; nothing is assumed done")
            if response.status_code >= 400:
                raise ServiceError(response.status_code, response.json())
            return response
        raise TransientError(f"the {service} service is not reachable; try again shortly")

    async def health(self, service: str) -> dict[str, Any]:
        async def one(base: str) -> dict[str, Any]:
            try:
                r = await self._http.get(base + "/readyz", timeout=2.0)
                body = r.json()
            except (httpx.HTTPError, ValueError):
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

    async def request(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self._clients.request(self.caller, service, method, path, **kwargs)
