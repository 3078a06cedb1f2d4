"""Hypothesis strategies for valid CAP alerts (broadcasts.capmodel), shared by the CAP and feed tests."""

from __future__ import annotations

import datetime as dt
from typing import Any, get_args

from hypothesis import strategies as st

from broadcasts.cap import EXTRA_KEYS, format_cap_datetime
from broadcasts.capmodel import (
    CapAlert,
    CapArea,
    CapInfo,
    Category,
    Certainty,
    ResponseType,
    Severity,
    Status,
    Urgency,
)

# Text that survives XML: no control characters (except tab/newline/CR), surrogates or non-characters;
# stripped like the parser strips element text.
_chars = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn"), include_characters="\n\t\r")
texts = st.text(_chars, min_size=1, max_size=40).map(str.strip).filter(bool)
optional_texts = st.none() | texts
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,30}", fullmatch=True)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))
times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1), timezones=offsets
).map(lambda value: value.replace(microsecond=0))
pairs = st.lists(st.tuples(texts, texts), max_size=2).map(tuple)


@st.composite
def polygons(draw: st.DrawFn) -> str:
    points = draw(
        st.lists(
            st.tuples(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False)),
            min_size=3,
            max_size=6,
        )
    )
    points.append(points[0])
    return " ".join(f"{lat:.4f},{lon:.4f}" for lat, lon in points)


circles = st.builds(
    lambda lat, lon, km: f"{lat:.4f},{lon:.4f} {km:.2f}",
    st.floats(-90, 90, allow_nan=False),
    st.floats(-180, 180, allow_nan=False),
    st.floats(0, 50, allow_nan=False),
)
areas = st.builds(
    CapArea,
    area_desc=texts,
    polygons=st.lists(polygons(), max_size=2).map(tuple),
    geocodes=pairs,
    circles=st.lists(circles, max_size=2).map(tuple),
)


@st.composite
def infos(draw: st.DrawFn, language: str, sent: dt.datetime) -> CapInfo:
    effective = draw(st.none() | times)
    start = effective or sent
    expires = draw(st.none() | st.integers(1, 10**6).map(lambda s: start + dt.timedelta(seconds=s)))
    onset = draw(st.none() | times)
    if onset is not None and expires is not None and onset > expires:
        onset = expires
    return CapInfo(
        language=language,
        category=tuple(draw(st.lists(st.sampled_from(get_args(Category)), min_size=1, max_size=3))),
        event=draw(texts),
        urgency=draw(st.sampled_from(get_args(Urgency))),
        severity=draw(st.sampled_from(get_args(Severity))),
        certainty=draw(st.sampled_from(get_args(Certainty))),
        headline=draw(texts),
        description=draw(st.just("") | texts),
        instruction=draw(st.just("") | texts),
        effective=effective,
        onset=onset,
        expires=expires,
        sender_name=draw(st.just("") | texts),
        web=draw(st.none() | st.from_regex(r"https://[a-z]{1,10}\.de/[a-z0-9/]{0,10}", fullmatch=True)),
        contact=draw(optional_texts),
        areas=tuple(draw(st.lists(areas, max_size=3))),
        response_types=tuple(draw(st.lists(st.sampled_from(get_args(ResponseType)), max_size=2))),
        audience=draw(optional_texts),
        event_codes=draw(pairs),
        parameters=draw(pairs),
    )


@st.composite
def cap_alerts(draw: st.DrawFn) -> CapAlert:
    """Any alert the city's rules accept: German info first, English optional."""
    sender = draw(ids)
    identifier = draw(ids)
    sent = draw(times)
    msg_type = draw(st.sampled_from(["Alert", "Update", "Cancel"]))
    references: list[str] = []
    for _ in range(draw(st.integers(1 if msg_type != "Alert" else 0, 3))):
        other = draw(ids.filter(lambda value: value != identifier))
        references.append(f"{draw(ids)},{other},{format_cap_datetime(draw(times))}")
    scope = draw(st.sampled_from(["Public", "Public", "Restricted", "Private"]))
    extra: dict[str, str] = {key: draw(texts) for key in EXTRA_KEYS if draw(st.booleans())}
    if scope == "Restricted":
        extra.setdefault("restriction", draw(texts))
    if scope == "Private":
        extra.setdefault("addresses", draw(texts))
    info_blocks = [draw(infos("de-DE", sent))]
    if draw(st.booleans()):
        info_blocks.append(draw(infos("en-US", sent)))
    kwargs: dict[str, Any] = {
        "identifier": identifier,
        "sender": sender,
        "sent": sent,
        "status": draw(st.sampled_from(get_args(Status))),
        "msg_type": msg_type,
        "scope": scope,
        "infos": tuple(draw(st.permutations(info_blocks))),
        "references": tuple(references),
        "note": draw(optional_texts),
        "source": draw(optional_texts),
        "extra": extra,
    }
    return CapAlert(**kwargs)
