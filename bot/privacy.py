"""Privacy by design: pseudonymous ids and redaction of personal data before anything is stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path

from pydantic import SecretStr

_REDACTIONS = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[E-Mail entfernt]"),
    (re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b"), "[IBAN entfernt]"),
    (re.compile(r"(?<![\w])(?:\+|00)?\d[\d /-]{6,}\d"), "[Nummer entfernt]"),
)


def redact(text: str) -> str:
    """Remove e-mail addresses, IBANs and phone-like numbers from text that will be stored."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def pseudonym(key: str, channel: str, external_id: str) -> str:
    """A stable pseudonym for a channel's user or session id; the id itself is never stored."""
    return hmac.new(key.encode(), f"{channel}:{external_id}".encode(), hashlib.sha256).hexdigest()[:32]


def load_or_create_key(configured: SecretStr, state_dir: Path) -> str:
    """The configured key, or one generated once into state_dir (git-ignored, readable by the owner only).

    The one place the configured ``PSEUDONYM_KEY`` leaves its ``SecretStr``: the key is for the HMAC."""
    if configured.get_secret_value():
        return configured.get_secret_value()
    path = state_dir / "pseudonym.key"
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.touch(mode=0o600)
    path.write_text(key)
    return key
