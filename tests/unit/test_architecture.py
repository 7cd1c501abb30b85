"""The layout's promises, checked on the source: services never import each other, domain
modules do no I/O, nothing connects at import time."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())
IO_MODULES = {
    "asyncpg",
    "aiokafka",
    "faststream",
    "httpx",
    "fastapi",
    "socket",
    "smtplib",
    "aiosmtplib",
    "subprocess",
    "os",
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_services_never_import_each_other(service: str) -> None:
    for path in (ROOT / "services" / service).rglob("*.py"):
        for name in imports_of(path):
            if name.startswith("services."):
                assert name.split(".")[1] == service, f"{path} imports {name}"


def test_shared_imports_no_service() -> None:
    for path in (ROOT / "shared").rglob("*.py"):
        assert not any(n.startswith("services") for n in imports_of(path)), path


@pytest.mark.parametrize("service", SERVICES)
def test_domain_modules_are_pure(service: str) -> None:
    domain = ROOT / "services" / service / "domain.py"
    if domain.exists():
        roots = {n.split(".")[0] for n in imports_of(domain)}
        assert not roots & IO_MODULES, f"{domain} imports {roots & IO_MODULES}"


@pytest.mark.parametrize("service", SERVICES)
def test_create_app_connects_nothing(service: str) -> None:
    """Building the app must not touch Kafka or PostgreSQL (both are unreachable here)."""
    module = importlib.import_module(f"services.{service}.main")
    app = module.create_app()
    assert app.router.lifespan_context is not None


def test_no_float_in_money_paths() -> None:
    for folder in ("shared", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "float":
                    pytest.fail(f"float() call in {path}:{node.lineno}")


def test_test_modules_have_unique_basenames() -> None:
    """tests/ has no packages: two modules of one name in different folders fail collection
    of the whole suite (`import file mismatch`)."""
    root = Path(__file__).resolve().parents[1]
    names = [p.name for p in root.rglob("test_*.py") if "__pycache__" not in p.parts]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


def sync_dependencies(dependant: Dependant) -> set[str]:
    """Every dependency below `dependant` that FastAPI would run on its thread pool (a plain
    `def`): one thread hand-off per request each, which cost the gateway ~5 % of its CPU."""
    found: set[str] = set()
    for sub in dependant.dependencies:
        call = sub.call
        if call is not None and not any(
            inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f)
            for f in (call, inspect.getattr_static(call, "__call__", None))
        ):
            found.add(f"{call.__module__}.{call.__qualname__}")
        found |= sync_dependencies(sub)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_dependencies_run_on_the_event_loop(service: str) -> None:
    app = importlib.import_module(f"services.{service}.main").create_app()
    found: set[str] = set()
    for route in app.routes:
        if isinstance(route, APIRoute):
            found |= sync_dependencies(route.dependant)
    assert found == set()
