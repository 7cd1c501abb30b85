"""Settings per service: pydantic-settings, one env prefix per service (`BILLPORT_USAGE_…`)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service needs; each service subclasses it with its own prefix and schema."""

    model_config = SettingsConfigDict(env_prefix="BILLPORT_", extra="ignore")

    service_name: str = "service"
    instance: int = 0
    kafka_bootstrap: str = "127.0.0.1:19092"
    database_url: str = "postgresql://billport@127.0.0.1:25432/billport"
    db_schema: str = "public"
    db_pool_min: int = 1
    db_pool_max: int = 8
    http_host: str = "127.0.0.1"
    http_port: int = 8100
    consumer_max_attempts: int = 5
    """Tries of one message before a non-transient failure sends it to the dead-letter topic."""
    consumer_stall_seconds: float = Field(default=60.0, gt=0)
    """How long a consumer group may have records waiting and commit nothing before this
    process restarts its consumer of that topic and logs an error (`shared.consumer_watch`)."""
    outbox_batch: int = 500
    log_level: str = "INFO"
    internal_secret: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("BILLPORT_INTERNAL_SECRET", "internal_secret"),
    )
    """The deployment's secret that signs and verifies internal calls (one for every service
    and the gateway, at least 32 characters; no default: a service refuses to start without)."""
    consumer_group: str | None = None
    """The consumer group prefix, `billport-<service>` unless set: a new one reads every topic
    from the beginning again (a replay; the processed-event table keeps it from changing
    anything)."""

    @property
    def group_id(self) -> str:
        """The service's consumer group prefix: it reads each topic in `<group_id>.<topic>`,
        whose members (its replicas) share the partitions."""
        return self.consumer_group or f"billport-{self.service_name}"
