"""The channel as the registry knows it, and the content warnings it puts on alerts."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from broadcasts.publishers import Outgoing
from connectors import registry
from connectors.mastodon.channel_spec import CHANNEL
from connectors.mastodon.publisher import MastodonPublisher, content_warning
from tests.conftest import make_settings


def test_on_only_with_instance_and_token(tmp_path: Path) -> None:
    off = make_settings(tmp_path, mastodon_url="https://social.example")
    on = make_settings(tmp_path, mastodon_url="https://social.example", mastodon_token="geheim-123")

    assert not CHANNEL.enabled(off) and CHANNEL.missing(off) == ["KOBLENZ_BOT_MASTODON_TOKEN"]
    assert CHANNEL.enabled(on)
    assert registry.discover()["mastodon"] is CHANNEL
    [line] = registry.health(on, specs=[CHANNEL])
    assert line["enabled"] and line["instance"] == "https://social.example"
    assert "geheim-123" not in str(line)


async def test_open_builds_the_publisher_without_network(tmp_path: Path) -> None:
    # port 9 on loopback answers nothing: any request during open would fail the test
    settings = make_settings(tmp_path, mastodon_url="http://127.0.0.1:9", mastodon_token="geheim-123")
    async with aiohttp.ClientSession() as session:
        publisher = await CHANNEL.open(settings, session)

    assert isinstance(publisher, MastodonPublisher) and publisher.name == "mastodon"
    caps = publisher.capabilities
    assert (caps.audience, caps.on_update, caps.on_allclear, caps.edit_window) == (
        "once",
        "edit",
        "reply",
        None,
    )
    assert caps.push and caps.send and caps.edit and caps.delete and caps.max_text == 500
    assert not publisher.limits.loaded
    await publisher.close()


def alert(kind: str = "alert", **facts: object) -> Outgoing:
    values: dict[str, object] = {
        "kind": kind,
        "event": "alert.issued",
        "severity": "Severe",
        "severity_label": "Gefahr",
        "event_name": "Hochwasser",
        "headline": "Hochwasser am Deutschen Eck",
    }
    values.update(facts)
    return Outgoing(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outgoing", "warning"),
    [
        (alert(), "Warnung: Hochwasser (Gefahr)"),
        (alert("update"), "Warnung: Hochwasser (Gefahr)"),
        (alert("allclear"), "Entwarnung: Hochwasser"),
        (alert(exercise=True), "ÜBUNG – Warnung: Hochwasser (Gefahr)"),
        (alert(event_name=""), "Warnung: Hochwasser am Deutschen Eck (Gefahr)"),
        (alert(severity="Unknown", severity_label="Warnung"), "Warnung: Hochwasser"),
        (alert(severity=""), ""),
        (Outgoing(kind="post", event="post.published", headline="Neues Bürgeramt"), ""),
        (None, ""),
    ],
)
def test_content_warning(outgoing: Outgoing | None, warning: str) -> None:
    assert content_warning(outgoing) == warning


def test_long_names_are_shortened_in_the_warning() -> None:
    warning = content_warning(alert(event_name="Sehr " * 40))
    assert len(warning) < 110 and warning.endswith("… (Gefahr)")
