"""KOBLENZ_BOT_WEBHOOKS (JSON) and ``[[webhooks]]`` (TOML) switch the webhook channel on; mistakes stop the
start with a line that names the key and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors import registry
from connectors.webhook.channel_spec import CHANNEL
from connectors.webhook.publisher import WebhookPublisher
from core import SettingsError
from core.settings import WEBHOOK_EVENTS
from tests.conftest import make_settings

SECRET = "app-secret-0123456789abcdef"


def test_the_json_list_in_the_environment_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = [
        {"name": "stadt-app", "url": "https://push.example.org/koblenz", "secret": SECRET},
        {
            "name": "leitstelle",
            "url": "http://127.0.0.1:9/hook",
            "secret": SECRET,
            "events": ["alert.issued", "alert.cancelled"],
        },
    ]
    monkeypatch.setenv("KOBLENZ_BOT_WEBHOOKS", json.dumps(hooks))
    settings = make_settings(tmp_path)
    app, leitstelle = settings.webhooks
    assert (app.name, app.url, app.events) == (
        "stadt-app",
        "https://push.example.org/koblenz",
        WEBHOOK_EVENTS,
    )
    assert app.secret.get_secret_value() == SECRET and SECRET not in repr(settings)
    assert leitstelle.events == ("alert.issued", "alert.cancelled")


def test_an_unknown_event_name_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = [
        {"name": "app", "url": "https://push.example.org/", "secret": SECRET, "events": ["alert.created"]}
    ]
    monkeypatch.setenv("KOBLENZ_BOT_WEBHOOKS", json.dumps(hooks))
    with pytest.raises(SettingsError) as caught:
        make_settings(tmp_path)
    message = str(caught.value)
    assert "KOBLENZ_BOT_WEBHOOKS" in message
    assert "unknown events ['alert.created']" in message
    assert "alert.issued, alert.updated, alert.cancelled, post.published" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("hook", "words"),
    [
        ({"name": "app", "url": "https://x.example/", "secret": "kurz"}, "at least 16 characters"),
        ({"name": "app", "url": "ftp://x.example/", "secret": SECRET}, "http(s) URL"),
        ({"name": "App Name", "url": "https://x.example/", "secret": SECRET}, "pattern"),
        ({"name": "app", "url": "https://x.example/", "secret": SECRET, "token": "x"}, "Extra inputs"),
    ],
)
def test_a_bad_entry_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: dict[str, str], words: str
) -> None:
    monkeypatch.setenv("KOBLENZ_BOT_WEBHOOKS", json.dumps([hook]))
    with pytest.raises(SettingsError, match="KOBLENZ_BOT_WEBHOOKS") as caught:
        make_settings(tmp_path)
    assert words in str(caught.value)


def test_names_must_be_unique(tmp_path: Path) -> None:
    hook = {"name": "app", "url": "https://x.example/", "secret": SECRET}
    with pytest.raises(SettingsError, match="webhook names must be unique"):
        make_settings(tmp_path, webhooks=[hook, hook])


def test_toml_tables_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "koblenz-bot.toml"
    config.write_text(
        '[[webhooks]]\nname = "app"\nurl = "https://push.example.org/"\n'
        f'secret = "{SECRET}"\nevents = ["post.published"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("KOBLENZ_BOT_CONFIG", str(config))
    [hook] = make_settings(tmp_path).webhooks
    assert (hook.name, hook.events) == ("app", ("post.published",))


async def test_the_channel_is_on_exactly_when_webhooks_are_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert registry.discover()["webhook"] is CHANNEL
    off = make_settings(tmp_path)
    assert not CHANNEL.enabled(off) and CHANNEL.missing(off) == ["KOBLENZ_BOT_WEBHOOKS"]

    hooks = [{"name": "app", "url": "https://push.example.org/secret-path", "secret": SECRET}]
    on = make_settings(tmp_path, webhooks=hooks)
    assert CHANNEL.enabled(on)
    async with registry.publishers(on, [CHANNEL]) as opened:
        publisher = opened["webhook"]
        assert isinstance(publisher, WebhookPublisher)
        assert publisher.targets("alert.issued") == ["app"]
    [line] = registry.health(on, opened, specs=[CHANNEL])
    assert line["receivers"] == [{"name": "app", "events": list(WEBHOOK_EVENTS)}]
    assert line["push"] is True and line["carries"] == ["posts", "alerts"]
    shown = json.dumps(line)
    assert SECRET not in shown and "secret-path" not in shown
