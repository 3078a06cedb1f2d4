"""Settings from environment and TOML with clear errors; privacy helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.privacy import load_or_create_key, pseudonym, redact
from core import SettingsError
from core.settings import load_settings
from tests.conftest import make_settings


def test_environment_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "koblenz-bot.toml"
    config.write_text('port = 9000\nrasa_url = "http://127.0.0.1:5999"\n')
    monkeypatch.setenv("KOBLENZ_BOT_CONFIG", str(config))
    monkeypatch.setenv("KOBLENZ_BOT_PORT", "9100")
    settings = load_settings()
    assert settings.port == 9100 and settings.rasa_url == "http://127.0.0.1:5999"


def test_defaults_are_the_embedded_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KOBLENZ_BOT_CONFIG", str(tmp_path / "none.toml"))
    settings = load_settings()
    assert settings.port == 8080 and settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.retention_days == 30 and settings.rasa_timeout <= 1.0


def test_invalid_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KOBLENZ_BOT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("KOBLENZ_BOT_DATABASE_URL", "mysql://root@localhost/x")
    monkeypatch.setenv("KOBLENZ_BOT_PORT", "99999")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "KOBLENZ_BOT_DATABASE_URL" in str(error.value) and "KOBLENZ_BOT_PORT" in str(error.value)


def test_redaction_removes_contact_data_but_keeps_the_question() -> None:
    text = redact(
        "Ich bin erreichbar unter 0261 1234567 oder anna@example.de, IBAN DE89 3704 0044 0532 0130 00. Reisepass?"
    )
    assert "1234567" not in text and "anna@" not in text and "DE89" not in text
    assert text.endswith("Reisepass?")


def test_pseudonyms_are_stable_per_key_and_reveal_nothing() -> None:
    assert pseudonym("k", "telegram", "123") == pseudonym("k", "telegram", "123")
    assert pseudonym("k", "telegram", "123") != pseudonym("other", "telegram", "123")
    assert "123" not in pseudonym("k", "telegram", "123")


def test_generated_key_is_kept_private(tmp_path: Path) -> None:
    key = load_or_create_key(SecretStr(""), tmp_path)
    assert load_or_create_key(SecretStr(""), tmp_path) == key
    assert load_or_create_key(SecretStr("configured"), tmp_path) == "configured"
    assert (tmp_path / "pseudonym.key").stat().st_mode & 0o077 == 0


def test_rasa_processes_default_leaves_one_core_to_the_bot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert make_settings(tmp_path).rasa_processes == 1
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert make_settings(tmp_path).rasa_processes == 7
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert make_settings(tmp_path).rasa_processes == 1
    monkeypatch.setenv("KOBLENZ_BOT_RASA_PROCESSES", "3")
    assert make_settings(tmp_path).rasa_processes == 3
