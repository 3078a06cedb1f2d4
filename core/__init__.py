"""The ground every other package stands on: settings, database base and engine, time helpers, the root
error and its one JSON/HTTP mapping, shared interfaces (active alerts) and background loops.

It imports no other package of the project. Layers, each importing only those below (checked by
import-linter in ``make test``; see docs/architecture.md)::

    app                      composition root: aiohttp factory, CLI, background jobs (nothing imports it)
    connectors               one package per outside system (inbound events, outbound publishers)
    bot | broadcasts         the conversation | the broadcast engine (independent of each other)
    nlu                      the Rasa project, its generator, client and supervisor
    catalog                  the reviewed reference data: services, offices, Stadtteile, aspects
    core                     this package

Exception tree: every error raised on purpose anywhere in the project derives from ``KoblenzError``; each
package has its own root below it (``BotError``, ``CatalogError``, ``NluError``, ``BroadcastError``, ...).
``core.http`` maps it, once, to a JSON answer ``{"error": code, "message": German text, ...}``::

    KoblenzError               status 500 unless a subclass says otherwise
    ├── SettingsError          invalid configuration, one line per problem (start-up)
    ├── BadRequest             400: a request body that is not what the endpoint takes
    └── <package roots>        see each package's docstring
"""

from __future__ import annotations

from typing import Any, ClassVar


class KoblenzError(Exception):
    """Root of the project's errors. ``message`` is German and polite (shown to citizens and staff);
    ``status`` and ``code`` are what ``core.http`` answers with; ``extra`` fields go into the JSON body."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        if status is not None:
            self.status = status  # type: ignore[misc]
        self.extra = extra


class SettingsError(KoblenzError):
    """The configuration is invalid."""


class BadRequest(KoblenzError):
    """The request body is not what the endpoint takes."""

    status = 400
    code = "invalid_request"
