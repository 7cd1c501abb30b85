"""The routes a service answers most, matched first.

Starlette tries an app's routes in their order, a regular expression each (~2 µs here, more
under load): the gateway's invoice detail, which a client polls for a balance, was the 51st of
80 routes, and the payment posting the 55th. A route is moved ahead only of routes that no
path of it can also match, so every request still finds the route (or the 405) it found
before; `tests/unit/test_route_order.py` checks that for every route of every service."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.routing import BaseRoute, Route

Shape = tuple[str | None, ...] | None
"""A route's path by segments, None for a parameter's; None for a route whose paths cannot be
told this way (a mount, a `:path` parameter, a parameter inside a segment): such a route is
taken to share a path with every other, so it never moves and nothing passes it."""

Wanted = tuple[str, str]
"""(method, path template) of a route to match first, as declared: ("GET", "/invoices/{id}")."""


def shape_of(route: BaseRoute) -> Shape:
    path = getattr(route, "path", None)
    if not isinstance(route, Route) or not isinstance(path, str):
        return None
    segments: list[str | None] = []
    for segment in path.split("/"):
        if "{" not in segment and "}" not in segment:
            segments.append(segment)
        elif _whole_parameter(segment):
            segments.append(None)
        else:
            return None
    return tuple(segments)


def _whole_parameter(segment: str) -> bool:
    """`{name}` or `{name:int}`…: a whole segment; a `:path` parameter spans segments."""
    inner = segment[1:-1]
    return (
        segment.startswith("{")
        and segment.endswith("}")
        and "{" not in inner
        and "}" not in inner
        and not inner.endswith(":path")
    )


def may_share_a_path(a: Shape, b: Shape) -> bool:
    if a is None or b is None:
        return True
    if len(a) != len(b):
        return False
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))


def matched_first(routes: Sequence[BaseRoute], wanted: Sequence[Wanted]) -> list[BaseRoute]:
    """`routes` with the `wanted` ones as early as they can be: each comes after the routes
    before it that may share a path with it (and so on for those), in their order; all the
    others follow in theirs. For any two routes that may share a path, their order is kept."""
    shapes = [shape_of(r) for r in routes]
    found = [i for i, r in enumerate(routes) if _is_wanted(r, wanted)]
    missing = set(wanted) - {w for i in found for w in _keys(routes[i])}
    if missing:  # a renamed route: fail at start rather than silently match it late
        raise ValueError(f"no route to match first for {sorted(missing)}")
    needed: set[int] = set()
    pending = list(found)
    while pending:
        i = pending.pop()
        if i not in needed:
            needed.add(i)
            pending += [j for j in range(i) if may_share_a_path(shapes[i], shapes[j])]
    first = sorted(needed)
    return [routes[i] for i in first] + [r for i, r in enumerate(routes) if i not in needed]


def _keys(route: BaseRoute) -> set[Wanted]:
    path = getattr(route, "path", None)
    methods = getattr(route, "methods", None) or set()
    return {(m, path) for m in methods} if isinstance(path, str) else set()


def _is_wanted(route: BaseRoute, wanted: Sequence[Wanted]) -> bool:
    return bool(_keys(route) & set(wanted))


def match_first(app: FastAPI, wanted: Sequence[Wanted]) -> None:
    """Reorder `app`'s routes (`matched_first`); its OpenAPI document keeps the declared order."""
    declared = list(app.router.routes)
    app.state.declared_routes = declared
    app.router.routes[:] = matched_first(declared, wanted)
    build = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:  # built once, on the loop: nothing else runs meanwhile
            matching = list(app.router.routes)
            known = set(map(id, declared))
            app.router.routes[:] = declared + [r for r in matching if id(r) not in known]
            try:
                build()
            finally:
                app.router.routes[:] = matching
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
