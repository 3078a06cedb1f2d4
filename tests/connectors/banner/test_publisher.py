"""The website banner (connectors/banner): a pull channel for alerts only, read at /api/alerts."""

from __future__ import annotations

import pytest

from broadcasts.publishers import Unsupported, carrying
from connectors.banner.publisher import BannerPublisher
from connectors.registry import discover


async def test_the_banner_carries_alerts_only_and_is_never_sent_to() -> None:
    banner = BannerPublisher()
    assert not banner.capabilities.push and not banner.capabilities.posts and banner.capabilities.alerts
    assert carrying([banner], "post") == [] and carrying([banner], "alert") == [banner]
    assert banner.capabilities.cannot  # says plainly what it cannot do
    with pytest.raises(Unsupported, match="Website-Banner"):
        await banner.send("alle", "Warnung")


def test_the_banner_shows_one_line() -> None:
    banner = BannerPublisher()
    assert banner.preview("\nGroßbrand in Lützel\nFenster schließen.") == "Großbrand in Lützel"
    assert banner.preview("") == ""


def test_the_banner_is_read_where_the_website_reads_it() -> None:
    spec = discover()["banner"]
    assert spec.label == "Website-Banner" and spec.paths == ("/api/alerts",) and spec.routes is None
