"""The Rasa servers' API token: generated once, private, sent on every call, required by the real server."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from core.net import free_port
from core.paths import PROJECT_ROOT
from nlu import RasaUnavailable, rasa_env
from nlu.auth import load_or_create_token, token_path
from nlu.client import ModelNotReplaced, RasaClient, RasaPool
from nlu.server import RasaSupervisor
from tests.fakes.rasa_models import ModelRasa


def test_the_token_is_generated_once_and_readable_by_the_owner_only(tmp_path: Path) -> None:
    first = load_or_create_token(SecretStr(""), tmp_path / "state")
    again = load_or_create_token(SecretStr(""), tmp_path / "state")
    path = token_path(tmp_path / "state")
    assert first.get_secret_value() == again.get_secret_value() == path.read_text()
    assert len(first.get_secret_value()) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.get_secret_value() not in repr(first) and first.get_secret_value() not in str(first)


def test_a_configured_token_wins_and_a_readable_file_is_narrowed(tmp_path: Path) -> None:
    assert load_or_create_token(SecretStr("from-settings"), tmp_path).get_secret_value() == "from-settings"
    assert not token_path(tmp_path).exists()
    token_path(tmp_path).write_text("kept\n")
    token_path(tmp_path).chmod(0o644)
    assert load_or_create_token(SecretStr(""), tmp_path).get_secret_value() == "kept"
    assert stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600


def test_the_token_reaches_rasa_through_its_environment_not_its_command_line(tmp_path: Path) -> None:
    token = SecretStr("s3cret-token-value")
    command = rasa_env.server_command(tmp_path / "model.tar.gz", "127.0.0.1", 5005, auth=True)
    assert "s3cret-token-value" not in " ".join(command)
    assert "--enable-api" in command
    assert rasa_env.rasa_environ(token)[rasa_env.AUTH_TOKEN_ENV] == "s3cret-token-value"
    assert rasa_env.AUTH_TOKEN_ENV not in rasa_env.rasa_environ()  # training never gets it


async def test_the_client_sends_the_token_on_every_call(tmp_path: Path) -> None:
    fake = ModelRasa(token="right")
    await fake.start()
    try:
        async with aiohttp.ClientSession() as session:
            good = RasaClient(session, fake.url, auth_token=SecretStr("right"))
            assert (await good.status()) is not None
            assert (await good.parse("hallo")).intent == "out_of_scope"
            await good.replace_model(tmp_path / "new.tar.gz")
            assert fake.model_file == "new.tar.gz"
            assert fake.unauthorized == 0
            bad = RasaClient(session, fake.url, auth_token=SecretStr("wrong"))
            assert await bad.status() is None
            with pytest.raises(RasaUnavailable):
                await bad.parse("hallo")
            with pytest.raises(ModelNotReplaced) as refused:
                await RasaClient(session, fake.url).replace_model(tmp_path / "other.tar.gz")
            assert refused.value.http_status == 401
            assert fake.model_file == "new.tar.gz"
    finally:
        await fake.stop()


@pytest.mark.rasa
async def test_real_rasa_refuses_model_replacement_without_the_token(tmp_path: Path) -> None:
    """The supervisor starts Rasa with the token; PUT /model without it is 401, with it the model changes."""
    config, model_dir = PROJECT_ROOT / "nlu" / "config.yml", PROJECT_ROOT / "nlu" / "models"
    model = rasa_env.train(config, model_dir)  # cached: the model of the committed training data
    other = tmp_path / "nlu-replacement.tar.gz"
    shutil.copyfile(model, other)
    token = load_or_create_token(SecretStr(""), tmp_path / "state")
    url = f"http://127.0.0.1:{free_port()}"
    async with aiohttp.ClientSession() as session:
        client = RasaClient(session, url, timeout=30, auth_token=token)
        supervisor = RasaSupervisor(RasaPool([client]), config, model_dir, tmp_path / "rasa.log", 240, token)
        await supervisor.start()
        try:
            assert await supervisor.wait_ready(240), (tmp_path / "rasa.log").read_text()[-3000:]
            async with session.put(f"{url}/model", json={"model_file": str(other)}) as response:
                assert response.status == 401
            async with session.post(f"{url}/model/parse", json={"text": "Reisepass"}) as response:
                assert response.status == 401  # with auth on, parsing needs the token too
            assert (await client.status() or {})["model_file"] == model.name
            await client.replace_model(other)
            assert (await client.status() or {})["model_file"] == other.name
            assert (await client.parse("Was kostet ein Reisepass?")).intent == "service_reisepass"
            log = (tmp_path / "rasa.log").read_text()
            assert token.get_secret_value() not in log
        finally:
            await supervisor.stop()


def test_a_token_that_starts_like_an_option_still_reaches_rasa() -> None:
    """``rasa run`` parses its options with argparse: a configured token such as "-abc" must be passed as
    ``--auth-token=-abc`` (a generated one is hex and never starts with "-")."""
    import subprocess
    import sys

    from nlu.rasa_env import _RASA_WITH_TOKEN

    probe = _RASA_WITH_TOKEN.replace(
        "from rasa.__main__ import main\nsys.exit(main())", "print(sys.argv[-1])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, "run"],
        env={"KOBLENZ_RASA_AUTH_TOKEN": "-starts-with-a-dash"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "--auth-token=-starts-with-a-dash"
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("-t", "--auth-token")
    assert parser.parse_args([out.strip()]).auth_token == "-starts-with-a-dash"
