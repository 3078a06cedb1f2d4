"""OpenAPI 3.1 paths of the broadcast engine (merged into the bot's description in bot/openapi.py)."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "stable code, e.g. cap_schema, cap_unsafe, unauthorized"},
        "message": {"type": "string", "description": "German, polite"},
        "message_en": {"type": "string"},
        "element": {"type": "string", "description": "the failing CAP element, where known"},
        "line": {"type": "integer"},
        "path": {"type": "string", "description": "e.g. info[0].area[1].areaDesc"},
    },
}
_ACCEPTED = {
    "description": "accepted: stored, and (for public Actual/Exercise messages) being sent",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["id", "identifier", "state", "published"],
                "properties": {
                    "id": {"type": "integer", "description": "the alert's number"},
                    "identifier": {"type": "string", "description": "CAP identifier"},
                    "state": {"enum": ["active", "updated", "cancelled", "expired"]},
                    "published": {"type": "boolean", "description": "false for Test messages: not sent"},
                    "duplicate": {"type": "boolean", "description": "the same message was accepted before"},
                    "cap": {"type": "string", "description": "URL of the stored CAP XML"},
                },
            }
        }
    },
}
_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"hmac": []}]
_CAP_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/cap+xml": {"schema": {"type": "string", "description": "CAP 1.2 <alert>"}},
        "application/xml": {"schema": {"type": "string"}},
        "application/json": {
            "schema": {"type": "object", "description": "the JSON form of CAP 1.2 (docs/cap.md)"}
        },
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(c): {
            "description": "refused; nothing stored; audited",
            "content": {"application/json": {"schema": _ERROR}},
        }
        for c in codes
    }


def _follow_up(summary: str, simple: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": _SECURITY,
            "parameters": [
                {
                    "name": "alert",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "the alert's number or CAP identifier (any message of the alert)",
                }
            ],
            "requestBody": {
                "required": False,
                "content": {
                    **_CAP_BODY["content"],
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"type": "object", "description": "the JSON form of CAP 1.2"},
                                {"type": "object", "properties": simple, "additionalProperties": False},
                            ]
                        }
                    },
                },
            },
            "responses": {"202": _ACCEPTED, **_errors(400, 401, 403, 409, 413, 415, 422)},
        }
    }


BROADCAST_PATHS: dict[str, Any] = {
    "/api/alerts": {
        "get": {
            "summary": "Active alerts for the website banner and the chat widget",
            "responses": {
                "200": {
                    "description": "active alerts, most severe first",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "alerts": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "identifier": {"type": "string"},
                                                "headline": {"type": "string"},
                                                "severity": {"type": "string"},
                                                "description": {"type": "string"},
                                                "instruction": {"type": "string"},
                                                "areas": {"type": "array", "items": {"type": "string"}},
                                                "web": {"type": ["string", "null"]},
                                                "expires": {"type": ["string", "null"]},
                                            },
                                        },
                                    }
                                },
                            }
                        }
                    },
                }
            },
        },
        "post": {
            "summary": "Issue an alert (CAP 1.2 Alert), or an Update / Cancel with references",
            "description": (
                "For the fire service's alerting system. Authenticate with `Authorization: Bearer <token>` "
                "or sign: `X-Koblenz-Sender`, `X-Koblenz-Timestamp` (unix seconds, ±5 min) and "
                "`X-Koblenz-Signature: sha256=<hex HMAC-SHA256 of '<timestamp>.' + body>`. Bodies over "
                "`alert_max_bytes` (default 256,000) are refused with 413; DOCTYPE/entities (XXE, entity "
                "expansion) with 400; schema failures with 422. Posting the same message again answers "
                "202 with `duplicate: true`."
            ),
            "security": _SECURITY,
            "requestBody": _CAP_BODY,
            "responses": {"202": _ACCEPTED, **_errors(400, 401, 403, 409, 413, 415, 422)},
        },
    },
    "/api/alerts/{alert}/update": _follow_up(
        "Update an alert: CAP msgType Update, or just the changed German texts",
        {
            "headline": {"type": "string"},
            "description": {"type": "string"},
            "instruction": {"type": "string"},
            "stadtteile": {"type": "array", "items": {"type": "string"}},
            "correction": {"type": "boolean"},
        },
    ),
    "/api/alerts/{alert}/cancel": _follow_up(
        "All-clear: CAP msgType Cancel, or an empty body / an extra sentence",
        {"hinweis": {"type": "string"}},
    ),
    "/alerts/{identifier}.cap.xml": {
        "get": {
            "summary": "One alert message as CAP 1.2 XML",
            "parameters": [
                {"name": "identifier", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "CAP 1.2", "content": {"application/cap+xml": {}}},
                **_errors(404),
            },
        }
    },
    "/feeds/rss.xml": {
        "get": {
            "summary": "RSS 2.0 feed of published posts and alerts",
            "responses": {"200": {"description": "RSS", "content": {"application/rss+xml": {}}}},
        }
    },
    "/feeds/atom.xml": {
        "get": {
            "summary": "Atom feed of published posts and alerts",
            "responses": {"200": {"description": "Atom", "content": {"application/atom+xml": {}}}},
        }
    },
    "/feeds/cap.atom": {
        "get": {
            "summary": "CAP 1.2 Atom index of the active alerts (each entry embeds and links its CAP)",
            "responses": {"200": {"description": "Atom", "content": {"application/atom+xml": {}}}},
        }
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "per-sender token (alert_senders)"},
    "hmac": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Koblenz-Signature",
        "description": "sha256=<hex HMAC-SHA256 of '<X-Koblenz-Timestamp>.' + body>, with X-Koblenz-Sender",
    },
}
