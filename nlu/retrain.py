"""“Neu trainieren”: build the training data from the catalog, train in the background, swap the new model
into the running Rasa servers one at a time, so answers never stop.

``RetrainJob`` runs the steps and keeps a small status (``RetrainStatus``: state, progress 0–100, a German
message, start and end, per-step seconds) for the console and ``/health``:

1. *generating*: ``nlu.generate`` from the catalog as it is on disk, into a work copy of the Rasa project
   (``<work_dir>/nlu``), so nothing the servers use changes before a model exists;
2. *training*: ``rasa_env.train`` on the work copy in a thread (cached by a hash of the inputs, so an
   unchanged catalog trains nothing); when it fails, the old model keeps serving and the status says why
   (German message and the tail of Rasa's log);
3. *swapping*: the generated files are written to ``nlu/`` (so a server the supervisor restarts loads the new
   model, and ``nlu generate --check`` holds), then each running server loads the new model through
   ``PUT /model`` with the API token (``RasaPool.replace_model``): the pool sends it no parses meanwhile and
   the others keep answering. With a single server the dialogue answers from the catalog search during its
   swap. When a server refuses the model, the servers already swapped go back to the old model and
   ``nlu/`` gets its old files back: all servers keep serving the same, old, model.

Only one job runs at a time per state directory (a lock file), so ``koblenz-bot nlu retrain`` and the
console cannot train over each other. ``koblenz-bot nlu retrain`` (``cmd_retrain``) runs the same job
against the servers at the configured URLs, or only trains when none runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import fcntl
import json
import logging
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import yaml

from catalog import CatalogError
from catalog.model import load_catalog
from catalog.revisions import Overlaid, current_from_settings, load_phrasings, merged_phrasings
from core.settings import Settings
from core.time import utcnow
from nlu import NLU_DIR, NluError, RasaEnvMissing, TrainingFailed, rasa_env
from nlu.auth import load_or_create_token
from nlu.client import ModelNotReplaced, PoolMember, RasaClient, RasaPool, rasa_urls
from nlu.generate import generated_files

log = logging.getLogger(__name__)

Trainer = Callable[[Path, Path, Path, Callable[[str], None]], Path]  # config, model_dir, nlu_dir, progress
Source = Callable[[], Awaitable[Overlaid]]  # the catalog with the editors' revisions (catalog.revisions)
EXPECTED_TRAINING_SECONDS = 120.0  # for the progress bar until a training on this machine was measured
LOG_TAIL_LINES = 25


class RetrainState(StrEnum):
    IDLE = "idle"
    GENERATING = "generating"
    TRAINING = "training"
    SWAPPING = "swapping"
    DONE = "done"
    FAILED = "failed"


class RetrainRunning(NluError):
    """A training is already running (here or in another process on the same state directory)."""

    status: ClassVar[int] = 409
    code: ClassVar[str] = "retrain_running"


@dataclass(frozen=True)
class RetrainStatus:
    state: RetrainState = RetrainState.IDLE
    progress: int = 0  # 0–100
    message: str = "Es wurde noch nicht neu trainiert."
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    model: str | None = None  # file name of the model trained (or found) by this run
    log_tail: str | None = None  # Rasa's last lines when training failed (for the console, not /health)
    servers_swapped: int = 0
    servers_total: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # generating, training, swapping

    @property
    def running(self) -> bool:
        return self.state in (RetrainState.GENERATING, RetrainState.TRAINING, RetrainState.SWAPPING)

    def as_dict(self, include_log: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "state": self.state.value,
            "progress": self.progress,
            "message": self.message,
            "started": self.started.isoformat() if self.started else None,
            "finished": self.finished.isoformat() if self.finished else None,
            "model": self.model,
            "servers_swapped": self.servers_swapped,
            "servers_total": self.servers_total,
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
        }
        if include_log:
            data["log_tail"] = self.log_tail
        return data


def _default_trainer(config: Path, model_dir: Path, nlu_dir: Path, progress: Callable[[str], None]) -> Path:
    return rasa_env.train(config, model_dir, nlu_dir=nlu_dir, progress=progress)


class _Failed(Exception):
    """Ends a run: the German message for the editor and, for training, Rasa's log tail."""

    def __init__(self, message: str, log_tail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.log_tail = log_tail


class RetrainJob:
    """One “Neu trainieren” at a time; ``status`` is a snapshot that is safe to show at any moment."""

    def __init__(
        self,
        *,
        catalog_dir: Path,
        config: Path,
        model_dir: Path,
        work_dir: Path,
        pool: RasaPool | None,
        nlu_dir: Path = NLU_DIR,
        trainer: Trainer | None = None,
        on_swapped: Callable[[Path], Awaitable[None]] | None = None,
        source: Source | None = None,
    ) -> None:
        self._catalog_dir = catalog_dir
        self._source = source  # None: the catalog and phrasings on disk, without the editors' revisions
        self._config = config
        self._model_dir = model_dir
        self._work_dir = work_dir
        self._pool = pool
        self._nlu_dir = nlu_dir
        self._trainer = trainer or _default_trainer
        self._on_swapped = on_swapped  # e.g. the root reloading the catalog the dialogue answers from
        self._status = RetrainStatus()
        self._task: asyncio.Task[RetrainStatus] | None = None
        self._expected_training = EXPECTED_TRAINING_SECONDS
        self._last_line = ""  # the trainer's last progress line

    @classmethod
    def from_settings(cls, settings: Settings, pool: RasaPool | None, **kwargs: Any) -> RetrainJob:
        return cls(
            catalog_dir=settings.catalog_dir,
            config=settings.rasa_config,
            model_dir=settings.model_dir,
            work_dir=settings.state_dir / "retrain",
            pool=pool,
            **kwargs,
        )

    @property
    def status(self) -> RetrainStatus:
        return self._status

    def start(self) -> asyncio.Task[RetrainStatus]:
        """Start a run in the background (the console's button); RetrainRunning when one runs."""
        if self._task is not None and not self._task.done():
            raise RetrainRunning("Das Training läuft bereits. Bitte warten Sie, bis es abgeschlossen ist.")
        self._task = asyncio.create_task(self.run(), name="nlu-retrain")
        return self._task

    async def wait(self) -> RetrainStatus:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)
        return self._status

    def _set(self, **changes: Any) -> None:
        self._status = replace(self._status, **changes)

    async def run(self) -> RetrainStatus:
        """Run all steps now; the result is also in ``status``. Never raises for a failed step."""
        if self._status.running and self._task is not asyncio.current_task():
            raise RetrainRunning("Das Training läuft bereits. Bitte warten Sie, bis es abgeschlossen ist.")
        self._status = RetrainStatus(
            state=RetrainState.GENERATING,
            progress=0,
            message="Die Trainingsdaten werden aus dem Katalog erzeugt.",
            started=utcnow(),
        )
        try:
            with self._exclusive():
                await self._steps()
        except _Failed as failed:
            log.warning("retrain failed: %s", failed.message)
            self._set(
                state=RetrainState.FAILED,
                message=failed.message,
                log_tail=failed.log_tail,
                finished=utcnow(),
            )
        except RetrainRunning as busy:
            self._set(state=RetrainState.FAILED, message=busy.message, finished=utcnow())
        except asyncio.CancelledError:
            self._set(
                state=RetrainState.FAILED,
                message="Das Training wurde abgebrochen. Das bisherige Modell antwortet weiter.",
                finished=utcnow(),
            )
            raise
        except Exception:
            log.exception("retrain failed unexpectedly")
            self._set(
                state=RetrainState.FAILED,
                message="Beim Neu-Trainieren ist ein unerwarteter Fehler aufgetreten. "
                "Das bisherige Modell antwortet weiter; Einzelheiten stehen im Protokoll des Servers.",
                finished=utcnow(),
            )
        return self._status

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        self._work_dir.mkdir(parents=True, exist_ok=True)
        with (self._work_dir / "retrain.lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RetrainRunning(
                    "Ein anderes Training läuft bereits (Konsole oder Kommandozeile). "
                    "Bitte warten Sie, bis es abgeschlossen ist."
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    async def _steps(self) -> None:
        clock = time.monotonic()
        try:
            overlaid = await self._source() if self._source is not None else None
        except CatalogError as error:
            raise _Failed(f"Die Trainingsdaten konnten nicht erzeugt werden: {error.message}") from None
        files = await asyncio.to_thread(self._generate, overlaid)
        seconds = {"generating": time.monotonic() - clock}
        self._set(
            state=RetrainState.TRAINING,
            progress=10,
            message="Das Sprachmodell wird trainiert. Das dauert einige Minuten; "
            "bis dahin antwortet das bisherige Modell.",
            seconds=dict(seconds),
        )
        clock = time.monotonic()
        model = await self._train()
        seconds["training"] = time.monotonic() - clock
        if "model up to date" not in self._last_line:
            self._expected_training = seconds["training"]
        self._set(model=model.name, progress=85, seconds=dict(seconds))
        clock = time.monotonic()
        swapped, total = await self._swap(model, files)
        seconds["swapping"] = time.monotonic() - clock
        if total:
            message = f"Das neue Sprachmodell antwortet jetzt auf {swapped} von {total} Servern."
        else:
            message = "Das neue Sprachmodell ist trainiert. Es läuft kein Rasa-Server; er lädt es beim Start."
        self._set(
            state=RetrainState.DONE,
            progress=100,
            message=message,
            finished=utcnow(),
            servers_swapped=swapped,
            servers_total=total,
            seconds=dict(seconds),
        )
        if self._on_swapped is not None:
            try:
                await self._on_swapped(model)
            except Exception:
                log.exception("after the swap to %s", model.name)

    # -- 1. generating ------------------------------------------------------------------------------------

    def _generate(self, overlaid: Overlaid | None = None) -> dict[Path, str]:
        """The generated files (relative to the Rasa project) in a fresh work copy of the project; with
        ``overlaid``, from the catalog and phrasings as the editors changed them."""
        try:
            catalog = overlaid.catalog if overlaid is not None else load_catalog(self._catalog_dir)
            project = self._phrases_with(overlaid.phrasings) if overlaid and overlaid.phrasings else None
            generated = generated_files(catalog, project or self._nlu_dir)
        except CatalogError as error:
            raise _Failed(f"Die Trainingsdaten konnten nicht erzeugt werden: {error.message}") from None
        except (ValueError, OSError) as error:
            raise _Failed(f"Die Trainingsdaten konnten nicht erzeugt werden: {error}") from None
        files = {path.relative_to(project or self._nlu_dir): content for path, content in generated.items()}
        work = self._work_dir / "nlu"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        if (self._nlu_dir / "data").is_dir():  # hand-written training files beside the generated ones
            shutil.copytree(self._nlu_dir / "data", work / "data")
        for relative, content in files.items():
            (work / relative).parent.mkdir(parents=True, exist_ok=True)
            (work / relative).write_text(content, encoding="utf-8")
        return files

    def _phrases_with(self, changed: dict[str, tuple[str, ...]]) -> Path:
        """A copy of the project's phrasings with the editors' phrasings in place of the seed's (the
        seed file stays as it is); returns the directory to generate from."""
        source = self._work_dir / "source"
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(self._nlu_dir / "phrases", source / "phrases")
        seed = self._nlu_dir / "phrases" / "services.yml"
        merged = merged_phrasings(load_phrasings(seed), changed)
        text = "# The seed phrasings with the editors' changes (staff console): generated, do not edit.\n"
        text += yaml.safe_dump(merged, allow_unicode=True, sort_keys=False, width=1000)
        (source / "phrases" / "services.yml").write_text(text, encoding="utf-8")
        return source

    # -- 2. training --------------------------------------------------------------------------------------

    async def _train(self) -> Path:
        loop = asyncio.get_running_loop()
        begun = loop.time()

        def on_line(line: str) -> None:  # in the training thread
            loop.call_soon_threadsafe(self._note, line)

        ticker = asyncio.create_task(self._tick(begun))
        try:
            return await asyncio.to_thread(
                lambda: self._trainer(
                    self._config, self._model_dir, self._work_dir / "nlu", on_line
                ).resolve()
            )
        except TrainingFailed as error:
            lines = error.message.splitlines()
            raise _Failed(
                "Das Training ist fehlgeschlagen. Das bisherige Sprachmodell antwortet weiter. "
                f"Letzte Meldung von Rasa: {_last_meaningful(lines)}",
                "\n".join(lines[-LOG_TAIL_LINES:]),
            ) from None
        except RasaEnvMissing as error:
            raise _Failed(
                "Das Training konnte nicht starten, weil die Rasa-Umgebung fehlt. "
                f"Das bisherige Sprachmodell antwortet weiter. ({error.message})"
            ) from None
        finally:
            ticker.cancel()

    def _note(self, line: str) -> None:
        self._last_line = line

    async def _tick(self, begun: float) -> None:
        """Training prints almost nothing while it works: estimate from the last training's duration."""
        loop = asyncio.get_running_loop()
        while True:
            share = min((loop.time() - begun) / self._expected_training, 0.97)
            self._set(progress=max(self._status.progress, 10 + int(share * 74)))
            await asyncio.sleep(0.5)

    # -- 3. swapping --------------------------------------------------------------------------------------

    async def _swap(self, model: Path, files: dict[Path, str]) -> tuple[int, int]:
        previous = self._publish(files)
        members = [m for m in self._pool.members if m.up] if self._pool is not None else []
        if not members:
            return 0, 0
        self._set(
            state=RetrainState.SWAPPING,
            message="Das neue Sprachmodell wird geladen, ein Server nach dem anderen.",
            servers_total=len(members),
        )
        swapped: list[tuple[PoolMember, str | None]] = []
        for index, member in enumerate(members, 1):
            before = await member.client.status()
            old_model = str(before["model_file"]) if before else None
            try:
                if old_model != model.name:
                    assert self._pool is not None
                    await self._pool.replace_model(member, model)
                    after = await member.client.status()
                    if after is None or after.get("model_file") != model.name:
                        raise ModelNotReplaced(f"{member.client.base_url} does not report {model.name}")
            except ModelNotReplaced as error:
                log.error("swap to %s failed on server %d: %s", model.name, index, error)
                await self._roll_back(swapped, previous)
                reason = "der Server lehnt den Schlüssel ab" if error.http_status == 401 else str(error)
                raise _Failed(
                    f"Das neue Sprachmodell konnte auf Server {index} nicht geladen werden ({reason}). "
                    "Alle Server antworten weiter mit dem bisherigen Modell."
                ) from None
            swapped.append((member, old_model))
            self._set(
                servers_swapped=len(swapped),
                progress=85
                + int(15 * len(swapped) / len(members))
                - (1 if len(swapped) < len(members) else 0),
            )
        return len(swapped), len(members)

    def _publish(self, files: dict[Path, str]) -> dict[Path, str | None]:
        """Write the generated files into the Rasa project; return the old contents (None: was missing)."""
        previous: dict[Path, str | None] = {}
        for relative, content in files.items():
            path = self._nlu_dir / relative
            previous[relative] = path.read_text(encoding="utf-8") if path.exists() else None
            if previous[relative] != content:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8")
        return previous

    async def _roll_back(
        self, swapped: list[tuple[PoolMember, str | None]], previous: dict[Path, str | None]
    ) -> None:
        for relative, content in previous.items():
            path = self._nlu_dir / relative
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(content, encoding="utf-8")
        for member, old_model in swapped:
            if old_model is None or not (self._model_dir / old_model).exists():
                continue
            try:
                assert self._pool is not None
                await self._pool.replace_model(member, self._model_dir / old_model)
            except ModelNotReplaced as error:
                log.error("could not put %s back on %s: %s", old_model, member.client.base_url, error)


def _last_meaningful(lines: list[str]) -> str:
    for line in reversed(lines):
        text = line.strip()
        if text and not text.startswith(("Traceback", "File ", "^")):
            return text[-300:]
    return "keine Ausgabe"


# -- koblenz-bot nlu retrain ------------------------------------------------------------------------------


async def _retrain(settings: Settings, args: argparse.Namespace) -> int:
    token = load_or_create_token(settings.rasa_auth_token, settings.state_dir)
    urls = args.url or rasa_urls(settings.rasa_url, settings.rasa_processes)
    async with aiohttp.ClientSession() as session:
        pool = RasaPool([RasaClient(session, url, settings.rasa_timeout, auth_token=token) for url in urls])
        for member in pool.members:
            member.up = await member.client.status() is not None
        running = [m.client.base_url for m in pool.members if m.up]
        print(
            f"[retrain] Rasa-Server: {', '.join(running) if running else 'keiner läuft, nur Training'}",
            file=sys.stderr,
        )
        job = RetrainJob(
            catalog_dir=settings.catalog_dir,
            config=Path(args.config) if args.config else settings.rasa_config,
            model_dir=settings.model_dir,
            work_dir=settings.state_dir / "retrain",
            pool=pool if running else None,
            nlu_dir=Path(args.nlu_dir) if args.nlu_dir else NLU_DIR,
            source=lambda: _edited(settings, Path(args.nlu_dir) if args.nlu_dir else NLU_DIR),
        )
        task = job.start()
        shown = (RetrainState.IDLE, -1)
        while not task.done():
            status = job.status
            if (status.state, status.progress // 10) != shown:
                shown = (status.state, status.progress // 10)
                print(
                    f"[retrain] {status.state.value} {status.progress:3d} %  {status.message}",
                    file=sys.stderr,
                )
            await asyncio.sleep(0.5)
        status = await task
    if status.log_tail:
        print(status.log_tail, file=sys.stderr)
    print(json.dumps(status.as_dict(), ensure_ascii=False) if args.json else status.message)
    return 0 if status.state is RetrainState.DONE else 1


async def _edited(settings: Settings, nlu_dir: Path) -> Overlaid:
    """The catalog on disk with the editors' revisions from the configured database (if it has them)."""
    overlaid, _read = await current_from_settings(settings, nlu_dir / "phrases" / "services.yml")
    return overlaid


def cmd_retrain(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_retrain(settings, args))


def register(nlu: Any) -> None:
    """Add ``koblenz-bot nlu retrain`` (``nlu`` is the ``nlu`` group's subparsers)."""
    retrain = nlu.add_parser(
        "retrain",
        help="generate, train and swap the new model into the running Rasa servers one at a time "
        "(only trains when none runs)",
    )
    retrain.add_argument(
        "--url", action="append", help="a running Rasa server (repeatable; default: the configured ones)"
    )
    retrain.add_argument("--config", help="pipeline config (default: KOBLENZ_BOT_RASA_CONFIG)")
    retrain.add_argument(
        "--nlu-dir", help="the Rasa project to regenerate (default: nlu/; benchmarks use a copy)"
    )
    retrain.add_argument("--json", action="store_true", help="print the final status as JSON")
    retrain.set_defaults(func=cmd_retrain)
