"""“Neu trainieren”: generate, train in the background, swap one server at a time while answers continue."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
import yaml
from pydantic import SecretStr

from bot.chat import ChatService
from bot.dialogue import Dialogue
from bot.search import CatalogSearch
from catalog.model import load_catalog
from core.alerts import StaticAlerts
from core.net import free_port
from core.paths import PROJECT_ROOT
from nlu import RasaUnavailable, TrainingFailed, rasa_env
from nlu.client import RasaClient, RasaPool
from nlu.retrain import RetrainJob, RetrainRunning, RetrainState
from tests.fakes.rasa_models import ModelRasa

TOKEN = SecretStr("test-token")


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the catalog and of the Rasa project's inputs: the job writes into nlu/, not the repo's."""
    catalog_dir = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "data", catalog_dir)
    nlu_dir = tmp_path / "nlu"
    for name in ("phrases", "data"):
        shutil.copytree(PROJECT_ROOT / "nlu" / name, nlu_dir / name)
    shutil.copyfile(PROJECT_ROOT / "nlu" / "domain.yml", nlu_dir / "domain.yml")
    return catalog_dir, nlu_dir


def add_synonym(catalog_dir: Path, synonym: str) -> None:
    """An editor's change: another spelling of the first Stadtteil (it goes into the lookup table)."""
    path = catalog_dir / "stadtteile.yaml"
    parts = yaml.safe_load(path.read_text(encoding="utf-8"))
    parts[0].setdefault("synonyms", []).append(synonym)
    path.write_text(yaml.safe_dump(parts, allow_unicode=True), encoding="utf-8")


class FakeTrainer:
    """Writes a model named after the training data, like rasa_env.train; can fail like Rasa does."""

    def __init__(self, seconds: float = 0.2, fail: bool = False) -> None:
        self.seconds, self.fail, self.trained_from = seconds, fail, []  # type: ignore[var-annotated]

    def __call__(self, config: Path, model_dir: Path, nlu_dir: Path, progress: Callable[[str], None]) -> Path:
        self.trained_from.append(nlu_dir)
        progress("Starting to train component 'FastLogisticRegressionClassifier'.")
        time.sleep(self.seconds)
        if self.fail:
            raise TrainingFailed(
                "rasa train nlu failed (1):\nTraceback (most recent call last):\n"
                "  File rasa/engine/training.py\nInvalidConfigException: intent 'service_x' has no examples\n"
            )
        target = rasa_env.model_path(PROJECT_ROOT / "nlu" / "config.yml", model_dir, nlu_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"model")
        return target


@pytest.fixture
async def servers() -> AsyncIterator[list[ModelRasa]]:
    fakes = [ModelRasa(token="test-token", load_seconds=0.4) for _ in range(2)]
    for fake in fakes:
        await fake.start()
        fake.teach("Was kostet ein Reisepass?", "service_reisepass")
    yield fakes
    for fake in fakes:
        await fake.stop()


def job_for(
    tmp_path: Path, project: tuple[Path, Path], pool: RasaPool | None, trainer: FakeTrainer
) -> RetrainJob:
    catalog_dir, nlu_dir = project
    return RetrainJob(
        catalog_dir=catalog_dir,
        config=PROJECT_ROOT / "nlu" / "config.yml",
        model_dir=tmp_path / "models",
        work_dir=tmp_path / "state" / "retrain",
        pool=pool,
        nlu_dir=nlu_dir,
        trainer=trainer,
    )


async def steady_parses(
    pool: RasaPool, stop: asyncio.Event, failures: list[str], answered: list[int]
) -> None:
    while not stop.is_set():
        try:
            await pool.parse("Was kostet ein Reisepass?")
            answered.append(1)
        except RasaUnavailable as error:
            failures.append(str(error))
        await asyncio.sleep(0.01)


async def test_retrain_swaps_one_server_at_a_time_and_answers_never_stop(
    tmp_path: Path, project: tuple[Path, Path], servers: list[ModelRasa]
) -> None:
    catalog_dir, nlu_dir = project
    add_synonym(catalog_dir, "Weltenbummlerviertel")
    old_nlu = (nlu_dir / "data" / "stadtteile.yml").read_text(encoding="utf-8")
    trainer = FakeTrainer()
    async with aiohttp.ClientSession() as session:
        pool = RasaPool([RasaClient(session, fake.url, auth_token=TOKEN) for fake in servers])
        job = job_for(tmp_path, project, pool, trainer)
        stop, failures, answered = asyncio.Event(), [], []  # type: ignore[var-annotated]
        load = asyncio.create_task(steady_parses(pool, stop, failures, answered))
        seen_states, both_swapping = set(), False
        task = job.start()
        with pytest.raises(RetrainRunning):
            job.start()
        while not task.done():
            seen_states.add(job.status.state)
            both_swapping |= all(member.swapping for member in pool.members)
            await asyncio.sleep(0.005)
        stop.set()
        await load
    status = task.result()
    assert status.state is RetrainState.DONE, status.message
    assert status.progress == 100 and status.servers_swapped == status.servers_total == 2
    assert status.started and status.finished and status.started <= status.finished
    assert {RetrainState.TRAINING, RetrainState.SWAPPING} <= seen_states
    assert "2 von 2 Servern" in status.message
    assert [fake.model_file for fake in servers] == [status.model] * 2
    assert not both_swapping
    assert failures == [] and len(answered) > 20
    assert sum(fake.parses_during_load for fake in servers) == 0  # none waited for a loading server
    new_nlu = (nlu_dir / "data" / "stadtteile.yml").read_text(encoding="utf-8")
    assert new_nlu != old_nlu and "Weltenbummler" in new_nlu  # nlu/ follows, so restarts load the new model
    assert trainer.trained_from == [tmp_path / "state" / "retrain" / "nlu"]
    assert status.as_dict()["state"] == "done" and "log_tail" not in status.as_dict()


async def test_a_failed_training_leaves_the_old_model_serving_and_says_why(
    tmp_path: Path, project: tuple[Path, Path], servers: list[ModelRasa]
) -> None:
    catalog_dir, nlu_dir = project
    add_synonym(catalog_dir, "Weltenbummlerviertel")
    before = (nlu_dir / "data" / "stadtteile.yml").read_text(encoding="utf-8")
    async with aiohttp.ClientSession() as session:
        pool = RasaPool([RasaClient(session, fake.url, auth_token=TOKEN) for fake in servers])
        status = await job_for(tmp_path, project, pool, FakeTrainer(fail=True)).run()
        assert (await pool.parse("Was kostet ein Reisepass?")).intent == "service_reisepass"
    assert status.state is RetrainState.FAILED and status.finished is not None
    assert "Das Training ist fehlgeschlagen" in status.message
    assert "bisherige Sprachmodell antwortet weiter" in status.message
    assert "InvalidConfigException" in status.message
    assert status.log_tail and "Traceback" in status.log_tail
    assert [fake.swaps for fake in servers] == [[], []]
    assert [fake.model_file for fake in servers] == ["old-model.tar.gz"] * 2
    assert (nlu_dir / "data" / "stadtteile.yml").read_text(encoding="utf-8") == before


async def test_a_refused_swap_puts_every_server_back_on_the_old_model(
    tmp_path: Path, project: tuple[Path, Path], servers: list[ModelRasa]
) -> None:
    catalog_dir, nlu_dir = project
    add_synonym(catalog_dir, "Weltenbummlerviertel")
    before = (nlu_dir / "data" / "stadtteile.yml").read_text(encoding="utf-8")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "old-model.tar.gz").write_bytes(b"old")
    servers[1].refuse_models = True
    async with aiohttp.ClientSession() as session:
        pool = RasaPool([RasaClient(session, fake.url, auth_token=TOKEN) for fake in servers])
        status = await job_for(tmp_path, project, pool, FakeTrainer()).run()
    assert status.state is RetrainState.FAILED
    assert "auf Server 2 nicht geladen" in status.message and "bisherigen Modell" in status.message
    assert servers[0].swaps[-1].endswith("old-model.tar.gz")  # rolled back
    assert [fake.model_file for fake in servers] == ["old-model.tar.gz"] * 2
    assert (nlu_dir / "data" / "stadtteile.yml").read_text(encoding="utf-8") == before


async def test_with_a_single_server_answers_come_from_the_catalog_during_its_swap(
    tmp_path: Path, project: tuple[Path, Path], servers: list[ModelRasa]
) -> None:
    catalog = load_catalog(project[0])
    servers[0].load_seconds = 1.0
    async with aiohttp.ClientSession() as session:
        pool = RasaPool([RasaClient(session, servers[0].url, timeout=1.0, auth_token=TOKEN)])
        chat = ChatService(Dialogue(catalog, CatalogSearch(catalog), pool, StaticAlerts()), None, "key")
        swap = asyncio.create_task(pool.replace_model(pool.members[0], tmp_path / "new.tar.gz"))
        await asyncio.sleep(0.1)
        begun = time.monotonic()
        result = await chat.chat("test", "citizen", "Was kostet ein Reisepass?")
        took = time.monotonic() - begun
        await swap
        after = await chat.chat("test", "citizen-2", "Was kostet ein Reisepass?")
    assert took < 0.5, "the citizen does not wait for the model to load"
    assert result.reply.service_id == "reisepass"  # found by the catalog search
    assert any("Katalog" in notice for notice in result.reply.notices)
    assert servers[0].parses_during_load == 0
    assert after.reply.service_id == "reisepass" and not after.reply.notices


async def test_a_bad_catalog_fails_at_generating_and_names_the_record(
    tmp_path: Path, project: tuple[Path, Path]
) -> None:
    catalog_dir, _ = project
    path = catalog_dir / "services" / "reisepass.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("summary:", "summary_typo:"), encoding="utf-8")
    trainer = FakeTrainer()
    status = await job_for(tmp_path, project, None, trainer).run()
    assert status.state is RetrainState.FAILED
    assert status.message.startswith("Die Trainingsdaten konnten nicht erzeugt werden")
    assert "reisepass.yaml" in status.message and trainer.trained_from == []


def test_cli_retrain_only_trains_when_no_server_runs(
    tmp_path: Path,
    project: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.cli import main

    catalog_dir, nlu_dir = project
    monkeypatch.setenv("KOBLENZ_BOT_CATALOG_DIR", str(catalog_dir))
    monkeypatch.setenv("KOBLENZ_BOT_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("KOBLENZ_BOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("nlu.retrain._default_trainer", FakeTrainer())
    code = main(
        ["nlu", "retrain", "--url", f"http://127.0.0.1:{free_port()}", "--nlu-dir", str(nlu_dir), "--json"]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    assert result["state"] == "done" and result["servers_total"] == 0
    assert (tmp_path / "models" / result["model"]).exists()


@pytest.mark.rasa
async def test_real_rasa_takes_the_retrained_model_through_the_token(
    tmp_path: Path, project: tuple[Path, Path]
) -> None:
    """Real generation, real training (cached by input hash) and a real PUT /model with the token."""
    config, model_dir = PROJECT_ROOT / "nlu" / "config.yml", PROJECT_ROOT / "nlu" / "models"
    current = rasa_env.train(config, model_dir)  # the committed data's model: what the job will produce
    start_model = tmp_path / "nlu-before.tar.gz"
    shutil.copyfile(current, start_model)
    port = free_port()
    log_path = tmp_path / "rasa.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            rasa_env.server_command(start_model, "127.0.0.1", port, auth=True),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=rasa_env.rasa_environ(TOKEN),
            cwd=tmp_path,
        )
    try:
        async with aiohttp.ClientSession() as session:
            client = RasaClient(session, f"http://127.0.0.1:{port}", timeout=2.0, auth_token=TOKEN)
            deadline = time.monotonic() + 240
            while await client.status() is None:
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                await asyncio.sleep(0.5)
            pool = RasaPool([client])
            job = RetrainJob(
                catalog_dir=project[0],
                config=config,
                model_dir=model_dir,
                work_dir=tmp_path / "state" / "retrain",
                pool=pool,
                nlu_dir=project[1],
            )
            status = await job.run()
            assert status.state is RetrainState.DONE, (status.message, status.log_tail)
            # the committed nlu/data's model (a cache hit) unless data/ has changes not yet generated
            assert status.model and status.servers_swapped == 1
            assert (await client.status() or {})["model_file"] == status.model != start_model.name
            assert (await pool.parse("Was kostet ein Reisepass?")).intent == "service_reisepass"
    finally:
        process.terminate()
        process.wait(30)
