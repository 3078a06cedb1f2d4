"""OpenAPI 3.1 description of the whole HTTP API (served at /openapi.json): the chat's paths and the
broadcast engine's, assembled here at the root."""

from __future__ import annotations

from typing import Any, get_args

from bot.events import ReplyKind
from broadcasts.openapi import BROADCAST_PATHS, SECURITY_SCHEMES
from catalog.aspects import ASPECTS

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string", "description": "German, polite"},
    },
}
_LINK = {
    "type": "object",
    "required": ["title", "url", "kind"],
    "properties": {
        "title": {"type": "string"},
        "url": {"type": "string"},
        "kind": {"enum": ["info", "online", "appointment", "payment", "form", "contact"]},
    },
}
_REPLY = {
    "type": "object",
    "required": ["conversation_id", "text", "kind", "service_id", "aspect", "links", "confidence"],
    "properties": {
        "conversation_id": {"type": "string", "description": "opaque token; send it back to continue"},
        "text": {"type": "string"},
        "kind": {"enum": list(get_args(ReplyKind))},
        "service_id": {"type": ["string", "null"]},
        "aspect": {"enum": [*ASPECTS, None]},
        "confidence": {"type": ["number", "null"]},
        "links": {"type": "array", "items": _LINK},
        "quick_replies": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"title": {"type": "string"}, "payload": {"type": "string"}},
            },
        },
        "notices": {"type": "array", "items": {"type": "string"}},
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(c): {"description": "error", "content": {"application/json": {"schema": _ERROR}}} for c in codes
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Koblenz Bürgerservice-Bot", "version": "0.1.0"},
    "paths": {
        "/api/chat": {
            "post": {
                "summary": "Send a citizen's message, get the bot's reply",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "message": {"type": "string", "description": "at most 1,000 characters"},
                                    "payload": {"type": "string", "description": "payload of a quick reply"},
                                    "conversation_id": {"type": "string", "minLength": 8, "maxLength": 128},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "reply", "content": {"application/json": {"schema": _REPLY}}},
                    **_errors(400, 413, 429),
                },
            }
        },
        "/api/chat/{conversation_id}": {
            "delete": {
                "summary": "Delete a conversation and everything stored about it",
                "parameters": [
                    {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "deleted"}},
            }
        },
        "/webhooks/rest/webhook": {
            "post": {
                "summary": "Rasa REST channel compatible endpoint",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["message"],
                                "properties": {"sender": {"type": "string"}, "message": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "list of bot messages"}, **_errors(400, 413, 429)},
            }
        },
        "/health": {
            "get": {
                "summary": "Health of database and NLU",
                "description": "status is 'degraded' while an NLU server is (re)starting: answers then come "
                "from the remaining servers or, with none, from the catalog search",
                "responses": {
                    "200": {
                        "description": "database reachable",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "status": {"enum": ["ok", "degraded"]},
                                        "database": {"enum": ["ok", "unavailable"]},
                                        "nlu": {"enum": ["ready", "unavailable"]},
                                        "nlu_servers": {
                                            "type": "object",
                                            "properties": {
                                                "answering": {"type": "integer"},
                                                "total": {"type": "integer"},
                                            },
                                        },
                                        "services": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "503": {"description": "database unavailable"},
                },
            }
        },
        "/api/feedback": {
            "post": {
                "summary": "Thumbs up or down on one answer (web widget), stored with the redacted question",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["conversation_id", "turn", "rating"],
                                "properties": {
                                    "conversation_id": {"type": "string", "minLength": 8, "maxLength": 128},
                                    "turn": {
                                        "type": "integer",
                                        "minimum": 1,
                                        "description": "number of the answer in the conversation, 1 = first",
                                    },
                                    "rating": {"enum": ["up", "down"]},
                                    "comment": {"type": "string", "maxLength": 500},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "stored"}, **_errors(400, 404, 413, 429)},
            }
        },
    },
}

# the broadcast engine's paths: alert API for the fire service, banner JSON, feeds, CAP files (issue 5)
OPENAPI["paths"].update(BROADCAST_PATHS)
OPENAPI.setdefault("components", {}).setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
