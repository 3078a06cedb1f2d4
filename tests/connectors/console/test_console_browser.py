"""The staff console in a real browser: Debian's Chromium driven by Playwright against the real bot server
(create_app on a free port, SQLite, the outbox worker running) that sends through the Telegram double.

Covers: sign-in by keyboard with visible focus, both roles, an alert from a template to the Telegram double
in three steps, its live progress (server-sent events), update and all-clear, exercise mode, the press
office's post with live preview, the DST cases, refusal of self-approval, approval by a second user and
the approved post reaching the double, the calendar, and axe-core (WCAG 2.0/2.1 A and AA) on every page,
at a 768 px tablet width and at 200 % zoom. Screenshots of every page go to docs/screenshots/ (small PNGs).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright

from app.web import create_app
from broadcasts.subscribers import subscribe
from catalog.model import load_catalog
from core.db import create_engine, migrate, sessionmaker
from core.net import free_port
from core.paths import PROJECT_ROOT
from core.settings import Settings
from tests.conftest import make_settings
from tests.connectors.console.helpers import PASSWORD, add_users
from tests.fakes.telegram_api import FakeTelegramAPI

CHROMIUM = "/usr/bin/chromium"
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = PROJECT_ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
AXE_SOURCE = AXE.read_text(encoding="utf-8")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
TABLET: ViewportSize = {"width": 768, "height": 1024}
ZOOM_200: ViewportSize = {"width": 640, "height": 400}  # a 1280 x 800 screen at 200 %
CHAT = 4242  # a citizen subscribed to warnings and press posts

pytestmark = pytest.mark.functional
expect.set_options(timeout=20_000)


class Stack:
    """The Telegram double and the bot server in one background event loop."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="console-server", daemon=True)
        self.fake = FakeTelegramAPI(token="123456:CONSOLE", username="KoblenzTestBot")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runner: web.AppRunner | None = None
        self.settings: Settings | None = None

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> Stack:
        self.thread.start()
        self.run(self._start(), 120)
        return self

    async def _start(self) -> None:
        await self.fake.start()
        self.settings = make_settings(
            self.tmp,
            telegram_token=self.fake.token,
            telegram_api_url=self.fake.url,
            telegram_poll_timeout=1,
            broadcast_worker=True,
        )
        engine = create_engine(self.settings.database_url)
        await migrate(engine)
        sessions = sessionmaker(engine)
        await add_users(sessions, anna="redaktion", bernd="redaktion", fritz="feuerwehr", ada="admin")
        for topic in ("warnungen", "presse"):
            await subscribe(sessions, "telegram", str(CHAT), topic)
        await engine.dispose()
        self.runner = web.AppRunner(create_app(self.settings, manage_rasa=False))
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def __exit__(self, *_exc: object) -> None:
        if self.runner is not None:
            self.run(self.runner.cleanup())
        self.run(self.fake.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def slow_telegram(self, seconds: float) -> None:
        self.loop.call_soon_threadsafe(self.fake.set_delay, seconds, "sendMessage")

    def count(self, sql: str) -> int:
        assert self.settings is not None
        path = self.settings.database_url.split(":///", 1)[1]
        with sqlite3.connect(path) as connection:
            return int(connection.execute(sql).fetchone()[0])

    def texts_to_chat(self) -> list[str]:
        def read() -> list[str]:
            return [m.plain for m in self.fake.messages_to(CHAT)] + [m.plain for m in self.fake.edits]

        return self.run(self._in_loop(read))  # type: ignore[no-any-return]

    async def _in_loop(self, fn: Callable[[], Any]) -> Any:
        return fn()

    def wait_for_text(self, page: Page, needle: str, timeout: float = 30) -> str:
        """Wait for a message to the subscriber (or an edit) containing ``needle``. Waits through the page,
        so that Playwright keeps routing the browser's requests meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in self.texts_to_chat():
                if needle in text:
                    return text
            page.wait_for_timeout(200)
        raise AssertionError(f"no Telegram message with {needle!r}; seen: {self.texts_to_chat()}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watch:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []


def _context(browser: Browser, watch: Watch, viewport: ViewportSize = DESKTOP) -> BrowserContext:
    context = browser.new_context(locale="de-DE", viewport=viewport)

    def route(route: Any) -> None:
        if route.request.url.startswith(("http://127.0.0.1", "http://localhost")):
            route.continue_()
        else:
            watch.outside.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    return context


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def new_page(browser: Browser, watch: Watch) -> Iterator[Callable[..., Page]]:
    contexts: list[BrowserContext] = []

    def make(viewport: ViewportSize = DESKTOP) -> Page:
        context = _context(browser, watch, viewport)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        page.on(
            "console",
            lambda m: (
                watch.errors.append(m.text) if m.type == "error" and "Content Security" in m.text else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert watch.errors == [], f"JavaScript or CSP errors: {watch.errors}"
    assert watch.outside == [], f"requests to other origins: {watch.outside}"


# -- helpers ----------------------------------------------------------------------------------------


def axe(page: Page) -> None:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)  # through DevTools: the page's CSP stays in force
    result = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))",
        AXE_TAGS,
    )
    assert result == [], f"axe violations on {page.url}: {result}"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False, animations="disabled")
    with Image.open(path) as image:  # a 64-colour palette: a fraction of the size, still crisp
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def sign_in(page: Page, stack: Stack, name: str) -> None:
    page.goto(f"{stack.url}/console/anmelden")
    page.get_by_label("Benutzername").fill(name)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Guten Tag")


def no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"{page.url} scrolls sideways by {overflow}px"


# -- tests ------------------------------------------------------------------------------------------


def test_sign_in_by_keyboard_with_visible_focus(stack: Stack, new_page: Callable[..., Page]) -> None:
    page = new_page()
    page.goto(f"{stack.url}/console/")
    expect(page).to_have_url(re.compile(r"/console/anmelden$"))
    expect(page.get_by_label("Passwort")).to_have_attribute("type", "password")
    axe(page)
    shot(page, "console-anmelden")
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "f-name":
            break
    assert page.evaluate("document.activeElement.id") == "f-name"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.type("ada")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_text("Sie sind als Administration angemeldet.")).to_be_visible()
    for path, name in (
        ("benutzer", "console-benutzer"),
        ("kanaele", "console-kanaele"),
        ("protokoll", "console-protokoll"),
    ):
        page.goto(f"{stack.url}/console/{path}")
        axe(page)
        shot(page, name)
    expect(page.get_by_role("cell", name="console.signin").first).to_be_visible()
    # the admin neither issues warnings nor writes posts
    page.goto(f"{stack.url}/console/warnungen")
    expect(page.get_by_role("link", name="Warnung auslösen")).to_have_count(0)
    # wrong password: the error is named next to the field and linked from the summary
    other = new_page()
    other.goto(f"{stack.url}/console/anmelden")
    other.get_by_label("Benutzername").fill("ada")
    other.get_by_label("Passwort").fill("falsch-falsch-falsch")
    other.get_by_role("button", name="Anmelden").click()
    expect(
        other.get_by_role("link", name=re.compile("Benutzername oder Passwort ist falsch"))
    ).to_be_visible()
    axe(other)


def test_fire_service_alert_from_template_update_and_all_clear(
    stack: Stack, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    sign_in(page, stack, "fritz")
    shot(page, "console-uebersicht-feuerwehr")
    page.get_by_role("link", name="Warnung auslösen").click()
    axe(page)
    shot(page, "console-warnung-vorlagen")
    page.get_by_role("link", name="Hochwasser Rhein").click()  # not "… an Rhein und Mosel"
    # step 1: the blanks and the area, keyboard-friendly search
    page.get_by_label("Überflutungen ab (Uhrzeit)").fill("18:30")
    page.get_by_label("Stadtteil suchen").fill("lütz")
    expect(page.get_by_label("Altstadt")).to_be_hidden()
    page.get_by_label("Lützel").check()
    expect(page.get_by_label("Einzelne Stadtteile (unten auswählen)")).to_be_checked()
    axe(page)
    shot(page, "console-warnung-ausfuellen")
    page.get_by_role("button", name="Weiter zur Vorschau").click()
    # step 2: the per-channel preview
    expect(page.get_by_role("heading", name="Telegram")).to_be_visible()
    telegram = page.locator(".preview", has=page.get_by_role("heading", name="Telegram", exact=True))
    expect(telegram.locator(".preview-text")).to_contain_text("Hochwasserwarnung am Rhein: Lützel")
    expect(page.get_by_text("Gefahr (Severe)")).to_be_visible()  # prefilled by the template
    axe(page)
    shot(page, "console-warnung-vorschau")
    stack.slow_telegram(2.0)  # the page is there before the message goes out
    page.get_by_role("button", name="Warnung senden").click()
    # step 3: it reaches the Telegram double, and the page shows it live (server-sent events, no reload)
    expect(page.get_by_text("Die Warnung ist angenommen")).to_be_visible()
    page.evaluate("window.__stayed = true")
    expect(page.locator('[data-field="summary"]')).to_contain_text("0 gesendet")
    stack.wait_for_text(page, "Hochwasserwarnung am Rhein: Lützel")
    expect(page.locator('[data-field="summary"]')).to_contain_text("1 gesendet", timeout=30_000)
    expect(page.locator('tr[data-channel="telegram"] [data-cell="sent"]')).to_have_text("1")
    assert page.evaluate("window.__stayed") is True  # updated in place: no reload
    stack.slow_telegram(0.0)
    axe(page)
    page.locator(".progress").scroll_into_view_if_needed()
    shot(page, "console-warnung-versand")
    # the active list with its one-click actions
    page.goto(f"{stack.url}/console/warnungen")
    expect(page.get_by_role("button", name=re.compile("^Entwarnung"))).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"^Aufheben \(Fehlalarm\)"))).to_be_visible()
    axe(page)
    shot(page, "console-warnungen")
    page.get_by_role("link", name=re.compile("^Aktualisieren")).first.click()
    page.get_by_label("Überschrift").fill("Hochwasserwarnung am Rhein: Pegel steigt weiter")
    page.get_by_role("button", name="Vorschau").click()
    expect(
        page.locator(".preview", has=page.get_by_role("heading", name="Telegram", exact=True))
    ).to_contain_text("Pegel steigt weiter")
    axe(page)
    shot(page, "console-warnung-aktualisieren")
    page.get_by_role("button", name="Aktualisierung senden").click()
    expect(page.get_by_text("Die Aktualisierung ist angenommen")).to_be_visible()
    stack.wait_for_text(page, "Pegel steigt weiter")
    page.get_by_role("button", name="Entwarnung").click()
    expect(page.get_by_text("Die Entwarnung ist angenommen")).to_be_visible()
    stack.wait_for_text(page, "Entwarnung")
    expect(page.get_by_role("button", name="Entwarnung")).to_have_count(0)


def test_exercise_and_false_alarm(stack: Stack, new_page: Callable[..., Page]) -> None:
    page = new_page(TABLET)
    sign_in(page, stack, "fritz")
    page.goto(f"{stack.url}/console/warnungen/neu/bombenentschaerfung")
    page.get_by_label("Übung (alle Texte werden mit „ÜBUNG“ markiert)").check()
    page.get_by_label("Sperrbereich verlassen bis (Uhrzeit)").fill("10:00")
    page.get_by_label("Fundort").fill("Baustelle am Beispielplatz")
    page.get_by_role("button", name="Weiter zur Vorschau").click()
    # no area chosen: the error is named and linked to the field
    expect(page.get_by_role("link", name=re.compile("Bitte wählen Sie das Gebiet"))).to_be_visible()
    axe(page)
    page.get_by_label("Ganze Stadt").check()
    page.get_by_role("button", name="Weiter zur Vorschau").click()
    expect(page.get_by_text("ÜBUNG – alle Texte sind als Übung markiert.")).to_be_visible()
    expect(
        page.locator(".preview", has=page.get_by_role("heading", name="Telegram", exact=True))
    ).to_contain_text("ÜBUNG")
    no_horizontal_scroll(page)
    page.get_by_role("button", name="Warnung senden").dblclick()  # a double click sends one warning
    stack.wait_for_text(page, "ÜBUNG – keine echte Gefahr")
    assert stack.count("SELECT count(*) FROM alerts WHERE status = 'Exercise'") == 1
    page.get_by_role("button", name="Aufheben (Fehlalarm)").click()
    expect(page.get_by_text("als Fehlalarm aufgehoben")).to_be_visible()
    stack.wait_for_text(page, "Fehlalarm")


def test_press_office_four_eyes_dst_and_calendar(stack: Stack, new_page: Callable[..., Page]) -> None:
    anna = new_page()
    sign_in(anna, stack, "anna")
    shot(anna, "console-uebersicht-redaktion")
    anna.get_by_role("link", name="Neuer Beitrag").click()
    expect(anna.get_by_label("Thema")).to_have_value("presse")
    expect(anna.get_by_label("Thema").locator("option:checked")).to_have_text("Presse")
    expect(anna.get_by_label("Telegram", exact=True)).to_be_checked()
    anna.get_by_label("Text", exact=True).fill("Neue Öffnungszeiten im Bürgeramt ab Montag 👋")
    # live preview with JavaScript: Telegram counts the emoji as two UTF-16 units
    preview = anna.locator(".preview", has=anna.get_by_role("heading", name="Telegram", exact=True))
    expect(preview.locator(".preview-text")).to_contain_text("Neue Öffnungszeiten")
    expect(preview.locator(".count")).to_contain_text("45 von 4096 Zeichen")
    axe(anna)
    shot(anna, "console-beitrag-neu")
    # a time that does not exist on the DST night is refused, named next to its field
    anna.get_by_label("Zu einem Zeitpunkt").check()
    anna.get_by_label("Datum").fill("2030-03-31")
    anna.get_by_label("Uhrzeit").fill("02:30")
    anna.get_by_role("button", name="Zur Freigabe").click()
    expect(anna.get_by_role("link", name=re.compile("gibt es in Koblenz nicht"))).to_be_visible()
    expect(anna.locator("#f-time-fehler")).to_be_visible()
    axe(anna)
    # an ambiguous one asks which
    anna.get_by_label("Datum").fill("2030-10-27")
    anna.get_by_label("Uhrzeit").fill("02:30")
    anna.get_by_role("button", name="Zur Freigabe").click()
    expect(anna.get_by_role("group", name="Welche 02:30 Uhr ist gemeint?")).to_be_visible()
    axe(anna)
    shot(anna, "console-beitrag-sommerzeit")
    anna.get_by_label("02:30 Uhr Winterzeit (MEZ, eine Stunde später)").check()
    anna.get_by_role("button", name="Zur Freigabe").click()
    expect(anna.get_by_text("wartet jetzt auf die Freigabe")).to_be_visible()
    expect(anna.get_by_text("27.10.2030 02:30 MEZ")).to_be_visible()
    # the author cannot approve: no control, and a forged request is refused with 403
    expect(anna.get_by_role("button", name="Freigeben")).to_have_count(0)
    dst_post = anna.url.split("?")[0]
    csrf = anna.locator('input[name="_csrf"]').first.get_attribute("value")
    forged = anna.request.post(f"{dst_post}/entscheiden", form={"_csrf": csrf or "", "decision": "approve"})
    assert forged.status == 403
    # a second post, to go out now once approved
    anna.goto(f"{stack.url}/console/beitraege/neu")
    anna.get_by_label("Text", exact=True).fill("Der Wochenmarkt findet heute statt.")
    anna.get_by_label("Jetzt senden").check()
    anna.get_by_role("button", name="Zur Freigabe").click()
    expect(anna.get_by_text("wartet jetzt auf die Freigabe")).to_be_visible()
    shot(anna, "console-beitrag-wartet")
    now_post = anna.url.split("?")[0]
    # the fire service sees posts read-only
    fritz = new_page()
    sign_in(fritz, stack, "fritz")
    fritz.goto(now_post)
    expect(fritz.get_by_role("button", name="Freigeben")).to_have_count(0)
    expect(fritz.get_by_role("button", name="Absagen")).to_have_count(0)
    # a second editor approves the one and rejects the other with a comment
    bernd = new_page(TABLET)
    sign_in(bernd, stack, "bernd")
    bernd.goto(f"{stack.url}/console/beitraege")
    axe(bernd)
    no_horizontal_scroll(bernd)
    shot(bernd, "console-beitraege")
    bernd.get_by_role("link", name=re.compile("Der Wochenmarkt findet heute statt")).first.click()
    axe(bernd)
    shot(bernd, "console-freigabe")
    bernd.get_by_role("button", name="Freigeben").click()
    expect(bernd.get_by_text("ist freigegeben und eingeplant")).to_be_visible()
    stack.wait_for_text(bernd, "Der Wochenmarkt findet heute statt.")
    expect(bernd.locator('[data-field="summary"]')).to_contain_text("1 gesendet", timeout=30_000)
    bernd.locator(".progress").scroll_into_view_if_needed()
    shot(bernd, "console-beitrag-versand")
    bernd.goto(dst_post)
    bernd.get_by_role("button", name="Ablehnen").click()
    expect(bernd.get_by_text("begründen")).to_be_visible()
    bernd.goto(dst_post)
    bernd.get_by_label("Kommentar (bei Ablehnung Pflicht)").fill("Bitte erst nach Rücksprache.")
    bernd.get_by_role("button", name="Ablehnen").click()
    expect(bernd.get_by_text("Der Beitrag wurde abgelehnt.")).to_be_visible()
    # calendars
    anna.goto(f"{stack.url}/console/kalender")
    expect(anna.get_by_role("link", name=re.compile("Der Wochenmarkt"))).to_be_visible()
    expect(anna.locator(".badge", has_text="Telegram").first).to_be_visible()
    axe(anna)
    shot(anna, "console-kalender-woche")
    anna.goto(f"{stack.url}/console/kalender?ansicht=monat")
    axe(anna)
    shot(anna, "console-kalender-monat")


def test_every_page_at_tablet_width_and_200_percent_zoom(stack: Stack, new_page: Callable[..., Page]) -> None:
    assert stack.settings is not None
    office = min(load_catalog(stack.settings.catalog_dir).offices)  # any office: its page, history, seed
    for viewport, suffix in ((TABLET, "tablet"), (ZOOM_200, "zoom")):
        page = new_page(viewport)
        sign_in(page, stack, "anna")
        for path in (
            "/console/",
            "/console/beitraege/neu",
            "/console/warnungen",
            "/console/vorschlaege",
            "/console/fragen",
            "/console/sprachmodell",
            "/console/dienste",
            "/console/dienste/personalausweis",
            "/console/dienste/personalausweis/verlauf",
            "/console/dienste/personalausweis/verlauf/0",
            "/console/aemter",
            f"/console/aemter/{office}",
            f"/console/aemter/{office}/verlauf",
            f"/console/aemter/{office}/verlauf/0",
        ):
            page.goto(f"{stack.url}{path}")
            no_horizontal_scroll(page)
            axe(page)
        # the editors' preview of a change (old → new) and the form with a named error
        page.goto(f"{stack.url}/console/dienste/personalausweis")
        page.get_by_label("Betrag").first.fill("49,00 €")
        page.get_by_role("button", name="Vorschau der Änderungen").click()
        expect(
            page.get_by_role("heading", name="Vorschau der Änderungen: Personalausweis beantragen")
        ).to_be_visible()
        no_horizontal_scroll(page)
        axe(page)
        page.get_by_role("button", name="Weiter bearbeiten").click()
        page.get_by_label("Betrag").first.fill("zwanzig Euro")
        page.get_by_role("button", name="Vorschau der Änderungen").click()
        expect(page.get_by_role("heading", name="Bitte prüfen Sie Ihre Eingaben")).to_be_visible()
        no_horizontal_scroll(page)
        axe(page)
        if suffix == "tablet":
            shot(page, "console-fragen")
            page.goto(f"{stack.url}/console/vorschlaege")
            shot(page, "console-vorschlaege")
            page.goto(f"{stack.url}/console/sprachmodell")
            shot(page, "console-sprachmodell")
        page.goto(f"{stack.url}/console/gibt-es-nicht")
        expect(page.get_by_role("heading", name="Nicht gefunden")).to_be_visible()
        axe(page)
        # an office's opening hours: a new time block with a named error, then its preview
        page.goto(f"{stack.url}/console/aemter/{office}")
        page.get_by_label("Mittwoch").last.check()
        page.get_by_label("Öffnet um").last.fill("09:00")
        page.get_by_label("Schließt um").last.fill("08:00")
        page.get_by_role("button", name="Vorschau der Änderungen").click()
        expect(page.get_by_role("heading", name="Bitte prüfen Sie Ihre Eingaben")).to_be_visible()
        no_horizontal_scroll(page)
        axe(page)
        page.get_by_label("Schließt um").last.fill("12:00")
        page.get_by_role("button", name="Vorschau der Änderungen").click()
        expect(page.get_by_role("heading", name=re.compile("^Vorschau der Änderungen: "))).to_be_visible()
        expect(page.locator("ins", has_text="Mi: 09:00–12:00 Uhr")).to_be_visible()
        no_horizontal_scroll(page)
        axe(page)
