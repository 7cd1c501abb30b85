"""The gateway's one Settings."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


def _urls(value: str) -> list[str]:
    return [u.strip().rstrip("/") for u in value.split(",") if u.strip()]


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLPORT_GATEWAY_", extra="ignore")
    service_name: str = "gateway"
    db_schema: str = "gateway"
    http_port: int = Field(
        default=8000,
        validation_alias=AliasChoices(
            "BILLPORT_GATEWAY_PORT", "BILLPORT_GATEWAY_HTTP_PORT", "http_port"
        ),
    )
    admin_token: str = Field(
        default="", validation_alias=AliasChoices("BILLPORT_ADMIN_TOKEN", "admin_token")
    )
    trusted_proxies: str = ""
    """Addresses (or networks) of the reverse proxies whose `X-Forwarded-For` is believed,
    comma-separated; empty (the default): nobody's, the peer's address is the client's."""
    auth_max_failures: int = 10
    """Failed sign-ins one client address may make within `auth_failure_window_seconds`
    before its requests are answered 429."""
    auth_failure_window_seconds: int = 60
    usage_urls: str = "http://127.0.0.1:8101"
    invoicing_urls: str = "http://127.0.0.1:8102"
    payments_urls: str = "http://127.0.0.1:8103"
    notifier_urls: str = "http://127.0.0.1:8104"
    max_records_per_request: int = 10_000
    usage_max_lag: int = 80
    """Messages the usage service may lag on `usage.raw` before pushes get 429 (0: never)."""
    usage_consumer_group: str = "billport-usage"
    """The usage service's consumer group prefix (its BILLPORT_USAGE_CONSUMER_GROUP): the lag
    behind the backpressure is that group's, so a replay into a new group is watched too."""
    usage_recorded_max_lag: int = 80
    """Messages the invoicing service may lag on `usage.recorded` (its usage copy, where alerts
    are decided) before pushes get 429 (0: never)."""
    usage_lag_interval_seconds: float = Field(default=0.1, gt=0, le=5)
    """How often the lags behind the backpressure are read. Between two readings feeds keep
    pushing: at 0.5 s a saturating load overshot the limit by ~140 messages (half a second of
    ingest), and the alert latency followed; a reading is two small Kafka requests a group."""
    invoicing_consumer_group: str = "billport-invoicing"
    """The invoicing service's consumer group prefix (its BILLPORT_INVOICING_CONSUMER_GROUP),
    as `usage_consumer_group`: set both when a replay moves the services to new groups."""

    max_body_bytes: int = 1024 * 1024
    """The largest request body, in bytes, of every route but the usage pushes: 413 beyond it,
    before the body is read (Content-Length) or as soon as a streamed body passes it."""
    max_usage_body_bytes: int = 16 * 1024 * 1024
    """The largest body of a usage push (`POST /usage/records`, `/usage/starlink`): 10,000
    records of about 250 bytes are 2.5 MB, pretty-printed Starlink pages a few times that."""
    body_timeout_seconds: float = 30.0
    """A request body must arrive whole within this time, or 408 and the connection is closed."""
    body_idle_seconds: float = 10.0
    """The longest pause between two pieces of a request body before 408."""
    max_json_depth: int = 32
    """JSON bodies nested deeper than this (objects and lists) are refused with 422."""
    http_protocol: Literal["h11", "httptools"] = "httptools"
    """uvicorn's HTTP parser for the public edge. Both refuse a request whose line and headers
    pass 16 KiB (`shared.bounded_http.MAX_HEADER_BYTES`): httptools (the default, about a sixth
    of the gateway's CPU per request less) with a 431, h11 with a 400."""

    def service_urls(self) -> dict[str, list[str]]:
        return {
            "usage": _urls(self.usage_urls),
            "invoicing": _urls(self.invoicing_urls),
            "payments": _urls(self.payments_urls),
            "notifier": _urls(self.notifier_urls),
        }
