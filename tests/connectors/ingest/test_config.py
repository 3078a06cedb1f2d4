"""FEEDS and FEED_MAX_AGE: JSON or TOML, checked at start-up with a clear line per problem."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connectors.ingest.config import IngestConfig
from core import SettingsError
from tests.conftest import make_settings

JSON_FEEDS = (
    '[{"name": "Gesundheitsamt", "url": "https://example.invalid/gesundheit.xml", "topic": "gesundheit",'
    ' "mode": "publish", "interval": 5},'
    ' {"name": "Polizei", "url": "https://example.invalid/polizei.xml", "topic": "presse"}]'
)
TOML_FEEDS = """
[[feeds]]
name = "Verkehr"
url = "https://example.invalid/verkehr.xml"
topic = "verkehr"
mode = "publish"
interval = 120
"""


def test_json_list_with_defaults(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, feeds=JSON_FEEDS)
    first, second = settings.feeds
    assert (first.name, first.topic, first.mode, first.interval) == (
        "Gesundheitsamt",
        "gesundheit",
        "publish",
        5,
    )
    assert (second.mode, second.interval) == ("draft", 300)
    config = IngestConfig.from_settings(settings)
    assert config.max_age == dt.timedelta(hours=24) and config.max_bytes == 5_000_000


def test_toml_tables_from_the_environment_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOBLENZ_BOT_FEEDS", TOML_FEEDS)
    (feed,) = make_settings(tmp_path).feeds
    assert (feed.name, feed.topic, feed.mode, feed.interval) == ("Verkehr", "verkehr", "publish", 120)
    monkeypatch.delenv("KOBLENZ_BOT_FEEDS")
    config_file = tmp_path / "koblenz-bot.toml"
    config_file.write_text(TOML_FEEDS, encoding="utf-8")
    monkeypatch.setenv("KOBLENZ_BOT_CONFIG", str(config_file))
    (from_file,) = make_settings(tmp_path).feeds
    assert from_file == feed


def test_toml_inline_array(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, feeds='[{name = "Feste", url = "https://example.invalid/f.xml", topic = "veranstaltungen"}]'
    )
    assert settings.feeds[0].topic == "veranstaltungen"


@pytest.mark.parametrize(
    ("feeds", "problem"),
    [
        ('[{"name": "A", "url": "https://x.invalid/a", "topic": "warnungen"}]', "unknown topic 'warnungen'"),
        (
            '[{"name": "A", "url": "https://x.invalid/a", "topic": "presse", "interval": 4}]',
            "greater than or equal to 5",
        ),
        ('[{"name": "A", "url": "ftp://x.invalid/a", "topic": "presse"}]', "must be an http(s) URL"),
        (
            '[{"name": "A", "url": "https://x.invalid/a", "topic": "presse", "mode": "send"}]',
            "'draft' or 'publish'",
        ),
        ('[{"name": "A", "url": "https://x.invalid/a", "topic": "presse", "colour": "red"}]', "Extra inputs"),
        (
            '[{"name": "A", "url": "https://x.invalid/a", "topic": "presse"},'
            ' {"name": "A", "url": "https://x.invalid/b", "topic": "presse"}]',
            "given twice: A",
        ),
        ("{not json = and not toml", "neither JSON nor TOML"),
    ],
)
def test_wrong_feeds_are_refused_at_start_up(tmp_path: Path, feeds: str, problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        make_settings(tmp_path, feeds=feeds)
    assert "KOBLENZ_BOT_FEEDS" in str(refused.value) and problem in str(refused.value)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("86400", 86400),
        (3600, 3600),
        ("24h", 86400),
        ("90m", 5400),
        ("2d", 172800),
        ("1d12h", 129600),
        ("45s", 45),
        ("30min", 1800),
    ],
)
def test_feed_max_age_takes_seconds_or_a_duration(tmp_path: Path, value: object, seconds: int) -> None:
    assert make_settings(tmp_path, feed_max_age=value).feed_max_age == seconds


@pytest.mark.parametrize("value", ["h", "24x", "-5", "1.5h", "zwei Tage", "12h30"])
def test_feed_max_age_refuses_what_it_cannot_read(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="KOBLENZ_BOT_FEED_MAX_AGE"):
        make_settings(tmp_path, feed_max_age=value)
