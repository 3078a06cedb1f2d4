"""The Rasa side: locate ``.venv-rasa``, train models (cached by a hash of their inputs), start servers.

Rasa OSS 3.6 lives in its own Python 3.10 venv because its pins (SQLAlchemy 1.4, aiohttp 3.9, pydantic 1,
TensorFlow 2.12) clash with the app. Everything here runs the ``rasa`` executable as a subprocess.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from core.paths import PROJECT_ROOT
from nlu import NLU_DIR, RasaEnvMissing, TrainingFailed

RASA_VENV = PROJECT_ROOT / ".venv-rasa"
TRAINING_INPUTS = ("domain.yml", "data")
COMPONENTS = NLU_DIR / "koblenz_components.py"  # custom Rasa components, part of every model
AUTH_TOKEN_ENV = "KOBLENZ_RASA_AUTH_TOKEN"  # how a server started with auth=True gets its token


def rasa_executable() -> Path:
    exe = Path(os.environ.get("KOBLENZ_BOT_RASA_VENV", RASA_VENV)) / "bin" / "rasa"
    if not exe.exists():
        raise RasaEnvMissing(
            f"{exe} not found. Run `make .venv-rasa` (needs Python 3.10: on these machines "
            "`PYENV_VERSION=3.10.13 python3.10`, elsewhere install python3.10 or run `uv python install 3.10`)."
        )
    return exe


def rasa_environ(auth_token: SecretStr | None = None) -> dict[str, str]:
    """The environment of Rasa processes; with ``auth_token`` for a server started with ``auth=True``."""
    env = dict(os.environ)
    env.pop(AUTH_TOKEN_ENV, None)
    if auth_token is not None:
        env[AUTH_TOKEN_ENV] = auth_token.get_secret_value()
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        PYTHONWARNINGS="ignore",
    )
    # our custom components (nlu/koblenz_components.py), whatever the working directory
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(NLU_DIR), env.get("PYTHONPATH", "")) if p)
    return env


def inputs_hash(config: Path, nlu_dir: Path = NLU_DIR) -> str:
    """A hash over the pipeline config, the domain, every training file and our components."""
    digest = hashlib.sha256()
    files = [config, COMPONENTS]
    for name in TRAINING_INPUTS:
        path = nlu_dir / name
        files += sorted(path.rglob("*.yml")) if path.is_dir() else [path]
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(b"rasa==3.6.21")
    return digest.hexdigest()[:16]


def model_path(config: Path, model_dir: Path, nlu_dir: Path = NLU_DIR) -> Path:
    return model_dir / f"nlu-{config.stem}-{inputs_hash(config, nlu_dir)}.tar.gz"


def train(
    config: Path,
    model_dir: Path,
    nlu_dir: Path = NLU_DIR,
    progress: Callable[[str], None] | None = None,
    force: bool = False,
) -> Path:
    """Train an NLU model unless one for exactly these inputs exists; return its path."""
    target = model_path(config, model_dir, nlu_dir)
    if target.exists() and not force:
        if progress:
            progress(f"model up to date: {target.name}")
        return target
    model_dir.mkdir(parents=True, exist_ok=True)
    work_dir = PROJECT_ROOT / "var" / "rasa"
    work_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(rasa_executable()), "train", "nlu",
        "--config", str(config.resolve()),
        "--domain", str((nlu_dir / "domain.yml").resolve()),
        "--nlu", str((nlu_dir / "data").resolve()),
        "--out", str(model_dir.resolve()),
        "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]  # fmt: skip
    if progress:
        progress(f"training {target.name} with {config.name} (this takes a minute or two)")
    output: list[str] = []
    with subprocess.Popen(
        command, cwd=work_dir, env=rasa_environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if progress and ("Epochs:" in line or "Finished training" in line or "Starting to train" in line):
                progress(line.rstrip()[-160:])
    if process.returncode != 0 or not target.exists():
        raise TrainingFailed(f"rasa train nlu failed ({process.returncode}):\n{''.join(output[-40:])}")
    return target


# ``rasa run`` with ``--auth-token`` added inside the process from the environment (nlu.auth: the token is
# kept out of the process list, which every local user can read). Without a token it refuses to start.
_RASA_WITH_TOKEN = f"""
import os, sys
token = os.environ.pop({AUTH_TOKEN_ENV!r}, "")
if not token:
    sys.exit("no Rasa auth token in the environment: refusing to run the HTTP API without one")
sys.argv = ["rasa", *sys.argv[1:], "--auth-token=" + token]  # "=": a token may start with "-"
from rasa.__main__ import main
sys.exit(main())
"""


def server_command(model: Path, host: str, port: int, auth: bool = False) -> list[str]:
    """``rasa run --enable-api`` for ``model``; with ``auth`` the server requires the token that
    ``rasa_environ(auth_token)`` puts into its environment for every endpoint (parse, status, PUT /model)."""
    args = [
        "run", "--enable-api",
        "--model", str(model.resolve()),
        "--interface", host, "--port", str(port),
        "--response-timeout", "30",
    ]  # fmt: skip
    if not auth:
        return [str(rasa_executable()), *args]
    return [str(rasa_executable().with_name("python3")), "-c", _RASA_WITH_TOKEN, *args]


def print_progress(line: str) -> None:
    print(f"[nlu] {line}", file=sys.stderr, flush=True)
