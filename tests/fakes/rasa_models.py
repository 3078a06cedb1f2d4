"""The Rasa double (tests/fakes/rasa.py) with what model replacement needs: the API token and ``PUT /model``.

Like Rasa started with ``--auth-token``, every endpoint answers 401 ``NotAuthenticated`` unless the query
carries ``?token=<token>``. ``PUT /model`` with ``{"model_file": path}`` takes ``load_seconds`` and, like
Rasa (whose model loading blocks its event loop), answers no parse meanwhile: parses that arrive wait until
it is done. Afterwards ``/status`` reports the file's name. Switches: ``refuse_models`` (500 LoadingError,
the old model stays), ``token``. Counters: ``swaps`` (the paths loaded), ``parses_during_load``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.fakes.rasa import FakeRasa


@dataclass
class ModelRasa(FakeRasa):
    token: str = "test-token"
    model_file: str = "old-model.tar.gz"
    load_seconds: float = 0.3
    refuse_models: bool = False
    swaps: list[str] = field(default_factory=list)
    parses_during_load: int = 0
    unauthorized: int = 0
    _loaded: asyncio.Event | None = None

    @web.middleware
    async def _auth(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path not in ("/", "/version") and request.query.get("token") != self.token:
            self.unauthorized += 1
            return web.json_response(
                {"status": "failure", "reason": "NotAuthenticated", "code": 401}, status=401
            )
        return await handler(request)

    async def _parse_when_loaded(self, request: web.Request) -> web.Response:
        assert self._loaded is not None
        if not self._loaded.is_set():
            self.parses_during_load += 1
            await self._loaded.wait()
        return await self._parse(request)

    async def _status_now(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"model_file": self.model_file, "model_id": "fake", "num_active_training_jobs": 0}
        )

    async def _put_model(self, request: web.Request) -> web.Response:
        body = await request.json()
        path = str(body.get("model_file") or "")
        assert self._loaded is not None
        self._loaded.clear()
        try:
            await asyncio.sleep(self.load_seconds)
        finally:
            self._loaded.set()
        if self.refuse_models or not path:
            return web.json_response({"status": "failure", "reason": "LoadingError", "code": 500}, status=500)
        self.swaps.append(path)
        self.model_file = Path(path).name
        return web.Response(status=204)

    async def start(self) -> str:
        self._loaded = asyncio.Event()
        self._loaded.set()
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/model/parse", self._parse_when_loaded)
        app.router.add_get("/status", self._status_now)
        app.router.add_put("/model", self._put_model)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url
