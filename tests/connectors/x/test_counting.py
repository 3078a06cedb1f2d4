"""Texts are counted as X counts them, refused over 280, and fitted to 280 by cutting between words with the
link kept whole.

The weighted lengths are cases of twitter-text's conformance file ``conformance/validate.yml``
(github.com/twitter/twitter-text, commit 30e2430d90cff3b46393ea54caf511441983c260), sections
``WeightedTweetsWithDiscountedEmojiCounterTest`` (the rules X applies today: twitter-text config v3) and,
for the combining characters, ``WeightedTweetsCounterTest`` (the same result under v3). Texts and expected
lengths are copied unchanged; the long texts are written as the repetitions they consist of.
"""

from __future__ import annotations

import pytest
from twitter_text import parse_tweet

from broadcasts import TextTooLong
from broadcasts.publishers import Outgoing
from connectors.x.publisher import XPublisher

X = "xxxxxxxxxx-"
CJK_160 = (
    "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。朱雀桥边野草花，乌衣巷口夕阳斜。"
    "旧时王谢堂前燕，飞入寻常百姓家。朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"
    "泪湿罗巾梦不成，夜深前殿按歌声。红颜未老恩先断，斜倚薰笼坐到明。独在异乡为异客，每逢佳节倍思亲。"
    "遥知兄弟登高处，遍插茱萸少一人。"
)
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"

CONFORMANCE = [
    # (description in validate.yml, text, expected weightedLength, expected valid)
    ("Regular Tweet with url", "Hi http://test.co", 26, True),
    ("Long tweet, overflow at char index 280", "285 chars-" + X * 25, 285, False),
    (
        "Long tweet with url in the middle, overflow at char index 284",
        "285 chars- http://www.twitter.com/jack " + X * 24,
        299,
        False,
    ),
    ("10 url string, no overflow", "https://www.twitter.com/aloha " * 10, 240, True),
    ("Handle a 64 character domain without protocol", "randomurl" * 7 + "s.com", 68, True),
    ("160 CJK char, overflow at char index 140", CJK_160, 320, False),
    (
        "Count a mix of single byte single word, and double word unicode characters",
        "H\U0001f431\u263a" + FAMILY,
        7,
        True,
    ),
    (
        "Count unicode emoji chars outside the basic multilingual plane with skin tone modifiers",
        "\U0001f64b\U0001f3fd\U0001f468\u200d\U0001f3a4",
        4,
        True,
    ),
    ("140 family emoji", FAMILY * 140, 280, True),
    ("Emoji with a leading character in the latin range is counted as 2", "1\u20e3", 2, True),
    ("'A\u0301' is normalized into 1 char (WeightedTweetsCounterTest)", "A\u0301B", 2, True),
    ("\ufb2c is normalized into 3 chars (WeightedTweetsCounterTest)", "A\ufb2c", 4, True),
]


@pytest.mark.parametrize(
    ("description", "text", "weighted", "valid"), CONFORMANCE, ids=[c[0][:60] for c in CONFORMANCE]
)
async def test_weighted_length_follows_the_twitter_text_conformance_cases(
    publisher: XPublisher, description: str, text: str, weighted: int, valid: bool
) -> None:
    assert publisher.length(text) == weighted
    if valid:
        publisher.check(text)
    else:
        with pytest.raises(TextTooLong) as refused:
            publisher.check(text)
        assert refused.value.channel == "X" and refused.value.limit == 280


async def test_a_text_of_exactly_280_goes_and_281_is_refused_naming_x_and_the_limit(
    publisher: XPublisher,
) -> None:
    publisher.check("a" * 256 + " https://www.koblenz.de/")  # 256 + 1 + 23 (every URL) = 280
    with pytest.raises(TextTooLong) as refused:
        publisher.check("a" * 257 + " https://www.koblenz.de/")
    assert refused.value.channel == "X" and refused.value.limit == 280
    assert "X" in refused.value.message and "280" in refused.value.message


LONG_ALERT = (
    "⚠️ Gefahr – Stadt Koblenz: Unwetterwarnung für Koblenz. Am Abend ziehen von Westen schwere Gewitter "
    "mit Sturmböen bis 100 km/h, Starkregen und Hagel über das gesamte Stadtgebiet. Umstürzende Bäume und "
    "herabfallende Äste sind möglich; Keller können volllaufen. Die Feuerwehr ist mit allen Kräften im "
    "Einsatz und bittet um Rücksicht auf der Straße. Bleiben Sie in Gebäuden und meiden Sie Bäume."
)
LINK = "https://www.koblenz.de/rathaus/verwaltung/ordnungsamt/unwetterwarnung-mit-einem-sehr-langen-pfad/"


async def test_fit_cuts_a_long_german_alert_between_words_and_keeps_the_link(publisher: XPublisher) -> None:
    outgoing = Outgoing(kind="alert", event="alert.issued", link=LINK)  # no short form: the text is cut
    fitted = publisher.fit(LONG_ALERT, outgoing)
    assert parse_tweet(fitted).weightedLength <= 280
    assert len(LONG_ALERT) > 280 and fitted.endswith("\n\n" + LINK)  # kept whole, counted as 23
    body = fitted.removesuffix("\n\n" + LINK)
    assert body.endswith("…")
    kept = body.removesuffix("…")
    assert LONG_ALERT.startswith(kept) and LONG_ALERT[len(kept)] in " ,;."  # cut between two words
    publisher.check(fitted)
    # the link counts 23 whatever its length, so the X text keeps more words than a plain count allows
    assert len(fitted) > 280


async def test_fit_uses_the_short_form_when_the_full_text_is_too_long(publisher: XPublisher) -> None:
    summary = "⚠️ Gefahr: Unwetterwarnung für Koblenz – ganzes Stadtgebiet Koblenz. Bleiben Sie in Gebäuden."
    outgoing = Outgoing(kind="alert", event="alert.issued", link=LINK, summary=summary)
    assert publisher.fit(LONG_ALERT, outgoing) == f"{summary}\n\n{LINK}"
    short = "Die Stadtbibliothek öffnet am Samstag länger."
    assert (
        publisher.fit(short, Outgoing(kind="post", event="post.published", link=LINK)) == f"{short}\n\n{LINK}"
    )
