"""The token of the Rasa servers' HTTP API.

Rasa runs with ``--enable-api``, which lets whoever reaches the port replace the model (``PUT /model``),
train (``POST /model/train``) and read the domain. With ``--auth-token`` every endpoint but ``/`` and
``/version`` requires ``?token=...`` (rasa/server.py ``requires_auth``; Rasa's HTTP API docs), so the bot
starts its servers with a token it generates once and keeps in ``state_dir`` like its pseudonym key
(readable by the owner only), and sends it with every call (``nlu.client.RasaClient``).

The token reaches Rasa through the environment of the server process, not its argument list: a process's
arguments are readable by every local user (``/proc/<pid>/cmdline``, ``ps``), its environment only by its
owner. ``rasa_env.server_command`` hands it to ``rasa run --auth-token`` inside the process.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from pathlib import Path

from pydantic import SecretStr

TOKEN_FILE = "rasa-auth.token"


def token_path(state_dir: Path) -> Path:
    return state_dir / TOKEN_FILE


def load_or_create_token(configured: SecretStr, state_dir: Path) -> SecretStr:
    """The configured token (``RASA_AUTH_TOKEN``), or the one generated once into ``state_dir``.

    The file is created with mode 0600 in one step (no moment in which others could read it); a file that
    others can read is narrowed to 0600. Two processes starting at once get the same token."""
    if configured.get_secret_value():
        return configured
    path = token_path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(32)  # never starts with '-' (a command-line option to argparse)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return SecretStr(_read(path))
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token)
    return SecretStr(token)


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        with contextlib.suppress(OSError):  # not ours to change: still usable
            path.chmod(0o600)
    for _ in range(50):  # another process created it a moment ago and is writing it
        token = path.read_text().strip()
        if token:
            return token
        time.sleep(0.01)
    raise OSError(f"{path} is empty; delete it and start again")
