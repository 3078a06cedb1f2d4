"""Serving a test double: an aiohttp application on a free port of 127.0.0.1."""

from __future__ import annotations

from typing import Any

from aiohttp import web


async def serve(app: web.Application, **runner_options: Any) -> tuple[web.AppRunner, str]:
    """Start ``app`` on 127.0.0.1 (a port the system picks); return its runner and base URL."""
    runner = web.AppRunner(app, **{"access_log": None, "shutdown_timeout": 0.5, **runner_options})
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"
