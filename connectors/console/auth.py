"""Who may use the console: users (argon2id hashes), server-side sessions, CSRF tokens, sign-in throttling.

- Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106); hashing runs in a thread.
  An unknown name is checked against a dummy hash, so the answer takes as long as for a known one.
- A session is a random token in an HttpOnly, SameSite=Strict cookie (Secure outside localhost); the
  database keeps only its SHA-256. It ends after ``console_idle_minutes`` without a page view or action,
  when the user is disabled, or when the password changes.
- The CSRF token of a session is derived from the session token (HMAC), so it needs no storage; it
  travels in a hidden form field. The sign-in form, before any session, uses a double-submit cookie.
- Throttling: after ``MAX_FAILURES`` failed sign-ins for one account *or* from one address within
  ``WINDOW``, further attempts for that account or from that address are refused until the oldest of
  those failures is older than the window. Counted per account and per address, never one global lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors import ConnectorError
from connectors.console.models import ROLES, ConsoleSession, ConsoleUser, LoginAttempt
from core.time import utcnow

MAX_FAILURES = 5
WINDOW = dt.timedelta(minutes=15)
PASSWORD_MIN = 10
PASSWORD_MAX = 1024
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()  # argon2id


class ConsoleError(ConnectorError):
    """Root of the console's own errors (German message, HTTP status)."""


class UserError(ConsoleError):
    status = 422
    code = "invalid_user"


class Throttled(ConsoleError):
    status = 429
    code = "throttled"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    disabled: bool
    created_at: dt.datetime
    password_changed_at: dt.datetime


def _user(row: ConsoleUser) -> User:
    return User(row.id, row.name, row.role, row.disabled, row.created_at, row.password_changed_at)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(
            "Der Benutzername muss 2 bis 64 Zeichen lang sein: Kleinbuchstaben a–z, Ziffern, Punkt, "
            "Bindestrich oder Unterstrich, am Anfang ein Buchstabe oder eine Ziffer."
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"Unbekannte Rolle „{role}“. Möglich sind: {', '.join(ROLES)}.")
    return role


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise UserError(f"Das Passwort muss mindestens {PASSWORD_MIN} Zeichen lang sein.")
    if len(password) > PASSWORD_MAX:
        raise UserError(f"Das Passwort darf höchstens {PASSWORD_MAX} Zeichen lang sein.")
    if password != password.strip() and not password.strip():
        raise UserError("Das Passwort darf nicht nur aus Leerzeichen bestehen.")
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


# -- users (the CLI and the admin page) ---------------------------------------------------------------


async def add_user(sessions: async_sessionmaker[AsyncSession], name: str, role: str, password: str) -> User:
    name, role = check_name(name), check_role(role)
    password_hash = await hash_password(check_password(password))
    try:
        async with sessions.begin() as session:
            row = ConsoleUser(name=name, role=role, password_hash=password_hash, disabled=False)
            session.add(row)
            await session.flush()
            return _user(row)
    except IntegrityError:
        raise UserError(f"Es gibt bereits einen Benutzer „{name}“.", status=409, code="exists") from None


async def list_users(sessions: async_sessionmaker[AsyncSession]) -> list[User]:
    async with sessions() as session:
        rows = (await session.scalars(select(ConsoleUser).order_by(ConsoleUser.name))).all()
    return [_user(r) for r in rows]


async def get_user(sessions: async_sessionmaker[AsyncSession], name: str) -> User:
    async with sessions() as session:
        row = await session.scalar(select(ConsoleUser).where(ConsoleUser.name == name.strip().lower()))
    if row is None:
        raise UserError(f"Es gibt keinen Benutzer „{name}“.", status=404, code="not_found")
    return _user(row)


async def disable_user(sessions: async_sessionmaker[AsyncSession], name: str) -> User:
    """Disable the account and end all its sessions at once."""
    async with sessions.begin() as session:
        row = await session.scalar(select(ConsoleUser).where(ConsoleUser.name == name.strip().lower()))
        if row is None:
            raise UserError(f"Es gibt keinen Benutzer „{name}“.", status=404, code="not_found")
        row.disabled = True
        await session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == row.id))
        return _user(row)


async def reset_password(sessions: async_sessionmaker[AsyncSession], name: str, password: str) -> User:
    """A new password (and the account enabled again); every session of the user ends."""
    password_hash = await hash_password(check_password(password))
    async with sessions.begin() as session:
        row = await session.scalar(select(ConsoleUser).where(ConsoleUser.name == name.strip().lower()))
        if row is None:
            raise UserError(f"Es gibt keinen Benutzer „{name}“.", status=404, code="not_found")
        row.password_hash, row.password_changed_at, row.disabled = password_hash, utcnow(), False
        await session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == row.id))
        return _user(row)


# -- sign-in ------------------------------------------------------------------------------------------


def _retry_text(seconds: float) -> str:
    minutes = max(1, int(seconds // 60) + (1 if seconds % 60 else 0))
    return "einer Minute" if minutes == 1 else f"{minutes} Minuten"


async def throttle_wait(session: AsyncSession, name: str, address: str, now: dt.datetime) -> float:
    """Seconds until sign-in may be tried again for this account or from this address (0: now)."""
    since = now - WINDOW
    wait = 0.0
    for column, value in ((LoginAttempt.name, name), (LoginAttempt.address, address)):
        failures = list(
            (
                await session.scalars(
                    select(LoginAttempt.at)
                    .where(column == value, LoginAttempt.success.is_(False), LoginAttempt.at > since)
                    .order_by(LoginAttempt.at.desc())
                    .limit(MAX_FAILURES)
                )
            ).all()
        )
        if len(failures) >= MAX_FAILURES:
            wait = max(wait, (failures[-1] + WINDOW - now).total_seconds())
    return wait


async def sign_in(
    sessions: async_sessionmaker[AsyncSession], name: str, password: str, address: str
) -> User | None:
    """The user when name and password match an enabled account; None otherwise (the caller says only
    "wrong name or password"). Raises ``Throttled`` with the German text when too many attempts failed."""
    typed = name.strip().lower()[:64]
    now = utcnow()
    async with sessions() as session:
        wait = await throttle_wait(session, typed, address[:64], now)
        row = await session.scalar(select(ConsoleUser).where(ConsoleUser.name == typed)) if typed else None
    if wait > 0:
        raise Throttled(
            "Zu viele fehlgeschlagene Anmeldeversuche. Aus Sicherheitsgründen ist die Anmeldung für "
            f"dieses Konto oder von diesem Gerät für {_retry_text(wait)} gesperrt. Bitte warten Sie und "
            "versuchen Sie es dann erneut, oder wenden Sie sich an die Administration.",
            retry_after=int(wait) + 1,
        )
    ok = await _verify(row.password_hash if row is not None else _dummy_hash(), password[:PASSWORD_MAX])
    ok = ok and row is not None and not row.disabled
    async with sessions.begin() as session:
        session.add(LoginAttempt(at=now, name=typed, address=address[:64], success=ok))
        await session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - dt.timedelta(days=30)))
    if not ok or row is None:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        new_hash = await hash_password(password)
        async with sessions.begin() as session:
            fresh = await session.get(ConsoleUser, row.id)
            if fresh is not None:
                fresh.password_hash = new_hash
    return _user(row)


# -- sessions -----------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(token: str) -> str:
    """The CSRF token of a session (or of the sign-in cookie): derived, never stored."""
    return hmac.new(token.encode(), b"koblenz-console-csrf", hashlib.sha256).hexdigest()[:43]


def csrf_ok(token: str | None, sent: str | None) -> bool:
    return bool(token) and bool(sent) and hmac.compare_digest(csrf_for(token or ""), sent or "")


async def start_session(sessions: async_sessionmaker[AsyncSession], user: User) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    async with sessions.begin() as session:
        session.add(
            ConsoleSession(token_hash=token_hash(token), user_id=user.id, created_at=now, last_seen_at=now)
        )
    return token


@dataclass(frozen=True)
class Current:
    user: User
    token: str


async def current(
    sessions: async_sessionmaker[AsyncSession], token: str | None, idle: dt.timedelta, touch: bool
) -> tuple[Current | None, bool]:
    """(the signed-in user, whether a session ran out): ``touch`` counts this request as activity."""
    if not token:
        return None, False
    now = utcnow()
    async with sessions.begin() as session:
        row = await session.scalar(
            select(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token))
        )
        if row is None:
            return None, False
        user = await session.get(ConsoleUser, row.user_id)
        expired = row.last_seen_at + idle < now
        if user is None or user.disabled or expired or user.password_changed_at > row.created_at:
            await session.delete(row)
            return None, expired
        if touch:
            row.last_seen_at = now
        return Current(_user(user), token), False


async def end_session(sessions: async_sessionmaker[AsyncSession], token: str) -> None:
    async with sessions.begin() as session:
        await session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token)))


async def purge_sessions(sessions: async_sessionmaker[AsyncSession], idle: dt.timedelta) -> int:
    async with sessions.begin() as session:
        result = await session.execute(
            delete(ConsoleSession).where(ConsoleSession.last_seen_at < utcnow() - idle)
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def count_users(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(ConsoleUser)) or 0)
