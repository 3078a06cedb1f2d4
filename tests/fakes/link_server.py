"""A loopback web server with pages in every state a catalog link can be in, for the link checker
(``catalog/links.py``). A real aiohttp server on 127.0.0.1.

Usage::

    server = LinkServer(slow_seconds=5)
    await server.start()               # server.url = "http://127.0.0.1:<port>"
    server.link("ok")                  # → "http://127.0.0.1:<port>/ok"
    ...
    await server.stop()

or, for code that runs its own event loop (the CLI in-process)::

    with LinkServer().in_thread() as server:
        ...

Pages (GET and HEAD unless said otherwise):
    /ok                 200 with a small HTML page
    /chain/<n>          301 to /chain/<n-1>, ... /chain/0 answers 200 (a chain of n redirects)
    /relative           302 with a relative Location ("ok")
    /loop               301 to itself (never ends)
    /to-missing         301 to /missing
    /missing            404
    /gone               410
    /error              500
    /slow               200 after ``slow_seconds`` (a timeout for any shorter client timeout)
    /reset              the connection is closed abruptly (TCP reset), no answer at all
    /head-refused       HEAD answers 405, GET 200
    /head-forbidden     HEAD answers 403, GET 200
    /head-reset         HEAD: connection reset; GET 200
    /head-only-missing  HEAD 405, GET 404

Recorded for assertions: ``requests`` (method, path, User-Agent) in arrival order, ``hits`` (a Counter of
(method, path)), ``max_in_flight`` (the most requests handled at the same time).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web

from tests.fakes.loopback import serve


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    user_agent: str


class LinkServer:
    def __init__(self, slow_seconds: float = 5.0) -> None:
        self.slow_seconds = slow_seconds
        self.url = ""
        self.requests: list[Seen] = []
        self.hits: Counter[tuple[str, str]] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._runner: web.AppRunner | None = None

    def link(self, path: str) -> str:
        return f"{self.url}/{path.lstrip('/')}"

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(middlewares=[self._record])
        app.router.add_route("*", "/ok", self._ok)
        app.router.add_route("*", "/chain/{n:\\d+}", self._chain)
        app.router.add_route("*", "/relative", self._relative)
        app.router.add_route("*", "/loop", self._loop)
        app.router.add_route("*", "/to-missing", self._to_missing)
        app.router.add_route("*", "/missing", self._status(404))
        app.router.add_route("*", "/gone", self._status(410))
        app.router.add_route("*", "/error", self._status(500))
        app.router.add_route("*", "/slow", self._slow)
        app.router.add_route("*", "/reset", self._reset)
        app.router.add_route("*", "/head-refused", self._head_refused(405, 200))
        app.router.add_route("*", "/head-forbidden", self._head_refused(403, 200))
        app.router.add_route("*", "/head-only-missing", self._head_refused(405, 404))
        app.router.add_route("*", "/head-reset", self._head_reset)
        self._runner, self.url = await serve(
            app, access_log=None, shutdown_timeout=0.2, handler_cancellation=True
        )
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[LinkServer]:
        """Serve from a thread with its own event loop while the block runs."""
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        thread = threading.Thread(target=run, name="link-server", daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("link server did not start")
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    # -- pages --------------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: web.Handler) -> web.StreamResponse:
        self.requests.append(Seen(request.method, request.path, request.headers.get("User-Agent", "")))
        self.hits[(request.method, request.path)] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1

    @staticmethod
    def _page(status: int = 200) -> web.Response:
        return web.Response(
            status=status, text="<!doctype html><title>Seite</title><p>Inhalt</p>", content_type="text/html"
        )

    async def _ok(self, request: web.Request) -> web.Response:
        return self._page()

    async def _chain(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return self._page()
        raise web.HTTPMovedPermanently(f"/chain/{n - 1}")

    async def _relative(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("ok")

    async def _loop(self, request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/loop")

    async def _to_missing(self, request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/missing")

    def _status(self, status: int) -> web.Handler:
        async def handler(request: web.Request) -> web.Response:
            return self._page(status)

        return handler

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.slow_seconds)
        return self._page()

    @staticmethod
    async def _abort(request: web.Request) -> web.Response:
        """Close the connection with a TCP reset (SO_LINGER 0) before any answer."""
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await asyncio.sleep(3600)  # cancelled with the connection (handler_cancellation)
        raise AssertionError("unreachable")

    async def _reset(self, request: web.Request) -> web.Response:
        return await self._abort(request)

    def _head_refused(self, head_status: int, get_status: int) -> web.Handler:
        async def handler(request: web.Request) -> web.Response:
            return self._page(head_status if request.method == "HEAD" else get_status)

        return handler

    async def _head_reset(self, request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return await self._abort(request)
        return self._page()
