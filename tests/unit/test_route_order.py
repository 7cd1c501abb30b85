"""Matching the busiest routes first (`shared.route_order`) changes no request's route: every
path any route of any service can take (its parameters filled with a plain value and with
every literal other routes have at that place), under every method, finds the same route, or
the same partial match (the 405), in the order the app matches as in the declared one."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute, Match, Route

from services.gateway.main import create_app as gateway_app
from services.invoicing.main import create_app as invoicing_app
from services.notifier.main import create_app as notifier_app
from services.payments.main import create_app as payments_app
from services.usage.main import create_app as usage_app
from shared.route_order import matched_first, may_share_a_path, shape_of

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def resolved(routes: Sequence[BaseRoute], method: str, path: str) -> tuple[str, BaseRoute | None]:
    """As Starlette's router picks: the first full match, else the first partial one."""
    partial = None
    for route in routes:
        scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return "full", route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return ("partial", partial) if partial is not None else ("none", None)


def paths_to_try(routes: Sequence[BaseRoute]) -> Iterator[str]:
    shapes = [s for s in map(shape_of, routes) if s is not None]
    for shape in shapes:
        choices = []
        for at, segment in enumerate(shape):
            if segment is not None:
                choices.append([segment])
                continue
            literals = {s[at] for s in shapes if len(s) == len(shape) and s[at]}
            choices.append(["x-1", *sorted(literals)])
        yield from _combinations(choices)


def _combinations(choices: list[list[str]], limit: int = 64) -> Iterator[str]:
    paths = [""]
    for options in choices:
        paths = [f"{p}/{o}" if p or o else "" for p in paths for o in options][:limit]
    for p in paths:
        yield p if p.startswith("/") else "/" + p


APPS: dict[str, Callable[[], FastAPI]] = {
    "gateway": gateway_app,
    "invoicing": invoicing_app,
    "payments": payments_app,
    "usage": usage_app,
    "notifier": notifier_app,
}


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_request_finds_the_route_it_found_in_the_declared_order(
    service: str,
) -> None:
    app = APPS[service]()
    matching = list(app.router.routes)
    declared = _declared(app)
    assert sorted(map(id, matching)) == sorted(map(id, declared))
    reached = set()
    for path in set(paths_to_try(declared)):
        for method in METHODS:
            found = resolved(declared, method, path)
            assert resolved(matching, method, path) == found, (method, path)
            reached.add(id(found[1]))
    assert {id(r) for r in declared if shape_of(r) is not None} <= reached  # each route tried
    documented = list(app.openapi()["paths"])
    assert documented == list(dict.fromkeys(_documented(declared)))


def _documented(routes: Sequence[BaseRoute]) -> Iterator[str]:
    for route in routes:
        if getattr(route, "include_in_schema", False):
            yield route.path  # type: ignore[attr-defined]


def _declared(app: FastAPI) -> list[BaseRoute]:
    declared: list[BaseRoute] = app.state.declared_routes
    return declared


def test_the_busiest_routes_come_first_where_they_can() -> None:
    def route(method: str, path: str) -> Route:
        return Route(path, lambda request: None, methods=[method])

    report = route("GET", "/invoices/report")
    lines = route("GET", "/lines/{id}")
    other = route("GET", "/orgs/{id}")
    detail = route("GET", "/invoices/{id}")
    mine = route("GET", "/{kind}/mine")
    assert matched_first([report, lines, other, detail, mine], [("GET", "/invoices/{id}")]) == [
        report,
        detail,
        lines,
        other,
        mine,
    ]
    with pytest.raises(ValueError, match="no route to match first"):
        matched_first([report], [("GET", "/invoices/{invoice_id}")])


def test_paths_that_may_coincide() -> None:
    def shape(path: str) -> object:
        return shape_of(Route(path, lambda request: None))

    assert may_share_a_path(shape("/a/{x}"), shape("/a/b"))  # type: ignore[arg-type]
    assert not may_share_a_path(shape("/a/{x}"), shape("/b/{x}"))  # type: ignore[arg-type]
    assert not may_share_a_path(shape("/a/{x}"), shape("/a/{x}/c"))  # type: ignore[arg-type]
    assert shape("/files/{rest:path}") is None
    assert shape("/a/{x}.pdf") is None
    assert may_share_a_path(None, shape("/a"))  # type: ignore[arg-type]
