"""Routes registered on the app itself rather than as included routers.

FastAPI 0.16x matches the routes of an included router through layers of its own (an
`_IncludedRouter` per inclusion, its candidates rebuilt behind a version check, each route
matched twice): measured with ~70 routes, a request's routing took about 130 µs more than with
the same routes on the app, about a seventh of the gateway's CPU per request. So each route of
a router is registered again on the app, as FastAPI's `include_router` did before, with every
attribute it was declared with; the routers themselves must not include other routers."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI, params
from fastapi.routing import APIRoute, APIRouter

T = TypeVar("T")


def on_the_loop(cls: type[T]) -> Callable[..., Awaitable[T]]:
    """`Depends(on_the_loop(Query))` for a class of query parameters: the same parameters (its
    signature, annotations resolved), built by a coroutine. FastAPI runs a class dependency on
    its thread pool, a thread hand-off per request."""
    hints = typing.get_type_hints(cls, include_extras=True)
    signature = inspect.signature(cls)
    parameters = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
    ]

    async def build(**values: Any) -> T:
        return cls(**values)

    build.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=cls
    )
    build.__name__ = build.__qualname__ = cls.__name__
    build.__doc__ = cls.__doc__
    return build


def mount(app: FastAPI, router: APIRouter, dependencies: Sequence[params.Depends] = ()) -> None:
    """Register every route of `router` on `app`, `dependencies` first (`include_router`'s
    `dependencies`). Routes keep their order, so matching stays first-declared-first."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only path operations can be mounted flat")
        app.router.add_api_route(
            route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=list(route.tags),
            dependencies=[*dependencies, *route.dependencies],
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=dict(route.responses),
            deprecated=route.deprecated,
            methods=sorted(route.methods or ()),
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type,
        )
