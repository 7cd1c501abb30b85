"""The deployment files, validated offline: `kubectl kustomize` renders the Kubernetes manifests
(one Deployment, Service and autoscaler per service, probes, limits, config from the ConfigMap
and Secret), and every environment variable in them and in docker-compose names a real
setting of the process it is given to."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from services.gateway.settings import GatewaySettings
from services.invoicing.main import InvoicingSettings
from services.notifier.main import NotifierSettings
from services.payments.main import PaymentsSettings
from services.usage.main import UsageSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS: dict[str, Any] = {
    "usage": UsageSettings,
    "invoicing": InvoicingSettings,
    "payments": PaymentsSettings,
    "notifier": NotifierSettings,
    "gateway": GatewaySettings,
}


def known_variables(service: str) -> set[str]:
    settings = SETTINGS[service]
    prefix = settings.model_config["env_prefix"]
    names = {prefix + name.upper() for name in settings.model_fields}
    for field in settings.model_fields.values():
        alias = field.validation_alias
        names |= {c for c in getattr(alias, "choices", []) if isinstance(c, str) and c.isupper()}
    return names


def test_kustomize_renders_a_deployment_per_service_with_probes_and_limits() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy" / "k8s")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    kinds: dict[str, dict[str, Any]] = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
        assert doc["kind"] == "Namespace" or doc["metadata"]["namespace"] == "billport"
    assert {
        "ConfigMap",
        "Secret",
        "Job",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
    } <= set(kinds)
    for service in SETTINGS:
        name = f"billport-{service}"
        deployment = kinds["Deployment"][name]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert container["command"] == ["python", "-m", f"services.{service}"]
        variables = {e["name"] for e in container["env"]}
        assert variables <= known_variables(service), variables - known_variables(service)
        assert any("secretKeyRef" in e.get("valueFrom", {}) for e in container["env"])
        assert kinds["HorizontalPodAutoscaler"][name]["spec"]["scaleTargetRef"]["name"] == name
        assert kinds["Service"][name]["spec"]["ports"][0]["targetPort"] == "http"


def test_compose_runs_every_service_with_replicas_and_real_settings() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "postgres", "topics", "smtp", *SETTINGS} <= set(services)
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["invoicing"]["deploy"]["replicas"] == 3
    assert services["usage"]["deploy"]["replicas"] == 2
    for service in SETTINGS:
        spec = services[service]
        assert spec["command"] == ["python", "-m", f"services.{service}"]
        assert "healthcheck" in spec and spec["depends_on"]["topics"]
        variables = set(spec["environment"])
        assert variables <= known_variables(service), variables - known_variables(service)


def test_the_image_holds_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("shared", "services", "devstack", "billport_cli"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert "libharfbuzz-subset0" in dockerfile and "USER billport" in dockerfile
