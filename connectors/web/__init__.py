"""The website chat widget: ``/widget.js``, the demo page, the privacy page, feedback and CORS.

``setup(app, settings)`` is called once by the composition root (``app.web.create_app``). The widget itself is plain JavaScript in
``static/widget.js`` (Shadow DOM, no framework, no third-party requests, no cookies); it talks to the chat
API (``POST /api/chat``, ``DELETE /api/chat/{id}``, ``GET /api/alerts``) and to ``POST /api/feedback``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors.web.assets import Asset, page, widget_source
from connectors.web.routes import feedback_handler
from core.settings import Settings

WIDGET = web.AppKey("widget_assets", dict[str, Asset])
DEMO_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HTML = "text/html"


def widget_config(settings: Settings) -> dict[str, Any]:
    return {
        "retentionDays": settings.retention_days,
        "privacyUrl": settings.widget_privacy_url,
        "maxChars": settings.max_message_chars,
    }


def build_assets(settings: Settings) -> dict[str, Asset]:
    page_headers = {"Content_Security_Policy": DEMO_CSP, "Referrer_Policy": "no-referrer"}
    return {
        "/widget.js": Asset.from_text(
            widget_source(widget_config(settings)),
            "application/javascript",
            Cross_Origin_Resource_Policy="cross-origin",
        ),
        "/": Asset.from_text(page("demo.html"), HTML, "no-cache", **page_headers),
        "/demo.css": Asset.from_text(page("demo.css"), "text/css"),
        "/datenschutz": Asset.from_text(
            page("datenschutz.html", RETENTION_DAYS=str(settings.retention_days)),
            HTML,
            "no-cache",
            **page_headers,
        ),
    }


async def asset_handler(request: web.Request) -> web.Response:
    asset = request.app[WIDGET].get(request.path)
    if asset is None:
        raise web.HTTPNotFound()
    return asset.response(request)


def _allowed_origin(settings: Settings, origin: str) -> str | None:
    allowed = [o.strip().rstrip("/") for o in settings.widget_origins.split(",") if o.strip()]
    if "*" in allowed:
        return "*"
    return origin if origin.rstrip("/") in allowed else None


def cors(settings: Settings) -> Any:
    """Let the widget on the city's pages call the API: no credentials, so no cookies ever cross."""

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if not origin or not request.path.startswith("/api/"):
            return
        allowed = _allowed_origin(settings, origin)
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers["Access-Control-Expose-Headers"] = "Retry-After"
            if allowed != "*":
                response.headers["Vary"] = "Origin"

    return add_headers


async def preflight_handler(request: web.Request) -> web.Response:
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        },
    )


def setup(app: web.Application, settings: Settings) -> None:
    """Register the widget's routes on the bot's app (called once by the composition root)."""
    app[WIDGET] = build_assets(settings)
    for path in app[WIDGET]:
        app.router.add_get(path, asset_handler)
    app.router.add_post("/api/feedback", feedback_handler)
    app.router.add_route("OPTIONS", "/api/{tail:.*}", preflight_handler)
    app.on_response_prepare.append(cors(settings))
