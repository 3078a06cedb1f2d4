"""core.bodies: a failed validation of a request body is one BadRequest, German, naming the field."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import ConfigDict, Field

from core import BadRequest
from core.bodies import Body, parse_body


class Sample(Body):
    messages = {"code": "Der Code muss genau vier Zeichen lang sein."}

    name: str
    count: int = Field(1, ge=1, le=9)
    flag: bool = False
    kind: Literal["a", "b"] = "a"
    code: str = Field("abcd", min_length=4, max_length=4)


class Strict(Sample):
    model_config = ConfigDict(extra="forbid")
    error_status = 422
    error_code = "invalid"


@pytest.mark.parametrize(
    ("data", "code", "german"),
    [
        ({}, "invalid_name", "Das Feld „name“ fehlt."),
        ({"name": 5}, "invalid_name", "Das Feld „name“ muss ein Text sein."),
        ({"name": "x", "count": "3"}, "invalid_count", "„count“ muss eine ganze Zahl sein"),
        ({"name": "x", "count": True}, "invalid_count", "„count“ muss eine ganze Zahl sein"),
        ({"name": "x", "count": 1.0}, "invalid_count", "„count“ muss eine ganze Zahl sein"),
        ({"name": "x", "count": 0}, "invalid_count", "„count“ muss mindestens 1 sein"),
        ({"name": "x", "count": 10}, "invalid_count", "„count“ darf höchstens 9 sein"),
        ({"name": "x", "flag": "ja"}, "invalid_flag", "„flag“ muss true oder false sein"),
        ({"name": "x", "kind": "c"}, "invalid_kind", "„kind“ muss einer dieser Werte sein"),
        ({"name": "x", "code": "abc"}, "invalid_code", "Der Code muss genau vier Zeichen lang sein."),
        ({"name": "x", "code": 1234}, "invalid_code", "Das Feld „code“ muss ein Text sein."),
    ],
)
def test_the_first_bad_field_is_named_in_german(data: dict[str, Any], code: str, german: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_body(Sample, data)
    assert (info.value.status, info.value.code) == (400, code)
    assert german in info.value.message


def test_unknown_fields_are_ignored_unless_forbidden() -> None:
    assert parse_body(Sample, {"name": "x", "other": 1}).name == "x"
    with pytest.raises(BadRequest) as info:
        parse_body(Strict, {"name": "x", "other": 1})
    assert (info.value.status, info.value.code) == (422, "invalid")
    assert "„other“ gibt es hier nicht. Erlaubt sind: name, count, flag, kind, code." in info.value.message


def test_a_body_that_is_no_object() -> None:
    with pytest.raises(BadRequest) as info:
        parse_body(Strict, [1, 2])
    assert info.value.message.startswith("Erwartet wird ein JSON-Objekt mit diesen Feldern: name")
