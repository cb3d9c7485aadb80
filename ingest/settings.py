"""Configuration: ``CSKH_*`` environment variables over an optional TOML file over defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ingest.mailboxes import MailboxConfig, check_unique, configured
from normalizer.threads import DEFAULT_MAIL_DOMAIN
from router.calendars import QueueCalendars, QueueCalendarSpec

Role = Literal["webhooks", "pullers", "normalizer", "router", "senders"]
ALL_ROLES: tuple[Role, ...] = ("webhooks", "pullers", "normalizer", "router", "senders")


class Settings(BaseSettings):
    """Everything the daemon and the CLI read; secrets never appear in ``repr`` or logs."""

    model_config = SettingsConfigDict(env_prefix="CSKH_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./cskh.db"
    bus: str = Field("sqlite", description="`sqlite` (embedded log) or kafka://host:port[,…]")
    bus_partitions: int = Field(4, ge=1, le=256)
    bus_fsync: Literal["full", "normal"] = "full"
    bus_retention_hours: float = Field(168.0, ge=0)
    kafka_topic_prefix: str = ""
    kafka_linger_ms: int = Field(1, ge=0, le=1000)
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
    follow_up_secret: SecretStr | None = Field(
        None, description="signs the follow-up links that let a web form continue a ticket; "
                          "unset: every web form is a new ticket")

    imap_host: str | None = None
    imap_port: int = 993
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_folder: str = "INBOX"
    imap_tls: bool = True
    imap_ca_file: Path | None = Field(None, description="PEM CAs to trust for the IMAP server")
    imap_queue: str | None = Field(None, description="default queue for this mailbox's mail")
    imap_move_to: str | None = Field(None, description="move mail here once it is on the bus")
    imap_flag: str | None = Field(None, description="set this flag once mail is on the bus")
    imap_poll_seconds: float = Field(30.0, gt=0)
    imap_parse_workers: int = Field(
        1, ge=0, le=32, description="processes that parse fetched mail; 0: a thread of the "
        "service's own process")
    imap_idle: bool = Field(True, description="wait in IMAP IDLE where the server offers it")
    imap_cursor_path: Path = Path("cskh.imap-cursor.json")
    imap_authserv_id: str | None = Field(
        None, description="the authserv-id of our receiving mail server's "
                          "Authentication-Results (RFC 8601); unset: DKIM/DMARC not read")
    mailboxes: list[MailboxConfig] = Field(
        default_factory=list, description="[[mailboxes]] tables of the TOML file")
    attachment_dir: Path = Path("attachments")

    category_queues: dict[str, str] = Field(default_factory=dict)
    model_path: Path = Path("cskh-model.joblib")
    sla_sweep_seconds: float = Field(30.0, gt=0)
    rebalance_seconds: float = Field(15.0, gt=0)
    reopen_days: float = Field(7.0, ge=0)
    own_addresses: list[str] = Field(default_factory=list)
    release_grace_minutes: float = Field(15.0, ge=0)
    mail_domain: str | None = Field(
        None, description="domain of our outgoing Message-IDs; default: that of the first "
        "own address, else cskh.invalid")
    thread_window_hours: float = Field(72.0, ge=0)

    public_url: str | None = Field(
        None, description="the address customers reach (survey links, the form); default: "
        "http://CSKH_HTTP_HOST:CSKH_HTTP_PORT")
    survey_days: int = Field(7, ge=1, le=90, description="a survey link's life, days")
    survey_min_days: int = Field(7, ge=0, le=365,
                                 description="ask one contact at most once in this many days")
    survey_seconds: float = Field(15.0, gt=0, description="how often surveys are decided and sent")
    report_recipients: list[str] = Field(
        default_factory=list, description="leads who get the daily, weekly and monthly "
        "satisfaction and SLA reports by e-mail (needs SMTP)")
    report_mail_seconds: float = Field(300.0, gt=0)

    # -- caring for accounts (desk/care) --
    care_lead_days: int = Field(7, ge=0, le=60, description="days before a care plan entry's "
                                "date that its task ticket reaches the officer's queue")
    care_seconds: float = Field(300.0, gt=0, description="how often the router role turns due "
                                "care plan entries into task tickets")

    smtp_host: str | None = Field(None, description="unset: e-mail replies are not sent")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    smtp_ca_file: Path | None = None
    mail_from: str | None = Field(
        None, description="From of e-mail replies, e.g. 'CSKH Công ty <cskh@congty.vn>'; "
        "default: the first own address")
    facebook_page_token: SecretStr | None = Field(
        None, description="Page access token for Messenger replies; unset: not sent")
    facebook_graph_url: str = Field(
        "https://graph.facebook.com/v21.0", description="Graph API base, with its version")
    facebook_human_agent: bool = Field(
        False, description="the Page has Meta's Human Agent permission: replies up to 7 days "
        "after the customer's last message go with the HUMAN_AGENT tag (else 24 hours)")
    zalo_oa_access_token: SecretStr | None = Field(
        None, description="OA access token for Zalo consultation replies; unset: not sent")
    zalo_api_url: str = Field("https://openapi.zalo.me", description="Zalo OpenAPI base")
    # Marketplace replies (issue 17): API bases and the shop's credentials; a channel's replies
    # are sent when its app credentials (above) are set, with the token stored by `cskh
    # channels auth` (refreshed) or, none stored, the access token here.
    shopee_api_url: str = Field("https://partner.shopeemobile.com",
                                description="Shopee Open Platform API base")
    shopee_partner_id: str | None = Field(None, description="the partner id beside the key")
    shopee_access_token: SecretStr | None = Field(
        None, description="the shop's access token for seller chat replies; unset: not sent")
    lazada_api_url: str = Field("https://api.lazada.vn/rest",
                                description="Lazada Open Platform API base (Vietnam)")
    lazada_access_token: SecretStr | None = Field(
        None, description="the seller's access token for IM replies; unset: not sent")
    tiktok_api_url: str = Field("https://open-api.tiktokglobalshop.com",
                                description="TikTok Shop API base")
    tiktok_access_token: SecretStr | None = Field(
        None, description="the shop's access token for customer-service replies; unset: not "
        "sent")
    tiktok_shop_cipher: str | None = Field(None, description="the authorised shop's cipher")
    # Tokens refreshed by the service (issue 17): a channel's replies use the token stored by
    # `cskh channels auth CHANNEL` (else the *_ACCESS_TOKEN above, as it is) and refresh it at
    # these OAuth bases; Zalo needs the app's secret key for it.
    zalo_app_secret: SecretStr | None = Field(
        None, description="the Zalo app's secret key (OAuth), with CSKH_ZALO_APP_ID")
    zalo_oauth_url: str = Field("https://oauth.zaloapp.com", description="Zalo OAuth base")
    # Click-to-call (issue 17): the cloud PBX's endpoint that places a call, signed with
    # CSKH_HOTLINE_SECRET (connectors.hotline_call); unset: officers dial the tel: link.
    hotline_call_url: str | None = Field(
        None, description="cloud PBX click-to-call endpoint; unset: off")
    lazada_auth_url: str = Field("https://auth.lazada.com/rest",
                                 description="Lazada token refresh base")
    tiktok_auth_url: str = Field("https://auth.tiktok-shops.com",
                                 description="TikTok Shop token refresh base")

    queue_calendars: dict[str, QueueCalendarSpec] = Field(default_factory=dict)

    # -- staff pages: signing in (issue 15) --
    session_secret: SecretStr | None = Field(
        None, min_length=32, description="encrypts the officers' session cookies (32+ "
        "characters, the same on every process serving pages); unset on SQLite: generated "
        "once into a file beside the database; unset otherwise: a new one at each start")
    session_hours: float = Field(12.0, gt=0, le=24 * 90,
                                 description="a page session ends after this many idle hours")
    # The public web form (GET /form; browser posts to POST /webhooks/webform)
    form_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="other origins (https://www.congty.vn) whose pages "
        "may post the form and embed it; comma-separated")
    form_rate_per_minute: int = Field(
        10, ge=0, le=10_000, description="unsigned form posts per client address and minute; "
        "0: no limit")

    @field_validator("bus")
    @classmethod
    def _check_bus(cls, value: str) -> str:
        if value == "sqlite" or value.startswith("sqlite:///") or value.startswith("kafka://"):
            return value
        raise ValueError("CSKH_BUS must be 'sqlite', 'sqlite:///PATH' or 'kafka://host:port'")

    @field_validator("form_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return [v for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @field_validator("form_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        return [_origin(v) for v in value]

    @field_validator("mailboxes")
    @classmethod
    def _unique_mailboxes(cls, value: list[MailboxConfig]) -> list[MailboxConfig]:
        return check_unique(value)

    @model_validator(mode="after")
    def _check_reply_from(self) -> Settings:
        if self.smtp_host and not self.reply_from:
            raise ValueError("CSKH_SMTP_HOST is set: set CSKH_MAIL_FROM (or CSKH_OWN_ADDRESSES)")
        return self

    @model_validator(mode="after")
    def _check_env_mailbox(self) -> Settings:
        configured(self)  # the CSKH_IMAP_* mailbox obeys the TOML rules; names stay unique
        return self

    @property
    def reply_from(self) -> str | None:
        """The From of e-mail replies: ``CSKH_MAIL_FROM``, else the first own address."""
        if self.mail_from and self.mail_from.strip():
            return self.mail_from.strip()
        return next((a.strip() for a in self.own_addresses  # an address, not "@domain"
                     if a.strip().partition("@")[0] and "@" in a), None)

    @property
    def message_id_domain(self) -> str:
        """The domain of our outgoing Message-IDs (``CSKH_MAIL_DOMAIN`` or its default)."""
        if self.mail_domain and self.mail_domain.strip():
            return self.mail_domain.strip().lower()
        for own in self.own_addresses:
            domain = own.strip().rpartition("@")[2].strip().lower()
            if domain:
                return domain
        return DEFAULT_MAIL_DOMAIN

    @property
    def message_id_domains(self) -> list[str]:
        """Every domain a Message-ID of ours may carry: ``message_id_domain`` and those of
        our own addresses (so a change of ``CSKH_MAIL_DOMAIN`` keeps old replies threading)."""
        found = [self.message_id_domain]
        for own in self.own_addresses:
            domain = own.strip().rpartition("@")[2].strip().lower()
            if domain and domain not in found:
                found.append(domain)
        return found

    @property
    def customer_url(self) -> str:
        """Where customers reach the service (``public_url``, else the listen address)."""
        if self.public_url and self.public_url.strip():
            return self.public_url.strip().rstrip("/")
        return f"http://{self.http_host}:{self.http_port}"

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


def _origin(value: str) -> str:
    """``scheme://host[:port]`` of an allowed origin, lower case, or a ``ValueError``."""
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"CSKH_FORM_ORIGINS: {value!r} is not an origin like "
                         "https://www.congty.vn (scheme, host, optional port, no path)")
    return text.lower()


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
