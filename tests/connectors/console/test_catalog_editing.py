"""Editors change the catalog in the console ("Dienste"): the fee they save is in the chat's next answer,
wrong fields are named and nothing is stored, the preview shows old → new, rollback restores as a new
revision, other roles get 403 on every catalog route, CSRF is required, and a question from the report
becomes a phrasing in one click. Over HTTP with the Rasa double (no browser)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from app.web import create_app
from broadcasts.models import AuditLog
from catalog.revisions import CatalogRevision
from core.db import create_engine, migrate, sessionmaker
from tests.conftest import make_settings
from tests.connectors.console.helpers import add_users, csrf_of, sign_in
from tests.fakes.rasa import FakeRasa

# the console application end to end over HTTP (users, sessions, database): `make test`, not test-fast
pytestmark = pytest.mark.functional

Client = TestClient[Any, Any]
FEE_QUESTION = "Was kostet ein Personalausweis?"
UNKNOWN_QUESTION = "Wo darf mein Hund in Koblenz frei laufen?"


class FormFields(HTMLParser):
    """The fields a browser would send for the form posting to ``action`` (inputs, checked boxes,
    text areas, the selected option)."""

    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action = action
        self.inside = False
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._first_option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[a["name"]] = ""
        elif tag == "select":
            self._select, self._first_option = a["name"], None
        elif tag == "option" and self._select is not None:
            if self._first_option is None:
                self._first_option = a.get("value", "")
                self.fields.setdefault(self._select, self._first_option)
            if "selected" in a:
                self.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None and self.inside:
            self.fields[self._textarea] += data


def form_of(html: str, action: str) -> dict[str, str]:
    parser = FormFields(action)
    parser.feed(html)
    assert parser.fields, f"no form posting to {action}"
    # a text area's first newline after the tag is not part of its value
    return {k: v[1:] if v.startswith("\n") else v for k, v in parser.fields.items()}


class Stack:
    def __init__(self, tmp: Path, rasa: FakeRasa) -> None:
        self.settings = make_settings(tmp, broadcast_worker=False, rasa_url=rasa.url)
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


@pytest.fixture
async def stack(tmp_path: Path, fake_rasa: FakeRasa) -> AsyncIterator[Stack]:
    fake_rasa.teach(FEE_QUESTION, "service_personalausweis", 0.95)
    stack = Stack(tmp_path, fake_rasa)
    await migrate(stack.engine)
    await add_users(stack.sessions, anna="redaktion", bernd="redaktion", fritz="feuerwehr", ada="admin")
    yield stack
    for client in stack.clients:
        await client.close()
    await stack.engine.dispose()


async def chat(client: Client, text: str) -> dict[str, Any]:
    response = await client.post("/api/chat", json={"message": text})
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def edit_form(client: Client, service: str = "personalausweis") -> dict[str, str]:
    page = await client.get(f"/console/dienste/{service}")
    assert page.status == 200
    return form_of(await page.text(), f"/console/dienste/{service}")


async def save(client: Client, changes: dict[str, str], service: str = "personalausweis") -> Any:
    """Edit → "Vorschau der Änderungen" → "Speichern", as an editor clicks through it."""
    form = await edit_form(client, service) | changes
    preview = await client.post(f"/console/dienste/{service}", data=form | {"action": "vorschau"})
    assert preview.status == 200, await preview.text()
    confirm = form_of(await preview.text(), f"/console/dienste/{service}")
    return await client.post(
        f"/console/dienste/{service}", data=confirm | {"action": "speichern"}, allow_redirects=False
    )


async def test_a_saved_fee_is_in_the_next_chat_answer_after_a_preview_of_old_and_new(stack: Stack) -> None:
    client = await stack.client("anna")
    assert "46,00 €" in (await chat(client, FEE_QUESTION))["text"]
    form = await edit_form(client)
    assert form["fee-0-amount"] == "46,00 €"
    preview = await client.post(
        "/console/dienste/personalausweis",
        data=form | {"fee-0-amount": "49,00 €", "comment": "Neue Gebühr", "action": "vorschau"},
    )
    html = await preview.text()
    assert preview.status == 200 and "Vorschau der Änderungen" in html
    row = re.search(r"<th scope=\"row\">Gebühr 1</th>(.*?)</tr>", html, re.S)
    assert (
        row
        and re.search(r"<del>[^<]*46,00 €", row.group(1))
        and re.search(r"<ins>[^<]*49,00 €", row.group(1))
    )
    assert "Gebühr 2" not in html  # only what changed
    assert await stack.revisions() == []  # the preview stores nothing
    assert "46,00 €" in (await chat(client, FEE_QUESTION))["text"]
    confirm = form_of(html, "/console/dienste/personalausweis")
    saved = await client.post(
        "/console/dienste/personalausweis", data=confirm | {"action": "speichern"}, allow_redirects=False
    )
    assert saved.status == 303 and "meldung=gespeichert" in saved.headers["Location"]
    answer = (await chat(client, FEE_QUESTION))["text"]
    assert "49,00 €" in answer and "46,00 €" not in answer  # live, no restart
    (revision,) = await stack.revisions()
    assert (revision.author, revision.role, revision.comment) == ("anna", "redaktion", "Neue Gebühr")
    assert revision.record["service"]["fees"][0]["amount"] == "49,00 €"
    assert await stack.audits("console.catalog.edit") == 1
    page = await client.get(saved.headers["Location"])
    assert "Der Chat antwortet ab sofort mit dem neuen Stand" in await page.text()
    # a restarted bot answers from the seed with the stored revision over it
    again = await stack.client()
    assert "49,00 €" in (await chat(again, FEE_QUESTION))["text"]


async def test_a_new_link_is_in_the_answer_at_once(stack: Stack) -> None:
    client = await stack.client("ada")  # admins edit too
    form = await edit_form(client)
    row = next(i for i in range(20) if not form.get(f"link-{i}-url") and f"link-{i}-kind" in form)
    url = "https://www.koblenz.de/buergerservice/test-termin/"
    response = await save(
        client,
        {f"link-{row}-kind": "info", f"link-{row}-title": "Testseite der Stadt", f"link-{row}-url": url},
    )
    assert response.status == 303
    links = (await chat(client, FEE_QUESTION))["links"]
    assert any(link["url"] == url for link in links)


async def test_wrong_fields_are_named_next_to_the_field_and_nothing_is_stored(stack: Stack) -> None:
    client = await stack.client("anna")
    form = await edit_form(client)
    row = next(i for i in range(20) if not form.get(f"link-{i}-url") and f"link-{i}-kind" in form)
    phrasings = form["phrasings"].splitlines()
    bad = form | {
        "fee-0-amount": "zwanzig Euro",
        "office": "amt-fuer-erfundenes",
        f"link-{row}-title": "Unsichere Seite",
        f"link-{row}-url": "http://www.koblenz.de/unsicher",
        "phrasings": "\n".join([*phrasings, phrasings[0].upper(), "?!"]),
        "action": "speichern",  # even a forged save without the preview is checked
    }
    response = await client.post("/console/dienste/personalausweis", data=bad)
    html = await response.text()
    assert response.status == 422
    summary = html.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    for field in ("f-fee-0-amount", "f-office", f"f-link-{row}-url", "f-phrasings"):
        assert f'href="#{field}"' in summary, field
        assert f'id="{field}-fehler"' in html and f'id="{field}"' in html
    assert "„zwanzig Euro“ ist kein Betrag" in html
    assert "Das Amt „amt-fuer-erfundenes“ gibt es im Katalog nicht" in html
    assert "https://" in html.split(f'id="f-link-{row}-url-fehler"', 1)[1][:300]
    phrasing_error = html.split('id="f-phrasings-fehler"', 1)[1][:600]
    assert f"Zeile {len(phrasings) + 1}" in phrasing_error and "steht schon in Zeile 1" in phrasing_error
    assert f"Zeile {len(phrasings) + 2}" in phrasing_error and "leer" in phrasing_error
    assert 'aria-invalid="true"' in html
    assert 'value="zwanzig Euro"' in html  # the editor's input is kept for correcting
    assert await stack.revisions() == []
    assert "46,00 €" in (await chat(client, FEE_QUESTION))["text"]


async def test_rollback_restores_an_old_revision_as_a_new_one(stack: Stack) -> None:
    client = await stack.client("anna")
    assert (await save(client, {"fee-0-amount": "49,00 €"})).status == 303
    assert (await save(client, {"fee-0-amount": "52,00 €"})).status == 303
    first, second = await stack.revisions()
    history = await (await client.get("/console/dienste/personalausweis/verlauf")).text()
    assert f"{second.id} (gilt jetzt)" in history and f"/verlauf/{first.id}" in history
    page = await client.get(f"/console/dienste/personalausweis/verlauf/{first.id}")
    html = await page.text()
    assert re.search(r"<del>[^<]*52,00 €", html) and re.search(r"<ins>[^<]*49,00 €", html)
    action = f"/console/dienste/personalausweis/verlauf/{first.id}/zuruecksetzen"
    restored = await client.post(action, data=form_of(html, action), allow_redirects=False)
    assert restored.status == 303 and "meldung=zurueckgesetzt" in restored.headers["Location"]
    *_, third = await stack.revisions()
    assert third.restored_from == first.id and third.id > second.id  # history is never rewritten
    assert len(await stack.revisions()) == 3
    assert "49,00 €" in (await chat(client, FEE_QUESTION))["text"]
    assert await stack.audits("console.catalog.restore") == 1
    # and back to the YAML seed
    seed = await client.get("/console/dienste/personalausweis/verlauf/0")
    action = "/console/dienste/personalausweis/verlauf/0/zuruecksetzen"
    assert (await client.post(action, data=form_of(await seed.text(), action))).status == 200
    assert "46,00 €" in (await chat(client, FEE_QUESTION))["text"]


async def test_a_stale_form_cannot_overwrite_a_newer_save(stack: Stack) -> None:
    anna, bernd = await stack.client("anna"), await stack.client("bernd")
    old_form = await edit_form(bernd)
    assert (await save(anna, {"fee-0-amount": "49,00 €"})).status == 303
    late = await bernd.post(
        "/console/dienste/personalausweis",
        data=old_form | {"fee-0-amount": "50,00 €", "action": "speichern"},
    )
    assert late.status == 409 and "inzwischen" in await late.text()
    assert len(await stack.revisions()) == 1


async def test_the_fire_service_gets_403_on_every_catalog_route(stack: Stack) -> None:
    anna = await stack.client("anna")
    form = await edit_form(anna)
    fritz = await stack.client("fritz")
    csrf = await csrf_of(fritz)
    for path in (
        "/console/dienste",
        "/console/dienste/personalausweis",
        "/console/dienste/personalausweis/verlauf",
        "/console/dienste/personalausweis/verlauf/0",
    ):
        response = await fritz.get(path)
        assert response.status == 403, path
    forged = form | {"_csrf": csrf, "fee-0-amount": "1,00 €", "action": "speichern"}
    for path, data in (
        ("/console/dienste/personalausweis", forged),
        ("/console/dienste/personalausweis/verlauf/0/zuruecksetzen", {"_csrf": csrf}),
        (
            "/console/fragen/formulierung",
            {"_csrf": csrf, "question": "perso weg", "service": "personalausweis"},
        ),
    ):
        response = await fritz.post(path, data=data)
        assert response.status == 403, path
    assert "/console/dienste" not in await (await fritz.get("/console/")).text()  # no nav entry
    assert await stack.revisions() == []


async def test_a_save_without_the_csrf_field_is_refused(stack: Stack) -> None:
    client = await stack.client("anna")
    form = await edit_form(client)
    del form["_csrf"]
    response = await client.post(
        "/console/dienste/personalausweis", data=form | {"fee-0-amount": "1,00 €", "action": "speichern"}
    )
    assert response.status == 403
    assert await stack.revisions() == []


async def test_the_list_is_searchable_by_name(stack: Stack) -> None:
    client = await stack.client("anna")
    html = await (await client.get("/console/dienste", params={"q": "perso"})).text()
    assert 'href="/console/dienste/personalausweis"' in html
    assert 'href="/console/dienste/sperrmuell"' not in html
    assert 'href="/console/dienste/sperrmuell"' in await (await client.get("/console/dienste")).text()


async def test_a_question_from_the_report_becomes_a_phrasing_in_one_click(stack: Stack) -> None:
    client = await stack.client("anna")
    assert (await chat(client, UNKNOWN_QUESTION))["kind"] == "fallback"
    page = await (await client.get("/console/fragen")).text()
    assert UNKNOWN_QUESTION in page
    form = form_of(page, "/console/fragen/formulierung?tage=30")
    assert form["question"] == UNKNOWN_QUESTION
    response = await client.post(
        "/console/fragen/formulierung?tage=30", data=form | {"service": "hundesteuer"}, allow_redirects=False
    )
    assert response.status == 303 and "meldung=formulierung" in response.headers["Location"]
    (revision,) = await stack.revisions()
    assert (revision.kind, revision.record_id) == ("service", "hundesteuer") and revision.record["phrasings"][
        -1
    ] == UNKNOWN_QUESTION
    assert await stack.audits("console.catalog.phrasing") == 1
    edit = await edit_form(client, "hundesteuer")
    assert edit["phrasings"].splitlines()[-1] == UNKNOWN_QUESTION
    again = await client.post("/console/fragen/formulierung?tage=30", data=form | {"service": "hundesteuer"})
    assert again.status == 422 and "schon hinterlegt" in await again.text()
    nothing = await client.post("/console/fragen/formulierung?tage=30", data=form | {"service": ""})
    assert nothing.status == 422 and "Bitte wählen Sie einen Dienst" in await nothing.text()
    assert len(await stack.revisions()) == 1


async def test_saving_phrasings_offers_to_retrain(stack: Stack) -> None:
    client = await stack.client("anna")
    form = await edit_form(client)
    response = await save(client, {"phrasings": form["phrasings"] + "\nwo krieg ich nen neuen perso her"})
    assert response.status == 303 and "training=1" in response.headers["Location"]
    html = await (await client.get(response.headers["Location"])).text()
    assert 'action="/console/sprachmodell/neu-trainieren"' in html and "Neu trainieren" in html
