"""The broadcast commands of ``koblenz-bot``: posts, alerts, delivery progress, subscriber lists, workers.

    koblenz-bot broadcast create|schedule|list|show|cancel
    koblenz-bot alert issue|update|cancel|list        (from flags, --template NAME, or --cap FILE)
    koblenz-bot deliveries [--follow]                  progress per channel: sent, pending, failed, ETA
    koblenz-bot deliveries --posts [--json]            the posts on X, Mastodon, …: state, id, link
    koblenz-bot subscribers import FILE | export [FILE]
    koblenz-bot worker                                 an outbox worker (scale-out on PostgreSQL)

Times are entered and shown in Europe/Berlin. Output for people is German."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import getpass
import io
import json
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from broadcasts import BroadcastError
from broadcasts.alertrows import to_cap
from broadcasts.berlin import parse_local, show
from broadcasts.capmodel import CapAlert, CapArea, CapInfo
from broadcasts.compose import ChannelPreview
from broadcasts.deliveries import live_posts
from broadcasts.engine import running
from broadcasts.models import Alert, Delivery, OutboundMessage
from broadcasts.publishers import Publisher, push_only
from broadcasts.service import Actor, Broadcasts
from broadcasts.states import OPEN, DeliveryState, FanoutState, PostState
from broadcasts.subscribers import TOPICS, TOPICS_WITH_AREAS, Subscriber, Subscription, as_row
from catalog.model import load_catalog
from catalog.stadtteile import Stadtteile
from core import heap
from core.db import create_engine, migrate, sessionmaker
from core.settings import Settings

Handler = Callable[[Settings, argparse.Namespace], int]

PublisherFactory = Callable[[Settings], AbstractAsyncContextManager[dict[str, Publisher]]]


def _actor(args: argparse.Namespace, default_role: str) -> Actor:
    return Actor(
        getattr(args, "by", None) or getpass.getuser(),
        getattr(args, "role", None) or default_role,
        f"cli:{socket.gethostname()}",
    )


def _run(settings: Settings, work: Callable[[AsyncEngine], Any], migrate_first: bool = True) -> int:
    async def main() -> int:
        engine = create_engine(settings.database_url)
        try:
            if migrate_first:
                await migrate(engine)
            result = await work(engine)
            return int(result or 0)
        except BroadcastError as exc:
            print(f"Abgelehnt: {exc.message}", file=sys.stderr)
            return 1
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _run_with_channels(
    settings: Settings,
    publishers: PublisherFactory,
    work: Callable[[AsyncEngine, Broadcasts], Any],
) -> int:
    """Run ``work`` with a service that checks texts through the channels these settings switch on."""

    async def opened(engine: AsyncEngine) -> Any:
        async with publishers(settings) as channels:
            return await work(engine, Broadcasts(sessionmaker(engine), channels=channels.values()))

    return _run(settings, opened)


# -- posts -------------------------------------------------------------------------------------------


def _when(value: str | None) -> dt.datetime | None:
    return parse_local(value) if value else None


def cmd_broadcast_create(settings: Settings, args: argparse.Namespace, publishers: PublisherFactory) -> int:
    body = Path(args.text_file).read_text(encoding="utf-8") if args.text_file else args.text
    if not body:
        print("Bitte geben Sie den Text mit --text oder --text-file an.", file=sys.stderr)
        return 2
    variants = dict(v.split("=", 1) for v in args.variant or [])
    channels = [c.strip() for c in args.channels.split(",") if c.strip()] if args.channels else None

    async def work(_engine: AsyncEngine, service: Broadcasts) -> int:
        actor = _actor(args, "presse")
        broadcast_id = await service.create(
            actor,
            args.topic,
            body,
            args.link,
            args.image,
            variants,
            channels=channels,
            image_alt=args.image_alt,
        )
        if args.at or args.now:
            broadcast = await service.schedule(actor, broadcast_id, _when(args.at))
            print(f"Meldung {broadcast_id} eingeplant für {show(broadcast.scheduled_at)}.")
        else:
            print(
                f"Meldung {broadcast_id} als Entwurf gespeichert. Einplanen: koblenz-bot broadcast schedule "
                f"{broadcast_id} --at 'JJJJ-MM-TT HH:MM'"
            )
        return 0

    return _run_with_channels(settings, publishers, work)


def cmd_broadcast_schedule(settings: Settings, args: argparse.Namespace, publishers: PublisherFactory) -> int:
    async def work(engine: AsyncEngine, service: Broadcasts) -> int:
        broadcast = await service.schedule(_actor(args, "presse"), args.id, _when(args.at))
        print(f"Meldung {broadcast.id} eingeplant für {show(broadcast.scheduled_at)}.")
        if args.follow:
            await _follow(engine, lambda: _progress(engine, broadcast_id=broadcast.id), wait_start=True)
        return 0

    return _run_with_channels(settings, publishers, work)


def cmd_broadcast_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(engine: AsyncEngine) -> int:
        rows = await Broadcasts(sessionmaker(engine)).list(args.state or (), args.limit)
        if not rows:
            print("Keine Meldungen.")
        for b in rows:
            first_line = b.text.strip().splitlines()[0][:60]
            print(f"{b.id:>5}  {b.state:<13} {show(b.scheduled_at):<22} {b.topic:<15} {first_line}")
        return 0

    return _run(settings, work)


def cmd_broadcast_show(settings: Settings, args: argparse.Namespace, publishers: PublisherFactory) -> int:
    async def work(engine: AsyncEngine, service: Broadcasts) -> int:
        b = await service.get(args.id)
        print(f"Meldung {b.id} · Thema {b.topic} · Status {b.state}")
        print(
            f"Eingeplant: {show(b.scheduled_at)} · erstellt von {b.created_by} ({b.role}) am {show(b.created_at)}"
        )
        if b.started_at:
            print(f"Versand begonnen: {show(b.started_at)} · beendet: {show(b.finished_at)}")
        _print_previews(await _post_previews(service, b))
        print()
        _print_progress(await _progress(engine, broadcast_id=b.id))
        return 0

    return _run_with_channels(settings, publishers, work)


def _number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


async def _post_previews(service: Broadcasts, b: Any) -> list[ChannelPreview]:
    return await service.preview_post(b.text, b.link, b.image_url, b.variants or {}, b.channels, b.topic)


def _print_previews(previews: list[ChannelPreview]) -> None:
    """What readers of each chosen channel will see, with the length as that platform counts it; a text
    over a channel's limit is shown with the refusal its ``check`` gives."""
    if not previews:
        print("\nKein Kanal eingerichtet, der Mitteilungen zeigt.")
    for preview in previews:
        size = f"{_number(preview.length)} Zeichen" + (
            f", höchstens {_number(preview.limit)}" if preview.limit else ""
        )
        own = ", eigene Fassung" if preview.variant else ""
        print(f"\n--- Vorschau {preview.label} ({size}{own}) ---\n{preview.text}")
        if preview.error:
            print(f"!!! {preview.error}")


def cmd_broadcast_preview(settings: Settings, args: argparse.Namespace, publishers: PublisherFactory) -> int:
    async def work(_engine: AsyncEngine, service: Broadcasts) -> int:
        previews = await _post_previews(service, await service.get(args.id))
        if args.json:
            print(json.dumps([p.as_dict() for p in previews], ensure_ascii=False, indent=2))
        else:
            _print_previews(previews)
        return 0 if all(p.ok for p in previews) else 1

    return _run_with_channels(settings, publishers, work)


def cmd_broadcast_cancel(settings: Settings, args: argparse.Namespace) -> int:
    async def work(engine: AsyncEngine) -> int:
        b = await Broadcasts(sessionmaker(engine)).cancel(_actor(args, "presse"), args.id)
        print(f"Meldung {b.id} ist abgesagt; sie wird nicht (weiter) versandt.")
        return 0

    return _run(settings, work)


# -- alerts ------------------------------------------------------------------------------------------


def _values(pairs: Sequence[str] | None) -> dict[str, str]:
    values = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"--value erwartet name=wert, nicht „{pair}“")
        key, value = pair.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def _stadtteile(settings: Settings, raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    known = _known_stadtteile(settings)
    names = []
    for part in (p.strip() for p in raw.replace(",", ";").split(";")):
        if not part:
            continue
        name = known.canonical(part)
        if name is None:
            raise SystemExit(f"Unbekannter Stadtteil „{part}“.")
        names.append(name)
    return tuple(dict.fromkeys(names))


def _known_stadtteile(settings: Settings) -> Stadtteile:
    return Stadtteile(load_catalog(settings.catalog_dir))


def _alert_from_flags(settings: Settings, args: argparse.Namespace) -> CapAlert:
    missing = [f"--{n}" for n in ("headline", "description") if not getattr(args, n)]
    if missing:
        raise SystemExit(f"Es fehlt: {', '.join(missing)} (oder --template NAME bzw. --cap DATEI).")
    sent = dt.datetime.now(dt.UTC).replace(microsecond=0)
    areas = _stadtteile(settings, args.stadtteile)
    info = CapInfo(
        language="de-DE",
        category=(args.category,),
        event=args.event or args.headline,
        urgency=args.urgency,
        severity=args.severity,
        certainty=args.certainty,
        headline=args.headline,
        description=args.description,
        instruction=args.instruction or "",
        expires=parse_local(args.expires) if args.expires else sent + dt.timedelta(hours=args.hours),
        web=args.web,
        areas=tuple(CapArea(a) for a in areas)
        or (CapArea("Stadtgebiet Koblenz", geocodes=(("ARS", "071110000000"),)),),
    )
    return CapAlert(
        identifier=f"{args.sender}-{uuid.uuid4().hex[:16]}",
        sender=args.sender,
        sent=sent,
        status=args.status,
        msg_type="Alert",
        scope="Public",
        infos=(info,),
    )


def _read_cap(path: str, max_bytes: int) -> tuple[CapAlert, str]:
    from broadcasts.cap import check_receivable, parse_cap_json, parse_cap_xml, to_cap_xml

    data = Path(path).read_bytes()
    if path.endswith(".json"):
        alert = parse_cap_json(data, max_bytes)
        check_receivable(alert)  # outside Koblenz or expired: refused with the reason
        return alert, to_cap_xml(alert).decode("utf-8")
    alert = parse_cap_xml(data, max_bytes)
    check_receivable(alert)
    return alert, data.decode("utf-8")


def _submit(
    settings: Settings,
    args: argparse.Namespace,
    build: Callable[[Broadcasts], Any],
    publishers: PublisherFactory,
) -> int:
    from broadcasts.cap import CapError, to_cap_xml

    async def work(engine: AsyncEngine, service: Broadcasts) -> int:
        try:
            made = await build(service)
        except CapError as exc:
            print(f"Abgelehnt: {getattr(exc, 'message_de', str(exc))}", file=sys.stderr)
            return 1
        alert, xml = made if isinstance(made, tuple) else (made, to_cap_xml(made).decode("utf-8"))
        result = await service.submit_alert(_actor(args, "feuerwehr"), alert, xml)
        kind = {"Alert": "Warnung", "Update": "Aktualisierung", "Cancel": "Entwarnung"}[alert.msg_type]
        print(f"{kind} angenommen: {result.identifier} (Nr. {result.id}, Status {result.state}).")
        if not result.published:
            print("Hinweis: Test-/nicht öffentliche Nachricht: gespeichert, aber nicht an Bürger versandt.")
        elif getattr(args, "follow", False):
            await _follow(
                engine, lambda: _progress(engine, alert_identifier=result.identifier), wait_start=True
            )
        return 0

    return _run_with_channels(settings, publishers, work)


def cmd_alert_issue(settings: Settings, args: argparse.Namespace, publishers: PublisherFactory) -> int:
    async def build(_service: Broadcasts) -> Any:
        if args.cap:
            return _read_cap(args.cap, settings.alert_max_bytes)
        if args.template:
            from broadcasts.templates import render_template

            return render_template(
                args.template,
                stadtteile=_stadtteile(settings, args.stadtteile),
                status=args.status,
                expires=parse_local(args.expires) if args.expires else None,
                web=args.web,
                sender=args.sender,
                **_values(args.value),  # type: ignore[arg-type]
            )
        return _alert_from_flags(settings, args)

    return _submit(settings, args, build, publishers)


def cmd_alert_update(settings: Settings, args: argparse.Namespace, publishers: PublisherFactory) -> int:
    async def build(service: Broadcasts) -> Any:
        if args.cap:
            return _read_cap(args.cap, settings.alert_max_bytes)
        from broadcasts.templates import render_update

        head = to_cap(await service.head_of(args.identifier))
        return render_update(
            head,
            headline=args.headline,
            description=args.description,
            instruction=args.instruction,
            stadtteile=_stadtteile(settings, args.stadtteile) if args.stadtteile else None,
            expires=parse_local(args.expires) if args.expires else None,
            correction=args.correction,
        )

    return _submit(settings, args, build, publishers)


def cmd_alert_cancel(settings: Settings, args: argparse.Namespace, publishers: PublisherFactory) -> int:
    async def build(service: Broadcasts) -> Any:
        if args.cap:
            return _read_cap(args.cap, settings.alert_max_bytes)
        from broadcasts.templates import render_all_clear

        head = to_cap(await service.head_of(args.identifier))
        return render_all_clear(head, hinweis=args.hinweis)

    return _submit(settings, args, build, publishers)


def cmd_alert_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(engine: AsyncEngine) -> int:
        async with sessionmaker(engine)() as session:
            rows = (await session.scalars(select(Alert).order_by(Alert.id.desc()).limit(args.limit))).all()
        if not rows:
            print("Keine Warnungen.")
        for a in rows:
            headline = to_cap(a).info("de").headline if a.infos else ""
            print(
                f"{a.id:>5}  {a.state:<10} {a.msg_type:<7} {show(a.sent):<22} {a.identifier}  {headline[:50]}"
            )
        return 0

    return _run(settings, work)


# -- progress ----------------------------------------------------------------------------------------


async def _progress(
    engine: AsyncEngine, broadcast_id: int | None = None, alert_identifier: str | None = None
) -> dict[str, dict[str, Any]]:
    """Per channel: counts by state, the send rate of the last minute and the ETA of what is pending."""
    async with sessionmaker(engine)() as session:
        messages = select(OutboundMessage.id)
        if broadcast_id is not None:
            messages = messages.where(OutboundMessage.broadcast_id == broadcast_id)
        if alert_identifier is not None:
            head = await session.scalar(select(Alert).where(Alert.identifier == alert_identifier))
            root = (head.root_id or head.id) if head is not None else -1
            messages = messages.where(OutboundMessage.alert_id == root)
        query = select(Delivery.channel, Delivery.state, func.count()).group_by(
            Delivery.channel, Delivery.state
        )
        recent = select(Delivery.channel, func.count()).where(Delivery.sent_at > time.time() - 60)
        if broadcast_id is not None or alert_identifier is not None:
            query = query.where(Delivery.message_id.in_(messages))
            recent = recent.where(Delivery.message_id.in_(messages))
        counts = (await session.execute(query)).all()
        rates = dict((await session.execute(recent.group_by(Delivery.channel))).all())
        fanning = await session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.fanout_state != FanoutState.DONE, OutboundMessage.id.in_(messages))
        )
    report: dict[str, dict[str, Any]] = {}
    for channel, state, count in counts:
        report.setdefault(channel, {s.value: 0 for s in DeliveryState})[state.value] = int(count)
    for channel, row in report.items():
        rate = rates.get(channel, 0) / 60.0
        waiting = sum(row[s] for s in OPEN)
        row["rate_per_second"] = round(rate, 1)
        row["eta_seconds"] = round(waiting / rate) if rate > 0 and waiting else (0 if not waiting else None)
        row["fanout_running"] = bool(fanning)
    return report


def _eta(seconds: int | None) -> str:
    if seconds is None:
        return "unbekannt"
    return f"{seconds // 60:02d}:{seconds % 60:02d} min"


def _print_progress(report: dict[str, dict[str, Any]]) -> None:
    if not report:
        print("Noch keine Zustellungen.")
    for channel, row in sorted(report.items()):
        print(
            f"{channel}: {row[DeliveryState.SENT]:,} gesendet · {sum(row[s] for s in OPEN):,} ausstehend · "
            f"{row[DeliveryState.FAILED]:,} fehlgeschlagen · {row[DeliveryState.DEACTIVATED]:,} abgemeldet · "
            f"{row[DeliveryState.CANCELLED]:,} gestoppt · {row['rate_per_second']}/s · "
            f"Rest {_eta(row['eta_seconds'])}".replace(",", ".")
        )


async def _follow(
    engine: AsyncEngine, get: Callable[[], Any], wait_start: bool = False, interval: float = 1.0
) -> None:
    """Print the progress until nothing is pending any more (Ctrl-C stops watching, not sending)."""
    started = not wait_start
    deadline = time.monotonic() + 15
    while True:
        report = await get()
        _print_progress(report)
        waiting = sum(r[s] for r in report.values() for s in OPEN)
        fanning = any(r["fanout_running"] for r in report.values())
        started = started or bool(report)
        if started and not waiting and not fanning:
            return
        if not started and time.monotonic() > deadline:
            print(
                "Noch keine Zustellungen: keine passenden Abonnenten, oder es läuft weder "
                "`koblenz-bot serve` noch ein `koblenz-bot worker`.",
                file=sys.stderr,
            )
            return
        await asyncio.sleep(interval)


def _print_posts(posts: list[dict[str, Any]]) -> None:
    if not posts:
        print("Keine Beiträge auf Kanälen mit einem Beitrag je Meldung.")
    for p in posts:
        where = p["url"] or p["provider_id"] or "-"
        error = f" · {p['error']}" if p["error"] and p["state"] != "sent" else ""
        print(
            f"Nachricht {p['message']:>5} {p['kind']:<8} {p['channel']:<17} {p['state']:<10} "
            f"Versuche {p['attempts']} · {where}{error}"
        )


def cmd_deliveries(settings: Settings, args: argparse.Namespace) -> int:
    async def work(engine: AsyncEngine) -> int:
        def get() -> Any:
            return _progress(engine, args.broadcast, args.alert)

        if args.posts:
            posts = await live_posts(sessionmaker(engine), args.broadcast, args.alert, args.limit)
            if args.json:
                print(json.dumps(posts, ensure_ascii=False))
            else:
                _print_posts(posts)
            return 0
        if args.json:
            print(json.dumps(await get(), ensure_ascii=False))
        elif args.follow:
            await _follow(engine, get)
        else:
            _print_progress(await get())
        return 0

    return _run(settings, work)


# -- subscribers -------------------------------------------------------------------------------------

CSV_COLUMNS = ("channel", "chat_id", "topics", "stadtteile")
IMPORT_CHANNELS = ("telegram",)


def _split(value: str) -> list[str]:
    return [p.strip() for p in (value or "").split(";") if p.strip()]


def validate_rows(
    content: str, known_stadtteile: Stadtteile
) -> tuple[list[tuple[str, str, list[str], list[str]]], list[str]]:
    """Check every row; return (rows, errors with line numbers). Nothing is imported when errors exist."""
    errors: list[str] = []
    rows: list[tuple[str, str, list[str], list[str]]] = []
    reader = csv.DictReader(io.StringIO(content))
    if reader.fieldnames is None or tuple(f.strip() for f in reader.fieldnames) != CSV_COLUMNS:
        return [], [
            f"Zeile 1: Kopfzeile muss „{','.join(CSV_COLUMNS)}“ sein, ist „{','.join(reader.fieldnames or [])}“"
        ]
    seen: dict[tuple[str, str], int] = {}
    for record in reader:
        line = reader.line_num
        problems = []
        if None in record or any(v is None for v in record.values()):
            errors.append(f"Zeile {line}: falsche Anzahl von Spalten")
            continue
        channel, chat_id = record["channel"].strip(), record["chat_id"].strip()
        topics, areas = _split(record["topics"]), _split(record["stadtteile"])
        if channel not in IMPORT_CHANNELS:
            problems.append(f"unbekannter Kanal „{channel}“ (möglich: {', '.join(IMPORT_CHANNELS)})")
        if not chat_id or len(chat_id) > 64 or not (chat_id.lstrip("-").isdigit() or chat_id.startswith("@")):
            problems.append(f"ungültige chat_id „{chat_id}“ (Zahl oder @kanalname)")
        if not topics:
            problems.append("kein Thema angegeben")
        unknown = [t for t in topics if t not in TOPICS]
        if unknown:
            problems.append(f"unbekanntes Thema {', '.join(unknown)} (möglich: {', '.join(TOPICS)})")
        canonical = []
        for area in areas:
            name = known_stadtteile.canonical(area)
            if name is None:
                problems.append(f"unbekannter Stadtteil „{area}“")
            else:
                canonical.append(name)
        if areas and not any(t in TOPICS_WITH_AREAS for t in topics):
            problems.append(f"Stadtteile gelten nur für {', '.join(sorted(TOPICS_WITH_AREAS))}")
        key = (channel, chat_id)
        if key in seen:
            problems.append(f"doppelt (schon in Zeile {seen[key]})")
        seen.setdefault(key, line)
        if problems:
            errors.append(f"Zeile {line}: " + "; ".join(problems))
        else:
            rows.append((channel, chat_id, topics, sorted(set(canonical))))
    return rows, errors


IMPORT_CHUNK = 2000


async def _import_chunk(
    session: AsyncSession, rows: Sequence[tuple[str, str, list[str], list[str]]]
) -> tuple[int, int]:
    """Write checked rows in bulk (a few statements per chunk, not one per row); (created, updated).

    A row replaces the subscriber's topics and reactivates it, so running an import again changes nothing.
    """
    wanted = {(channel, chat_id): (topics, areas) for channel, chat_id, topics, areas in rows}

    async def ids() -> dict[tuple[str, str], int]:
        found = await session.execute(
            select(Subscriber.id, Subscriber.channel, Subscriber.chat_id).where(
                Subscriber.chat_id.in_({chat_id for _, chat_id in wanted})
            )
        )
        return {(channel, chat_id): id_ for id_, channel, chat_id in found if (channel, chat_id) in wanted}

    known = await ids()
    if known:
        await session.execute(
            update(Subscriber)
            .where(Subscriber.id.in_(known.values()))
            .values(active=True, deactivated_at=None)
        )
        await session.execute(delete(Subscription).where(Subscription.subscriber_id.in_(known.values())))
    new = [key for key in wanted if key not in known]
    if new:
        await session.execute(
            insert(cast(Table, Subscriber.__table__)),
            [
                {
                    "channel": channel,
                    "chat_id": chat_id,
                    "chat_type": "private" if chat_id.isdigit() else "group",  # "-100…" and "@name": groups
                    "active": True,
                }
                for channel, chat_id in new
            ],
        )
    all_ids = await ids() if new else known
    await session.execute(
        insert(cast(Table, Subscription.__table__)),
        [
            {
                "subscriber_id": all_ids[key],
                "topic": topic,
                "stadtteile": areas if topic in TOPICS_WITH_AREAS else [],
            }
            for key, (topics, areas) in wanted.items()
            for topic in topics
        ],
    )
    return len(new), len(known)


def cmd_subscribers_import(settings: Settings, args: argparse.Namespace) -> int:
    """Every row is checked first (nothing is imported if one is bad); then the rows are written in
    transactions of ``IMPORT_CHUNK``, so a running ``serve`` or worker never waits long for SQLite's one
    write lock. An interrupted import is completed by running it again."""
    content = Path(args.file).read_text(encoding="utf-8-sig")
    rows, errors = validate_rows(content, _known_stadtteile(settings))
    if errors:
        print(f"Nichts importiert: {len(errors)} fehlerhafte Zeile(n).", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return 1

    async def work(engine: AsyncEngine) -> int:
        created = updated = 0
        sessions = sessionmaker(engine)
        for start in range(0, len(rows), IMPORT_CHUNK):
            async with sessions.begin() as session:
                new, old = await _import_chunk(session, rows[start : start + IMPORT_CHUNK])
            created, updated = created + new, updated + old
        print(f"{created + updated} Abonnent(en) importiert ({created} neu, {updated} aktualisiert).")
        return 0

    return _run(settings, work)


def cmd_subscribers_export(settings: Settings, args: argparse.Namespace) -> int:
    async def work(engine: AsyncEngine) -> int:
        async with sessionmaker(engine)() as session:
            query = select(Subscriber).where(Subscriber.active.is_(True)).order_by(Subscriber.id)
            if args.chat_id:
                query = select(Subscriber).where(Subscriber.chat_id == args.chat_id)
            subscribers = (await session.scalars(query)).all()
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for subscriber in subscribers:
                writer.writerow(as_row(subscriber))
        if args.file and args.file != "-":
            Path(args.file).write_text(out.getvalue(), encoding="utf-8")
            print(f"{len(subscribers)} Abonnent(en) nach {args.file} exportiert.", file=sys.stderr)
        else:
            sys.stdout.write(out.getvalue())
        return 0

    return _run(settings, work)


# -- worker ------------------------------------------------------------------------------------------


def cmd_worker(settings: Settings, args: argparse.Namespace, publishers: PublisherFactory) -> int:
    async def work(engine: AsyncEngine) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with publishers(settings) as channels:
            if not push_only(channels):
                print(
                    "koblenz-bot worker: kein Kanal eingerichtet (z. B. KOBLENZ_BOT_TELEGRAM_TOKEN); "
                    "ohne ihn kann nichts versandt werden.",
                    file=sys.stderr,
                )
                return 2
            return await _work(engine, channels, stop)

    async def _work(engine: AsyncEngine, channels: dict[str, Publisher], stop: asyncio.Event) -> int:
        async with running(engine, settings, channels) as run:
            assert run.worker is not None
            heap.settle()  # start-up is over: later garbage collections skip what it built
            print(f"worker {run.worker.name} läuft (Telegram {settings.telegram_rate}/s)", file=sys.stderr)
            last = 0
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.progress_every)
                sent = run.worker.stats["sent"] + run.worker.stats["edited"] + run.worker.stats["corrections"]
                if sent != last:
                    print(
                        f"worker {run.worker.name}: {sent} gesendet ({(sent - last) / args.progress_every:.0f}/s)",
                        file=sys.stderr,
                        flush=True,
                    )
                    last = sent
        return 0

    return _run(settings, work, migrate_first=args.migrate)


# -- argument parsing --------------------------------------------------------------------------------


def register(sub: Any, publishers: PublisherFactory) -> None:
    """Add the broadcast commands to the ``koblenz-bot`` parser. ``publishers`` opens the channels the
    settings switch on (``connectors.registry.publishers``): posts and alerts are checked against their
    limits, ``broadcast show`` prints their previews, ``worker`` sends through the push channels."""
    bc = sub.add_parser("broadcast", help="press posts: create, schedule, list, show, cancel").add_subparsers(
        dest="broadcast", required=True
    )
    create = bc.add_parser("create", help="a new post (draft, or scheduled with --at / --now)")
    create.add_argument("--topic", default="presse", choices=sorted(TOPICS))
    create.add_argument("--text")
    create.add_argument("--text-file")
    create.add_argument("--link")
    create.add_argument("--image", help="URL of an image (shown as link preview; needs --image-alt)")
    create.add_argument("--image-alt", help="what the image shows, in one sentence (alternative text)")
    create.add_argument("--variant", action="append", help="own text for a channel: x=TEXT (repeatable)")
    create.add_argument(
        "--channels",
        help="comma-separated channels, e.g. telegram,x,mastodon (default: every channel that is on)",
    )
    create.add_argument("--at", help="Europe/Berlin, e.g. '2026-03-29 09:30' (or with MEZ/MESZ)")
    create.add_argument("--now", action="store_true", help="schedule for now")
    _who(create)
    create.set_defaults(func=lambda settings, args: cmd_broadcast_create(settings, args, publishers))
    schedule = bc.add_parser("schedule", help="schedule a draft (or move a scheduled post)")
    schedule.add_argument("id", type=int)
    schedule.add_argument("--at", help="Europe/Berlin; default: now")
    schedule.add_argument("--follow", action="store_true", help="show the progress until all is sent")
    _who(schedule)
    schedule.set_defaults(func=lambda settings, args: cmd_broadcast_schedule(settings, args, publishers))
    listing = bc.add_parser("list", help="the latest posts")
    listing.add_argument("--state", action="append", choices=[s.value for s in PostState], type=PostState)
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=cmd_broadcast_list)
    preview = bc.add_parser("preview", help="each channel's exact text and its length as counted there")
    preview.add_argument("id", type=int)
    preview.add_argument("--json", action="store_true")
    preview.set_defaults(func=lambda settings, args: cmd_broadcast_preview(settings, args, publishers))
    showing = bc.add_parser("show", help="one post with previews and delivery progress")
    showing.add_argument("id", type=int)
    showing.set_defaults(func=lambda settings, args: cmd_broadcast_show(settings, args, publishers))
    cancel = bc.add_parser("cancel", help="cancel a draft or scheduled post, or stop one being sent")
    cancel.add_argument("id", type=int)
    _who(cancel)
    cancel.set_defaults(func=cmd_broadcast_cancel)

    al = sub.add_parser("alert", help="alerts (CAP 1.2): issue, update, cancel, list").add_subparsers(
        dest="alert", required=True
    )
    issue = al.add_parser("issue", help="issue an alert from flags, --template NAME or --cap FILE")
    issue.add_argument("--cap", help="CAP 1.2 XML file (or .json in the JSON form)")
    issue.add_argument("--template", help="unwetter, hochwasser, bombenentschaerfung, grossbrand, ...")
    issue.add_argument("--value", action="append", help="template placeholder: name=value")
    issue.add_argument("--headline")
    issue.add_argument("--description")
    issue.add_argument("--instruction")
    issue.add_argument("--event")
    issue.add_argument("--category", default="Safety")
    issue.add_argument("--urgency", default="Immediate")
    issue.add_argument("--severity", default="Severe")
    issue.add_argument("--certainty", default="Likely")
    issue.add_argument("--hours", type=float, default=12, help="valid for (default 12 h) unless --expires")
    _alert_common(issue)
    issue.set_defaults(func=lambda settings, args: cmd_alert_issue(settings, args, publishers))
    upd = al.add_parser("update", help="update an alert (edits sent messages)")
    upd.add_argument("identifier", help="identifier (or number) of the alert")
    upd.add_argument("--cap")
    upd.add_argument("--headline")
    upd.add_argument("--description")
    upd.add_argument("--instruction")
    upd.add_argument("--correction", action="store_true", help="a correction of a mistake")
    _alert_common(upd)
    upd.set_defaults(func=lambda settings, args: cmd_alert_update(settings, args, publishers))
    can = al.add_parser("cancel", help="all-clear (Entwarnung) to everyone who got the alert")
    can.add_argument("identifier")
    can.add_argument("--cap")
    can.add_argument("--hinweis", help="an extra sentence for the all-clear")
    can.add_argument("--follow", action="store_true")
    _who(can, "feuerwehr")
    can.set_defaults(func=lambda settings, args: cmd_alert_cancel(settings, args, publishers))
    al_list = al.add_parser("list", help="the latest alert messages")
    al_list.add_argument("--limit", type=int, default=30)
    al_list.set_defaults(func=cmd_alert_list)

    dl = sub.add_parser("deliveries", help="delivery progress per channel: sent, pending, failed, ETA")
    dl.add_argument("--broadcast", type=int)
    dl.add_argument("--alert", help="identifier of an alert")
    dl.add_argument("--follow", action="store_true", help="refresh every second until nothing is pending")
    dl.add_argument("--json", action="store_true")
    dl.add_argument(
        "--posts",
        action="store_true",
        help="per message and channel that posts once: state, attempts, provider id, link to the live post",
    )
    dl.add_argument("--limit", type=int, default=50, help="with --posts: how many, newest first")
    dl.set_defaults(func=cmd_deliveries)

    sb = sub.add_parser("subscribers", help="import or export subscribers (CSV)").add_subparsers(
        dest="subscribers", required=True
    )
    imp = sb.add_parser("import", help="CSV channel,chat_id,topics,stadtteile; all rows or none")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_subscribers_import)
    exp = sb.add_parser("export", help="CSV of active subscribers (GDPR: one with --chat-id)")
    exp.add_argument("file", nargs="?", default="-")
    exp.add_argument("--chat-id")
    exp.set_defaults(func=cmd_subscribers_export)

    wk = sub.add_parser("worker", help="an outbox worker and scheduler (scale-out on PostgreSQL)")
    wk.add_argument("--progress-every", type=float, default=5.0)
    wk.add_argument("--migrate", action="store_true", help="apply migrations first (one process only)")
    wk.set_defaults(func=lambda settings, args: cmd_worker(settings, args, publishers))


def _who(parser: argparse.ArgumentParser, role: str = "presse") -> None:
    parser.add_argument("--by", help="who does this (default: the login name)")
    parser.add_argument("--role", default=role)


def _alert_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stadtteile", help="Stadtteile separated by ';' (none: the whole city)")
    parser.add_argument("--expires", help="Europe/Berlin, e.g. '2026-03-29 18:00'")
    parser.add_argument("--web")
    parser.add_argument("--status", default="Actual", choices=("Actual", "Exercise", "Test"))
    parser.add_argument("--sender", default="stadt-koblenz")
    parser.add_argument("--follow", action="store_true", help="show the progress until all is sent")
    _who(parser, "feuerwehr")
