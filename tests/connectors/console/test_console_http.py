"""The console over plain HTTP (no browser): sign-in, roles against forged requests, CSRF, throttling,
idle timeout, double submit, the CSP on every page, the four-eyes rule, Berlin times, progress JSON and
the ``users`` command."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update

from app.web import create_app
from broadcasts.models import Alert, AuditLog, Broadcast, Delivery, OutboundMessage
from broadcasts.states import AuditOutcome, DeliveryState, MessageKind, PostState
from connectors.console.models import Approval, ApprovalState, ConsoleSession, ConsoleUser
from core.db import create_engine, migrate, sessionmaker
from core.time import BERLIN, utcnow
from tests.conftest import make_settings
from tests.connectors.console.helpers import PASSWORD, add_users, check_csp, csrf_of, hidden, sign_in

# the console application end to end over HTTP (users, sessions, database): `make test`, not test-fast
pytestmark = pytest.mark.functional

Client = TestClient[Any, Any]


class Console:
    def __init__(self, tmp: Path, **overrides: Any) -> None:
        self.settings = make_settings(tmp, broadcast_worker=False, **overrides)
        self.engine = create_engine(self.settings.database_url)
        self.sessions = sessionmaker(self.engine)
        self.clients: list[Client] = []

    async def start(self) -> None:
        await migrate(self.engine)
        await add_users(self.sessions, anna="redaktion", bernd="redaktion", fritz="feuerwehr", ada="admin")

    async def client(self, name: str | None = None, **headers: str) -> Client:
        client: Client = TestClient(TestServer(create_app(self.settings, manage_rasa=False)))
        await client.start_server()
        self.clients.append(client)
        if name:
            response = await sign_in(client, name, **headers)
            assert response.status == 303, await response.text()
        return client

    async def count(self, model: Any, *where: Any) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        await self.engine.dispose()


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    console = Console(tmp_path)
    await console.start()
    yield console
    await console.close()


def _post_form(csrf: str, token: str = "token-1", **extra: Any) -> dict[str, Any]:
    return {
        "_csrf": csrf,
        "form_token": token,
        "text": "Die Stadtbibliothek ist am Freitag geschlossen.",
        "topic": "presse",
        "channels[]": "feed",
        "when": "now",
        "action": "submit",
        **extra,
    }


def _alert_form(csrf: str, token: str = "alert-1") -> dict[str, Any]:
    return {
        "_csrf": csrf,
        "form_token": token,
        "v_uhrzeit": "18:00",
        "area": "city",
        "severity": "Severe",
        "urgency": "Expected",
        "certainty": "Likely",
        "action": "send",
    }


# -- sign-in and sessions ---------------------------------------------------------------------------------


async def test_sign_in_sets_a_strict_http_only_cookie_and_shows_the_role(console: Console) -> None:
    client = await console.client()
    anonymous = await client.get("/console/beitraege", allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"] == "/console/anmelden"
    response = await sign_in(client, "anna")
    assert response.status == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console/" in cookie
    page = await client.get("/console/")
    assert "Redaktion" in await page.text()
    async with console.sessions() as session:
        stored = (await session.scalars(select(ConsoleSession.token_hash))).all()
    token = response.cookies["koblenz_console"].value
    assert token not in stored and len(stored) == 1  # only the hash is stored


async def test_wrong_password_is_refused_politely_and_audited(console: Console) -> None:
    client = await console.client()
    response = await sign_in(client, "anna", "falsch-falsch-falsch")
    assert response.status == 401
    assert "Benutzername oder Passwort ist falsch" in await response.text()
    assert (
        await console.count(
            AuditLog, AuditLog.action == "console.signin", AuditLog.outcome == AuditOutcome.REJECTED
        )
        == 1
    )


async def test_throttling_per_account_and_per_address(tmp_path: Path) -> None:
    console = Console(tmp_path, console_trusted_proxy_header="X-Forwarded-For")
    await console.start()
    try:
        client = await console.client()
        for _ in range(5):
            assert (
                await sign_in(client, "anna", "falsch-falsch-falsch", **{"X-Forwarded-For": "10.0.0.1"})
            ).status == 401
        # the right password is refused now too, with a clear message
        locked = await sign_in(client, "anna", PASSWORD, **{"X-Forwarded-For": "10.0.0.2"})
        assert locked.status == 429
        assert "Zu viele fehlgeschlagene Anmeldeversuche" in await locked.text()
        assert int(locked.headers["Retry-After"]) > 800
        # the address is locked for other accounts as well ...
        assert (await sign_in(client, "bernd", PASSWORD, **{"X-Forwarded-For": "10.0.0.1"})).status == 429
        # ... but nobody else is: another account from another address signs in
        assert (await sign_in(client, "bernd", PASSWORD, **{"X-Forwarded-For": "10.0.0.3"})).status == 303
        assert await console.count(AuditLog, AuditLog.details["reason"].as_string() == "throttled") >= 2
        # after the window the account can sign in again
        async with console.sessions.begin() as session:
            from connectors.console.models import LoginAttempt

            await session.execute(update(LoginAttempt).values(at=utcnow() - dt.timedelta(minutes=16)))
        assert (await sign_in(client, "anna", PASSWORD, **{"X-Forwarded-For": "10.0.0.1"})).status == 303
    finally:
        await console.close()


async def test_idle_timeout_ends_the_session(console: Console) -> None:
    client = await console.client("anna")
    assert (await client.get("/console/", allow_redirects=False)).status == 200
    async with console.sessions.begin() as session:
        await session.execute(update(ConsoleSession).values(last_seen_at=utcnow() - dt.timedelta(minutes=31)))
    response = await client.get("/console/beitraege", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/anmelden?meldung=abgelaufen"
    assert (await client.get("/console/beitraege", allow_redirects=False)).status == 303
    assert await console.count(ConsoleSession) == 0


async def test_disabled_user_loses_the_session_at_once(console: Console) -> None:
    import connectors.console.auth as auth

    client = await console.client("anna")
    await auth.disable_user(console.sessions, "anna")
    assert (await client.get("/console/", allow_redirects=False)).status == 303
    assert (await sign_in(client, "anna")).status == 401


# -- CSRF, roles, GET never acts ----------------------------------------------------------------------


async def test_post_without_csrf_is_refused_and_changes_nothing(console: Console) -> None:
    client = await console.client("anna")
    csrf = await csrf_of(client)
    form = _post_form(csrf)
    del form["_csrf"]
    response = await client.post("/console/beitraege/neu", data=form, allow_redirects=False)
    assert response.status == 403
    check_csp(response.headers)
    wrong = await client.post(
        "/console/beitraege/neu", data={**form, "_csrf": "x" * 43}, allow_redirects=False
    )
    assert wrong.status == 403
    assert await console.count(Broadcast) == 0
    login_without = await client.post("/console/anmelden", data={"name": "anna", "password": PASSWORD})
    assert login_without.status == 403


@pytest.mark.parametrize(
    ("user", "path", "form"),
    [
        ("fritz", "/console/beitraege/neu", "post"),
        ("ada", "/console/beitraege/neu", "post"),
        ("anna", "/console/warnungen/neu/hochwasser-rhein", "alert"),
        ("ada", "/console/warnungen/neu/hochwasser-rhein", "alert"),
        ("fritz", "/console/benutzer", "user"),
        ("anna", "/console/benutzer/fritz/sperren", "plain"),
    ],
)
async def test_forged_requests_of_other_roles_are_refused_with_403(
    console: Console, user: str, path: str, form: str
) -> None:
    client = await console.client(user)
    csrf = await csrf_of(client)
    data = {
        "post": _post_form(csrf),
        "alert": _alert_form(csrf),
        "user": {"_csrf": csrf, "name": "mallory", "role": "admin", "password": PASSWORD},
        "plain": {"_csrf": csrf},
    }[form]
    response = await client.post(path, data=data, allow_redirects=False)
    assert response.status == 403
    check_csp(response.headers)
    assert await console.count(Broadcast) == 0
    assert await console.count(Alert) == 0
    assert await console.count(ConsoleUser) == 4
    assert await console.count(ConsoleUser, ConsoleUser.disabled.is_(True)) == 0


async def test_controls_a_role_may_not_use_are_not_shown(console: Console) -> None:
    anna = await console.client("anna")
    fritz = await console.client("fritz")
    anna_alerts = await (await anna.get("/console/warnungen")).text()
    assert "Warnung auslösen" not in anna_alerts
    fritz_home = await (await fritz.get("/console/")).text()
    assert "Warnung auslösen" in fritz_home and "Neuer Beitrag" not in fritz_home
    fritz_posts = await (await fritz.get("/console/beitraege")).text()
    assert "Neuer Beitrag" not in fritz_posts
    assert (await fritz.get("/console/beitraege/neu")).status == 403
    assert (await anna.get("/console/warnungen/neu")).status == 403


async def test_get_never_acts(console: Console) -> None:
    fritz = await console.client("fritz")
    csrf = await csrf_of(fritz)
    sent = await fritz.post("/console/warnungen/neu/unwetter", data=_alert_form(csrf), allow_redirects=False)
    assert sent.status == 303
    alert_id = int(sent.headers["Location"].split("/")[3].split("?")[0])
    for path in ("entwarnung", "fehlalarm", "erneut"):
        assert (await fritz.get(f"/console/warnungen/{alert_id}/{path}")).status == 405
    assert await console.count(Alert) == 1


# -- CSP on every page ----------------------------------------------------------------------------------


async def test_every_console_page_carries_the_csp(console: Console) -> None:
    anonymous = await console.client()
    for path in ("/console/anmelden", "/console/gibt-es-nicht"):
        check_csp((await anonymous.get(path)).headers)
    ada = await console.client("ada")
    anna = await console.client("anna")
    fritz = await console.client("fritz")
    pages = {
        ada: [
            "/console/",
            "/console/benutzer",
            "/console/kanaele",
            "/console/protokoll",
            "/console/warnungen",
        ],
        anna: [
            "/console/beitraege",
            "/console/beitraege/neu",
            "/console/kalender",
            "/console/kalender?ansicht=monat",
            "/console/vorschlaege",
            "/console/fragen",
            "/console/nichts-hier",
            "/console/beitraege/999",
        ],
        fritz: ["/console/warnungen/neu", "/console/warnungen/neu/hochwasser-mosel", "/console/benutzer"],
    }
    for client, paths in pages.items():
        for path in paths:
            response = await client.get(path)
            assert response.status in (200, 403, 404), (path, response.status)
            assert response.content_type == "text/html", path
            check_csp(response.headers)
            assert "<script>" not in await response.text()


# -- double submit ------------------------------------------------------------------------------------


async def test_the_same_post_form_twice_creates_one_post(console: Console) -> None:
    anna = await console.client("anna")
    csrf = await csrf_of(anna)
    first = await anna.post("/console/beitraege/neu", data=_post_form(csrf), allow_redirects=False)
    second = await anna.post("/console/beitraege/neu", data=_post_form(csrf), allow_redirects=False)
    assert first.status == second.status == 303
    assert second.headers["Location"].endswith("?meldung=doppelt")
    assert first.headers["Location"].split("?")[0] == second.headers["Location"].split("?")[0]
    assert await console.count(Broadcast) == 1
    assert await console.count(Approval) == 1


async def test_the_same_alert_form_twice_creates_one_alert(console: Console) -> None:
    fritz = await console.client("fritz")
    csrf = await csrf_of(fritz)
    path = "/console/warnungen/neu/hochwasser-rhein"
    first = await fritz.post(path, data=_alert_form(csrf), allow_redirects=False)
    second = await fritz.post(path, data=_alert_form(csrf), allow_redirects=False)
    assert first.status == second.status == 303
    assert await console.count(Alert) == 1
    page = await fritz.get(first.headers["Location"])
    text = await page.text()
    assert "Hochwasserwarnung am Rhein: ganz Koblenz" in text
    # one-click all-clear, double-clicked: one Cancel
    alert_id = first.headers["Location"].split("/")[3].split("?")[0]
    token = hidden(text, "form_token")
    for _ in range(2):
        done = await fritz.post(
            f"/console/warnungen/{alert_id}/entwarnung",
            data={"_csrf": csrf, "form_token": token},
            allow_redirects=False,
        )
        assert done.status == 303
    assert await console.count(Alert, Alert.msg_type == "Cancel") == 1


# -- four eyes ----------------------------------------------------------------------------------------


async def test_author_cannot_approve_and_a_second_person_can(console: Console) -> None:
    anna = await console.client("anna")
    csrf = await csrf_of(anna)
    created = await anna.post("/console/beitraege/neu", data=_post_form(csrf), allow_redirects=False)
    path = created.headers["Location"].split("?")[0]
    page = await (await anna.get(path)).text()
    assert "Freigeben" not in page and "Eigene Beiträge können Sie nicht selbst freigeben" in page
    forged = await anna.post(f"{path}/entscheiden", data={"_csrf": csrf, "decision": "approve"})
    assert forged.status == 403
    async with console.sessions() as session:
        assert (await session.scalar(select(Approval.state))) == ApprovalState.PENDING
        assert (await session.scalar(select(Broadcast.state))) == PostState.DRAFT
    fritz = await console.client("fritz")
    fritz_csrf = await csrf_of(fritz)
    assert (
        await fritz.post(f"{path}/entscheiden", data={"_csrf": fritz_csrf, "decision": "approve"})
    ).status == 403
    bernd = await console.client("bernd")
    bernd_csrf = await csrf_of(bernd)
    assert "Freigeben" in await (await bernd.get(path)).text()
    missing = await bernd.post(f"{path}/entscheiden", data={"_csrf": bernd_csrf, "decision": "reject"})
    assert missing.status == 422 and "begründen" in await missing.text()
    approved = await bernd.post(
        f"{path}/entscheiden", data={"_csrf": bernd_csrf, "decision": "approve"}, allow_redirects=False
    )
    assert approved.status == 303
    async with console.sessions() as session:
        approval = await session.scalar(select(Approval))
        assert (
            approval is not None
            and approval.state == ApprovalState.APPROVED
            and approval.decided_by == "bernd"
        )
        assert (await session.scalar(select(Broadcast.state))) == PostState.SCHEDULED


async def test_a_pending_approval_whose_time_passed_is_not_sent_and_says_so(console: Console) -> None:
    anna = await console.client("anna")
    csrf = await csrf_of(anna)
    later = (utcnow() + dt.timedelta(hours=2)).astimezone(BERLIN)
    form = _post_form(csrf, when="at", date=later.strftime("%Y-%m-%d"), time=later.strftime("%H:%M"))
    created = await anna.post("/console/beitraege/neu", data=form, allow_redirects=False)
    assert created.status == 303, await created.text()
    path = created.headers["Location"].split("?")[0]
    async with console.sessions.begin() as session:
        await session.execute(update(Approval).values(send_at=utcnow() - dt.timedelta(minutes=5)))
    bernd = await console.client("bernd")
    page = await (await bernd.get(path)).text()
    assert "Nicht gesendet" in page and "verstrichen" in page
    async with console.sessions() as session:
        assert (await session.scalar(select(Approval.state))) == ApprovalState.EXPIRED
        assert (await session.scalar(select(Broadcast.state))) == PostState.DRAFT


async def test_without_approval_the_post_is_scheduled_at_once(tmp_path: Path) -> None:
    console = Console(tmp_path, approval_required=False)
    await console.start()
    try:
        anna = await console.client("anna")
        form_page = await (await anna.get("/console/beitraege/neu")).text()
        assert "Zur Freigabe" not in form_page and "Jetzt senden" in form_page
        created = await anna.post(
            "/console/beitraege/neu", data=_post_form(await csrf_of(anna)), allow_redirects=False
        )
        assert created.status == 303
        async with console.sessions() as session:
            assert (await session.scalar(select(Broadcast.state))) == PostState.SCHEDULED
    finally:
        await console.close()


# -- Berlin times -------------------------------------------------------------------------------------


async def test_a_time_that_does_not_exist_is_refused_and_an_ambiguous_one_asks(console: Console) -> None:
    anna = await console.client("anna")
    csrf = await csrf_of(anna)
    gap = await anna.post(
        "/console/beitraege/neu", data=_post_form(csrf, when="at", date="2030-03-31", time="02:30")
    )
    assert gap.status == 422
    assert "gibt es in Koblenz nicht" in await gap.text()
    twice = await anna.post(
        "/console/beitraege/neu", data=_post_form(csrf, when="at", date="2030-10-27", time="02:30")
    )
    text = await twice.text()
    assert twice.status == 422 and "zweimal" in text and "Winterzeit (MEZ" in text
    assert await console.count(Broadcast) == 0
    chosen = await anna.post(
        "/console/beitraege/neu",
        data=_post_form(csrf, when="at", date="2030-10-27", time="02:30", offset="1"),
        allow_redirects=False,
    )
    assert chosen.status == 303
    async with console.sessions() as session:
        send_at = await session.scalar(select(Approval.send_at))
    assert send_at == dt.datetime(2030, 10, 27, 1, 30, tzinfo=dt.UTC)


async def test_errors_are_named_next_to_their_field(console: Console) -> None:
    anna = await console.client("anna")
    csrf = await csrf_of(anna)
    response = await anna.post(
        "/console/beitraege/neu",
        data=_post_form(csrf, text="", image_url="https://example.org/bild.jpg"),
    )
    text = await response.text()
    assert response.status == 422
    assert 'href="#f-text"' in text and 'href="#f-alt"' in text
    assert 'aria-describedby="f-text-fehler"' in text and 'aria-invalid="true"' in text


async def test_preview_api_counts_per_channel(console: Console) -> None:
    anna = await console.client("anna")
    csrf = await csrf_of(anna)
    response = await anna.post("/console/api/vorschau", data=_post_form(csrf, text="Hallo 👋"))
    body = await response.json()
    assert response.status == 200
    (feed,) = body["previews"]
    assert feed["name"] == "feed" and "Hallo 👋" in feed["text"] and feed["ok"]
    assert feed["length"] >= len("Hallo 👋")


# -- progress -----------------------------------------------------------------------------------------


async def test_progress_as_json_and_retry_of_failed_deliveries(console: Console) -> None:
    async with console.sessions.begin() as session:
        post = Broadcast(
            topic="presse",
            text="t",
            variants={},
            state=PostState.PARTLY_FAILED,
            created_by="anna",
            role="redaktion",
        )
        session.add(post)
        await session.flush()
        message = OutboundMessage(
            kind=MessageKind.POST, broadcast_id=post.id, topic="presse", texts={}, priority=10
        )
        session.add(message)
        await session.flush()
        for index, state in enumerate([DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.FAILED]):
            session.add(
                Delivery(
                    message_id=message.id,
                    channel="telegram",
                    chat_id=str(index),
                    priority=10,
                    state=state,
                    sent_at=utcnow().timestamp() if state == DeliveryState.SENT else None,
                )
            )
        post_id = post.id
    anna = await console.client("anna")
    body = await (await anna.get(f"/console/api/progress/post/{post_id}")).json()
    assert (body["sent"], body["failed"], body["pending"]) == (1, 2, 0)
    assert body["channels"][0]["rate_per_minute"] == 1
    fritz = await console.client("fritz")
    csrf = await csrf_of(fritz)
    assert (await fritz.post(f"/console/beitraege/{post_id}/erneut", data={"_csrf": csrf})).status == 403
    retried = await anna.post(
        f"/console/beitraege/{post_id}/erneut", data={"_csrf": await csrf_of(anna)}, allow_redirects=False
    )
    assert retried.status == 303
    body = await (await anna.get(f"/console/api/progress/post/{post_id}")).json()
    assert (body["failed"], body["pending"]) == (0, 2)


# -- users command ------------------------------------------------------------------------------------


def test_users_command_on_a_migrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    monkeypatch.setenv("KOBLENZ_BOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'users.sqlite3'}")
    monkeypatch.setenv("KOBLENZ_BOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("KOBLENZ_BOT_PSEUDONYM_KEY", "k")
    assert main(["users", "list"]) == 1  # not migrated yet: says so
    assert "db upgrade" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("ein-langes-Passwort\n"))
    assert main(["users", "add", "Clara", "--role", "feuerwehr", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("kurz"))
    assert main(["users", "add", "dora", "--role", "admin", "--password-stdin"]) == 1
    assert "mindestens 10 Zeichen" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("ein-langes-Passwort\n"))
    assert main(["users", "add", "clara", "--role", "admin", "--password-stdin"]) == 1
    assert "bereits" in capsys.readouterr().err
    assert main(["users", "list"]) == 0
    out = capsys.readouterr().out
    assert "clara" in out and "feuerwehr" in out and "aktiv" in out
    assert main(["users", "disable", "clara"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("noch-ein-Passwort"))
    assert main(["users", "reset-password", "clara", "--password-stdin"]) == 0

    async def check() -> None:
        import connectors.console.auth as auth

        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'users.sqlite3'}")
        sessions = sessionmaker(engine)
        assert await auth.sign_in(sessions, "clara", "noch-ein-Passwort", "127.0.0.1") is not None
        assert await auth.sign_in(sessions, "clara", "ein-langes-Passwort", "127.0.0.1") is None
        async with sessions() as session:
            stored = await session.scalar(select(ConsoleUser.password_hash))
        assert stored is not None and stored.startswith("$argon2id$")
        await engine.dispose()

    import asyncio

    asyncio.run(check())


# -- the rest of the pages -------------------------------------------------------------------------------


def test_area_groups_hold_exactly_the_catalogs_stadtteile(catalog: Any) -> None:
    from catalog.stadtteile import Stadtteile
    from connectors.console.forms import AREA_GROUPS, area_groups

    names = Stadtteile(catalog).names
    grouped = [n for _, group in AREA_GROUPS for n in group]
    assert sorted(grouped) == sorted(names) and len(grouped) == len(set(grouped))
    assert [n for _, group in area_groups(names) for n in group] == grouped


async def test_cookies_are_secure_outside_localhost(console: Console) -> None:
    client = await console.client()
    outside = await client.get("/console/anmelden", headers={"Host": "konsole.example"})
    assert "Secure" in outside.headers["Set-Cookie"] and "SameSite=Strict" in outside.headers["Set-Cookie"]
    local = await client.get("/console/anmelden")
    assert "Secure" not in local.headers["Set-Cookie"]


async def test_editors_pages_and_admin_pages(console: Console) -> None:
    anna = await console.client("anna")
    suggestions = await (await anna.get("/console/vorschlaege")).text()
    assert "Zurzeit gibt es keine Vorschläge" in suggestions  # the root wires the feeds' drafts
    questions = await anna.get("/console/fragen?tage=7")
    assert questions.status == 200 and "letzte 7 Tage" in await questions.text()
    ada = await console.client("ada")
    health = await (await ada.get("/console/kanaele")).text()
    assert "RSS/Atom-Feed" in health
    csrf = await csrf_of(ada)
    weak = await ada.post(
        "/console/benutzer", data={"_csrf": csrf, "name": "neu", "role": "admin", "password": "kurz"}
    )
    assert weak.status == 422 and 'href="#f-new-password"' in await weak.text()
    added = await ada.post(
        "/console/benutzer",
        data={"_csrf": csrf, "name": "neu", "role": "feuerwehr", "password": PASSWORD},
        allow_redirects=False,
    )
    assert added.status == 303
    assert (await sign_in(await console.client(), "neu")).status == 303
    disabled = await ada.post("/console/benutzer/neu/sperren", data={"_csrf": csrf}, allow_redirects=False)
    assert disabled.status == 303
    assert await console.count(ConsoleUser, ConsoleUser.disabled.is_(True)) == 1
    log = await (await ada.get("/console/protokoll")).text()
    assert "console.user.add" in log and "console.user.disable" in log


async def test_editing_a_planned_post_replaces_it(console: Console) -> None:
    anna = await console.client("anna")
    csrf = await csrf_of(anna)
    created = await anna.post("/console/beitraege/neu", data=_post_form(csrf), allow_redirects=False)
    path = created.headers["Location"].split("?")[0]
    form = await (await anna.get(f"{path}/bearbeiten")).text()
    assert "Die Stadtbibliothek ist am Freitag geschlossen." in form
    edited = await anna.post(
        f"{path}/bearbeiten",
        data=_post_form(
            csrf, token=hidden(form, "form_token"), text="Die Stadtbibliothek öffnet am Samstag."
        ),
        allow_redirects=False,
    )
    assert edited.status == 303
    async with console.sessions() as session:
        posts = (await session.scalars(select(Broadcast).order_by(Broadcast.id))).all()
    assert [p.state for p in posts] == [PostState.CANCELLED, PostState.DRAFT]
    assert posts[1].text == "Die Stadtbibliothek öffnet am Samstag."
    cancelled = await anna.post(
        f"/console/beitraege/{posts[1].id}/absagen", data={"_csrf": csrf}, allow_redirects=False
    )
    assert cancelled.status == 303
    async with console.sessions() as session:
        assert (await session.get(Broadcast, posts[1].id)).state == PostState.CANCELLED  # type: ignore[union-attr]


async def test_suggestions_come_from_a_callable_of_the_root(tmp_path: Path) -> None:
    """The root hands over ``suggestions()`` (the ingest package's drafts); the console shows them."""
    from aiohttp import web

    from broadcasts.api import SERVICE
    from broadcasts.service import Broadcasts
    from connectors import console as console_package
    from core.keys import ENGINE, SETTINGS

    console = Console(tmp_path)
    await console.start()

    from core.news import Suggestion

    async def drafts() -> list[Any]:
        ingested = Suggestion(  # what connectors.ingest.suggestions returns
            id=7,
            feed="Polizei Koblenz",
            topic="verkehr",
            title="Balduinbrücke gesperrt",
            text="Balduinbrücke gesperrt\n\nWegen Bauarbeiten bis Freitag.\n\nQuelle: Polizei Koblenz",
            link="https://www.example.org/meldung",
            published_at=dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.UTC),
            created_at=dt.datetime(2026, 11, 30, 9, 16, tzinfo=dt.UTC),
            state="new",
        )
        return [
            {"title": "Sperrung einer Brücke", "text": "Entwurf aus einer Meldung", "source": "Testquelle"},
            ingested,
        ]

    root = web.Application()
    root[SETTINGS], root[ENGINE], root[SERVICE] = (
        console.settings,
        console.engine,
        Broadcasts(console.sessions),
    )
    console_package.setup(root, console.settings, suggestions=drafts)
    client: Client = TestClient(TestServer(root))
    await client.start_server()
    console.clients.append(client)
    try:
        assert (await sign_in(client, "anna")).status == 303
        page = await (await client.get("/console/vorschlaege")).text()
        assert "Sperrung einer Brücke" in page and "Testquelle" in page
        assert "Balduinbrücke gesperrt" in page and "Polizei Koblenz" in page and "30.11.2026" in page
        # "Als Beitrag übernehmen" opens the post form filled with the draft (a GET only fills it)
        start = page.index("/console/beitraege/neu?", page.index("Balduinbrücke"))
        href = page[start : page.index('"', start)].replace("&amp;", "&")
        form = await (await client.get(href)).text()
        assert "Wegen Bauarbeiten bis Freitag." in form and "https://www.example.org/meldung" in form
        assert 'value="verkehr" checked' in form or 'value="verkehr" selected' in form
    finally:
        await console.close()


async def test_editors_retrain_the_language_model_from_the_console(tmp_path: Path) -> None:
    """ "Neu trainieren": editors (redaktion) and admins start it with a CSRF-protected POST, see its
    progress and, when it fails, why; a second start while one runs changes nothing; the fire service
    does not see the control and is refused."""
    import datetime as dt
    from dataclasses import dataclass, field

    from aiohttp import web

    from broadcasts.api import SERVICE
    from broadcasts.service import Broadcasts
    from connectors import console as console_package
    from core.keys import ENGINE, SETTINGS
    from nlu.retrain import RetrainRunning

    @dataclass
    class Status:
        state: str = "idle"
        progress: int = 0
        message: str = "Es wurde noch nicht neu trainiert."
        started: dt.datetime | None = None
        finished: dt.datetime | None = None
        log_tail: str | None = None
        starts: list[int] = field(default_factory=list)

        def as_dict(self, include_log: bool = False) -> dict[str, Any]:
            data = {k: getattr(self, k) for k in ("state", "progress", "message")}
            data.update(started=None, finished=None, servers_swapped=1, servers_total=2)
            return {**data, "log_tail": self.log_tail} if include_log else data

    class Job:
        status = Status()

        def start(self) -> None:
            if self.status.state == "training":
                raise RetrainRunning("Das Training läuft bereits.")
            self.status.starts.append(1)
            self.status.state, self.status.progress = "training", 40
            self.status.message = "Das Sprachmodell wird trainiert."
            self.status.started = dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC)

    console = Console(tmp_path)
    await console.start()
    job = Job()
    root = web.Application()
    root[SETTINGS], root[ENGINE], root[SERVICE] = (
        console.settings,
        console.engine,
        Broadcasts(console.sessions),
    )
    console_package.setup(root, console.settings, retrain=job)
    client: Client = TestClient(TestServer(root))
    await client.start_server()
    console.clients.append(client)
    try:
        assert (await sign_in(client, "anna")).status == 303
        page = await (await client.get("/console/sprachmodell")).text()
        assert "Bereit" in page and "Neu trainieren" in page
        refused = await client.post("/console/sprachmodell/neu-trainieren", data={}, allow_redirects=False)
        assert refused.status == 403 and not job.status.starts  # no CSRF token: nothing started
        csrf = await csrf_of(client, "/console/sprachmodell")
        started = await client.post(
            "/console/sprachmodell/neu-trainieren", data={"_csrf": csrf}, allow_redirects=False
        )
        assert started.status == 303 and job.status.starts == [1]
        page = await (await client.get(started.headers["Location"])).text()
        assert "Das Neu-Trainieren hat begonnen" in page and 'value="40"' in page
        assert "Neu trainieren</button>" not in page  # no second start offered while it runs
        again = await client.post(
            "/console/sprachmodell/neu-trainieren", data={"_csrf": csrf}, allow_redirects=False
        )
        assert again.headers["Location"].endswith("meldung=laeuft") and job.status.starts == [1]
        assert (await (await client.get("/console/api/sprachmodell")).json())["progress"] == 40
        job.status.state, job.status.log_tail = "failed", "ValueError: kaputte Trainingsdaten"
        job.status.message = "Das Training ist fehlgeschlagen. Das bisherige Sprachmodell antwortet weiter."
        page = await (await client.get("/console/sprachmodell")).text()
        assert "kaputte Trainingsdaten" in page and "antwortet weiter" in page
        fire: Client = TestClient(TestServer(root))
        await fire.start_server()
        console.clients.append(fire)
        assert (await sign_in(fire, "fritz")).status == 303
        assert "Sprachmodell" not in await (await fire.get("/console/")).text()
        assert (await fire.get("/console/sprachmodell")).status == 403
    finally:
        await console.close()
