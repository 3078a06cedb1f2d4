"""The link check against a loopback server: working pages, redirect chains, missing and gone pages,
timeouts, reset connections, servers that refuse HEAD; limits, the user agent, the kept result and the
weekly run."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from catalog.links import (
    RESULT_FILE,
    LinkResult,
    Target,
    catalog_targets,
    check_links,
    last_result,
    user_agent,
    weekly,
    weekly_loop,
    write_result,
)
from catalog.model import Catalog
from tests.catalog.catalog_files import write_catalog
from tests.conftest import make_settings
from tests.fakes.link_server import LinkServer

TIMEOUT = 0.3  # the loopback pages answer in milliseconds; /slow takes 5 s


@pytest.fixture
async def server() -> AsyncIterator[LinkServer]:
    fake = LinkServer(slow_seconds=5)
    await fake.start()
    yield fake
    await fake.stop()


async def _one(server: LinkServer, path: str) -> LinkResult:
    (result,) = await check_links([server.link(path)], timeout=TIMEOUT)
    return result


async def test_a_working_page_is_ok_after_a_head_request(server: LinkServer) -> None:
    result = await _one(server, "ok")
    assert result.ok and result.status == 200 and result.error is None
    assert result.final_url == server.link("ok") and result.redirects == []
    assert server.hits[("HEAD", "/ok")] == 1 and server.hits[("GET", "/ok")] == 0  # no GET needed


async def test_a_301_chain_is_followed_and_reported(server: LinkServer) -> None:
    result = await _one(server, "chain/3")
    assert result.ok and result.status == 200
    assert result.final_url == server.link("chain/0")
    assert result.redirects == [
        {"status": 301, "url": server.link("chain/2")},
        {"status": 301, "url": server.link("chain/1")},
        {"status": 301, "url": server.link("chain/0")},
    ]


async def test_a_relative_redirect_is_resolved(server: LinkServer) -> None:
    result = await _one(server, "relative")
    assert result.ok and result.final_url == server.link("ok")
    assert result.redirects == [{"status": 302, "url": server.link("ok")}]


async def test_ten_redirects_are_followed_but_not_eleven(server: LinkServer) -> None:
    ten = await _one(server, "chain/10")
    assert ten.ok and len(ten.redirects) == 10
    eleven = await _one(server, "chain/11")
    assert not eleven.ok and eleven.error == "mehr als 10 Weiterleitungen"
    endless = await _one(server, "loop")
    assert not endless.ok and len(endless.redirects) == 10


@pytest.mark.parametrize(("path", "status"), [("missing", 404), ("gone", 410), ("error", 500)])
async def test_client_and_server_errors_are_broken(server: LinkServer, path: str, status: int) -> None:
    result = await _one(server, path)
    assert not result.ok and result.status == status and result.error == f"HTTP {status}"


async def test_a_redirect_to_a_missing_page_is_broken(server: LinkServer) -> None:
    result = await _one(server, "to-missing")
    assert not result.ok and result.status == 404
    assert result.final_url == server.link("missing") and len(result.redirects) == 1


async def test_a_slow_page_times_out(server: LinkServer) -> None:
    started = asyncio.get_running_loop().time()
    result = await _one(server, "slow")
    took = asyncio.get_running_loop().time() - started
    assert not result.ok and result.status is None
    assert result.error is not None and "Zeitüberschreitung" in result.error
    assert took < 3 * TIMEOUT + 1  # HEAD and GET each gave up after the timeout, not after 5 s


async def test_a_reset_connection_is_broken(server: LinkServer) -> None:
    result = await _one(server, "reset")
    assert not result.ok and result.status is None
    assert result.error == "Verbindung vom Server abgebrochen"
    # GET was tried after HEAD failed (aiohttp itself may retry an idempotent request once)
    assert server.hits[("HEAD", "/reset")] >= 1 and server.hits[("GET", "/reset")] >= 1


@pytest.mark.parametrize("path", ["head-refused", "head-forbidden", "head-reset"])
async def test_get_is_used_when_head_is_refused_or_fails(server: LinkServer, path: str) -> None:
    result = await _one(server, path)
    assert result.ok and result.status == 200 and result.method == "GET"
    assert server.hits[("HEAD", f"/{path}")] >= 1 and server.hits[("GET", f"/{path}")] == 1


async def test_a_page_missing_for_get_too_is_broken(server: LinkServer) -> None:
    result = await _one(server, "head-only-missing")
    assert not result.ok and result.status == 404 and result.method == "GET"


async def test_results_keep_the_order_and_the_catalog_place(server: LinkServer) -> None:
    targets = [
        Target("personalausweis", "links[0] (info)", server.link("gone")),
        Target("amt:buergeramt", "web", server.link("ok")),
    ]
    results = await check_links(targets, timeout=TIMEOUT)
    assert [(r.service_id, r.field, r.ok) for r in results] == [
        ("personalausweis", "links[0] (info)", False),
        ("amt:buergeramt", "web", True),
    ]
    assert set(results[0].as_dict()) >= {
        "service_id",
        "field",
        "url",
        "status",
        "final_url",
        "redirects",
        "error",
        "ok",
    }


async def test_at_most_two_requests_per_host_at_once() -> None:
    fake = LinkServer(slow_seconds=0.2)
    await fake.start()
    try:
        results = await check_links([fake.link(f"slow?n={n}") for n in range(6)], timeout=5, concurrency=8)
    finally:
        await fake.stop()
    assert all(r.ok for r in results)
    assert fake.max_in_flight == 2


async def test_the_overall_concurrency_limit_holds() -> None:
    fake = LinkServer(slow_seconds=0.2)
    await fake.start()
    try:
        await check_links([fake.link(f"slow?n={n}") for n in range(4)], timeout=5, concurrency=1)
    finally:
        await fake.stop()
    assert fake.max_in_flight == 1


async def test_the_user_agent_names_the_bot_and_the_contact_page(server: LinkServer) -> None:
    agent = user_agent("https://www.koblenz.de/kontakt")
    assert agent == "KoblenzBot-Linkcheck/1.0 (+https://www.koblenz.de/kontakt)"
    assert user_agent("") == "KoblenzBot-Linkcheck/1.0"
    await check_links([server.link("head-refused")], timeout=TIMEOUT, agent=agent)
    assert {seen.user_agent for seen in server.requests} == {agent}


async def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        await check_links(["https://www.koblenz.de/"], timeout=0)
    with pytest.raises(ValueError):
        await check_links(["https://www.koblenz.de/"], concurrency=0)


def test_every_link_and_office_page_of_the_catalog_is_a_target(catalog: Catalog) -> None:
    targets = catalog_targets(catalog)
    links = sum(len(service.links) for service in catalog)
    pages = sum(1 for office in catalog.offices.values() if office.web is not None)
    assert len(targets) == links + pages
    assert all(t.url.startswith(("https://", "http://")) for t in targets)
    with_sources = catalog_targets(catalog, include_sources=True)
    assert len(with_sources) == len(targets) + sum(len(s.sources) for s in catalog) + sum(
        len(o.sources) for o in catalog.offices.values()
    )


# -- the kept result and the weekly run -------------------------------------------------------------


def test_the_last_result_is_kept_for_health(tmp_path: Path) -> None:
    assert last_result(tmp_path) is None
    results = [
        LinkResult("reisepass", "links[0] (info)", "https://a.example/", ok=True, status=200),
        LinkResult(
            "hundesteuer", "links[1] (online)", "https://b.example/x", ok=False, status=404, error="HTTP 404"
        ),
    ]
    when = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)
    write_result(tmp_path, results, when)
    data = last_result(tmp_path)
    assert data is not None
    assert data["checked_at"] == "2026-11-30T03:00:00+00:00"
    assert (data["total"], data["ok"], data["broken"]) == (2, 1, 1)
    assert [link["url"] for link in data["broken_links"]] == ["https://b.example/x"]
    assert list(tmp_path.iterdir()) == [tmp_path / RESULT_FILE]  # no temporary file left behind
    (tmp_path / RESULT_FILE).write_text("{kaputt")
    assert last_result(tmp_path) is None  # unreadable: as if never run, /health still answers


async def test_the_weekly_run_checks_when_the_last_result_is_old(server: LinkServer, tmp_path: Path) -> None:
    catalog_dir = write_catalog(tmp_path / "data", links=[server.link("ok"), server.link("gone")])
    settings = make_settings(
        tmp_path, catalog_dir=catalog_dir, linkcheck_contact_url="https://bot.example/kontakt"
    )
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    write_result(settings.state_dir, [], old)
    stop = asyncio.Event()
    loop = asyncio.create_task(weekly_loop(settings, stop, first_delay=0, poll=0.05))
    for _ in range(100):
        data = last_result(settings.state_dir)
        if data and data["total"] == 2:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop, 2)
    data = last_result(settings.state_dir)
    assert data is not None and data["total"] == 2 and data["broken"] == 1
    assert data["broken_links"][0]["url"] == server.link("gone")
    assert server.requests[0].user_agent == "KoblenzBot-Linkcheck/1.0 (+https://bot.example/kontakt)"
    requests = len(server.requests)
    await asyncio.sleep(0.2)
    assert len(server.requests) == requests  # a fresh result: no second run


async def test_the_weekly_run_waits_while_the_last_result_is_fresh(
    server: LinkServer, tmp_path: Path
) -> None:
    catalog_dir = write_catalog(tmp_path / "data", links=[server.link("ok")])
    settings = make_settings(tmp_path, catalog_dir=catalog_dir)
    write_result(settings.state_dir, [], dt.datetime.now(dt.UTC) - dt.timedelta(days=6))
    stop = asyncio.Event()
    loop = asyncio.create_task(weekly_loop(settings, stop, first_delay=0, poll=0.05))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(loop, 2)
    assert server.requests == []
    assert json.loads((settings.state_dir / RESULT_FILE).read_text())["total"] == 0


async def test_the_weekly_task_waits_before_its_first_run_and_stops_at_once(
    server: LinkServer, tmp_path: Path
) -> None:
    catalog_dir = write_catalog(tmp_path / "data", links=[server.link("ok")])
    settings = make_settings(tmp_path, catalog_dir=catalog_dir)
    started = asyncio.get_running_loop().time()
    async with weekly(settings):  # never checked, but the first run waits 5 minutes
        await asyncio.sleep(0.1)
    assert asyncio.get_running_loop().time() - started < 2
    assert server.requests == [] and last_result(settings.state_dir) is None
    off = make_settings(tmp_path, catalog_dir=catalog_dir, linkcheck_weekly=False)
    async with weekly(off, first_delay=0):
        await asyncio.sleep(0.1)
    assert server.requests == []


async def test_a_check_under_way_is_abandoned_on_stop(server: LinkServer, tmp_path: Path) -> None:
    catalog_dir = write_catalog(tmp_path / "data", links=[server.link("slow")])
    settings = make_settings(tmp_path, catalog_dir=catalog_dir)
    stop = asyncio.Event()
    loop = asyncio.create_task(weekly_loop(settings, stop, first_delay=0))
    for _ in range(100):
        if server.requests:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(loop, 2)  # the slow page would take 5 s per request
    assert last_result(settings.state_dir) is None
