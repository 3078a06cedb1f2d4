"""The Facebook Page channel against the Graph API double: posts with their link, updates as edits, the
all-clear as a post of its own, and what each kind of platform error does to the channel."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from broadcasts.publishers import EditImpossible, Rejected, RetryAfter, Sent, Transient
from connectors import registry
from connectors.meta import channel_spec
from connectors.meta.facebook import FacebookPublisher
from connectors.meta.graph import TokenRejected
from tests.conftest import make_settings
from tests.connectors.meta.conftest import alert, graph, post
from tests.fakes.graph_api import FakeGraphAPI

OPERATOR = (
    "Facebook: Der Seiten-Token ist ungültig oder abgelaufen. Bitte KOBLENZ_BOT_FACEBOOK_PAGE_TOKEN erneuern."
)


async def test_post_goes_to_the_page_feed_with_its_link(
    facebook: FacebookPublisher, fake: FakeGraphAPI
) -> None:
    text = "Sperrmüllabfuhr: neue Termine für Lützel\n\nhttps://www.koblenz.de/"
    sent = await facebook.send("facebook", text, outgoing=post())
    assert isinstance(sent, Sent)
    [page_post] = fake.feed
    assert sent.id == page_post.id and sent.id.startswith(f"{fake.page_id}_")
    assert sent.url == f"https://www.facebook.com/{page_post.id}"
    assert page_post.message == text and page_post.link == "https://www.koblenz.de/"
    # the token travels in the Authorization header, never in a URL that could be logged
    assert fake.tokens_in_url == 0
    assert all(path.startswith(f"{fake.version}/") for _m, path, _p in fake.requests)


async def test_update_edits_the_post_and_delete_removes_it(
    facebook: FacebookPublisher, fake: FakeGraphAPI
) -> None:
    sent = await facebook.send("facebook", "⚠️ Gefahr: Bombenentschärfung", outgoing=alert())
    assert isinstance(sent, Sent)
    await facebook.edit("facebook", sent.id, "🔄 Aktualisiert: Sperrbereich erweitert")
    assert fake.posts[sent.id].message == "🔄 Aktualisiert: Sperrbereich erweitert"
    await facebook.delete("facebook", sent.id)
    assert fake.feed == []
    # a post that is gone cannot be edited (the worker then posts the update anew) ...
    with pytest.raises(EditImpossible):
        await facebook.edit("facebook", sent.id, "noch einmal")
    # ... and deleting it again is simply done
    await facebook.delete("facebook", sent.id)
    # an id from anywhere else never reaches another path of the API
    with pytest.raises(Rejected):
        await facebook.delete("facebook", "../me")
    assert fake.requests[-1][1].endswith(sent.id)
    caps = facebook.capabilities
    assert (caps.edit, caps.delete, caps.edit_window, caps.on_update, caps.audience) == (
        True,
        True,
        None,
        "edit",
        "once",
    )


async def test_all_clear_is_a_new_post_and_a_note_under_the_warning(
    facebook: FacebookPublisher, fake: FakeGraphAPI
) -> None:
    assert facebook.capabilities.on_allclear == "new"
    warning = await facebook.send("facebook", "⚠️ Gefahr: Bombenentschärfung", outgoing=alert())
    assert isinstance(warning, Sent)
    clear = await facebook.send(
        "facebook", "✅ Entwarnung: Bombenentschärfung", reply_to=warning.id, outgoing=alert("allclear")
    )
    assert isinstance(clear, Sent) and clear.id != warning.id
    assert [p.message for p in fake.feed] == [
        "⚠️ Gefahr: Bombenentschärfung",
        "✅ Entwarnung: Bombenentschärfung",
    ]
    assert fake.comments == [(warning.id, "✅ Entwarnung: Bombenentschärfung")]
    # the comment is a courtesy: when it fails (the warning was removed by hand), the all-clear still stands
    fake.posts.pop(warning.id)
    again = await facebook.send("facebook", "✅ Entwarnung", reply_to=warning.id, outgoing=alert("allclear"))
    assert isinstance(again, Sent) and fake.feed[-1].message == "✅ Entwarnung"


async def test_refused_token_stops_the_channel_with_the_operators_message(
    facebook: FacebookPublisher, fake: FakeGraphAPI
) -> None:
    assert await facebook.start() and facebook.health() == {} and not facebook.stopped
    fake.inject(190, subcode=463)
    with pytest.raises(TokenRejected) as caught:
        await facebook.send("facebook", "Erster Beitrag", outgoing=post())
    assert isinstance(caught.value, Rejected)  # the worker records the delivery as failed
    assert caught.value.message == OPERATOR
    assert facebook.health() == {"state": "stopped", "reason": OPERATOR}
    assert facebook.stopped and facebook.problem == OPERATOR
    calls = len(fake.requests)
    # every later message fails at once, with the same text, without asking Facebook again
    for action in (
        facebook.send("facebook", "Zweiter Beitrag", outgoing=post()),
        facebook.edit("facebook", "1_2", "neu"),
        facebook.delete("facebook", "1_2"),
    ):
        with pytest.raises(TokenRejected, match="KOBLENZ_BOT_FACEBOOK_PAGE_TOKEN erneuern"):
            await action
    assert len(fake.requests) == calls and fake.feed == []


async def test_wrong_token_from_the_start_stops_it_too(
    http: aiohttp.ClientSession, fake: FakeGraphAPI
) -> None:
    publisher = FacebookPublisher(graph(http, fake, "Facebook", token="EAAG-revoked"), fake.page_id)
    with pytest.raises(TokenRejected):
        await publisher.send("facebook", "Hallo", outgoing=post())
    assert publisher.health()["state"] == "stopped"
    assert "EAAG-revoked" not in json.dumps(publisher.health())


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001])
async def test_rate_limits_pause_the_channel(
    facebook: FacebookPublisher, fake: FakeGraphAPI, code: int
) -> None:
    fake.inject(code, status=403 if code == 4 else 400)
    with pytest.raises(RetryAfter) as caught:
        await facebook.send("facebook", "Beitrag", outgoing=post())
    assert caught.value.seconds == 300  # no estimate given: five minutes
    assert facebook.health() == {}  # paused, not stopped
    assert isinstance(await facebook.send("facebook", "Beitrag", outgoing=post()), Sent)


async def test_rate_limit_waits_as_long_as_the_usage_header_estimates(
    facebook: FacebookPublisher, fake: FakeGraphAPI
) -> None:
    usage = {fake.page_id: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}]}
    fake.inject(80001, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    with pytest.raises(RetryAfter) as caught:
        await facebook.send("facebook", "Beitrag", outgoing=post())
    assert caught.value.seconds == 7 * 60


@pytest.mark.parametrize(("code", "subcode"), [(100, None), (368, None), (200, None), (100, 1487930)])
async def test_any_other_error_fails_only_that_post(
    facebook: FacebookPublisher, fake: FakeGraphAPI, code: int, subcode: int | None
) -> None:
    fake.inject(code, subcode=subcode)
    with pytest.raises(Rejected) as caught:
        await facebook.send("facebook", "Kaputter Beitrag", outgoing=post())
    assert not isinstance(caught.value, TokenRejected)
    if code == 368:
        assert "vorübergehend gesperrt" in caught.value.message
    assert "fbtrace_id" in str(caught.value)  # for a question to Meta's support
    sent = await facebook.send("facebook", "Nächster Beitrag", outgoing=post())
    assert isinstance(sent, Sent) and [p.message for p in fake.feed] == ["Nächster Beitrag"]


@pytest.mark.parametrize("fault", ["code1", "code2", "502", "timeout"])
async def test_transient_failures_are_retried(
    http: aiohttp.ClientSession, fake: FakeGraphAPI, fault: str
) -> None:
    publisher = FacebookPublisher(graph(http, fake, "Facebook", timeout=0.3), fake.page_id)
    if fault == "code1":
        fake.inject(1)
    elif fault == "code2":
        fake.inject(2)
    elif fault == "502":
        fake.fail_next(1, status=502)
    else:
        fake.delay = 1.0
    with pytest.raises(Transient):
        await publisher.send("facebook", "Beitrag", outgoing=post())
    fake.delay = 0.0
    assert isinstance(await publisher.send("facebook", "Beitrag", outgoing=post()), Sent)
    assert publisher.health() == {}


async def test_channel_is_on_with_page_and_token_and_opens_from_the_settings(
    tmp_path: Path, fake: FakeGraphAPI, http: aiohttp.ClientSession
) -> None:
    spec = registry.discover()["facebook"]
    assert spec is channel_spec.FACEBOOK and spec.label == "Facebook"
    assert spec.requires == ("facebook_page_id", "facebook_page_token")
    off = make_settings(tmp_path, facebook_page_id=fake.page_id)
    assert not spec.enabled(off) and spec.missing(off) == ["KOBLENZ_BOT_FACEBOOK_PAGE_TOKEN"]
    settings = make_settings(
        tmp_path,
        facebook_page_id=fake.page_id,
        facebook_page_token=fake.token,
        facebook_graph_url=fake.url,
        facebook_api_version=fake.version,
    )
    assert spec.enabled(settings)
    publisher = await spec.open(settings, http)
    assert publisher.name == "facebook"
    sent = await publisher.send("facebook", "Über die Einstellungen geöffnet", outgoing=post(link=None))
    assert isinstance(sent, Sent) and fake.feed[0].link is None


async def test_health_shows_a_refused_token_from_the_start(tmp_path: Path, fake: FakeGraphAPI) -> None:
    settings = make_settings(
        tmp_path,
        facebook_page_id=fake.page_id,
        facebook_page_token="EAAG-expired-token",
        facebook_graph_url=fake.url,
        facebook_api_version=fake.version,
    )
    specs = [channel_spec.FACEBOOK]
    async with registry.publishers(settings, specs) as opened:  # opens and starts: one check of the token
        [line] = registry.health(settings, opened=opened, sending={"facebook"}, specs=specs)
        assert line["state"] == "stopped" and line["problem"] == OPERATOR
        assert "EAAG-expired-token" not in json.dumps(line)
    good = make_settings(
        tmp_path,
        facebook_page_id=fake.page_id,
        facebook_page_token=fake.token,
        facebook_graph_url=fake.url,
        facebook_api_version=fake.version,
    )
    async with registry.publishers(good, specs) as opened:
        [line] = registry.health(good, opened=opened, sending={"facebook"}, specs=specs)
        assert line["state"] == "sending" and "problem" not in line
        assert line["page_id"] == fake.page_id
