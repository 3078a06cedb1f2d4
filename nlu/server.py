"""Supervises the local Rasa servers: starts them when none answers, restarts one when it dies, stops them.

When ``rasa_url`` already answers (an operator runs Rasa elsewhere, or a test does), the supervisor only
uses it. Otherwise it starts ``rasa_processes`` servers on ``rasa_url``'s port and the ports after it (one
Rasa process parses on one core; see docs/benchmarks.md). Until one is ready, the dialogue answers from
the catalog search.

Our servers run with an auth token (nlu.auth; the pool's clients send it), so only the bot can replace
their model: ``nlu.retrain`` swaps a new one in through ``RasaPool.replace_model``, one server at a time.
A server restarted later loads the model of the current ``nlu/data`` (``rasa_env.train`` finds it cached).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from nlu import RasaUnavailable, rasa_env
from nlu.client import RasaClient, RasaPool

log = logging.getLogger(__name__)


# Runs the given command in place of itself (same process id) after asking Linux to send it SIGTERM when
# its parent, the bot, dies, however it dies. Without this, a bot killed with SIGKILL or by the OOM killer
# would leave its Rasa servers running: holding the ports and 600 MB each, and taken for an operator's
# server (model and all, unsupervised) by the next start. The flag survives exec; it is set in the child
# itself (not in a preexec_fn, which is unsafe in a process with threads). Elsewhere: plain exec.
_LAUNCHER = """
import ctypes, os, signal, sys
if sys.platform.startswith("linux"):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != int(sys.argv[1]):  # the bot died before the flag was set
        sys.exit(0)
os.execv(sys.argv[2], sys.argv[2:])
"""


def dies_with_this_process(command: list[str]) -> list[str]:
    """``command`` wrapped so that it ends when the current process ends (see _LAUNCHER)."""
    return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *command]


class RasaSupervisor:
    """Runs the pool's Rasa servers (one process per member, on the member's port) or watches a running one.

    Every member loads the same model, trained once before the first start. A member that exits is
    restarted with backoff while the others keep answering; ``ready`` is set while at least one answers.
    """

    def __init__(
        self,
        pool: RasaPool,
        config: Path,
        model_dir: Path,
        log_file: Path,
        startup_timeout: float = 180.0,
        auth_token: SecretStr | None = None,
    ) -> None:
        self._pool = pool
        self._auth_token = auth_token  # the servers' API token (nlu.auth); None: no auth (tests, eval)
        self._config = config
        self._model_dir = model_dir
        self._log_file = log_file
        self._startup_timeout = startup_timeout
        self._processes: list[asyncio.subprocess.Process | None] = [None] * len(pool.members)
        self._tasks: list[asyncio.Task[None]] = []
        self._train_lock = asyncio.Lock()
        self.ready = asyncio.Event()
        self.managed = False

    @property
    def pool(self) -> RasaPool:
        return self._pool

    @property
    def pids(self) -> list[int | None]:
        """Process ids of the managed servers (None while one is not running)."""
        return [p.pid if p is not None and p.returncode is None else None for p in self._processes]

    def servers(self) -> tuple[int, int]:
        """(servers answering, servers in use) for the health check."""
        if not self.managed:
            return (1 if self.ready.is_set() else 0), 1
        return self._pool.up_count, len(self._pool.members)

    async def start(self) -> None:
        """Use a running server, or start ours in the background; returns at once."""
        first = self._pool.members[0]
        if await first.client.status() is not None:
            log.info("using the Rasa server already running at %s", first.client.base_url)
            for member in self._pool.members[1:]:  # not ours to start: parse with the running one only
                member.up = False
            self.ready.set()
            return
        self.managed = True
        for index, member in enumerate(self._pool.members):
            member.up = False  # until it answers
            self._tasks.append(asyncio.create_task(self._run(index), name=f"rasa-supervisor-{index + 1}"))

    async def wait_ready(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), timeout)
        return self.ready.is_set()

    def _member_log(self, index: int) -> Path:
        if index == 0:
            return self._log_file
        return self._log_file.with_name(f"{self._log_file.stem}-{index + 1}{self._log_file.suffix}")

    async def _model(self) -> Path:
        async with self._train_lock:  # the members share one model; train it once
            return await asyncio.to_thread(
                rasa_env.train, self._config, self._model_dir, progress=rasa_env.print_progress
            )

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        model = await self._model()
        parts = urlsplit(self._pool.members[index].client.base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 5005
        auth = self._auth_token is not None
        command = rasa_env.server_command(model, host, port, auth=auth)
        log_file = self._member_log(index)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_handle = log_file.open("ab")
        log.info(
            "starting Rasa server %d on %s:%d with %s%s (log: %s)",
            index + 1,
            host,
            port,
            model.name,
            ", API token required" if auth else "",
            log_file,
        )
        try:
            return await asyncio.create_subprocess_exec(
                *dies_with_this_process(command),
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                env=rasa_env.rasa_environ(self._auth_token),
                cwd=str(log_file.parent),
            )
        finally:
            log_handle.close()

    def _update_ready(self) -> None:
        if self._pool.up_count > 0:
            self.ready.set()
        else:
            self.ready.clear()

    async def _run(self, index: int) -> None:
        member = self._pool.members[index]
        backoff = 1.0
        while True:
            try:
                process = self._processes[index] = await self._spawn(index)
            except Exception:
                log.exception("could not start Rasa server %d; retrying in %.0f s", index + 1, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60)
                continue
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._startup_timeout
            while process.returncode is None:  # starting: poll until it answers, or give up and restart
                if await member.client.status() is not None:
                    log.info("Rasa server %d ready at %s", index + 1, member.client.base_url)
                    backoff = 1.0
                    member.up = True
                    member.cooldown_until = 0.0
                    self._update_ready()
                    break
                if loop.time() > deadline:
                    log.error(
                        "Rasa server %d not ready after %.0f s; restarting it",
                        index + 1,
                        self._startup_timeout,
                    )
                    process.kill()
                    break
                await asyncio.sleep(0.5)
            await process.wait()
            member.up = False
            self._update_ready()
            log.warning(
                "Rasa server %d exited with %s; restarting in %.0f s", index + 1, process.returncode, backoff
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 60)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for process in self._processes:
            if process is not None and process.returncode is None:
                process.terminate()
        for process in self._processes:
            if process is None:
                continue
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def running_rasa(
    client: RasaClient,
    config: Path,
    model_dir: Path,
    log_file: Path,
    timeout: float = 240.0,
    auth_token: SecretStr | None = None,
) -> AsyncIterator[RasaSupervisor]:
    """A Rasa server at the client's URL for the duration of the block: the running one, or ours (with
    ``auth_token`` required when given: give the client the same token)."""
    supervisor = RasaSupervisor(RasaPool([client]), config, model_dir, log_file, timeout, auth_token)
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
