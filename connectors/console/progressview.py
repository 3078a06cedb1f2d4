"""Watching a post or an alert go out: the figures as JSON, as server-sent events, as an SVG chart, and
"Fehlgeschlagene erneut senden".

    GET  /console/api/progress/post/{id}          JSON (broadcasts.progress.Progress.as_dict + labels)
    GET  /console/api/progress/alert/{id}         (any message of the alert's chain)
    GET  /console/api/progress/{kind}/{id}/stream text/event-stream, one "progress" event per change
    POST /console/beitraege/{id}/erneut, /console/warnungen/{id}/erneut   failed deliveries back to pending
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from typing import Any

from aiohttp import web

from broadcasts import progress as figures
from connectors.console.base import STOPPING, audit, need, service_of, sessions_of
from core.time import BERLIN

STREAM_SECONDS = 600  # the browser's EventSource reconnects after this
INTERVAL = 1.0
CHART_W, CHART_H = 600, 160
MIN_BARS = 12


def eta_text(seconds: int | None, pending: int) -> str:
    if not pending:
        return "fertig"
    if seconds is None:
        return "unbekannt"
    if seconds < 60:
        return f"etwa {seconds} Sekunden"
    return f"etwa {round(seconds / 60)} Minuten"


def labels(request: web.Request) -> dict[str, str]:
    return {name: channel.label for name, channel in service_of(request).channels.items()}


def chart(data: figures.Progress) -> dict[str, Any]:
    """Bars of deliveries per time bucket, scaled into a fixed viewBox (drawn by the template as SVG)."""
    series = list(data.series)
    top = max((count for _, count in series), default=0)
    bars = []
    if series and top:
        width = CHART_W / max(len(series), MIN_BARS)  # a lone bar stays a bar, not the whole chart
        for index, (at, count) in enumerate(series):
            height = round(count / top * (CHART_H - 20), 1)
            bars.append(
                {
                    "x": round(index * width + 1, 1),
                    "y": round(CHART_H - height, 1),
                    "w": max(1.0, round(width - 2, 1)),
                    "h": height,
                    "label": f"{time.strftime('%H:%M:%S', time.localtime(at))}: {count}",
                    "count": count,
                    "at": _clock(at),
                }
            )
    return {
        "bars": bars,
        "top": top,
        "width": CHART_W,
        "height": CHART_H,
        "bucket": data.bucket_seconds,
        "first": bars[0]["at"] if bars else "",
        "last": bars[-1]["at"] if bars else "",
    }


def _clock(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, BERLIN).strftime("%H:%M:%S")


def payload(request: web.Request, data: figures.Progress) -> dict[str, Any]:
    names = labels(request)
    body = data.as_dict()
    for row in body["channels"]:
        row["label"] = names.get(row["channel"], row["channel"])
        row["eta_text"] = eta_text(row["eta_seconds"], row["pending"])
    body["chart"] = chart(data)
    return body


async def load(request: web.Request, kind: str, target: int) -> figures.Progress:
    if kind == "post":
        return await figures.progress(sessions_of(request), broadcast_id=target)
    return await figures.progress(sessions_of(request), alert_id=target)


def _kind(request: web.Request) -> tuple[str, int]:
    kind = request.match_info["kind"]
    if kind not in ("post", "alert"):
        raise web.HTTPNotFound()
    need(request, "posts.view" if kind == "post" else "alerts.view")
    return kind, int(request.match_info["id"])


async def progress_json(request: web.Request) -> web.Response:
    kind, target = _kind(request)
    return web.json_response(payload(request, await load(request, kind, target)))


async def progress_stream(request: web.Request) -> web.StreamResponse:
    kind, target = _kind(request)
    data = await load(request, kind, target)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    last = ""
    deadline = time.monotonic() + STREAM_SECONDS
    idle_rounds = 0
    try:
        while time.monotonic() < deadline:
            body = json.dumps(payload(request, data), ensure_ascii=False)
            if body != last:
                await response.write(f"event: progress\ndata: {body}\n\n".encode())
                last = body
                idle_rounds = 0
            else:
                idle_rounds += 1
                if idle_rounds % 15 == 0:
                    await response.write(b": keep-alive\n\n")
            stopping = request.config_dict.get(STOPPING)
            if stopping is None or stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), INTERVAL)
            if stopping.is_set():
                break
            data = await load(request, kind, target)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def retry(request: web.Request, kind: str) -> int:
    """Failed deliveries back to pending; the caller has checked the role."""
    target = int(request.match_info["id"])
    if kind == "post":
        count = await figures.retry_failed(sessions_of(request), broadcast_id=target)
    else:
        count = await figures.retry_failed(sessions_of(request), alert_id=target)
    await audit(
        request,
        f"console.{kind}.retry_failed",
        f"{'broadcast' if kind == 'post' else 'alert'}:{target}",
        {"count": count},
    )
    return count
