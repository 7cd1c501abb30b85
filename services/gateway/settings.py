"""The gateway's one Settings."""

from __future__ import annotations

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

    def service_urls(self) -> dict[str, list[str]]:
        return {
            "usage": _urls(self.usage_urls),
            "invoicing": _urls(self.invoicing_urls),
            "payments": _urls(self.payments_urls),
            "notifier": _urls(self.notifier_urls),
        }
