"""The pool of Rasa servers behind the bot: load spread, fail-over, no double timeouts (loopback doubles)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from core.paths import PROJECT_ROOT
from nlu import RasaUnavailable
from nlu.client import RasaClient, RasaPool, rasa_urls
from tests.fakes.rasa import FakeRasa


@pytest.fixture
async def two_fakes() -> AsyncIterator[tuple[FakeRasa, FakeRasa]]:
    first, second = FakeRasa(), FakeRasa()
    await first.start()
    await second.start()
    for fake in (first, second):
        fake.teach("perso verloren", "service_ausweis_verlust")
    yield first, second
    await first.stop()
    await second.stop()


async def test_parses_are_spread_over_the_servers(two_fakes: tuple[FakeRasa, FakeRasa]) -> None:
    first, second = two_fakes
    first.delay = second.delay = 0.05
    async with aiohttp.ClientSession() as session:
        # A generous timeout: what is checked is the spread, not how fast a shared machine serves 40 parses.
        pool = RasaPool([RasaClient(session, first.url, 30), RasaClient(session, second.url, 30)])
        results = await asyncio.gather(*(pool.parse("perso verloren") for _ in range(40)))
    assert all(r.intent == "service_ausweis_verlust" for r in results)
    assert first.calls + second.calls == 40
    assert min(first.calls, second.calls) >= 15  # least-busy choice: concurrent parses share the servers


async def test_a_dead_server_is_skipped_and_the_citizen_still_gets_rasa(
    two_fakes: tuple[FakeRasa, FakeRasa],
) -> None:
    first, second = two_fakes
    await first.stop()  # connection refused from now on
    async with aiohttp.ClientSession() as session:
        pool = RasaPool([RasaClient(session, first.url), RasaClient(session, second.url)], cooldown=60)
        results = [await pool.parse("perso verloren") for _ in range(10)]
        assert all(r.intent == "service_ausweis_verlust" for r in results)
        assert second.calls == 10
        assert pool.ready_count == 1  # the dead one rests for the cooldown instead of being tried each time


async def test_all_servers_down_raises_so_the_dialogue_answers_from_the_catalog(
    two_fakes: tuple[FakeRasa, FakeRasa],
) -> None:
    first, second = two_fakes
    first.fail_with = second.fail_with = 503
    async with aiohttp.ClientSession() as session:
        pool = RasaPool([RasaClient(session, first.url), RasaClient(session, second.url)])
        with pytest.raises(RasaUnavailable):
            await pool.parse("perso verloren")
    assert first.calls + second.calls == 2  # tried once each, no retry storm


async def test_a_slow_server_is_not_followed_by_a_second_wait(two_fakes: tuple[FakeRasa, FakeRasa]) -> None:
    first, second = two_fakes
    first.delay = second.delay = 2.0
    async with aiohttp.ClientSession() as session:
        pool = RasaPool([RasaClient(session, first.url, 0.3), RasaClient(session, second.url, 0.3)])
        started = time.monotonic()
        with pytest.raises(RasaUnavailable):
            await pool.parse("perso verloren")
        assert time.monotonic() - started < 0.6  # one timeout (0.3 s), never two


async def test_servers_marked_down_by_the_supervisor_get_no_parses(
    two_fakes: tuple[FakeRasa, FakeRasa],
) -> None:
    first, second = two_fakes
    async with aiohttp.ClientSession() as session:
        pool = RasaPool([RasaClient(session, first.url), RasaClient(session, second.url)])
        pool.members[0].up = False  # starting up (the supervisor says so)
        for _ in range(5):
            await pool.parse("perso verloren")
    assert (first.calls, second.calls) == (0, 5)


def test_pool_urls_follow_the_configured_port() -> None:
    assert rasa_urls("http://127.0.0.1:5005", 3) == [
        "http://127.0.0.1:5005",
        "http://127.0.0.1:5006",
        "http://127.0.0.1:5007",
    ]
    assert rasa_urls("http://[::1]:6000/", 2) == ["http://[::1]:6000", "http://[::1]:6001"]
    assert rasa_urls("https://nlu.example.org", 1) == ["https://nlu.example.org"]


async def test_parses_beyond_two_per_server_wait_in_the_bot_not_inside_rasa(
    two_fakes: tuple[FakeRasa, FakeRasa],
) -> None:
    first, second = two_fakes
    first.delay = second.delay = 0.02
    async with aiohttp.ClientSession() as session:
        # A generous timeout: 50 parses queue for 25 rounds, and what is checked is where they wait, not how
        # fast a busy CI machine gets through the queue (with the default 1 s the tail could time out there).
        pool = RasaPool([RasaClient(session, first.url, 30), RasaClient(session, second.url, 30)])
        results = await asyncio.gather(*(pool.parse("perso verloren") for _ in range(50)))
    assert len(results) == 50 and all(r.intent == "service_ausweis_verlust" for r in results)
    assert first.max_in_flight <= 2 and second.max_in_flight <= 2  # Rasa serves its queue in no fair order


async def test_waiting_for_a_free_server_counts_against_the_timeout(
    two_fakes: tuple[FakeRasa, FakeRasa],
) -> None:
    first, second = two_fakes
    first.delay = second.delay = 0.5
    async with aiohttp.ClientSession() as session:
        pool = RasaPool(
            [RasaClient(session, first.url, 0.3), RasaClient(session, second.url, 0.3)], per_server=1
        )
        started = time.monotonic()
        results = await asyncio.gather(
            *(pool.parse("perso verloren") for _ in range(4)), return_exceptions=True
        )
    assert all(isinstance(r, RasaUnavailable) for r in results)
    assert time.monotonic() - started < 0.45  # nobody waits longer than the 0.3 s a citizen is promised


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie waiting for init to reap it has ended


@pytest.mark.processes
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_rasa_servers_end_when_the_bot_is_killed_hard() -> None:
    """SIGKILL of the bot must not leave Rasa servers behind that hold the port and the old model."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "from nlu.server import dies_with_this_process\n"
            "child = subprocess.Popen(dies_with_this_process(['/bin/sleep', '120']))\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0] != b"/bin/sleep":  # exec'd in place
        assert time.monotonic() < deadline, "the launcher did not exec the command"
        time.sleep(0.05)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child):
        assert time.monotonic() < deadline, "the child outlived its killed parent"
        time.sleep(0.05)
