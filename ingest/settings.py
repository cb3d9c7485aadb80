"""Configuration: ``CSKH_*`` environment variables over an optional TOML file over defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from router.calendars import QueueCalendars, QueueCalendarSpec

Role = Literal["webhooks", "pullers", "normalizer", "router"]
ALL_ROLES: tuple[Role, ...] = ("webhooks", "pullers", "normalizer", "router")


class Settings(BaseSettings):
    """Everything the daemon and the CLI read; secrets never appear in ``repr`` or logs."""

    model_config = SettingsConfigDict(env_prefix="CSKH_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./cskh.db"
    bus: str = Field("sqlite", description="`sqlite` (embedded log) or kafka://host:port[,…]")
    bus_partitions: int = Field(4, ge=1, le=256)
    bus_fsync: Literal["full", "normal"] = "full"
    kafka_topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)

    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    shutdown_timeout: float = Field(20.0, gt=0)
    consumer_batch: int = Field(500, ge=1, le=10_000)
    bus_send_timeout: float = Field(10.0, gt=0)
    webform_max_bytes: int = Field(64 * 1024, ge=1024)

    facebook_app_secret: SecretStr | None = None
    facebook_verify_token: SecretStr | None = None
    zalo_oa_secret: SecretStr | None = None
    zalo_app_id: str | None = None
    shopee_partner_key: SecretStr | None = None
    shopee_callback_url: str | None = None
    lazada_app_key: str | None = None
    lazada_app_secret: SecretStr | None = None
    tiktok_app_key: str | None = None
    tiktok_app_secret: SecretStr | None = None
    hotline_secret: SecretStr | None = None
    hotline_cdr_dir: Path | None = None
    hotline_cdr_poll_seconds: float = Field(2.0, gt=0)
    hotline_cdr_cursor: Path | None = Field(
        None, description="where the CDR tailer keeps its cursor; default: in the CDR dir")
    hotline_cdr_gmt: bool = Field(False, description="cdr.conf [csv] usegmtime=yes")
    webform_secret: SecretStr | None = None

    imap_host: str | None = None
    imap_port: int = 993
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_folder: str = "INBOX"
    imap_tls: bool = True
    imap_poll_seconds: float = Field(30.0, gt=0)
    imap_cursor_path: Path = Path("cskh.imap-cursor.json")
    attachment_dir: Path = Path("attachments")

    category_queues: dict[str, str] = Field(default_factory=dict)
    model_path: Path = Path("cskh-model.joblib")
    sla_sweep_seconds: float = Field(30.0, gt=0)
    rebalance_seconds: float = Field(15.0, gt=0)
    reopen_days: float = Field(7.0, ge=0)
    own_addresses: list[str] = Field(default_factory=list)
    release_grace_minutes: float = Field(15.0, ge=0)
    queue_calendars: dict[str, QueueCalendarSpec] = Field(default_factory=dict)

    @field_validator("bus")
    @classmethod
    def _check_bus(cls, value: str) -> str:
        if value == "sqlite" or value.startswith("sqlite:///") or value.startswith("kafka://"):
            return value
        raise ValueError("CSKH_BUS must be 'sqlite', 'sqlite:///PATH' or 'kafka://host:port'")

    @property
    def calendars(self) -> QueueCalendars:
        """The SLA calendar of each queue (``queue_calendars``) over the design's default."""
        return QueueCalendars.from_specs(self.queue_calendars)

    @property
    def kafka_bootstrap(self) -> str | None:
        """``host:port[,host:port]`` when the bus is Kafka."""
        return self.bus.removeprefix("kafka://") if self.bus.startswith("kafka://") else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = settings_cls.model_config.get("toml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, then ``config`` (TOML) if given, then defaults."""
    if config is None:
        return Settings(**overrides)
    if not config.is_file():
        raise FileNotFoundError(f"config file {config} does not exist")
    with_file = type("FileSettings", (Settings,), {
        "model_config": SettingsConfigDict(**{**Settings.model_config, "toml_file": config}),
    })
    settings: Settings = with_file(**overrides)
    return settings
