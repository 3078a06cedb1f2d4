"""OpenAPI 3.1 description of the whole HTTP API (served at /openapi.json), assembled at the root.

The schemas of every JSON body are generated from the pydantic models the handlers validate requests
with and answer from (``bot.http``, ``connectors.web.routes``, ``connectors.rasa_rest``,
``broadcasts.api``), so a limit (``maxLength`` of a comment, the length of a conversation id) is written
once, in its model. Written here by hand is only what no model says: summaries, status codes, the
security schemes, and the XML endpoints (CAP 1.2, RSS/Atom), whose schemas are XML standards that have
no pydantic model (CAP's is ``broadcasts/schema/CAP-v1.2.xsd``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bot.http import ActiveAlerts, ChatReply, ChatRequest, Deleted
from broadcasts.api import AlertAccepted, CancelBody, LivePosts, PreviewBody, Previews, UpdateBody
from connectors.rasa_rest import RestReply, RestRequest
from connectors.web.routes import FeedbackRequest, Stored


class ErrorBody(BaseModel):
    """Every error answer of every endpoint (``core.http.error_middleware``)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="stable code, e.g. invalid_conversation_id, rate_limited, cap_schema")
    message: str = Field(description="German, polite")
    retry_after: int | None = Field(None, description="429: seconds to wait")


class AlertErrorBody(ErrorBody):
    """A refused alert: nothing stored, the attempt audited."""

    message_en: str | None = None
    element: str | None = Field(None, description="the failing CAP element, where known")
    line: int | None = None
    path: str | None = Field(None, description="e.g. info[0].area[1].areaDesc")
    channel: str | None = Field(None, description="text_too_long: the channel whose limit it is over")
    limit: int | None = None


class NluServers(BaseModel):
    answering: int
    total: int


class ChannelHealth(BaseModel):
    """One outbound channel (``connectors.registry.health``); never secrets."""

    model_config = ConfigDict(extra="allow")

    name: str
    label: str
    enabled: bool
    state: Literal["off", "sending", "paused", "workers", "serving", "configured", "stopped"]
    problem: str | None = Field(None, description="what is wrong, for operators (German)")
    missing: list[str] | None = Field(None, description="environment variables to set")
    paused_seconds: float | None = None
    push: bool | None = None
    carries: list[Literal["posts", "alerts"]] | None = None
    max_text: int | None = None
    paths: list[str] | None = None


class Health(BaseModel):
    """'degraded' while an NLU server is (re)starting: answers come from the remaining servers or, with
    none, from the catalog search."""

    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    nlu: Literal["ready", "unavailable"]
    nlu_servers: NluServers
    services: int
    channels: list[ChannelHealth]
    link_check: dict[str, Any] | None = Field(
        None, description="the last weekly check of the catalog's links: checked_at, totals, broken_links"
    )
    nina: dict[str, Any] | None = Field(None, description="the NINA poller: state, last poll, last error")
    nlu_retrain: dict[str, Any] | None = Field(
        None, description="'Neu trainieren': state, progress 0-100, message, servers swapped"
    )
    feeds: list[dict[str, Any]] = Field(
        default_factory=list, description="per inbound feed: state (new/ok/error), last_error, final_url"
    )


_MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = [
    *(
        (m, "validation")
        for m in (ChatRequest, FeedbackRequest, RestRequest, UpdateBody, CancelBody, PreviewBody)
    ),
    *(
        (m, "serialization")
        for m in (
            ChatReply,
            Deleted,
            ActiveAlerts,
            Stored,
            RestReply,
            AlertAccepted,
            Health,
            Previews,
            LivePosts,
        )
    ),
    *((m, "serialization") for m in (ErrorBody, AlertErrorBody)),
]
_REFS, _DEFS = models_json_schema(_MODELS, ref_template="#/components/schemas/{model}")


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    mode: JsonSchemaMode = "validation" if (model, "validation") in _REFS else "serialization"
    return dict(_REFS[(model, mode)])


def _json(model: type[BaseModel], description: str = "") -> dict[str, Any]:
    answer: dict[str, Any] = {"content": {"application/json": {"schema": _schema(model)}}}
    return {"description": description or model.__doc__ or model.__name__, **answer}


def _errors(*codes: int, model: type[BaseModel] = ErrorBody) -> dict[str, Any]:
    return {str(code): _json(model, "error") for code in codes}


def _body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _schema(model)}}}


def _xml(summary: str, media_type: str, parameter: str | None = None) -> dict[str, Any]:
    """A GET of an XML document (feeds, CAP files): no pydantic model, the standard is the schema."""
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": {"description": summary, "content": {media_type: {}}}},
    }
    if parameter is not None:
        operation["parameters"] = [_path_parameter(parameter)]
        operation["responses"].update(_errors(404))
    return {"get": operation}


def _path_parameter(name: str, description: str = "") -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
    return {**parameter, "description": description} if description else parameter


# -- the alert API: CAP 1.2 as XML (its XML schema, written here) or as JSON (docs/cap.md) -----------------

_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"hmac": []}]
_CAP_XML = {"type": "string", "description": "CAP 1.2 <alert>"}
_CAP_JSON = {"type": "object", "description": "the JSON form of CAP 1.2 (docs/cap.md)"}
_ALERT_ERRORS = _errors(400, 401, 403, 409, 413, 415, 422, model=AlertErrorBody)


def _follow_up(summary: str, short: type[BaseModel]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": _SECURITY,
            "parameters": [
                _path_parameter("alert", "the alert's number or CAP identifier (any message of the alert)")
            ],
            "requestBody": {
                "required": False,
                "content": {
                    "application/cap+xml": {"schema": _CAP_XML},
                    "application/xml": {"schema": _CAP_XML},
                    "application/json": {"schema": {"oneOf": [_CAP_JSON, _schema(short)]}},
                },
            },
            "responses": {"202": _json(AlertAccepted), **_ALERT_ERRORS},
        }
    }


_ALERT_POST = {
    "summary": "Issue an alert (CAP 1.2 Alert), or an Update / Cancel with references",
    "description": (
        "For the fire service's alerting system. Authenticate with `Authorization: Bearer <token>` "
        "or sign: `X-Koblenz-Sender`, `X-Koblenz-Timestamp` (unix seconds, ±5 min) and "
        "`X-Koblenz-Signature: sha256=<hex HMAC-SHA256 of '<timestamp>.' + body>`. Bodies over "
        "`ALERT_MAX_BYTES` (default 256,000) are refused with 413; DOCTYPE/entities (XXE, entity "
        "expansion) with 400; schema failures with 422. Posting the same message again answers "
        "202 with `duplicate: true`."
    ),
    "security": _SECURITY,
    "requestBody": {
        "required": True,
        "content": {
            "application/cap+xml": {"schema": _CAP_XML},
            "application/xml": {"schema": _CAP_XML},
            "application/json": {"schema": _CAP_JSON},
        },
    },
    "responses": {"202": _json(AlertAccepted), **_ALERT_ERRORS},
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "per-sender token (ALERT_SENDERS)"},
    "hmac": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Koblenz-Signature",
        "description": "sha256=<hex HMAC-SHA256 of '<X-Koblenz-Timestamp>.' + body>, with X-Koblenz-Sender",
    },
}

PATHS: dict[str, Any] = {
    "/api/chat": {
        "post": {
            "summary": "Send a citizen's message, get the bot's reply",
            "requestBody": _body(ChatRequest),
            "responses": {"200": _json(ChatReply), **_errors(400, 413, 429)},
        }
    },
    "/api/chat/{conversation_id}": {
        "delete": {
            "summary": "Delete a conversation and everything stored about it",
            "parameters": [_path_parameter("conversation_id")],
            "responses": {"200": _json(Deleted, "deleted")},
        }
    },
    "/api/feedback": {
        "post": {
            "summary": "Thumbs up or down on one answer (web widget), stored with the redacted question",
            "requestBody": _body(FeedbackRequest),
            "responses": {"200": _json(Stored, "stored"), **_errors(400, 404, 413, 429)},
        }
    },
    "/webhooks/rest/webhook": {
        "post": {
            "summary": "Rasa REST channel compatible endpoint",
            "requestBody": _body(RestRequest),
            "responses": {"200": _json(RestReply), **_errors(400, 413, 429)},
        }
    },
    "/health": {
        "get": {
            "summary": "Health of database, NLU and channels",
            "responses": {"200": _json(Health), "503": _json(Health, "database unavailable")},
        }
    },
    "/api/alerts": {
        "get": {
            "summary": "Active alerts for the website banner and the chat widget",
            "responses": {"200": _json(ActiveAlerts)},
        },
        "post": _ALERT_POST,
    },
    "/api/alerts/{alert}/update": _follow_up(
        "Update an alert: CAP msgType Update, or just what changed", UpdateBody
    ),
    "/api/alerts/{alert}/cancel": _follow_up(
        "All-clear: CAP msgType Cancel, or an empty body / one more sentence", CancelBody
    ),
    "/api/alerts/{alert}/deliveries": {
        "get": {
            "summary": "Where an alert went: per message and channel state, attempts, id and live link",
            "security": _SECURITY,
            "parameters": [_path_parameter("alert", "the alert's number or CAP identifier")],
            "responses": {"200": _json(LivePosts), **_errors(401, 404)},
        }
    },
    "/api/broadcasts/{id}/deliveries": {
        "get": {
            "summary": "Where a post went: per channel state, attempts, id and live link",
            "security": _SECURITY,
            "parameters": [_path_parameter("id", "the post's number")],
            "responses": {"200": _json(LivePosts), **_errors(401, 404)},
        }
    },
    "/api/broadcasts/{id}/preview": {
        "get": {
            "summary": "Each chosen channel's exact text of a post and its length as that platform counts",
            "security": _SECURITY,
            "parameters": [_path_parameter("id", "the post's number")],
            "responses": {"200": _json(Previews), **_errors(401, 404)},
        }
    },
    "/api/preview": {
        "post": {
            "summary": "Preview a post's text per channel without storing it",
            "security": _SECURITY,
            "requestBody": _body(PreviewBody),
            "responses": {"200": _json(Previews), **_errors(400, 401, 413, 422)},
        }
    },
    # the feed channels' routes (connectors.feeds), served when those channels are on
    "/alerts/{identifier}.cap.xml": _xml(
        "One alert message as CAP 1.2 XML", "application/cap+xml", "identifier"
    ),
    "/cap/{identifier}.xml": _xml(
        "The same, at the URL the CAP feed links to", "application/cap+xml", "identifier"
    ),
    "/feeds/rss.xml": _xml("RSS 2.0 feed of published posts and alerts", "application/rss+xml"),
    "/feeds/atom.xml": _xml("Atom feed of published posts and alerts", "application/atom+xml"),
    "/feeds/cap.atom": _xml(
        "CAP 1.2 Atom index of the active alerts (each entry embeds and links its CAP)",
        "application/atom+xml",
    ),
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Koblenz Bürgerservice-Bot", "version": "0.1.0"},
    "paths": PATHS,
    "components": {"schemas": _DEFS.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
}
