"""Channels that post once per message (X, Mastodon, the Telegram channel, webhooks) in the engine: one
text in, a fitting text per channel out; one delivery per channel and target; an update edits, replaces
or posts anew as the channel can; the all-clear answers the live post; one channel's failure never holds
up another; the provider's id and the public link are kept; X's daily budget refuses press posts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from twitter_text import parse_tweet

from broadcasts import InvalidRequest, TextTooLong
from broadcasts.cap import reference_of, to_cap_xml
from broadcasts.deliveries import live_posts
from broadcasts.engine import Scheduler
from broadcasts.publishers import Capabilities, Checked, Outgoing, Sent, Transient
from broadcasts.ratelimit import LocalSlots
from broadcasts.service import Broadcasts
from broadcasts.states import DeliveryState
from broadcasts.worker import Worker, WorkerConfig
from core.db import sessionmaker
from tests import broadcasting as h
from tests.broadcasts.outbox_helpers import Recording, deliveries


class Social(Checked):
    """A once-per-message channel that records calls; ``on_update`` as the platform allows."""

    def __init__(
        self, name: str, limit: int, on_update: str, on_allclear: str = "reply", targets: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.label = name.capitalize()
        self.capabilities = Capabilities(
            send=True,
            edit=on_update == "edit",
            delete=True,
            push=True,
            max_text=limit,
            rate_per_second=100.0,
            audience="once",
            on_update=on_update,  # type: ignore[arg-type]
            on_allclear=on_allclear,  # type: ignore[arg-type]
        )
        self._targets = list(targets) or [name]
        self.sent: list[tuple[str, str, str | None, Outgoing | None]] = []
        self.edited: list[tuple[str, str]] = []
        self.deleted: list[str] = []
        self.failures: list[Exception] = []
        self.delay = 0.0

    def targets(self, event: str) -> list[str]:
        return [t for t in self._targets if not t.endswith(":issued-only") or event == "alert.issued"]

    async def send(
        self, target: str, text: str, reply_to: str | None = None, outgoing: Outgoing | None = None
    ) -> str | Sent:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((target, text, reply_to, outgoing))
        post_id = f"{self.name}-{len(self.sent)}"
        return Sent(post_id, f"https://{self.name}.example/{post_id}")

    async def edit(self, target: str, message_id: str, text: str, outgoing: Outgoing | None = None) -> None:
        self.edited.append((message_id, text))

    async def delete(self, target: str, message_id: str) -> None:
        self.deleted.append(message_id)


def x_like() -> Social:
    channel = Social("x", 280, "replace")
    channel.length = lambda text, outgoing=None: parse_tweet(text).weightedLength  # type: ignore[method-assign]
    return channel


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    yield db
    await db.dispose()


@contextlib.asynccontextmanager
async def sending(engine: AsyncEngine, channels: Sequence[Any]) -> AsyncIterator[Scheduler]:
    """A scheduler and a worker for these channels (no rate limits), running until the block ends."""
    scheduler = Scheduler(engine, dt.timedelta(days=30), channels=channels)
    publishers = {c.name: c for c in channels}
    worker = Worker(
        engine,
        publishers,
        {name: LocalSlots(1e6) for name in publishers},
        WorkerConfig(poll=0.05, backoff=0.01, lease=30.0),
        name="test-worker",
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(scheduler.run(stop))]
    try:
        yield scheduler
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def service(engine: AsyncEngine, channels: Sequence[Any]) -> Broadcasts:
    return Broadcasts(sessionmaker(engine), channels=channels)


async def submit(svc: Broadcasts, alert: Any) -> None:
    await svc.submit_alert(h.FIRE, alert, to_cap_xml(alert).decode())


LONG = (
    "Am Abend ziehen von Westen schwere Gewitter mit Sturmböen bis 100 km/h, Starkregen und Hagel über "
    "das gesamte Stadtgebiet. Umstürzende Bäume und herabfallende Äste sind möglich; Keller können "
    "volllaufen. Die Feuerwehr ist mit allen Kräften im Einsatz und bittet um Rücksicht auf der Straße."
)


async def test_an_alert_its_update_and_its_all_clear_reach_every_channel_that_carried_it(
    engine: AsyncEngine,
) -> None:
    telegram, x, mastodon = Recording(), x_like(), Social("mastodon", 500, "edit")
    hook = Social("webhook", 100_000, "new", "new", targets=["app", "lagezentrum:issued-only"])
    channels = [telegram, x, mastodon, hook]
    await h.add_subscribers(engine, [1, 2])
    svc = service(engine, channels)
    first = h.cap_alert("koblenz-ch-1", "Unwetterwarnung für Koblenz", description=LONG)
    async with sending(engine, channels):
        await submit(svc, first)
        await h.settled(engine, 2 + 1 + 1 + 2)
        # every channel got a text that fits it; X's weighted count ≤ 280 and the link is kept whole
        x_text = x.sent[0][1]
        assert parse_tweet(x_text).weightedLength <= 280 and x_text.endswith("https://www.koblenz.de/")
        assert "Unwetterwarnung für Koblenz" in x_text and "  " not in x_text
        # the full text (Telegram's) is over 500: Mastodon gets the short form, headline and instruction
        assert len(telegram.sent[0][1]) > 500 and telegram.sent[0][1].startswith("⚠️ Gefahr – Stadt Koblenz")
        assert mastodon.sent[0][1] == (
            "⚠️ Gefahr: Unwetterwarnung für Koblenz – ganzes Stadtgebiet Koblenz. "
            "Bleiben Sie in Gebäuden und meiden Sie Bäume.\n\nhttps://www.koblenz.de/"
        )
        assert sorted(t for t, *_ in hook.sent) == ["app", "lagezentrum:issued-only"]
        assert {o.event for *_, o in hook.sent if o} == {"alert.issued"}
        assert len({o.key for *_, o in hook.sent if o}) == 2  # one delivery key each (receivers de-dupe)

        update = dataclasses.replace(
            h.cap_alert("koblenz-ch-2", "Unwetterwarnung: Hagel erwartet", msg_type="Update"),
            references=(reference_of(first),),
        )
        await submit(svc, update)
        await h.settled(engine, 2 * 6)
        assert x.deleted == ["x-1"] and len(x.sent) == 2 and "Aktualisiert" in x.sent[1][1]
        assert mastodon.edited and mastodon.edited[0][0] == "mastodon-1" and len(mastodon.sent) == 1
        assert [t for t, *_ in hook.sent[2:]] == ["app"]  # lagezentrum wants alert.issued only
        assert hook.sent[2][3] is not None and hook.sent[2][3].event == "alert.updated"
        assert len(telegram.edited) == 2

        cancel = dataclasses.replace(
            h.cap_alert("koblenz-ch-3", "Unwetterwarnung für Koblenz", msg_type="Cancel"),
            references=(reference_of(first), reference_of(update)),
        )
        await submit(svc, cancel)
        await h.settled(engine, 3 * 6)
    # the all-clear answers the live post: on X the reposted update, not the deleted first post
    assert x.sent[-1][2] == "x-2" and "Entwarnung" in x.sent[-1][1]
    assert mastodon.sent[-1][2] == "mastodon-1" and "Entwarnung" in mastodon.sent[-1][1]
    assert hook.sent[-1][3] is not None and hook.sent[-1][3].event == "alert.cancelled"
    posts = await live_posts(sessionmaker(engine), alert_identifier="koblenz-ch-1")
    x_rows = [p for p in posts if p["channel"] == "x" and p["kind"] == "alert"]
    assert x_rows[0]["provider_id"] == "x-2" and x_rows[0]["url"] == "https://x.example/x-2"
    skipped = [p for p in posts if p["target"] == "lagezentrum:issued-only" and p["kind"] != "alert"]
    assert {p["state"] for p in skipped} == {DeliveryState.CANCELLED}


async def test_one_failing_or_slow_channel_never_holds_up_the_others(engine: AsyncEngine) -> None:
    slow, failing, fine = (
        Social("slow", 500, "edit"),
        Social("failing", 500, "edit"),
        Social("fine", 500, "edit"),
    )
    slow.delay = 3.0
    failing.failures = [Transient("503")] * 3
    channels = [slow, failing, fine]
    svc = service(engine, channels)
    async with sending(engine, channels):
        started = asyncio.get_running_loop().time()
        await submit(svc, h.cap_alert("koblenz-ch-4", "Großbrand in Lützel", areas=["Lützel"]))
        await h.wait_until(lambda: bool(fine.sent), 10, "the fine channel's post")
        assert asyncio.get_running_loop().time() - started < 2.0  # not behind the slow one
        await h.settled(engine, 3, timeout=20)
    assert len(failing.sent) == 1  # retried with backoff until it went out, exactly once
    rows = {r.channel: r for r in await deliveries(engine)}
    assert rows["failing"].attempts == 4 and rows["failing"].state == DeliveryState.SENT


async def test_a_post_goes_to_the_chosen_channels_with_variants_and_previews(engine: AsyncEngine) -> None:
    telegram, x, mastodon = Recording(), x_like(), Social("mastodon", 500, "edit")
    channels = [telegram, x, mastodon]
    await h.add_subscribers(engine, [5], topic="presse")
    svc = service(engine, channels)
    with pytest.raises(InvalidRequest, match="youtube"):
        await svc.create(h.PRESS, "presse", "Text", channels=["x", "youtube"])
    with pytest.raises(TextTooLong) as too_long:
        post = await svc.create(h.PRESS, "presse", "Kurz", variants={"x": "ü" * 281})
        await svc.schedule(h.PRESS, post)
    assert too_long.value.channel == "X" and too_long.value.limit == 280
    previews = await svc.preview_post(
        "Die Stadtbibliothek öffnet am Samstag länger.", "https://www.koblenz.de/", channels=["x", "mastodon"]
    )
    assert [p.name for p in previews] == ["x", "mastodon"]
    assert previews[0].length == parse_tweet(previews[0].text).weightedLength
    assert previews[0].text.endswith("https://www.koblenz.de/") and all(p.ok for p in previews)
    post = await svc.create(
        h.PRESS, "presse", "Neue Öffnungszeiten der Bibliothek", channels=["x"], variants={"x": "Kurz für X"}
    )
    async with sending(engine, channels):
        await svc.schedule(h.PRESS, post)
        await h.settled(engine, 1)
    assert [t for _, t, *_ in x.sent] == ["Kurz für X"] and not telegram.sent and not mastodon.sent
    with pytest.raises(InvalidRequest, match="Alternativtext"):  # an image needs its description
        await svc.create(h.PRESS, "presse", "Mit Bild", image_url="https://www.koblenz.de/bild.jpg")
    with_image = await svc.create(
        h.PRESS,
        "presse",
        "Das neue Rathausfoyer",
        image_url="https://www.koblenz.de/bild.jpg",
        image_alt="Helles Foyer mit Infotheke",
        channels=["mastodon"],
    )
    async with sending(engine, channels):
        await svc.schedule(h.PRESS, with_image)
        await h.settled(engine, 2)
    outgoing = mastodon.sent[-1][3]
    assert outgoing is not None and outgoing.image_alt == "Helles Foyer mit Infotheke"


async def test_x_daily_budget_refuses_press_posts_but_never_alerts(engine: AsyncEngine) -> None:
    x = x_like()
    x.daily_posts = 2  # type: ignore[attr-defined]
    svc = service(engine, [x])
    when = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    for text in ("Erste Meldung", "Zweite Meldung"):
        await svc.schedule(h.PRESS, await svc.create(h.PRESS, "presse", text), when)
    third = await svc.create(h.PRESS, "presse", "Dritte Meldung")
    with pytest.raises(InvalidRequest, match="2 Beiträge in 24 Stunden"):
        await svc.schedule(h.PRESS, third, when + dt.timedelta(hours=1))
    await svc.schedule(h.PRESS, third, when + dt.timedelta(hours=30))  # outside the window: fine
    await submit(svc, h.cap_alert("koblenz-ch-5", "Hochwasser am Deutschen Eck"))  # alerts always go
    assert len(await svc.list()) == 3


async def test_a_429_of_one_webhook_receiver_holds_back_only_that_receiver(engine: AsyncEngine) -> None:
    from broadcasts.publishers import RetryAfter

    class Hooks(Social):
        async def send(
            self, target: str, text: str, reply_to: str | None = None, outgoing: Outgoing | None = None
        ) -> str | Sent:
            if target == "slow-app" and not any(t == "slow-app" for t, *_ in self.sent):
                self.sent.append(("slow-app:429", text, None, outgoing))
                raise RetryAfter(30, "429 Too Many Requests", whole_channel=False)
            return await super().send(target, text, reply_to, outgoing)

    hooks = Hooks("webhook", 100_000, "new", "new", targets=["slow-app", "app"])
    svc = service(engine, [hooks])
    async with sending(engine, [hooks]):
        await submit(svc, h.cap_alert("koblenz-ch-6", "Großbrand in Metternich"))
        await h.wait_until(lambda: any(t == "app" for t, *_ in hooks.sent), 5, "the other receiver")
    rows = {r.chat_id: r for r in await deliveries(engine)}
    assert rows["app"].state == DeliveryState.SENT
    assert (
        rows["slow-app"].state == DeliveryState.PENDING
        and rows["slow-app"].next_attempt_at > time.time() + 20
    )
