"""The web widget in a real browser: Debian's Chromium driven by Playwright, against the real bot server
(background thread, SQLite) and the real Rasa server.

Chromium resolves no host name but 127.0.0.1/localhost, and every request to another origin is answered by
a stub route inside the browser, so no test ever leaves the machine. The "foreign" host page is served by
a second loopback server on another port: another origin than the bot, as koblenz.de would be
(it has to be a real loopback server: Chromium's Private Network Access rules block a page of unknown
address space from loading scripts from 127.0.0.1). Screenshots go to artifacts/screenshots/
(git-ignored).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from app.web import create_app
from bot.privacy import pseudonym
from core.alerts import ActiveAlert, StaticAlerts
from core.net import free_port
from core.paths import PROJECT_ROOT
from core.settings import Settings
from tests.conftest import make_settings

CHROMIUM = "/usr/bin/chromium"
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
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
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 360, "height": 740}
FLOOD = ActiveAlert(
    "koblenz-hw-1",
    "Hochwasser an Rhein und Mosel",
    "Severe",
    "Der Pegel Koblenz steigt bis Freitag auf über 7 Meter. Das Peter-Altmeier-Ufer wird gesperrt.",
    "Parken Sie Fahrzeuge nicht am Ufer und meiden Sie überflutete Wege.",
    ("Altstadt", "Lützel"),
    "https://www.koblenz.de/warnung/hochwasser",
    None,
)
WATER = ActiveAlert(
    "koblenz-tw-1",
    "Abkochgebot für Trinkwasser in Metternich",
    "Moderate",
    "Im Leitungswasser in Metternich wurden Keime gefunden.",
    "Kochen Sie Leitungswasser vor dem Trinken drei Minuten lang ab.",
    ("Metternich",),
    None,
    None,
)

pytestmark = pytest.mark.rasa
expect.set_options(timeout=20_000)


# -- the bot server in a background thread ----------------------------------------------------------


class BotServer:
    """create_app on a free loopback port, in its own thread and event loop."""

    def __init__(self, settings: Settings, alerts: StaticAlerts) -> None:
        self.settings, self.alerts = settings, alerts
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bot-server", daemon=True)
        self.runner: web.AppRunner | None = None
        self.extra_runners: list[web.AppRunner] = []

    def __enter__(self) -> BotServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(120)
        return self

    async def _start(self) -> None:
        self.runner = web.AppRunner(create_app(self.settings, alerts=self.alerts, manage_rasa=False))
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def __exit__(self, *_exc: object) -> None:
        for runner in [*self.extra_runners, self.runner]:
            if runner is not None:
                asyncio.run_coroutine_threadsafe(runner.cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def serve_page(self, html: str) -> str:
        """Serve one HTML page from another loopback origin (127.0.0.1, another port)."""

        async def start() -> int:
            app = web.Application()

            async def page(_request: web.Request) -> web.Response:
                return web.Response(text=html, content_type="text/html")

            app.router.add_get("/seite.html", page)
            runner = web.AppRunner(app)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self.extra_runners.append(runner)
            return port

        port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)
        return f"http://127.0.0.1:{port}/seite.html"

    def db_count(self, sql: str, *params: Any) -> int:
        path = self.settings.database_url.split(":///", 1)[1]
        with sqlite3.connect(path) as connection:
            return int(connection.execute(sql, params).fetchone()[0])

    def conversation_id(self, token: str) -> str:
        return pseudonym(self.settings.pseudonym_key.get_secret_value(), "web", token)


def _server(tmp: Path, rasa_url: str, alerts: StaticAlerts, **overrides: Any) -> BotServer:
    settings = make_settings(
        tmp,
        rasa_url=rasa_url,
        rasa_manage=False,
        rasa_timeout=15,
        chat_rate_per_minute=overrides.pop("chat_rate_per_minute", 100_000),
        **overrides,
    )
    return BotServer(settings, alerts)


@pytest.fixture(scope="module")
def alerts() -> StaticAlerts:
    return StaticAlerts()


@pytest.fixture(scope="module")
def bot(rasa_url: str, alerts: StaticAlerts, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    with _server(tmp_path_factory.mktemp("widget-bot"), rasa_url, alerts) as server:
        yield server


@pytest.fixture
def active_alerts(alerts: StaticAlerts) -> Iterator[StaticAlerts]:
    alerts.alerts = [FLOOD, WATER]
    yield alerts
    alerts.alerts = []


# -- the browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Traffic:
    """Requests the pages made: to the bot, and everything else (answered by a stub, never sent)."""

    bot: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


HOSTILE_PAGE = """<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Kommune</title>
<style>* {{ color: red !important; font-size: 40px !important; }} button {{ display: none !important; }}
div {{ position: static !important; }} #koblenz-chat-widget {{ opacity: 1; }}</style></head>
<body><main><h1>Eine andere Seite</h1><p>Mit eigenem, rücksichtslosem CSS.</p></main>
<script src="{bot}/widget.js" data-bot-url="{bot}" data-color="#ffcc00"></script></body></html>"""


def _new_context(browser: Browser, bot: BotServer, traffic: Traffic, **options: Any) -> BrowserContext:
    context = browser.new_context(locale="de-DE", viewport=options.pop("viewport", DESKTOP), **options)

    def route(route: Route) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "http://localhost")):
            traffic.bot.append(url)
            route.continue_()
        else:
            traffic.outside.append(url)
            route.fulfill(status=200, content_type="text/html", body="<title>extern</title><p>Stub</p>")

    context.route("**/*", route)
    return context


@pytest.fixture
def traffic() -> Traffic:
    return Traffic()


def _watch(page: Page, traffic: Traffic) -> Page:
    page.on("pageerror", lambda error: traffic.errors.append(str(error)))
    page.on("dialog", lambda dialog: (traffic.dialogs.append(dialog.message), dialog.dismiss()))
    return page


@pytest.fixture
def context(browser: Browser, bot: BotServer, traffic: Traffic) -> Iterator[BrowserContext]:
    context = _new_context(browser, bot, traffic)
    yield context
    context.close()
    assert traffic.errors == [], f"JavaScript errors: {traffic.errors}"


@pytest.fixture
def page(context: BrowserContext, traffic: Traffic) -> Page:
    return _watch(context.new_page(), traffic)


# -- helpers ---------------------------------------------------------------------------------------------

ACTIVE = """() => {
  const host = document.querySelector('#koblenz-chat-widget');
  const el = host && host.shadowRoot.activeElement;
  if (!el) return {tag: document.activeElement.tagName, text: '', cls: '', parent: ''};
  const style = getComputedStyle(el);
  return {tag: el.tagName, text: (el.textContent || '').trim(), cls: el.className,
          parent: el.parentElement ? el.parentElement.className : '', href: el.getAttribute('href') || '',
          outline: style.outlineStyle + ' ' + style.outlineWidth};
}"""


def active(page: Page) -> dict[str, str]:
    result: dict[str, str] = page.evaluate(ACTIVE)
    return result


def bot_messages(page: Page) -> Any:
    return page.locator(".msg.bot")


def ask(page: Page, text: str) -> Any:
    """Type a question, send it with Enter and return the new answer."""
    expect(page.locator(".typing")).to_be_hidden()  # nothing in flight (e.g. the topic card)
    before = bot_messages(page).count()
    page.get_by_label("Ihre Frage an den Assistenten").fill(text)
    page.get_by_label("Ihre Frage an den Assistenten").press("Enter")
    expect(bot_messages(page)).to_have_count(before + 1)
    return bot_messages(page).nth(before)


def open_widget(page: Page) -> None:
    page.get_by_role("button", name=re.compile("Fragen (an die Stadt|zu diesem Thema)")).click()
    expect(page.get_by_role("dialog", name="Digitaler Assistent")).to_be_visible()
    expect(page.locator(".typing")).to_be_hidden()  # the page's topic card has arrived


def axe(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
          // let the panel's opening fade finish: contrast is judged on the final colours
          const host = document.querySelector('#koblenz-chat-widget');
          const running = [...document.getAnimations(), ...(host ? host.shadowRoot.getAnimations() : [])]
            .filter(a => a.playState === 'running' && a.effect.getTiming().iterations !== Infinity);
          await Promise.all(running.map(a => a.finished));
          const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
          return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' > ') + ': ' + n.failureSummary)}));
        }""",
        AXE_TAGS,
    )
    return violations


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def token(page: Page) -> str:
    value: str = page.evaluate(
        "() => JSON.parse(sessionStorage.getItem(Object.keys(sessionStorage).find(k => k.startsWith('koblenz-chat'))) || '{}').id"
    )
    return value


# -- tests ------------------------------------------------------------------------------------------------


def test_full_conversation_with_topic_card_links_and_feedback(
    page: Page, context: BrowserContext, bot: BotServer, traffic: Traffic
) -> None:
    page.goto(bot.url + "/")
    open_widget(page)
    expect(page.locator(".privacy")).to_contain_text("ohne IP-Adresse")
    expect(page.locator(".privacy a")).to_have_text("Datenschutzhinweise (öffnet in neuem Tab)")
    card = bot_messages(page).first  # data-topic="personalausweis": the page's topic comes first
    expect(card).to_contain_text("Personalausweis beantragen")
    expect(card.locator("strong").first).to_have_text("Personalausweis beantragen")
    answer = ask(page, "Was kostet ein Reisepass?")
    expect(answer).to_contain_text("Reisepass")
    expect(answer).to_contain_text("€")
    # the body comes as blocks (title, paragraph, bullets), never as "**" markup in the text
    expect(answer.locator(".bubble > p > strong").first).to_have_text("Reisepass beantragen")
    expect(answer.locator(".bubble > ul:not(.links) > li").first).to_contain_text("€")
    assert "**" not in answer.inner_text()
    expect(answer.locator(".links a").first).to_contain_text("öffnet in neuem Tab")
    assert answer.locator(".links a").first.get_attribute("target") == "_blank"
    assert "noopener" in (answer.locator(".links a").first.get_attribute("rel") or "")
    expect(page.locator(".msg.user")).to_have_text(["Sie: Was kostet ein Reisepass?"])
    live = page.locator("[aria-live=polite]")  # screen readers hear each new answer
    expect(live).to_contain_text("Antwort des Assistenten:")
    expect(live).to_contain_text("Reisepass")

    answer.get_by_role("button", name="Nein, nicht hilfreich").click()
    expect(answer.get_by_role("button", name="Nein, nicht hilfreich")).to_have_attribute(
        "aria-pressed", "true"
    )
    answer.get_by_label(re.compile("Was hat gefehlt")).fill("Die Bearbeitungszeit fehlt.")
    answer.get_by_role("button", name="Anmerkung senden").click()
    expect(answer.locator(".fbnote")).to_have_text(re.compile("Danke, Ihre Anmerkung"))
    conversation = bot.conversation_id(token(page))
    assert (
        bot.db_count(
            "SELECT count(*) FROM feedback WHERE conversation_id = ? AND rating = 'down' "
            "AND question = 'Was kostet ein Reisepass?' AND comment = 'Die Bearbeitungszeit fehlt.'",
            conversation,
        )
        == 1
    )

    assert context.cookies() == []
    assert traffic.outside == []  # no third-party request, not even a font
    assert all(url.startswith(bot.url) for url in traffic.bot)


def test_deep_link_card_opens_in_a_new_tab(page: Page, context: BrowserContext, bot: BotServer) -> None:
    page.goto(bot.url + "/")
    open_widget(page)
    link = bot_messages(page).first.locator(".links a").first
    expect(link).to_contain_text("öffnet in neuem Tab")
    href = link.get_attribute("href")
    assert href and href.startswith("https://www.koblenz.de/")
    with context.expect_page() as opened:
        link.click()
    new_tab = opened.value
    new_tab.wait_for_load_state()
    assert new_tab.url == href
    assert page.url == bot.url + "/"  # the chat stays where it was
    expect(bot_messages(page)).to_have_count(1)


def test_clarification_buttons_lead_to_the_chosen_service(page: Page, bot: BotServer) -> None:
    page.goto(bot.url + "/")
    open_widget(page)
    answer = ask(page, "Wohnung")
    group = answer.get_by_role("group", name="Antwortvorschläge")
    expect(group).to_be_visible()
    expect(answer).to_contain_text("nicht sicher verstanden")
    choice = group.get_by_role("button", name="Wohnsitz anmelden")
    choice.click()
    expect(bot_messages(page)).to_have_count(3)
    expect(bot_messages(page).last).to_contain_text("Wohnsitz anmelden")
    expect(page.locator(".msg.user").last).to_have_text(re.compile(r"^Sie: Wohnsitz anmelden"))
    expect(group).to_have_count(0)  # the old choices are gone once answered


def test_keyboard_only_open_ask_choose_follow_and_close(
    page: Page, context: BrowserContext, bot: BotServer
) -> None:
    page.goto(bot.url + "/")
    for _ in range(40):
        page.keyboard.press("Tab")
        if "launcher" in active(page)["cls"]:
            break
    launcher = active(page)
    assert "launcher" in launcher["cls"], "the launcher is reachable with Tab"
    assert launcher["outline"].startswith("solid"), "focus is visible"
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Digitaler Assistent")).to_be_visible()
    assert active(page)["tag"] == "INPUT"
    expect(bot_messages(page)).to_have_count(1)
    page.keyboard.type("Wohnung")
    page.keyboard.press("Enter")
    expect(bot_messages(page)).to_have_count(2)
    expect(bot_messages(page).last.locator(".quick button").first).to_be_visible()

    for _ in range(15):  # back from the input into the answer: feedback, then the choices
        page.keyboard.press("Shift+Tab")
        if active(page)["parent"] == "quick":
            break
    focused = active(page)
    assert focused["parent"] == "quick" and focused["outline"].startswith("solid")
    page.keyboard.press("Enter")
    expect(bot_messages(page)).to_have_count(3)
    assert active(page)["tag"] == "INPUT"

    for _ in range(25):
        page.keyboard.press("Shift+Tab")
        if active(page)["tag"] == "A" and active(page)["href"].startswith("https://"):
            break
    link = active(page)
    assert link["tag"] == "A" and "öffnet in neuem Tab" in link["text"]
    with context.expect_page() as opened:
        page.keyboard.press("Enter")
    assert opened.value.url == link["href"]
    page.bring_to_front()

    page.get_by_label("Ihre Frage an den Assistenten").focus()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Digitaler Assistent")).to_be_hidden()
    assert "launcher" in active(page)["cls"], "focus returns to the launcher"


def test_conversation_survives_reload_and_clearing_deletes_it_on_the_server(
    page: Page, bot: BotServer
) -> None:
    page.goto(bot.url + "/")
    open_widget(page)
    ask(page, "Wie melde ich meinen Hund an?")
    answer = bot_messages(page).last
    answer.get_by_role("button", name="Ja, hilfreich").click()
    expect(answer.get_by_role("button", name="Ja, hilfreich")).to_have_attribute("aria-pressed", "true")
    conversation = bot.conversation_id(token(page))
    assert bot.db_count("SELECT count(*) FROM turns WHERE conversation_id = ?", conversation) == 4
    assert bot.db_count("SELECT count(*) FROM feedback WHERE conversation_id = ?", conversation) == 1

    page.reload()
    expect(page.get_by_role("dialog", name="Digitaler Assistent")).to_be_visible()
    expect(bot_messages(page)).to_have_count(2)  # no second topic card after the reload
    expect(page.locator(".msg.user")).to_have_text(["Sie: Wie melde ich meinen Hund an?"])
    expect(bot_messages(page).last.get_by_role("button", name="Ja, hilfreich")).to_have_attribute(
        "aria-pressed", "true"
    )

    page.get_by_role("button", name="Verlauf löschen").click()
    expect(page.locator(".msg.error")).to_contain_text("auch auf unserem Server")
    expect(bot_messages(page)).to_have_count(0)
    assert bot.db_count("SELECT count(*) FROM conversations WHERE id = ?", conversation) == 0
    assert bot.db_count("SELECT count(*) FROM turns WHERE conversation_id = ?", conversation) == 0
    assert bot.db_count("SELECT count(*) FROM feedback WHERE conversation_id = ?", conversation) == 0
    page.reload()
    expect(page.locator(".msg")).to_have_count(0)


def test_alert_banner_and_questions_about_the_alert(
    page: Page, bot: BotServer, active_alerts: StaticAlerts
) -> None:
    page.goto(bot.url + "/")
    teaser = page.locator(".teaser")
    expect(teaser).to_contain_text("⚠ Gefahr: Hochwasser an Rhein und Mosel")  # NINA's word for Severe
    teaser.click()
    banner = page.get_by_role("region", name="Aktuelle Warnung")
    expect(banner).to_contain_text("Hochwasser an Rhein und Mosel")
    expect(banner).to_contain_text("Betroffen: Altstadt, Lützel")
    expect(banner.get_by_role("link")).to_have_text("Mehr zur Warnung (öffnet in neuem Tab)")
    assert banner.get_by_role("link").get_attribute("href") == FLOOD.web
    expect(bot_messages(page).first.locator(".notice")).to_have_text(
        "⚠ Aktuelle Warnung: Hochwasser an Rhein und Mosel"
    )
    flood = ask(page, "Was ist mit dem Hochwasser?")
    expect(flood).to_contain_text("Der Pegel Koblenz steigt bis Freitag")
    expect(flood).to_contain_text("Parken Sie Fahrzeuge nicht am Ufer")
    expect(flood).not_to_contain_text("Metternich")
    water = ask(page, "Ist das Leitungswasser trinkbar?")
    expect(water).to_contain_text("Kochen Sie Leitungswasser vor dem Trinken drei Minuten lang ab.")
    expect(water).not_to_contain_text("Pegel")

    active_alerts.alerts = []
    page.reload()
    expect(page.get_by_role("dialog", name="Digitaler Assistent")).to_be_visible()
    expect(page.get_by_role("region", name="Aktuelle Warnung")).to_be_hidden()


def test_axe_finds_no_violations_closed_open_and_after_a_conversation(
    browser: Browser, bot: BotServer, traffic: Traffic, active_alerts: StaticAlerts
) -> None:
    context = _new_context(browser, bot, traffic, bypass_csp=True)  # only to inject axe-core
    try:
        page = _watch(context.new_page(), traffic)
        page.goto(bot.url + "/")
        expect(page.locator(".teaser")).to_be_visible()
        results = {"closed": axe(page)}
        shot(page, "desktop-closed")
        open_widget(page)
        expect(bot_messages(page)).to_have_count(1)
        results["open"] = axe(page)
        ask(page, "Wohnung")
        expect(bot_messages(page).last.locator(".quick button").first).to_be_visible()
        bot_messages(page).last.get_by_role("button", name="Nein, nicht hilfreich").click()
        expect(bot_messages(page).last.locator("textarea")).to_be_visible()
        results["conversation"] = axe(page)
        shot(page, "desktop-conversation")
        page.get_by_role("button", name="Wohnsitz anmelden").click()
        expect(bot_messages(page)).to_have_count(3)
        page.evaluate(
            "() => { const s = document.querySelector('#koblenz-chat-widget').shadowRoot.querySelector('.scroll');"
            " s.scrollTop = s.querySelectorAll('.msg.bot')[2].offsetTop - 8; }"
        )
        shot(page, "desktop-answer")
        results["answer"] = axe(page)
    finally:
        context.close()
    assert traffic.errors == []
    assert {state: found for state, found in results.items() if found} == {}


def test_mobile_360px_and_200_percent_zoom_stay_usable(
    browser: Browser, bot: BotServer, traffic: Traffic
) -> None:
    cases = (
        ("mobile", MOBILE, "Was kostet ein Reisepass?"),
        ("zoom-200", {"width": 640, "height": 400}, "Wohnung"),  # 1280 x 800 at 200 %
    )
    for name, viewport, question in cases:
        context = _new_context(browser, bot, traffic, viewport=viewport, bypass_csp=True)
        try:
            page = _watch(context.new_page(), traffic)
            page.goto(bot.url + "/")
            open_widget(page)
            ask(page, question)
            panel = page.get_by_role("dialog", name="Digitaler Assistent").bounding_box()
            assert panel is not None
            assert panel["x"] >= 0 and panel["x"] + panel["width"] <= viewport["width"] + 0.5
            assert panel["y"] >= 0 and panel["y"] + panel["height"] <= viewport["height"] + 0.5
            for control in ("Ihre Frage an den Assistenten",):
                box = page.get_by_label(control).bounding_box()
                assert box is not None and box["y"] + box["height"] <= viewport["height"]
            send = page.get_by_role("button", name="Senden").bounding_box()
            assert send is not None and send["x"] + send["width"] <= viewport["width"]
            overflow = page.evaluate(
                "() => { const s = document.querySelector('#koblenz-chat-widget').shadowRoot.querySelector('.scroll');"
                " return s.scrollWidth - s.clientWidth; }"
            )
            assert overflow <= 0, "no horizontal scrolling inside the chat"
            assert axe(page) == []
            shot(page, f"{name}-conversation")
        finally:
            context.close()
    assert traffic.errors == []


def test_reduced_motion_stops_the_animations(page: Page, bot: BotServer) -> None:
    page.goto(bot.url + "/")
    dots = page.locator(".dots span").first
    animation = "el => getComputedStyle(el).animationName"
    assert dots.evaluate(animation) == "kc-blink"
    page.emulate_media(reduced_motion="reduce")
    assert dots.evaluate(animation) == "none"
    open_widget(page)
    assert page.locator(".panel").evaluate(animation) == "none"


def test_rate_limited_message_is_polite_and_nothing_is_lost(
    browser: Browser, rasa_url: str, tmp_path: Path, traffic: Traffic
) -> None:
    with _server(tmp_path, rasa_url, StaticAlerts(), chat_rate_per_minute=2) as slow:
        context = _new_context(browser, slow, traffic)
        try:
            page = _watch(context.new_page(), traffic)
            page.goto(slow.url + "/")
            open_widget(page)  # message 1: the page's topic card
            expect(bot_messages(page)).to_have_count(1)
            ask(page, "Wie melde ich meinen Hund an?")  # message 2
            page.get_by_label("Ihre Frage an den Assistenten").fill("Wo parke ich mit Behinderung?")
            page.get_by_label("Ihre Frage an den Assistenten").press("Enter")
            error = page.locator(".msg.error")
            expect(error).to_contain_text("Sie schreiben gerade sehr schnell. Bitte warten Sie einen Moment.")
            expect(error).to_contain_text("Ihre Nachricht steht wieder im Eingabefeld.")
            expect(page.get_by_label("Ihre Frage an den Assistenten")).to_have_value(
                "Wo parke ich mit Behinderung?"
            )
            expect(page.locator(".msg.user")).to_have_count(1)  # the unsent question is not shown as sent
            expect(bot_messages(page)).to_have_count(2)
        finally:
            context.close()
    assert traffic.errors == []


def test_html_and_script_in_messages_are_shown_as_text_on_a_foreign_page(
    page: Page, bot: BotServer, traffic: Traffic, alerts: StaticAlerts
) -> None:
    evil = "<img src=x onerror=\"window.__pwned=1;alert('img')\">"
    alerts.alerts = [
        ActiveAlert("evil", "Warnung <script>window.__pwned=3</script>", "Minor", evil, "", (), None, None)
    ]
    try:
        page.goto(bot.serve_page(HOSTILE_PAGE.format(bot=bot.url)))  # another origin, hostile CSS
        launcher = page.get_by_role("button", name="Fragen an die Stadt")
        expect(launcher).to_be_visible()
        assert launcher.evaluate("el => getComputedStyle(el).fontSize") == "16px"
        launcher.click()
        expect(page.get_by_role("region", name="Aktuelle Warnung")).to_contain_text(
            "Warnung <script>window.__pwned=3</script>"
        )
        answer = ask(page, evil)
        expect(page.locator(".msg.user .bubble")).to_have_text(evil)
        ask(page, "<script>window.__pwned=2</script><b>fett</b>")
        expect(page.locator(".msg.user .bubble").last).to_have_text(
            "<script>window.__pwned=2</script><b>fett</b>"
        )
        expect(answer).to_be_visible()
        assert page.locator(".msg img, .msg script, .alert script").count() == 0
        assert page.evaluate("() => window.__pwned") is None
        assert traffic.dialogs == []
        assert not [url for url in traffic.bot if url.endswith("/x")]  # the <img> was never loaded
        colour = page.locator(".launcher").evaluate("el => getComputedStyle(el).backgroundColor")
        assert colour != "rgb(255, 204, 0)", "a too-light data-color is darkened to keep 4.5:1"
    finally:
        alerts.alerts = []


def test_chat_deep_link_opens_the_widget_with_that_service(page: Page, bot: BotServer) -> None:
    page.goto(bot.url + "/?chat=sperrmuell")
    dialog = page.get_by_role("dialog", name="Digitaler Assistent")
    expect(dialog).to_be_visible()
    expect(bot_messages(page)).to_have_count(1)
    expect(bot_messages(page).first.locator("strong").first).to_contain_text("Sperrmüll")
    assert active(page)["tag"] == "INPUT"
    page.reload()
    expect(bot_messages(page)).to_have_count(1)  # the card is not requested twice
