"""Supervises a local Rasa server: starts it when none answers, restarts it when it dies, stops it.

When ``rasa_url`` already answers (``make run`` started one, or an operator runs Rasa elsewhere), the
supervisor only watches it. Until the server is ready, the dialogue answers from the catalog search.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from nlu import RasaUnavailable, rasa_env
from nlu.client import RasaClient

log = logging.getLogger(__name__)


class RasaSupervisor:
    def __init__(
        self,
        client: RasaClient,
        config: Path,
        model_dir: Path,
        log_file: Path,
        startup_timeout: float = 180.0,
    ) -> None:
        self._client = client
        self._config = config
        self._model_dir = model_dir
        self._log_file = log_file
        self._startup_timeout = startup_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.managed = False

    async def start(self) -> None:
        """Use a running server, or start ours in the background; returns at once."""
        if await self._client.status() is not None:
            log.info("using the Rasa server already running at %s", self._client.base_url)
            self.ready.set()
            return
        self.managed = True
        self._task = asyncio.create_task(self._run(), name="rasa-supervisor")

    async def wait_ready(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), timeout)
        return self.ready.is_set()

    async def _spawn(self) -> asyncio.subprocess.Process:
        model = await asyncio.to_thread(
            rasa_env.train, self._config, self._model_dir, progress=rasa_env.print_progress
        )
        parts = urlsplit(self._client.base_url)
        command = rasa_env.server_command(model, parts.hostname or "127.0.0.1", parts.port or 5005)
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        log_handle = self._log_file.open("ab")
        log.info("starting Rasa server: %s (log: %s)", " ".join(command), self._log_file)
        try:
            return await asyncio.create_subprocess_exec(
                *command,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                env=rasa_env.rasa_environ(),
                cwd=str(self._log_file.parent),
            )
        finally:
            log_handle.close()

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                self._process = await self._spawn()
            except Exception:
                log.exception("could not start the Rasa server; retrying in %.0f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60)
                continue
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._startup_timeout
            while self._process.returncode is None:
                if await self._client.status() is not None:
                    if not self.ready.is_set():
                        log.info("Rasa server ready at %s", self._client.base_url)
                        backoff = 1.0
                    self.ready.set()
                elif not self.ready.is_set() and loop.time() > deadline:
                    log.error("Rasa server not ready after %.0f s; restarting it", self._startup_timeout)
                    self._process.kill()
                await asyncio.sleep(0.5 if not self.ready.is_set() else 5.0)
            self.ready.clear()
            log.warning("Rasa server exited with %s; restarting in %.0f s", self._process.returncode, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 60)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def running_rasa(
    client: RasaClient, config: Path, model_dir: Path, log_file: Path, timeout: float = 240.0
) -> AsyncIterator[RasaSupervisor]:
    """A Rasa server at the client's URL for the duration of the block: the running one, or ours."""
    supervisor = RasaSupervisor(client, config, model_dir, log_file, timeout)
    if await client.status() is None:  # train first (may take minutes), so the timeout is for start-up only
        await asyncio.to_thread(rasa_env.train, config, model_dir, progress=rasa_env.print_progress)
    await supervisor.start()
    try:
        if not await supervisor.wait_ready(timeout):
            raise RasaUnavailable(
                f"the Rasa server at {client.base_url} was not ready after {timeout:.0f} s (log: {log_file})"
            )
        yield supervisor
    finally:
        await supervisor.stop()
