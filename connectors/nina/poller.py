"""The NINA poll loop: every ``NINA_INTERVAL`` seconds the district's dashboard, and the detail of every
warning that is new or has a new version; each turned into our alert chain through
``Broadcasts.submit_alert`` (the normal path: banner, ``/api/alerts``, chat; sent to subscribers and
channels only when ``NINA_REPUBLISH`` allows its source and severity).

Per NINA id (``nina_seen``, so a restart neither repeats nor forgets anything):

- new id → an Alert of ours (identifier ``<CAP identifier>-v<version>``: unique per message and the same
  again after a crash, so a retry is recognised as a duplicate);
- a new version of an id we show → an Update referencing our previous message; a new id whose CAP
  ``references`` name a warning we show (MoWaS issues updates under a new id) → an Update of that chain;
- msgType Cancel, or the id gone from the dashboard → a Cancel (all-clear) of our chain; a version that
  no longer touches Koblenz or has expired ends it the same way;
- not for Koblenz (``broadcasts.geo``), expired, or unreadable → ignored, with the reason logged and kept;
- the city's own alerts coming back (the same CAP identifier as one of ours, or references to one of
  ours) → ``own``: never shown twice.

A failed poll (timeout, 5xx, bad JSON) changes nothing: an error never counts as "gone from the
dashboard"; it shows in ``health()`` and the next poll tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select

from broadcasts import BroadcastError
from broadcasts.alert_source import EXTERNAL_ROLE
from broadcasts.alertrows import to_cap
from broadcasts.cap import CapError, check_receivable, reference_of, to_cap_xml
from broadcasts.capmodel import CapAlert
from broadcasts.models import Alert
from broadcasts.service import Actor, Broadcasts
from connectors.nina.client import NinaClient, NinaUnavailable
from connectors.nina.mapping import (
    UnreadableWarning,
    for_koblenz,
    provider_of,
    published,
    referenced_identifiers,
)
from connectors.nina.models import NinaSeen
from core.alerts import SEVERITY_RANK

log = logging.getLogger(__name__)

ACTIVE, IGNORED, OWN, ENDED, SUPERSEDED = "active", "ignored", "own", "ended", "superseded"


def republish_allowed(policy: Mapping[str, str], provider: str, severity: str) -> bool:
    """``NINA_REPUBLISH``: the source's (or ``*``'s) minimum severity is reached."""
    minimum = policy.get(provider) or policy.get("*")
    if minimum is None or severity not in SEVERITY_RANK or severity == "Unknown":
        return False
    return SEVERITY_RANK[severity] <= SEVERITY_RANK[minimum]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _version(item: Mapping[str, Any]) -> int:
    payload = _mapping(item.get("payload"))
    for value in (payload.get("version"), item.get("version")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return 0


def _provider(item: Mapping[str, Any]) -> str | None:
    value = _mapping(_mapping(item.get("payload")).get("data")).get("provider")
    return value if isinstance(value, str) else None


class NinaPoller:
    def __init__(
        self,
        client: NinaClient,
        service: Broadcasts,
        ars: str,
        republish: Mapping[str, str] | None = None,
        *,
        interval: float = 60.0,
        find_stadtteile: Callable[[str], list[str]] | None = None,
        invalidate: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.service = service
        self.sessions = service.sessions
        self.ars = ars
        self.republish = dict(republish or {})
        self.interval = interval
        self.find_stadtteile = find_stadtteile
        self._invalidate = invalidate or (lambda: None)
        self._clock = clock
        self._actor = Actor("NINA", EXTERNAL_ROLE, "nina:poller")
        self.polls = 0
        self.errors = 0
        self.consecutive_errors = 0
        self.last_poll: float | None = None
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.counts: dict[str, int] = {"issued": 0, "updated": 0, "ended": 0, "ignored": 0, "own": 0}

    # -- health ----------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        def when(value: float | None) -> str | None:
            return dt.datetime.fromtimestamp(value, dt.UTC).isoformat() if value is not None else None

        if self.last_poll is None:
            state = "starting"
        elif self.consecutive_errors:
            state = "error"
        else:
            state = "ok"
        return {
            "state": state,
            "ars": self.ars,
            "interval_seconds": self.interval,
            "republish": ",".join(f"{k}:{v}" for k, v in self.republish.items()) or "off",
            "polls": self.polls,
            "errors": self.errors,
            "last_poll": when(self.last_poll),
            "last_success": when(self.last_success),
            "last_error": self.last_error,
            "requests": dict(self.client.requests),
            **self.counts,
        }

    # -- the loop --------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; a poll is never cut off in the middle of a database write."""
        while not stop.is_set():
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def poll_once(self) -> None:
        self.polls += 1
        self.last_poll = self._clock()
        try:
            await self._poll()
        except NinaUnavailable as exc:
            self._failed(str(exc))
            log.warning("NINA poll failed: %s", exc)
        except Exception as exc:  # the poller stays alive whatever one poll runs into
            self._failed(f"{type(exc).__name__}: {exc}")
            log.exception("NINA poll failed unexpectedly")
        else:
            self.consecutive_errors = 0
            self.last_success = self._clock()

    def _failed(self, message: str) -> None:
        self.errors += 1
        self.consecutive_errors += 1
        self.last_error = message[:300]

    async def _poll(self) -> None:
        items = await self.client.dashboard(self.ars)
        if items is None:  # 304: nothing changed, nothing to fetch
            return
        now = self._clock()
        listed: dict[str, tuple[int, str]] = {}
        for item in items:
            nina_id = item.get("id")
            if isinstance(nina_id, str) and nina_id.strip():
                listed[nina_id] = (_version(item), provider_of(nina_id, _provider(item)))
        async with self.sessions() as session:
            rows = {r.nina_id: r for r in (await session.scalars(select(NinaSeen))).all()}
        for nina_id, (version, provider) in listed.items():
            row = rows.get(nina_id)
            if row is not None and row.version >= version and row.state != SUPERSEDED:
                continue
            try:
                detail = await self.client.warning(nina_id)
            except NinaUnavailable as exc:  # this one next time; the others now
                self._failed(str(exc))
                log.warning("NINA warning %s not readable now: %s", nina_id, exc)
                continue
            await self._handle(nina_id, version, provider, detail, row, rows)
        await self._touch([n for n in listed if n in rows], now)
        async with self.sessions() as session:  # again: handling may have ended or superseded rows
            rows = {r.nina_id: r for r in (await session.scalars(select(NinaSeen))).all()}
        for nina_id, row in rows.items():
            if nina_id not in listed and row.state in (ACTIVE, IGNORED, OWN):
                await self._gone(row)

    # -- one warning -----------------------------------------------------------------------------------

    async def _handle(
        self,
        nina_id: str,
        version: int,
        provider: str,
        detail: Mapping[str, Any],
        row: NinaSeen | None,
        rows: Mapping[str, NinaSeen],
    ) -> None:
        try:
            alert = published(detail)
        except UnreadableWarning as exc:
            await self._record(
                nina_id,
                version,
                str(detail.get("identifier") or nina_id),
                provider,
                IGNORED,
                None,
                f"unlesbar: {exc}",
            )
            return
        own = await self._own(alert)
        if own:
            log.info("NINA %s is the city's own alert %s coming back: not shown twice", nina_id, own)
            await self._record(
                nina_id, version, alert.identifier, provider, OWN, None, f"eigene Warnung {own}"
            )
            self.counts["own"] += 1
            return
        chain = row if row is not None and row.state == ACTIVE else None
        if chain is None:  # a new id may continue a chain we show (MoWaS: updates under a new id)
            referenced = set(referenced_identifiers(detail))
            chain = next((r for r in rows.values() if r.state == ACTIVE and r.identifier in referenced), None)
        if alert.msg_type == "Cancel":
            if chain is not None:
                await self._end(chain, nina_id, version, alert, provider, "Entwarnung der Behörde")
            else:
                await self._record(nina_id, version, alert.identifier, provider, ENDED, None, "Entwarnung")
            return
        try:
            check_receivable(alert)
        except CapError as exc:
            log.info("NINA %s (version %s) ignored: %s", nina_id, version, exc.message_en)
            if chain is not None:  # it no longer concerns Koblenz (or has expired): ours ends
                await self._end(chain, nina_id, version, alert, provider, exc.message)
            else:
                await self._record(nina_id, version, alert.identifier, provider, IGNORED, None, exc.message)
                self.counts["ignored"] += 1
            return
        references: tuple[str, ...] = ()
        if chain is not None:
            try:
                references = (reference_of(to_cap(await self.service.head_of(chain.alert_identifier or ""))),)
            except BroadcastError:  # our message is gone (removed by staff): start a new chain
                chain = None
        if chain is None:
            await self._submit(nina_id, version, provider, alert, "Alert", (), None)
        else:
            await self._submit(nina_id, version, provider, alert, "Update", references, chain)

    async def _own(self, alert: CapAlert) -> str | None:
        """The identifier of the city's own alert this one is (or references), if any."""
        candidates = {alert.identifier} | {
            ref.split(",")[1] for ref in alert.references if ref.count(",") >= 2
        }
        async with self.sessions() as session:
            found = await session.scalar(
                select(Alert.identifier).where(Alert.identifier.in_(candidates), Alert.role != EXTERNAL_ROLE)
            )
        return found

    async def _submit(
        self,
        nina_id: str,
        version: int,
        provider: str,
        alert: CapAlert,
        msg_type: str,
        references: tuple[str, ...],
        chain: NinaSeen | None,
    ) -> None:
        ours = for_koblenz(
            alert,
            identifier=f"{alert.identifier}-v{version}"[:255],
            msg_type=msg_type,
            references=references,
            nina_id=nina_id,
            version=version,
            find_stadtteile=self.find_stadtteile,
        )
        severity = ours.info("de").severity
        send = republish_allowed(self.republish, provider, severity)
        try:
            xml = to_cap_xml(ours).decode("utf-8")
            result = await self.service.submit_alert(self._actor, ours, xml, send=send)
        except (CapError, BroadcastError) as exc:
            log.warning("NINA %s (version %s) not accepted: %s", nina_id, version, exc.message)
            await self._record(nina_id, version, alert.identifier, provider, IGNORED, None, exc.message)
            self.counts["ignored"] += 1
            return
        if chain is not None and chain.nina_id != nina_id:
            await self._record(
                chain.nina_id,
                chain.version,
                chain.identifier,
                chain.provider,
                SUPERSEDED,
                None,
                f"ersetzt durch {nina_id}",
            )
        await self._record(nina_id, version, alert.identifier, provider, ACTIVE, result.identifier, "")
        self.counts["updated" if chain is not None else "issued"] += 1
        log.info(
            "NINA %s version %s %s as %s (%s, sent to subscribers: %s)",
            nina_id,
            version,
            "updated" if chain else "shown",
            result.identifier,
            provider,
            send and result.published,
        )
        self._invalidate()

    async def _end(
        self, chain: NinaSeen, nina_id: str, version: int, alert: CapAlert | None, provider: str, reason: str
    ) -> None:
        """A Cancel (all-clear) of our chain; ``alert`` None: the warning left the dashboard."""
        try:
            head = await self.service.head_of(chain.alert_identifier or "")
            previous = to_cap(head)
            cancel = CapAlert(
                identifier=f"{chain.alert_identifier}-ende"[:255],
                sender=previous.sender,
                sent=alert.sent
                if alert is not None
                else dt.datetime.fromtimestamp(int(self._clock()), dt.UTC),
                status=previous.status,
                msg_type="Cancel",
                scope=previous.scope,
                # the authority's own all-clear text when it sent one, else the warning being lifted
                infos=(
                    self._localised(alert, chain).infos
                    if alert is not None and alert.msg_type == "Cancel"
                    else previous.infos
                ),
                references=(reference_of(previous),),
                note=f"Beendet: {reason}"[:1000],
            )
            xml = to_cap_xml(cancel).decode("utf-8")
            send = republish_allowed(self.republish, chain.provider, previous.info("de").severity)
            await self.service.submit_alert(self._actor, cancel, xml, send=send)
        except (CapError, BroadcastError) as exc:  # already ended (expired, cancelled by staff): fine
            log.info(
                "NINA %s: our alert %s not cancelled: %s", chain.nina_id, chain.alert_identifier, exc.message
            )
        if chain.nina_id != nina_id:
            await self._record(
                chain.nina_id,
                chain.version,
                chain.identifier,
                chain.provider,
                ENDED,
                chain.alert_identifier,
                reason,
            )
        identifier = alert.identifier if alert is not None else chain.identifier
        await self._record(nina_id, version, identifier, provider, ENDED, chain.alert_identifier, reason)
        self.counts["ended"] += 1
        log.info("NINA %s ended (%s): all-clear for %s", nina_id, reason, chain.alert_identifier)
        self._invalidate()

    def _localised(self, alert: CapAlert, chain: NinaSeen) -> CapAlert:
        return for_koblenz(
            alert,
            identifier=alert.identifier,
            msg_type=alert.msg_type,
            references=alert.references,
            nina_id=chain.nina_id,
            version=chain.version,
            find_stadtteile=self.find_stadtteile,
        )

    async def _gone(self, row: NinaSeen) -> None:
        self.client.forget(row.nina_id)
        if row.state == ACTIVE:
            await self._end(row, row.nina_id, row.version, None, row.provider, "nicht mehr in NINA gelistet")
        else:
            await self._record(
                row.nina_id,
                row.version,
                row.identifier,
                row.provider,
                ENDED,
                row.alert_identifier,
                row.reason,
            )

    # -- state -----------------------------------------------------------------------------------------

    async def _record(
        self,
        nina_id: str,
        version: int,
        identifier: str,
        provider: str,
        state: str,
        alert_identifier: str | None,
        reason: str,
    ) -> None:
        async with self.sessions.begin() as session:
            row = await session.get(NinaSeen, nina_id)
            if row is None:
                row = NinaSeen(nina_id=nina_id)
                session.add(row)
            row.version, row.identifier, row.provider = version, identifier[:255], provider[:16]
            row.state, row.alert_identifier, row.reason = state, alert_identifier, reason[:2000]
            row.last_seen = self._clock()

    async def _touch(self, nina_ids: list[str], now: float) -> None:
        if not nina_ids:
            return
        async with self.sessions.begin() as session:
            for row in (await session.scalars(select(NinaSeen).where(NinaSeen.nina_id.in_(nina_ids)))).all():
                row.last_seen = now
