"""One typed settings object: environment variables ``KOBLENZ_BOT_*`` over an optional TOML file.

The TOML file is ``koblenz-bot.toml`` in the working directory, or the path in ``KOBLENZ_BOT_CONFIG``.
Secrets (the Telegram token and webhook secret, the pseudonym key, the alert senders' tokens and HMAC
secrets) come from the environment or that git-ignored file, never the repo. They are ``SecretStr``: a
repr, ``str()`` or log line of the settings shows ``**********``; ``.get_secret_value()`` is called only
where a secret is used (the Bot API client, the HMAC of a pseudonym or a signature).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core import SettingsError
from core.news import FeedSpec, parse_duration, parse_feeds, unique_names
from core.paths import PROJECT_ROOT


def _toml_path() -> Path:
    return Path(os.environ.get("KOBLENZ_BOT_CONFIG", "koblenz-bot.toml"))


class AlertSender(BaseModel):
    """A system allowed to POST alerts (e.g. the fire service's alerting system): a bearer token and/or an
    HMAC-SHA256 secret, and the CAP ``sender`` values it may use (empty: any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr | None = None
    hmac_secret: SecretStr | None = None
    cap_senders: tuple[str, ...] = ()
    role: str = "feuerwehr"


WEBHOOK_EVENTS = ("alert.issued", "alert.updated", "alert.cancelled", "post.published")


class Webhook(BaseModel):
    """A receiver of signed event POSTs (the city app's push service, ...): ``KOBLENZ_BOT_WEBHOOKS`` is a
    JSON list of these, or ``[[webhooks]]`` tables in the TOML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    url: str
    secret: SecretStr
    events: tuple[str, ...] = WEBHOOK_EVENTS

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("at least 16 characters")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(WEBHOOK_EVENTS))
        if unknown:
            raise ValueError(f"unknown events {unknown}; known: {', '.join(WEBHOOK_EVENTS)}")
        follow_ups = sorted({"alert.updated", "alert.cancelled"} & set(value))
        if follow_ups and "alert.issued" not in value:
            # updates and all-clears follow the first message to those who got it (docs/channels.md)
            raise ValueError(f"{', '.join(follow_ups)} need alert.issued too: they follow the alert")
        return value


def default_rasa_processes() -> int:
    """One Rasa server per core but one, which the bot keeps (measured: docs/benchmarks.md)."""
    return max(1, (os.cpu_count() or 2) - 1)


class Settings(BaseSettings):
    """Every key is documented in README.md (section "Configuration")."""

    model_config = SettingsConfigDict(env_prefix="KOBLENZ_BOT_", extra="forbid", frozen=True)

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'koblenz-bot.sqlite3'}",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_manage: bool = Field(
        default=True, description="start and supervise a local Rasa server when none answers at rasa_url"
    )
    rasa_processes: int = Field(
        default_factory=default_rasa_processes,
        ge=1,
        le=16,
        description="local Rasa servers to start (ports from rasa_url's port on); one parses on one core. "
        "Default: one per core but one, which is left to the bot (measured, docs/benchmarks.md)",
    )
    rasa_parallel: int = Field(
        default=2,
        ge=1,
        le=256,
        description="parses sent at once to each Rasa server (more wait in the bot, in arrival order); "
        "raise it when rasa_url is a load balancer in front of several Rasa processes",
    )
    rasa_timeout: float = Field(default=1.0, gt=0, le=30)
    rasa_startup_timeout: float = Field(default=180.0, gt=0)
    rasa_config: Path = PROJECT_ROOT / "nlu" / "config.yml"
    model_dir: Path = PROJECT_ROOT / "nlu" / "models"
    catalog_dir: Path = PROJECT_ROOT / "data"
    catalog_reload_interval: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="seconds between two checks whether the catalog directory changed (`catalog import`); "
        "a running `serve` then takes the new catalog without a restart. 0: no checks",
    )
    state_dir: Path = PROJECT_ROOT / "var"
    retention_days: int = Field(default=30, ge=1, le=3650)
    purge_interval_seconds: int = Field(default=3600, ge=10)
    max_message_chars: int = Field(default=1000, ge=50, le=10000)
    intent_threshold: float = Field(default=0.45, ge=0, le=1)
    ambiguity_margin: float = Field(default=0.12, ge=0, le=1)
    pseudonym_key: SecretStr = Field(
        default=SecretStr(""),
        description="HMAC key for pseudonymous conversation ids; generated into state_dir if empty",
    )
    chat_rate_per_minute: int = Field(default=30, ge=1)
    widget_origins: str = Field(
        default="*",
        description="comma-separated origins allowed to call the chat API from the widget, or * for any",
    )
    widget_privacy_url: str = Field(
        default="", description="privacy statement linked by the widget; empty: the bot's own /datenschutz"
    )
    # -- broadcasts and alerts; the Telegram token and API URL are shared with the chat channel --
    telegram_token: SecretStr = Field(default=SecretStr(""), description="Telegram bot token (secret)")
    telegram_api_url: str = Field(
        default="https://api.telegram.org", description="Bot API base URL; tests point it at the double"
    )
    telegram_rate: int = Field(
        default=30, ge=1, le=1000, description="messages per second overall (1,000 with paid broadcasts)"
    )
    telegram_timeout: float = Field(default=10.0, gt=0, le=120, description="seconds per Bot API call")
    broadcast_worker: bool = Field(
        default=True, description="run the scheduler and one outbox worker inside `koblenz-bot serve`"
    )
    delivery_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    delivery_max_attempts: int = Field(default=8, ge=1, le=100)
    delivery_backoff_seconds: float = Field(default=2.0, gt=0, le=600)
    delivery_max_in_flight: int = Field(default=500, ge=1, le=10000)
    delivery_concurrency: int = Field(default=64, ge=1, le=1000)
    delivery_retention_days: int = Field(default=30, ge=1, le=3650)
    alert_senders: dict[str, AlertSender] = Field(default_factory=dict)
    alert_max_bytes: int = Field(default=256_000, ge=1024, le=10_000_000)
    public_url: str = Field(default="", description="public base URL for feed links; empty: from the request")
    # -- Telegram channel: citizens chat and subscribe; off while telegram_token is empty --
    telegram_mode: Literal["polling", "webhook"] = Field(
        default="polling", description="polling needs no public URL; webhook: POST /webhooks/telegram"
    )
    telegram_webhook_secret: SecretStr = Field(
        default=SecretStr(""),
        validate_default=True,
        description="secret_token Telegram sends in X-Telegram-Bot-Api-Secret-Token (webhook mode)",
    )
    telegram_webhook_url: str = Field(
        default="",
        description="public https URL of /webhooks/telegram to register; empty: registered elsewhere",
    )
    telegram_poll_timeout: int = Field(default=25, ge=0, le=50, description="seconds per long poll")
    # -- social channels (issue 10): each is on when its credentials are set --
    x_api_url: str = Field(default="https://api.x.com", description="base of every X API call (posts, media)")
    x_consumer_key: SecretStr = Field(default=SecretStr(""), description="X app's API key (OAuth 1.0a)")
    x_consumer_secret: SecretStr = Field(default=SecretStr(""))
    x_access_token: SecretStr = Field(default=SecretStr(""), description="the city account's access token")
    x_access_token_secret: SecretStr = Field(default=SecretStr(""))
    x_daily_posts: int = Field(default=17, ge=1, le=10000, description="X posts per rolling 24 h (plan)")
    mastodon_url: str = Field(
        default="", description="the city account's instance, e.g. https://social.bund.de"
    )
    mastodon_token: SecretStr = Field(
        default=SecretStr(""), description="access token (write:statuses, write:media)"
    )
    facebook_graph_url: str = Field(default="https://graph.facebook.com", description="Graph API base URL")
    facebook_api_version: str = Field(default="v26.0", pattern=r"^v\d+\.\d+$")
    facebook_page_id: str = ""
    facebook_page_token: SecretStr = Field(default=SecretStr(""), description="page access token (secret)")
    instagram_user_id: str = Field(default="", description="Instagram professional account id (Graph API)")
    telegram_channel: str = Field(
        default="", description="public channel for posts and alerts, e.g. @stadt_koblenz"
    )
    webhooks: tuple[Webhook, ...] = Field(
        default=(), description="signed event receivers (JSON or TOML list)"
    )
    # -- staff console (issue 13) --
    approval_required: bool = Field(
        default=True, description="press posts need a second person's approval (four eyes) before they go out"
    )
    console_idle_minutes: int = Field(
        default=30, ge=1, le=24 * 60, description="a console session ends after this many minutes without use"
    )
    console_trusted_proxy_header: str = Field(
        default="",
        description="header with the client address set by the reverse proxy (e.g. X-Forwarded-For) for the "
        "console's sign-in throttling; empty: the connecting address counts",
    )
    # -- catalog link check (issue 12) --
    linkcheck_contact_url: str = Field(
        default="",
        pattern=r"^(https?://\S+)?$",
        description="contact page named in the link checker's user agent; empty: none",
    )
    linkcheck_weekly: bool = Field(
        default=True, description="check the catalog's links weekly inside `koblenz-bot serve`"
    )
    # -- official warnings from the federal warning system NINA (issue 11, connectors/nina, docs/nina.md) --
    nina_url: str = Field(
        default="https://warnung.bund.de/api31",
        description="base URL of the NINA API (warnung.bund.de); empty: no NINA polling",
    )
    nina_ars: str = Field(
        default="071110000000",
        description="Regionalschlüssel whose dashboard is polled: 12 digits, the last seven zeros (district level)",
    )
    nina_interval: int = Field(
        default=60, ge=5, description="seconds between two polls of the NINA dashboard"
    )
    nina_republish: str = Field(
        default="",
        description="which NINA warnings are re-broadcast to subscribers and channels: empty = none (default; "
        "needs an agreement with the BBK), else source:minimum severity pairs, e.g. 'mowas:Severe,dwd:Extreme' "
        "(sources mowas, katwarn, biwapp, dwd, lhp, police or *), or the same as a JSON object",
    )

    @field_validator("nina_url")
    @classmethod
    def _nina_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://warnung.bund.de/api31 (empty: off)")
        return value.rstrip("/")

    @field_validator("nina_ars")
    @classmethod
    def _nina_ars(cls, value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"\d{12}", value):
            raise ValueError(
                f"must be a Regionalschlüssel of 12 digits (Koblenz: 071110000000), not {value!r}"
            )
        if not value.endswith("0000000"):
            raise ValueError(
                f"the NINA dashboard exists only per district: the last seven digits must be zeros "
                f"({value[:5]}0000000 instead of {value})"
            )
        return value

    @field_validator("nina_republish")
    @classmethod
    def _nina_republish(cls, value: str) -> str:
        cls.republish_policy(value)
        return value.strip()

    @staticmethod
    def republish_policy(value: str) -> dict[str, str]:
        """``NINA_REPUBLISH`` as {source: minimum CAP severity}; raises ValueError with the problem."""
        import json

        sources = ("mowas", "katwarn", "biwapp", "dwd", "lhp", "police", "*")
        severities = ("Minor", "Moderate", "Severe", "Extreme")
        text = value.strip()
        if text.lower() in ("", "off", "none", "aus"):
            return {}
        if text.startswith("{"):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON: {exc}") from None
            if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
                raise ValueError('a JSON object like {"mowas": "Severe"}')
            pairs = list(raw.items())
        else:
            pairs = []
            for item in filter(None, (part.strip() for part in text.split(","))):
                source, colon, severity = item.partition(":")
                if not colon:
                    raise ValueError(f"{item!r}: expected source:severity, e.g. mowas:Severe")
                pairs.append((source, severity))
        policy: dict[str, str] = {}
        for source, severity in pairs:
            source, severity = source.strip().lower(), severity.strip().capitalize()
            if source not in sources:
                raise ValueError(f"unknown source {source!r}; known: {', '.join(sources)}")
            if severity not in severities:
                raise ValueError(
                    f"unknown severity {severity!r} for {source}; known: {', '.join(severities)}"
                )
            policy[source] = severity
        return policy

    # -- inbound news feeds (issue 11, connectors/ingest, docs/feeds.md) --
    feeds: Annotated[tuple[FeedSpec, ...], NoDecode] = Field(
        default=(),
        description="feeds to poll: a JSON list (or TOML [[feeds]] tables) of {name, url, topic, mode, "
        "interval}; topics gesundheit, presse, verkehr, veranstaltungen; mode draft (a suggestion in the "
        "console) or publish (a post to the topic's subscribers and channels); interval in seconds (5 up)",
    )
    feed_max_age: int = Field(
        default=86400,
        description="when a feed is first added, only entries younger than this are taken (seconds, or "
        "a duration such as 24h, 90m, 2d); also the oldest entry ever taken later",
    )
    feed_timeout: float = Field(default=20.0, gt=0, le=300, description="seconds per feed request")
    feed_max_bytes: int = Field(
        default=5_000_000, ge=10_000, le=100_000_000, description="largest feed read (bytes, unpacked)"
    )

    @field_validator("feeds", mode="before")
    @classmethod
    def _feeds(cls, value: Any) -> list[Any]:
        return parse_feeds(value)

    @field_validator("feeds")
    @classmethod
    def _unique_feeds(cls, value: tuple[FeedSpec, ...]) -> tuple[FeedSpec, ...]:
        unique_names(value)
        return value

    @field_validator("feed_max_age", mode="before")
    @classmethod
    def _feed_max_age(cls, value: Any) -> int:
        return parse_duration(value)

    rasa_auth_token: SecretStr = Field(
        default=SecretStr(""),
        description="token the Rasa servers' HTTP API requires (parse, status, model replacement); "
        "generated into state_dir/rasa-auth.token if empty",
    )
    log_level: str = "INFO"

    @field_validator("x_api_url", "facebook_graph_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("mastodon_url")
    @classmethod
    def _mastodon_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://social.bund.de")
        return value.rstrip("/")

    @field_validator("telegram_channel")
    @classmethod
    def _telegram_channel(cls, value: str) -> str:
        if value and not re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{4,31}|-100\d{5,20}", value):
            raise ValueError("a public channel's @username or its numeric id (-100...)")
        return value

    @field_validator("webhooks")
    @classmethod
    def _unique_webhooks(cls, value: tuple[Webhook, ...]) -> tuple[Webhook, ...]:
        names = [w.name for w in value]
        if len(names) != len(set(names)):
            raise ValueError("webhook names must be unique")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (the async drivers we ship)"
            )
        return value

    @field_validator("rasa_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:5005")
        return value.rstrip("/")

    @field_validator("telegram_api_url")
    @classmethod
    def _telegram_api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org")
        return value.rstrip("/")

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        secret = value.get_secret_value()
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ValueError("1-256 characters A-Z, a-z, 0-9, _ and - (Telegram's rule for secret_token)")
        if not secret and info.data.get("telegram_token") and info.data.get("telegram_mode") == "webhook":
            raise ValueError("required in webhook mode, so that only Telegram can post updates")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()))


def load_settings(**overrides: Any) -> Settings:
    """Load and validate the settings; raise SettingsError with one line per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [
            f"  KOBLENZ_BOT_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        ]
        raise SettingsError("invalid configuration:\n" + "\n".join(lines)) from None
