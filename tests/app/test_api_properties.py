"""Property-based: whatever a client sends to the chat API, it gets a JSON answer and never a 5xx.

The bot runs as a real HTTP server in a background thread (its own event loop, SQLite, a loopback Rasa
double); hypothesis drives it synchronously over HTTP.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.web import create_app
from tests.conftest import examples, make_settings
from tests.fakes.rasa import FakeRasa

pytestmark = pytest.mark.functional

KINDS = {"service", "alerts", "subscribe", "unsubscribe", "handoff", "smalltalk", "fallback"}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
bodies = st.one_of(
    st.fixed_dictionaries(
        {"message": st.text(max_size=1500)},
        optional={"conversation_id": st.text(max_size=140), "payload": st.text(max_size=40)},
    ),
    st.dictionaries(st.sampled_from(["message", "payload", "conversation_id", "x"]), json_values, max_size=4),
    json_values,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp_path: Path = tmp_path_factory.mktemp("props")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        fake = FakeRasa()
        await fake.start()
        fake.teach("Reisepass", "service_reisepass", 0.9)
        app = create_app(make_settings(tmp_path, rasa_url=fake.url, chat_rate_per_minute=1_000_000))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state.update(fake=fake, runner=runner, port=site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(60)
    yield int(state["port"])

    async def stop() -> None:
        await state["runner"].cleanup()
        await state["fake"].stop()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _post(port: int, body: bytes) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/api/chat", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@settings(
    max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_chat_api_never_fails_on_any_json(server: int, body: Any) -> None:
    status, payload = _post(server, json.dumps(body).encode())
    assert status < 500, payload
    if status == 200:
        assert isinstance(payload["text"], str) and payload["text"]
        assert payload["kind"] in KINDS
    else:
        assert payload["error"] and payload["message"]


@settings(
    max_examples=examples(50), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=300))
def test_chat_api_survives_arbitrary_bytes(server: int, raw: bytes) -> None:
    status, payload = _post(server, raw)
    assert status < 500
    assert ("message" in payload) if status != 200 else ("text" in payload)


@pytest.mark.parametrize(
    "message",
    [
        "<script>alert(1)</script>",
        "Reisepass \u202e\u200b\x00",
        "😀" * 100,
        "Где оформить паспорт?",
        "Where can I get a passport?",
        "' OR 1=1 --",
        "x" * 1001,
    ],
)
def test_awkward_messages_get_a_polite_answer(server: int, message: str) -> None:
    status, payload = _post(server, json.dumps({"message": message}).encode())
    assert status == 200 and payload["text"]
    assert "<script>" not in payload["text"]
