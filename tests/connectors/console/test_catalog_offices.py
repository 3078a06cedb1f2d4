"""Editors correct an office's opening hours and contact facts in the console ("Ämter"): each wrong field
is named in German next to it and nothing is stored, the preview shows old → new, the save is a revision
(who, role, comment) and the chat's next answer shows the new hours, "Zurücksetzen" brings the old ones
back as a new revision, a role without ``catalog.edit`` gets 403 and changes nothing, CSRF is required.
And ``koblenz-bot catalog import`` reaches the running bot without a restart. Over HTTP with the Rasa
double, on a small catalog of its own (the reviewed data in data/ may change meanwhile)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from app.cli import main
from app.web import create_app
from broadcasts.models import AuditLog
from catalog.model import load_catalog
from catalog.revisions import CatalogRevision
from catalog.transfer import export_catalog
from core.db import create_engine, migrate, sessionmaker
from tests.catalog.catalog_files import write_catalog
from tests.conftest import make_settings
from tests.connectors.console.helpers import add_users, check_csp, csrf_of, sign_in
from tests.fakes.rasa import FakeRasa

# the console application end to end over HTTP (users, sessions, database): `make test`, not test-fast
pytestmark = pytest.mark.functional

Client = TestClient[Any, Any]
Form = list[tuple[str, str]]
HOURS_QUESTION = "Wann hat das Testamt geöffnet?"
SEED_HOURS = "Mo, Di: 08:00–12:00 Uhr"
OFFICE_URL = "/console/aemter/testamt"


class FormFields(HTMLParser):
    """The fields a browser would send for the form posting to ``action``, in order, repeated names
    (the weekday checkboxes) included."""

    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action, self.inside = action, False
        self.fields: Form = []
        self._textarea: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "textarea":
            self.fields.append((a["name"], ""))
            self._textarea = len(self.fields) - 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, text = self.fields[self._textarea]
            self.fields[self._textarea] = (name, text + data)


def form_of(html: str, action: str) -> Form:
    parser = FormFields(action)
    parser.feed(html)
    assert parser.fields, f"no form posting to {action}"
    return [(k, v[1:] if v.startswith("\n") else v) for k, v in parser.fields]


def value(form: Form, name: str) -> list[str]:
    return [v for k, v in form if k == name]


def change(form: Form, **fields: str | list[str]) -> Form:
    """The form with these fields set (names with "__" for "-" and a trailing "_days" for "-days[]")."""
    names = {k.replace("__", "-").replace("_days", "-days[]"): v for k, v in fields.items()}
    kept = [(k, v) for k, v in form if k not in names]
    for name, new in names.items():
        kept += [(name, item) for item in ([new] if isinstance(new, str) else new)]
    return kept


class Stack:
    def __init__(self, tmp: Path, rasa: FakeRasa, **overrides: Any) -> None:
        self.data = write_catalog(tmp / "data")
        office = yaml.safe_load((self.data / "offices" / "testamt.yaml").read_text(encoding="utf-8"))
        office["hours"] = [{"days": ["mo", "di"], "from": "08:00", "to": "12:00"}]
        office["phone"] = "0261 129-0"
        (self.data / "offices" / "testamt.yaml").write_text(yaml.safe_dump(office, allow_unicode=True))
        self.settings = make_settings(
            tmp, broadcast_worker=False, rasa_url=rasa.url, catalog_dir=self.data, **overrides
        )
        self.engine = create_engine(self.settings.database_url)
        self.sessions = sessionmaker(self.engine)
        self.clients: list[Client] = []

    async def client(self, name: str | None = None) -> Client:
        client: Client = TestClient(TestServer(create_app(self.settings, manage_rasa=False)))
        await client.start_server()
        self.clients.append(client)
        if name:
            assert (await sign_in(client, name)).status == 303
        return client

    async def revisions(self) -> list[CatalogRevision]:
        async with self.sessions() as session:
            return list((await session.scalars(select(CatalogRevision).order_by(CatalogRevision.id))).all())

    async def audits(self, action: str) -> int:
        async with self.sessions() as session:
            query = select(func.count()).select_from(AuditLog).where(AuditLog.action == action)
            return int(await session.scalar(query) or 0)


async def _stack(tmp_path: Path, fake_rasa: FakeRasa, **overrides: Any) -> Stack:
    fake_rasa.teach(HOURS_QUESTION, "service_test_dienst", 0.95)
    stack = Stack(tmp_path, fake_rasa, **overrides)
    await migrate(stack.engine)
    await add_users(stack.sessions, anna="redaktion", fritz="feuerwehr", ada="admin")
    return stack


@pytest.fixture
async def stack(tmp_path: Path, fake_rasa: FakeRasa) -> AsyncIterator[Stack]:
    stack = await _stack(tmp_path, fake_rasa)
    yield stack
    for client in stack.clients:
        await client.close()
    await stack.engine.dispose()


async def hours_answer(client: Client) -> str:
    response = await client.post("/api/chat", json={"message": HOURS_QUESTION})
    assert response.status == 200
    text: str = (await response.json())["text"]
    assert "Öffnungszeiten Testamt" in text, text
    return text


async def edit_form(client: Client) -> Form:
    page = await client.get(OFFICE_URL)
    assert page.status == 200
    check_csp(page.headers)
    return form_of(await page.text(), OFFICE_URL)


async def test_wrong_hours_and_contact_facts_are_named_and_nothing_is_stored(stack: Stack) -> None:
    client = await stack.client("anna")
    form = await edit_form(client)
    assert value(form, "hours-0-days[]") == ["mo", "di"] and value(form, "hours-0-opens") == ["08:00"]
    assert value(form, "hours-2-opens") == [""] and value(form, "hours_rows") == ["3"]  # two rows to add
    bad = change(
        form,
        name="",
        hours__0__opens="7.30",
        hours__1_days=["mi", "xy"],  # a forged weekday
        hours__1__opens="14:00",
        hours__1__closes="13:00",
        web="http://www.koblenz.de/testamt",
        action="speichern",  # even a forged save without the preview is checked
    )
    response = await client.post(OFFICE_URL, data=bad)
    html = await response.text()
    assert response.status == 422
    summary = html.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    for field in ("f-name", "f-hours-0-opens", "f-hours-1-days", "f-hours-1-closes", "f-web"):
        assert f'href="#{field}"' in summary, field
        assert f'id="{field}-fehler"' in html and f'id="{field}"' in html
    assert "Name: Bitte geben Sie den Namen des Amts an." in html
    assert "Zeitraum 1: „7.30“ ist keine gültige Uhrzeit" in html
    assert "Zeitraum 2: „xy“ ist kein Wochentag" in html
    assert "Zeitraum 2: Die Schließzeit 13:00 Uhr liegt nicht nach der Öffnungszeit 14:00 Uhr." in html
    assert "Internetseite: Bitte verwenden Sie eine sichere Adresse, die mit https:// beginnt." in html
    assert 'aria-invalid="true"' in html
    assert re.search(r'id="hours-1-day-mi" name="hours-1-days\[\]" value="mi" checked', html)  # input kept
    assert await stack.revisions() == []
    assert SEED_HOURS in await hours_answer(client)


async def test_new_hours_after_a_preview_are_in_the_next_answer_and_roll_back(stack: Stack) -> None:
    client = await stack.client("anna")
    assert SEED_HOURS in await hours_answer(client)
    service_page = await (await client.get("/console/dienste/test-dienst")).text()
    assert f'href="{OFFICE_URL}"' in service_page  # the way from the service to its office
    assert f'href="{OFFICE_URL}"' in await (await client.get("/console/aemter")).text()
    form = change(
        await edit_form(client),
        hours__0__remove="1",
        hours__1_days=["mi", "do"],
        hours__1__opens="09:00",
        hours__1__closes="15:30",
        hours__1__note="nur mit Termin",
        phone="0261 129-1234",
        comment="Neue Sprechzeiten",
        action="vorschau",
    )
    preview = await client.post(OFFICE_URL, data=form)
    html = await preview.text()
    assert preview.status == 200 and "Vorschau der Änderungen: Testamt" in html
    row = re.search(r'<th scope="row">Öffnungszeiten</th>(.*?)</tr>', html, re.S)
    assert row and f"<del>{SEED_HOURS}</del>" in row.group(1)
    assert "<ins>Mi, Do: 09:00–15:30 Uhr (nur mit Termin)</ins>" in row.group(1)
    assert re.search(r"<del>0261 129-0</del>.*<ins>0261 129-1234</ins>", html, re.S)
    assert "Internetseite" not in html  # only what changed
    assert await stack.revisions() == [] and SEED_HOURS in await hours_answer(client)
    confirm = change(form_of(html, OFFICE_URL), action="speichern")
    saved = await client.post(OFFICE_URL, data=confirm, allow_redirects=False)
    assert saved.status == 303 and "meldung=gespeichert" in saved.headers["Location"]
    answer = await hours_answer(client)
    assert "Mi, Do: 09:00–15:30 Uhr (nur mit Termin)" in answer and SEED_HOURS not in answer  # no restart
    (revision,) = await stack.revisions()
    assert (revision.kind, revision.record_id) == ("office", "testamt")
    assert (revision.author, revision.role, revision.comment) == ("anna", "redaktion", "Neue Sprechzeiten")
    assert await stack.audits("console.catalog.office.edit") == 1
    edit = await edit_form(client)
    assert value(edit, "hours-0-days[]") == ["mi", "do"] and value(edit, "hours-1-opens") == [""]
    # the history, and back to the YAML seed as a new revision
    history = await (await client.get(f"{OFFICE_URL}/verlauf")).text()
    assert f"{revision.id} (gilt jetzt)" in history and "Neue Sprechzeiten" in history
    seed = await client.get(f"{OFFICE_URL}/verlauf/0")
    seed_html = await seed.text()
    assert f"<ins>{SEED_HOURS}</ins>" in seed_html
    action = f"{OFFICE_URL}/verlauf/0/zuruecksetzen"
    restored = await client.post(action, data=form_of(seed_html, action), allow_redirects=False)
    assert restored.status == 303 and "meldung=zurueckgesetzt" in restored.headers["Location"]
    assert SEED_HOURS in await hours_answer(client)
    first, second = await stack.revisions()
    assert first.id == revision.id and second.comment == "Zurückgesetzt auf Ausgangsstand (YAML)"
    assert await stack.audits("console.catalog.office.restore") == 1
    # and forward again to the first revision
    page = await (await client.get(f"{OFFICE_URL}/verlauf/{first.id}")).text()
    action = f"{OFFICE_URL}/verlauf/{first.id}/zuruecksetzen"
    assert (await client.post(action, data=form_of(page, action), allow_redirects=False)).status == 303
    assert "Mi, Do: 09:00–15:30 Uhr" in await hours_answer(client)
    assert (await stack.revisions())[-1].restored_from == first.id
    # a restarted bot answers from the seed with the stored revision over it
    assert "Mi, Do: 09:00–15:30 Uhr" in await hours_answer(await stack.client())


async def test_a_role_without_catalog_edit_gets_403_and_changes_nothing(stack: Stack) -> None:
    form = await edit_form(await stack.client("anna"))
    fritz = await stack.client("fritz")
    csrf = await csrf_of(fritz)
    for path in ("/console/aemter", OFFICE_URL, f"{OFFICE_URL}/verlauf", f"{OFFICE_URL}/verlauf/0"):
        assert (await fritz.get(path)).status == 403, path
    forged = change(form, _csrf=csrf, hours__0__opens="06:00", action="speichern")
    assert (await fritz.post(OFFICE_URL, data=forged)).status == 403
    assert (await fritz.post(f"{OFFICE_URL}/verlauf/0/zuruecksetzen", data={"_csrf": csrf})).status == 403
    assert await stack.revisions() == []
    assert SEED_HOURS in await hours_answer(fritz)


async def test_a_save_without_the_csrf_field_is_refused(stack: Stack) -> None:
    client = await stack.client("ada")
    form = [(k, v) for k, v in await edit_form(client) if k != "_csrf"]
    response = await client.post(OFFICE_URL, data=change(form, hours__0__opens="06:00", action="speichern"))
    assert response.status == 403
    assert await stack.revisions() == []


async def test_an_unknown_office_is_404(stack: Stack) -> None:
    client = await stack.client("anna")
    assert (await client.get("/console/aemter/gibt-es-nicht")).status == 404
    assert (await client.get(f"{OFFICE_URL}/verlauf/999")).status == 404


async def test_a_catalog_import_reaches_the_running_bot_without_a_restart(
    tmp_path: Path, fake_rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = await _stack(tmp_path, fake_rasa, catalog_reload_interval=0.2, chat_rate_per_minute=600)
    try:
        client = await stack.client()
        assert SEED_HOURS in await hours_answer(client)
        new = tmp_path / "new"
        export_catalog(load_catalog(stack.data), new)
        path = new / "offices" / "testamt.yaml"
        office = yaml.safe_load(path.read_text(encoding="utf-8"))
        office["hours"] = [{"days": ["fr"], "from": "07:00", "to": "11:00"}]
        path.write_text(yaml.safe_dump(office, allow_unicode=True), encoding="utf-8")
        monkeypatch.setenv("KOBLENZ_BOT_CATALOG_DIR", str(stack.data))
        monkeypatch.setenv("KOBLENZ_BOT_STATE_DIR", str(tmp_path / "state"))
        assert await asyncio.to_thread(main, ["catalog", "import", str(new)]) == 0
        assert "ohne Neustart" in capsys.readouterr().out
        for _ in range(20):  # within a few seconds (checked every 0.2 s here)
            if "Fr: 07:00–11:00 Uhr" in await hours_answer(client):
                break
            await asyncio.sleep(0.25)
        answer = await hours_answer(client)
        assert "Fr: 07:00–11:00 Uhr" in answer and SEED_HOURS not in answer
    finally:
        for client in stack.clients:
            await client.close()
        await stack.engine.dispose()
