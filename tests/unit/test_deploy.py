"""The deployment files, validated offline: `kubectl kustomize` renders the Kubernetes manifests
(one Deployment, Service and autoscaler per service, probes, limits, config from the ConfigMap
and Secret), and every environment variable in them and in docker-compose names a real
setting of the process it is given to. The network is closed by NetworkPolicies (each service
port admits only its callers, only labelled pods reach Kafka and PostgreSQL), the Secret ships
no usable value, and each process gets the internal secret and a database role of its own."""

from __future__ import annotations

import re
import subprocess
from functools import cache
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
UNPREFIXED = {"BILLPORT_INTERNAL_SECRET"}
"""Shared by every process, so it carries no service's prefix."""
PORTS = {"usage": 8101, "invoicing": 8102, "payments": 8103, "notifier": 8104, "gateway": 8000}
CALLERS = {
    "gateway": {"anyone"},
    "usage": {"billport-gateway", "billport-invoicing"},
    "invoicing": {"billport-gateway", "billport-notifier"},
    "payments": {"billport-gateway", "billport-invoicing"},
    "notifier": {"billport-gateway", "billport-invoicing"},
}
"""Who may open a connection to each service's port: the gateway for everyone; the services
for the gateway and for the service-to-service calls that exist (invoicing asks usage to
settle, the notifier to render and payments for its copy of the invoices; the notifier calls
invoicing back)."""
PLACEHOLDER = re.compile(r"change-?me|secret|password|admin|example|todo|xxx", re.IGNORECASE)


def known_variables(service: str) -> set[str]:
    settings = SETTINGS[service]
    prefix = settings.model_config["env_prefix"]
    names = {prefix + name.upper() for name in settings.model_fields}
    for field in settings.model_fields.values():
        alias = field.validation_alias
        names |= {c for c in getattr(alias, "choices", []) if isinstance(c, str) and c.isupper()}
    return names


@cache
def rendered() -> dict[str, dict[str, Any]]:
    """The kustomization rendered, by kind and then by name."""
    text = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy" / "k8s")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    kinds: dict[str, dict[str, Any]] = {}
    for doc in yaml.safe_load_all(text):
        if doc:
            kinds.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    return kinds


def test_kustomize_renders_a_deployment_per_service_with_probes_and_limits() -> None:
    kinds = rendered()
    for docs in kinds.values():
        for doc in docs.values():
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
        known = known_variables(service) | UNPREFIXED
        assert variables <= known, variables - known
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
        known = known_variables(service) | UNPREFIXED
        assert variables <= known, variables - known


def test_the_image_holds_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("shared", "services", "devstack", "billport_cli"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert "libharfbuzz-subset0" in dockerfile and "USER billport" in dockerfile


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert "matchExpressions" not in selector  # not evaluated here: keep the policies simple
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _policies_for(labels: dict[str, str], direction: str) -> list[dict[str, Any]]:
    return [
        p["spec"]
        for p in rendered()["NetworkPolicy"].values()
        if direction in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], labels)
    ]


def _peer_name(peer: dict[str, Any]) -> str:
    """A peer in our namespace by its app name; anything wider is named by what it is."""
    if set(peer) == {"podSelector"}:
        return str(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
    if "ipBlock" in peer:
        return "namespace public " + peer["ipBlock"]["cidr"]
    return "namespace " + str(
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    )


def _pod_labels(kind: str, name: str) -> dict[str, str]:
    labels = rendered()[kind][name]["spec"]["template"]["metadata"]["labels"]
    return dict(labels)


def test_every_port_is_closed_but_to_its_callers() -> None:
    policies = rendered()["NetworkPolicy"]
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for service, callers in CALLERS.items():
        labels = _pod_labels("Deployment", f"billport-{service}")
        own = [
            p
            for p in _policies_for(labels, "Ingress")
            if p["podSelector"]
            == {"matchLabels": {"app.kubernetes.io/name": labels["app.kubernetes.io/name"]}}
        ]
        assert len(own) == 1, f"no NetworkPolicy of its own selects billport-{service}"
        admitted: set[str] = set()
        for policy in _policies_for(labels, "Ingress"):
            for rule in policy.get("ingress", []):
                assert rule["ports"] == [{"protocol": "TCP", "port": PORTS[service]}]
                admitted |= {_peer_name(p) for p in rule.get("from", [])} or {"anyone"}
        assert admitted == callers, service
    # The topics Job is selected too, and admits nobody.
    topics = _pod_labels("Job", "billport-topics")
    assert _policies_for(topics, "Ingress") and not any(
        p.get("ingress") for p in _policies_for(topics, "Ingress")
    )


def test_only_labelled_pods_reach_kafka_and_postgres_and_calls_match_the_callers() -> None:
    workloads = {
        name: _pod_labels(kind, name) for kind in ("Deployment", "Job") for name in rendered()[kind]
    }
    reach: dict[str, set[str]] = {name: set() for name in workloads}
    for name, labels in workloads.items():
        for policy in _policies_for(labels, "Egress"):
            for rule in policy.get("egress", []):
                for peer in rule["to"]:
                    if "namespaceSelector" in peer:  # outside: which namespace, which ports
                        ports = {p["port"] for p in rule["ports"]}
                        reach[name] |= {f"{_peer_name(peer)}:{port}" for port in ports}
                    else:
                        reach[name].add(_peer_name(peer))
    services = {f"billport-{s}" for s in SETTINGS}
    assert {n for n, r in reach.items() if "namespace kafka:9092" in r} == services | {
        "billport-topics"
    }
    assert {n for n, r in reach.items() if "namespace db:5432" in r} == services
    # Within the namespace, each caller may open exactly the connections its callees admit.
    calls = {
        (caller, f"billport-{callee}")
        for callee, callers in CALLERS.items()
        for caller in callers - {"anyone"}
    }
    assert {(n, peer) for n, r in reach.items() for peer in r if peer in services} == calls
    outside = {"namespace kafka:9092", "namespace db:5432", "namespace kube-system:53"}
    for name in services:
        mail = (
            {"namespace mail:587", "namespace public 0.0.0.0/0"}
            if name == "billport-notifier"  # the SMTP relay; webhook receivers
            else set()
        )
        assert {peer for peer in reach[name] if peer.startswith("namespace")} == outside | mail
    assert reach["billport-topics"] == {"namespace kafka:9092", "namespace kube-system:53"}


def test_webhooks_reach_public_https_only() -> None:
    policy = rendered()["NetworkPolicy"]["billport-notifier"]
    (rule,) = [r for r in policy["spec"]["egress"] if "ipBlock" in r["to"][0]]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    excluded = set(rule["to"][0]["ipBlock"]["except"])
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= excluded


def test_the_data_namespaces_example_admits_only_labelled_pods() -> None:
    examples = list(
        yaml.safe_load_all(
            (ROOT / "deploy" / "k8s" / "examples" / "data-namespaces.yaml").read_text()
        )
    )
    admitted = {
        p["metadata"]["namespace"]: p["spec"]["ingress"][0]["from"][0] for p in examples if p
    }
    assert admitted == {
        "kafka": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "billport"}},
            "podSelector": {"matchLabels": {"billport.io/kafka": "true"}},
        },
        "db": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "billport"}},
            "podSelector": {"matchLabels": {"billport.io/postgres": "true"}},
        },
    }


def test_the_secret_ships_no_value_and_each_process_its_own_role_and_the_internal_secret() -> None:
    (secret,) = rendered()["Secret"].values()
    values = secret["stringData"]
    assert values and all(v == "" for v in values.values()), values  # filled at deploy time
    assert not any(PLACEHOLDER.search(v) for v in values.values())
    database_keys = set()
    for service in SETTINGS:
        (container,) = rendered()["Deployment"][f"billport-{service}"]["spec"]["template"]["spec"][
            "containers"
        ]
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        assert refs["BILLPORT_INTERNAL_SECRET"] == {
            "name": "billport-secrets",
            "key": "INTERNAL_SECRET",
        }
        key = refs[f"BILLPORT_{service.upper()}_DATABASE_URL"]["key"]
        assert key == f"{service.upper()}_DATABASE_URL" and key in values
        database_keys.add(key)
        assert {r["key"] for r in refs.values()} <= set(values)
    assert len(database_keys) == len(SETTINGS)


def test_compose_gives_each_service_its_role_and_the_secret_and_publishes_only_the_gateway() -> (
    None
):
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {name for name, spec in services.items() if spec.get("ports")} == {"gateway"}
    roles_sql = (ROOT / "deploy" / "postgres" / "roles.sql").read_text()
    wanted = set(re.findall(r"^\\getenv \w+ (\w+)$", roles_sql, re.MULTILINE))
    assert wanted == {f"BILLPORT_{s.upper()}_DB_PASSWORD" for s in SETTINGS}
    postgres_env = services["postgres"]["environment"]
    assert wanted < set(postgres_env)
    assert (
        "./postgres/roles.sql:/docker-entrypoint-initdb.d/10-roles.sql:ro"
        in (services["postgres"]["volumes"])
    )
    for service in SETTINGS:
        env = services[service]["environment"]
        assert env["BILLPORT_INTERNAL_SECRET"].startswith("${BILLPORT_INTERNAL_SECRET:?")
        variable = f"BILLPORT_{service.upper()}_DB_PASSWORD"
        assert env[f"BILLPORT_{service.upper()}_DATABASE_URL"] == (
            f"postgresql://billport_{service}:${{{variable}:?set {variable}}}"
            "@postgres:5432/billport"
        )
        assert postgres_env[variable] == f"${{{variable}:?set {variable}}}"
    # No secret falls back to a default value when its variable is unset.
    text = (ROOT / "deploy" / "docker-compose.yml").read_text()
    assert not re.search(r"\$\{[A-Z_]*(PASSWORD|SECRET|TOKEN)[A-Z_]*:-", text)
