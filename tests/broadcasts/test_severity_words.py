"""Citizens read the severity in the one German vocabulary (``core.alerts``) on every channel the engine
writes: Telegram messages and the feeds' categories; never CAP's English code."""

from __future__ import annotations

from dataclasses import replace

import feedparser
import pytest

from broadcasts import texts
from broadcasts.feeds import alert_feed_item, atom_feed
from broadcasts.templates import render_template
from core.alerts import SEVERITY_LABELS, severity_label


@pytest.mark.parametrize("severity", list(SEVERITY_LABELS))
def test_telegram_texts_and_feeds_use_the_german_label(severity: str) -> None:
    alert = render_template("stromausfall", stadtteile=["Güls"])
    alert = replace(alert, infos=tuple(replace(info, severity=severity) for info in alert.infos))  # type: ignore[arg-type]
    label = severity_label(severity)
    for text in (texts.alert_text(alert), texts.update_text(alert)):
        head = text.split("\n\n", 1)[0]
        assert label in head and severity not in head.replace(label, "")
    (entry,) = feedparser.parse(atom_feed([alert_feed_item(alert)])).entries
    assert {tag.label for tag in entry.tags} == {"Warnung", label}
