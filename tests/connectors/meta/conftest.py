"""Fixtures of the Meta channels' tests: the Graph API double, a shared HTTP session and publishers over
it, the way ``channel_spec`` opens them from the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from broadcasts.publishers import Outgoing
from connectors.meta.card import CardStore
from connectors.meta.facebook import FacebookPublisher
from connectors.meta.graph import GraphClient
from connectors.meta.instagram import InstagramPublisher
from tests.fakes.graph_api import FakeGraphAPI

PUBLIC_URL = "https://bot.koblenz.example"


@pytest.fixture
async def fake() -> AsyncIterator[FakeGraphAPI]:
    api = FakeGraphAPI()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def graph(http: aiohttp.ClientSession, fake: FakeGraphAPI, platform: str, **options: Any) -> GraphClient:
    token = options.pop("token", fake.token)
    return GraphClient(http, fake.url, fake.version, token, platform=platform, **options)


@pytest.fixture
def facebook(http: aiohttp.ClientSession, fake: FakeGraphAPI) -> FacebookPublisher:
    return FacebookPublisher(graph(http, fake, "Facebook"), fake.page_id)


@pytest.fixture
def cards_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "cards"


@pytest.fixture
def instagram(http: aiohttp.ClientSession, fake: FakeGraphAPI, cards_dir: Path) -> InstagramPublisher:
    return InstagramPublisher(
        graph(http, fake, "Instagram"),
        fake.ig_user_id,
        PUBLIC_URL + "/",
        CardStore(cards_dir),
        wait_timeout=5.0,
        poll_interval=0.01,
        poll_max=0.05,
    )


def alert(kind: str = "alert", severity: str = "Severe", **fields: Any) -> Outgoing:
    values: dict[str, Any] = {
        "kind": kind,
        "event": {"alert": "alert.issued", "update": "alert.updated", "allclear": "alert.cancelled"}[kind],
        "headline": "Bombenentschärfung in der Altstadt",
        "severity": severity,
        "severity_label": {"Extreme": "Extreme Gefahr", "Severe": "Gefahr"}.get(
            severity, "Gefahreninformation"
        ),
        "event_name": "Bombenentschärfung",
        "areas": ("Altstadt", "Ehrenbreitstein"),
        "instruction": "Verlassen Sie den Sperrbereich bis 10 Uhr und folgen Sie den Anweisungen der Einsatzkräfte.",
        "identifier": "koblenz-2026-0042",
        "key": "koblenz-17",
    }
    values.update(fields)
    return Outgoing(**values)


def post(**fields: Any) -> Outgoing:
    values: dict[str, Any] = {
        "kind": "post",
        "event": "post.published",
        "headline": "Sperrmüllabfuhr: neue Termine für Lützel",
        "link": "https://www.koblenz.de/",
        "key": "koblenz-21",
    }
    values.update(fields)
    return Outgoing(**values)
