"""A loopback double of Rasa's HTTP API (``/status``, ``/model/parse``) for tests that must not depend on
the real model's exact confidences: it answers from a table, can be slow, fail, or go away, and counts calls.
The real Rasa server is used by the end-to-end tests (tests/bot/test_e2e_rasa.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeRasa:
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    delay: float = 0.0
    fail_with: int | None = None
    calls: int = 0
    in_flight: int = 0
    max_in_flight: int = 0  # the most parses it was asked to work on at the same time
    runner: web.AppRunner | None = None
    url: str = ""

    def teach(
        self,
        text: str,
        intent: str,
        confidence: float = 0.95,
        ranking: list[tuple[str, float]] | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> None:
        ranking = ranking or [(intent, confidence)]
        self.answers[text] = {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
            "entities": entities or [],
        }

    async def _parse(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if self.fail_with:
            return web.json_response({"status": "failure", "code": self.fail_with}, status=self.fail_with)
        body = await request.json()
        text = body.get("text", "")
        default = {
            "text": text,
            "intent": {"name": "out_of_scope", "confidence": 0.2},
            "intent_ranking": [{"name": "out_of_scope", "confidence": 0.2}],
            "entities": [],
        }
        return web.json_response(self.answers.get(text, default))

    async def _status(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"model_file": "fake.tar.gz", "model_id": "fake", "num_active_training_jobs": 0}
        )

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/model/parse", self._parse)
        app.router.add_get("/status", self._status)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
