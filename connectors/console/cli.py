"""``koblenz-bot users``: the staff console's accounts.

    koblenz-bot users add NAME --role redaktion|feuerwehr|admin [--password-stdin]
    koblenz-bot users list
    koblenz-bot users disable NAME
    koblenz-bot users reset-password NAME [--password-stdin]

The password is asked for twice at a prompt (not echoed), or read from standard input with
``--password-stdin`` (all of it; one trailing newline is dropped). Works on a database migrated with
``koblenz-bot db upgrade``, before or while the server runs; nothing is seeded. Changes are audited."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
import sys
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import connectors.console.auth as auth
from broadcasts.models import AuditLog
from broadcasts.states import AuditOutcome
from connectors.console.models import ROLES
from core.db import create_engine, sessionmaker
from core.settings import Settings

ROLE_NAMES = {"redaktion": "Redaktion", "feuerwehr": "Feuerwehr", "admin": "Administration"}


def read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        data = sys.stdin.read()
        if data.endswith("\r\n"):
            data = data[:-2]
        elif data.endswith("\n"):
            data = data[:-1]
        return data
    first = getpass.getpass("Passwort: ")
    second = getpass.getpass("Passwort wiederholen: ")
    if first != second:
        raise auth.UserError("Die beiden Eingaben stimmen nicht überein.")
    return first


async def _tables_ready(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        return bool(await connection.run_sync(lambda c: inspect(c).has_table("console_users")))


async def _audit(
    sessions: async_sessionmaker[AsyncSession], action: str, target: str, **details: Any
) -> None:
    async with sessions.begin() as session:
        session.add(
            AuditLog(
                actor=getpass.getuser()[:128],
                role="admin",
                action=action,
                target=target,
                origin=f"cli:{socket.gethostname()}"[:128],
                outcome=AuditOutcome.OK,
                details=details,
            )
        )


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    password = read_password(args) if args.users in ("add", "reset-password") else ""
    engine = create_engine(settings.database_url)
    try:
        if not await _tables_ready(engine):
            print(
                "Die Datenbank kennt noch keine Konsolen-Benutzer. Bitte zuerst `koblenz-bot db upgrade` "
                "ausführen.",
                file=sys.stderr,
            )
            return 1
        sessions = sessionmaker(engine)
        if args.users == "add":
            user = await auth.add_user(sessions, args.name, args.role, password)
            await _audit(sessions, "console.user.add", f"user:{user.name}", role=user.role)
            print(f"Benutzer „{user.name}“ angelegt (Rolle {ROLE_NAMES[user.role]}).")
        elif args.users == "list":
            users = await auth.list_users(sessions)
            if not users:
                print("Noch keine Benutzer. Anlegen mit: koblenz-bot users add NAME --role ROLLE")
            for u in users:
                state = "gesperrt" if u.disabled else "aktiv"
                print(f"{u.name:<24} {u.role:<10} {state:<9} seit {u.created_at:%Y-%m-%d}")
        elif args.users == "disable":
            user = await auth.disable_user(sessions, args.name)
            await _audit(sessions, "console.user.disable", f"user:{user.name}")
            print(f"Benutzer „{user.name}“ gesperrt; seine Sitzungen sind beendet.")
        else:
            user = await auth.reset_password(sessions, args.name, password)
            await _audit(sessions, "console.user.reset_password", f"user:{user.name}")
            print(f"Neues Passwort für „{user.name}“ gesetzt; seine Sitzungen sind beendet.")
        return 0
    except auth.ConsoleError as exc:
        print(f"Abgelehnt: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()


def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(settings, args))
    except auth.ConsoleError as exc:
        print(f"Abgelehnt: {exc.message}", file=sys.stderr)
        return 1


def register(sub: Any) -> None:
    """Add ``users …`` to the ``koblenz-bot`` parser (called by the composition root)."""
    users = sub.add_parser("users", help="staff console accounts").add_subparsers(dest="users", required=True)
    add = users.add_parser("add", help="create an account (password from a prompt or --password-stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.add_parser("list", help="list the accounts")
    disable = users.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("name")
    reset = users.add_parser("reset-password", help="set a new password and end the account's sessions")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    for parser in (add, users.choices["list"], disable, reset):
        parser.set_defaults(func=cmd_users)
