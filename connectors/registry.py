"""Which outbound channels there are, and which are on.

Every package under ``connectors/`` that publishes has a module ``channel_spec`` with a module-level
``CHANNEL`` (or ``CHANNELS``, a tuple) of type ``ChannelSpec``: its name and German label, the settings
that switch it on, an async factory that opens its ``broadcasts.publishers.Publisher`` from the settings
and a shared aiohttp session, and, for channels that clients read, its routes. ``discover()`` finds the
specs with pkgutil, so there is no central list: adding a channel means adding one package.

A channel is on exactly when its settings are present (``requires``: names of ``Settings`` fields that
must be non-empty, and an optional ``when`` test). The composition root and the ``koblenz-bot``
commands use

- ``publishers(settings)``: opens every channel that is on (push and pull; one shared HTTP session) and
  closes them on exit. The engine's worker sends only through the push channels among them
  (``broadcasts.publishers.push_only``); the service checks texts through all of them;
- ``routes(settings)``: the routes of the pull channels that are on (feeds, CAP files);
- ``health(...)``: one line per channel for ``/health``, never a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import pkgutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

import connectors
from broadcasts.publishers import Channel, Publisher
from core import KoblenzError
from core.settings import Settings

SPEC_MODULE = "channel_spec"
ENV_PREFIX = "KOBLENZ_BOT_"

OpenPublisher = Callable[[Settings, aiohttp.ClientSession], Awaitable[Publisher]]


class ChannelSpecError(KoblenzError):
    """A connector declares its channel wrongly (a programming error, found at start-up)."""


def _present(value: Any) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return value is not None and value != "" and value != () and value != {}


@dataclass(frozen=True)
class ChannelSpec:
    """How the registry knows one outbound channel (a connector's ``channel_spec.CHANNEL``)."""

    name: str  # the engine's key for texts and deliveries: "telegram", "feed", ...
    label: str  # German, for people
    open: OpenPublisher  # builds the publisher; no network I/O (the first send does that)
    requires: tuple[str, ...] = ()  # Settings fields that must be set; () = always on
    when: Callable[[Settings], bool] | None = None  # a further condition on the settings
    routes: Callable[[Settings], Sequence[web.RouteDef]] | None = None  # what clients read (pull channels)
    paths: tuple[str, ...] = ()  # where clients read it, for /health and the docs
    details: Callable[[Settings], dict[str, Any]] | None = None  # extra health facts, never secrets

    def enabled(self, settings: Settings) -> bool:
        present = all(_present(getattr(settings, name, None)) for name in self.requires)
        return present and (self.when is None or self.when(settings))

    def missing(self, settings: Settings) -> list[str]:
        """The environment variables still to set for this channel (names only)."""
        return [
            ENV_PREFIX + name.upper() for name in self.requires if not _present(getattr(settings, name, None))
        ]


def _specs_of(module: Any) -> tuple[ChannelSpec, ...]:
    specs = getattr(module, "CHANNELS", None)
    if specs is None:
        specs = (getattr(module, "CHANNEL", None),)
    if not isinstance(specs, tuple) or not all(isinstance(s, ChannelSpec) for s in specs):
        raise ChannelSpecError(
            f"{module.__name__} muss CHANNEL (ein ChannelSpec) oder CHANNELS (ein Tupel davon) festlegen."
        )
    return specs


@functools.cache
def discover() -> dict[str, ChannelSpec]:
    """Every channel declared by a connector package, by name (in the order of the package names)."""
    found: dict[str, ChannelSpec] = {}
    for package in sorted(pkgutil.iter_modules(connectors.__path__), key=lambda m: m.name):
        folder = getattr(package.module_finder, "path", None)
        if not package.ispkg or folder is None:
            continue
        inside = {m.name for m in pkgutil.iter_modules([f"{folder}/{package.name}"])}
        if SPEC_MODULE not in inside:  # a connector without outbound channel (rasa_rest, web)
            continue
        module = importlib.import_module(f"{connectors.__name__}.{package.name}.{SPEC_MODULE}")
        for spec in _specs_of(module):
            if spec.name in found:
                raise ChannelSpecError(f"Zwei Kanäle heißen „{spec.name}“ ({module.__name__}).")
            found[spec.name] = spec
    return found


def enabled(settings: Settings, specs: Iterable[ChannelSpec] | None = None) -> list[ChannelSpec]:
    """The channels switched on by these settings."""
    return [s for s in (discover().values() if specs is None else specs) if s.enabled(settings)]


@contextlib.asynccontextmanager
async def publishers(
    settings: Settings, specs: Iterable[ChannelSpec] | None = None
) -> AsyncIterator[dict[str, Publisher]]:
    """Open the publisher of every channel that is on (one shared HTTP session); close them on exit."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.delivery_concurrency, limit_per_host=0)
    )
    opened: dict[str, Publisher] = {}
    try:
        for spec in enabled(settings, specs):
            publisher = await spec.open(settings, session)
            if publisher.name != spec.name:
                raise ChannelSpecError(f"Der Kanal „{spec.name}“ öffnet einen Publisher „{publisher.name}“.")
            opened[spec.name] = publisher
        # channels that read their limits from the platform (Mastodon's instance) do it now, together;
        # ``start`` never raises: a channel that cannot start says why in its health
        starting = [start() for p in opened.values() if (start := getattr(p, "start", None)) is not None]
        await asyncio.gather(*starting)
        yield opened
    finally:
        for publisher in opened.values():
            close = getattr(publisher, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    closing = close()  # X's is plain, Mastodon's a coroutine
                    if inspect.isawaitable(closing):
                        await closing
        await session.close()


def routes(settings: Settings, specs: Iterable[ChannelSpec] | None = None) -> list[web.RouteDef]:
    """The routes of the channels that are on, for the composition root to add."""
    return [route for spec in enabled(settings, specs) if spec.routes for route in spec.routes(settings)]


def health(
    settings: Settings,
    opened: Mapping[str, Channel] | None = None,
    sending: Collection[str] = (),
    paused_until: Mapping[str, float] | None = None,
    specs: Iterable[ChannelSpec] | None = None,
) -> list[dict[str, Any]]:
    """One line per channel: ``name``, ``label``, ``enabled``, ``state`` and what else helps an operator.

    States: ``off`` (settings missing: ``missing`` names the environment variables), ``sending`` (a push
    channel this process's outbox worker sends through), ``paused`` (the platform asked to wait:
    ``paused_seconds``), ``workers`` (on, sent by separate ``koblenz-bot worker`` processes), ``serving``
    (a pull channel whose routes this process serves: ``paths``), ``configured`` (on, not opened here),
    ``stopped`` (the platform refused our credentials: ``problem`` says what to do).
    ``opened``: the channels this process opened; ``sending``: names the in-process worker sends through;
    ``paused_until``: epoch seconds per channel from its send budget."""
    opened = opened or {}
    paused_until = paused_until or {}
    now = time.time()
    lines = []
    for spec in discover().values() if specs is None else specs:
        on = spec.enabled(settings)
        line: dict[str, Any] = {"name": spec.name, "label": spec.label, "enabled": on}
        channel = opened.get(spec.name) if on else None
        if not on:
            line.update(state="off", missing=spec.missing(settings))
        elif channel is None:
            line["state"] = "configured"
        elif channel.capabilities.push:
            waiting = paused_until.get(spec.name, 0.0) - now
            if waiting > 0:
                line.update(state="paused", paused_seconds=round(waiting, 1))
            else:
                line["state"] = "sending" if spec.name in sending else "workers"
        else:
            line["state"] = "serving"
        if channel is not None:
            # a channel may say what is wrong (``problem``: German, for operators) and that it stopped
            # sending until an operator acts (``stopped``: e.g. a revoked Facebook page token)
            problem = getattr(channel, "problem", None)
            if problem:
                line["problem"] = str(problem)
            if getattr(channel, "stopped", False):
                line["state"] = "stopped"
            facts = getattr(channel, "health", None)  # e.g. Instagram's publishing quota
            if callable(facts):
                with contextlib.suppress(Exception):
                    extra = facts()
                    if isinstance(extra, dict):
                        line.update({k: v for k, v in extra.items() if k not in line})
            caps = channel.capabilities
            line["push"] = caps.push
            line["carries"] = [kind for kind, yes in (("posts", caps.posts), ("alerts", caps.alerts)) if yes]
            if caps.max_text is not None:
                line["max_text"] = caps.max_text
        if spec.paths:
            line["paths"] = list(spec.paths)
        if on and spec.details is not None:
            line.update(spec.details(settings))
        lines.append(line)
    return lines
