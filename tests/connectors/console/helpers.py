"""Shared helpers of the console tests: users, sign-in, the hidden form fields."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import connectors.console.auth as auth

PASSWORD = "sicheres-Passwort-1"
CSP_NEEDLES = ("script-src 'self'", "default-src 'none'", "frame-ancestors 'none'")


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no hidden field {name} in page"
    return match.group(1)


async def add_users(sessions: async_sessionmaker[AsyncSession], **roles: str) -> None:
    for name, role in roles.items():
        await auth.add_user(sessions, name, role, PASSWORD)


async def sign_in(client: TestClient[Any, Any], name: str, password: str = PASSWORD, **headers: str) -> Any:
    page = await client.get("/console/anmelden", headers=headers)
    csrf = hidden(await page.text(), "_csrf")
    return await client.post(
        "/console/anmelden",
        data={"_csrf": csrf, "name": name, "password": password},
        allow_redirects=False,
        headers=headers,
    )


async def csrf_of(client: TestClient[Any, Any], path: str = "/console/") -> str:
    page = await client.get(path)
    return hidden(await page.text(), "_csrf")


def check_csp(headers: Any) -> None:
    policy = headers.get("Content-Security-Policy", "")
    assert all(n in policy for n in CSP_NEEDLES), policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
