"""One typed settings object: environment variables ``KOBLENZ_BOT_*`` over an optional TOML file.

The TOML file is ``koblenz-bot.toml`` in the working directory, or the path in ``KOBLENZ_BOT_CONFIG``.
Secrets (tokens, the pseudonym key) come from the environment or that git-ignored file, never the repo.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _toml_path() -> Path:
    return Path(os.environ.get("KOBLENZ_BOT_CONFIG", "koblenz-bot.toml"))


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
    rasa_timeout: float = Field(default=1.0, gt=0, le=30)
    rasa_startup_timeout: float = Field(default=180.0, gt=0)
    rasa_config: Path = PROJECT_ROOT / "nlu" / "config.yml"
    model_dir: Path = PROJECT_ROOT / "nlu" / "models"
    catalog_dir: Path = PROJECT_ROOT / "data"
    state_dir: Path = PROJECT_ROOT / "var"
    retention_days: int = Field(default=30, ge=1, le=3650)
    purge_interval_seconds: int = Field(default=3600, ge=10)
    max_message_chars: int = Field(default=1000, ge=50, le=10000)
    intent_threshold: float = Field(default=0.45, ge=0, le=1)
    ambiguity_margin: float = Field(default=0.12, ge=0, le=1)
    pseudonym_key: str = Field(
        default="",
        description="HMAC key for pseudonymous conversation ids; generated into state_dir if empty",
    )
    chat_rate_per_minute: int = Field(default=30, ge=1)
    log_level: str = "INFO"

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
