"""Request bodies as pydantic models: one validation per endpoint, one error shape, limits written once.

Each endpoint declares its JSON body as a subclass of ``Body``; the same model validates the request and
produces its OpenAPI schema (``app.openapi``), so a limit such as ``max_length=500`` is written once, in
the model. ``read_body`` and ``parse_body`` turn a failed validation into a ``core.BadRequest`` (mapped to
JSON by ``core.http.error_middleware`` like every other error) with a German message naming the field::

    {"error": "invalid_<field>", "message": "Das Feld „turn“ muss mindestens 1 sein."}

Validation is strict (JSON types as they are: ``true`` is no number, ``"1"`` no integer). A model may
set ``error_code`` / ``error_status`` for all its fields (the alert API answers 422 ``invalid``) and
``messages`` for a field whose German text should say more than the generic one.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from core import BadRequest
from core.http import MAX_BODY_BYTES, read_json_object

B = TypeVar("B", bound="Body")

_GENERIC: dict[str, str] = {
    "missing": "Das Feld „{field}“ fehlt.",
    "string_type": "Das Feld „{field}“ muss ein Text sein.",
    "string_too_short": "Das Feld „{field}“ muss mindestens {min_length} Zeichen lang sein.",
    "string_too_long": "Das Feld „{field}“ darf höchstens {max_length} Zeichen lang sein.",
    "int_type": "Das Feld „{field}“ muss eine ganze Zahl sein.",
    "greater_than_equal": "Das Feld „{field}“ muss mindestens {ge} sein.",
    "less_than_equal": "Das Feld „{field}“ darf höchstens {le} sein.",
    "bool_type": "Das Feld „{field}“ muss true oder false sein.",
    "list_type": "Das Feld „{field}“ muss eine Liste sein.",
    "literal_error": "Das Feld „{field}“ muss einer dieser Werte sein: {expected}.",
    "extra_forbidden": "Das Feld „{field}“ gibt es hier nicht. Erlaubt sind: {allowed}.",
    "model_type": "Erwartet wird ein JSON-Objekt mit diesen Feldern: {allowed}.",
}


class Body(BaseModel):
    """Base of every JSON request body. Unknown fields are ignored unless a model forbids them."""

    model_config = ConfigDict(strict=True, extra="ignore")

    error_status: ClassVar[int] = 400
    error_code: ClassVar[str | None] = None  # None: "invalid_<field>"
    # field → German message for a value of the right type that breaks the field's rules
    messages: ClassVar[dict[str, str]] = {}

    @classmethod
    def rejection(cls, error: ErrorDetails) -> BadRequest:
        """The ``BadRequest`` for the first failure of a validation."""
        loc = error.get("loc") or ()
        ctx = dict(error.get("ctx") or {})
        field = str(loc[0]) if loc else str(ctx.get("field", ""))
        kind = error["type"]
        own = None if kind == "missing" or kind.endswith("_type") else cls.messages.get(field)
        text = own or _GENERIC.get(kind, "Das Feld „{field}“ ist ungültig.")
        allowed = ", ".join(name for name in cls.model_fields)
        message = text.format(field=field, allowed=allowed, **{k: v for k, v in ctx.items() if k != "field"})
        return BadRequest(message, code=cls.error_code or f"invalid_{field}", status=cls.error_status)


def parse_body(model: type[B], data: Any) -> B:
    """``data`` (decoded JSON) as ``model``, or the ``BadRequest`` naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise model.rejection(exc.errors(include_url=False, include_input=False)[0]) from None


async def read_body(request: web.Request, model: type[B], limit: int = MAX_BODY_BYTES) -> B:
    """The request's JSON body as ``model`` (413 over ``limit``, 400 no JSON object, 400/422 invalid)."""
    return parse_body(model, await read_json_object(request, limit))
