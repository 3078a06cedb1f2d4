"""How long a status is for Mastodon's character limit.

Mastodon (``StatusLengthValidator``) counts grapheme clusters of the content warning plus the text, where
the text has every URL replaced by ``characters_reserved_per_url`` characters (23 unless the instance says
otherwise) and every mention ``@user@domain`` shortened to its local part ``@user``. Only URLs with a
scheme (``http://``/``https://``) and a domain with a top-level domain count as URLs; ``koblenz.de``
without a scheme is counted as the characters it has.

Python has no grapheme segmentation in the standard library; :func:`graphemes` follows Unicode's rules
for what matters in German texts and emoji (combining marks, variation selectors, skin tones, ZWJ
sequences, flags, CR LF). Where it errs it counts more, never less, so a text we accept is never
refused by the instance.
"""

from __future__ import annotations

import re
import unicodedata

DEFAULT_URL_WEIGHT = 23

# A URL as Mastodon's extractor (twitter-text's valid_url) finds it: after a space or punctuation (not
# inside a word, an address or a hashtag), a scheme, a domain whose last label is a top-level domain
# (letters, or punycode), an optional port, a path of Latin, Cyrillic and URL characters, and a query of
# ASCII URL characters. What follows (a space, an emoji, a quote) is counted as text. How a URL may end
# is in ``_trim``: "Infos: https://www.koblenz.de." ends the URL before the dot.
_LETTERS = (  # Latin-1 and Latin Extended letters, IPA, combining marks, Cyrillic, Latin Extended Additional
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268\u026f"
    "\u0272\u0289\u028b\u02bb\u0300-\u036f\u0400-\u04ff\u1e00-\u1eff"
)
URL = re.compile(
    r"(?<![A-Za-z0-9@$#＃])"
    r"https?://"
    r"(?:[^\W_](?:[\w-]*[^\W_])?\.)+"
    r"(?:[^\W\d_]{2,}|xn--[a-z0-9-]+)(?![\w-])"
    r"(?::\d{1,5})?"
    rf"(?:/[a-z0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&(){_LETTERS}]*)?"
    r"(?:\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*)?",
    re.IGNORECASE,
)
# A mention of a remote account: counted as its local part only ("@stadt@social.bund.de" → "@stadt").
MENTION = re.compile(r"(?<![=/\w])@(\w+(?:[\w.-]*\w)?)@\w+(?:[.-]+\w+)*", re.IGNORECASE)

# how a URL may end: a path with a letter, digit or one of "+-=_#/" (or a closing parenthesis that has
# its opening one); a query with an ASCII letter, digit or one of "-_&=#/"
_PATH_END = re.compile(rf"[a-z0-9+\-=_#/{_LETTERS}]", re.IGNORECASE)
_QUERY_END = re.compile(r"[a-z0-9\-_&=#/]", re.IGNORECASE)


def _trim(url: str) -> str:
    """``url`` without the characters a URL cannot end with (trailing punctuation, an unmatched ")")."""
    while url:
        last = url[-1]
        if url.count("//") == 1 and "/" not in url.split("//", 1)[1] and "?" not in url:
            return url  # only scheme and host (with port) are left: the host ends with its TLD
        if "?" in url:
            if _QUERY_END.fullmatch(last):
                return url
        elif _PATH_END.fullmatch(last) or (last == ")" and url.count("(") >= url.count(")")):
            return url
        url = url[:-1]
    return url


def urls(text: str) -> list[str]:
    """The URLs in ``text`` as Mastodon counts them (each weighs the instance's reserved length)."""
    return [_trim(m.group(0)) for m in URL.finditer(text)]


def countable(text: str, url_weight: int = DEFAULT_URL_WEIGHT) -> str:
    """``text`` as Mastodon measures it: every URL as ``url_weight`` characters, mentions as local part."""

    def weigh(match: re.Match[str]) -> str:
        url = _trim(match.group(0))
        return "x" * url_weight + match.group(0)[len(url) :]

    return MENTION.sub(r"@\1", URL.sub(weigh, text))


def _pictographic(code: int) -> bool:
    return (
        0x1F000 <= code <= 0x1FAFF
        or 0x2190 <= code <= 0x2BFF
        or code in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0x3297, 0x3299)
    )


def _extends(char: str, code: int) -> bool:
    """Characters that belong to the cluster before them (Unicode's Extend and SpacingMark, roughly)."""
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char == "\u200d"
        or 0xFE00 <= code <= 0xFE0F  # variation selectors (emoji presentation)
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
    )


def graphemes(text: str) -> int:
    """The number of user-perceived characters (extended grapheme clusters) in ``text``."""
    count = 0
    previous = ""
    base_pictographic = False
    open_flag = False  # a regional indicator waiting for its partner
    for char in text:
        code = ord(char)
        if previous == "\r" and char == "\n":
            pass
        elif previous == "\u200d" and base_pictographic and _pictographic(code):
            pass  # an emoji ZWJ sequence (👩‍🚒) is one character
        elif _extends(char, code):
            pass
        elif 0x1F1E6 <= code <= 0x1F1FF and open_flag:
            open_flag = False  # the second half of a flag
        else:
            count += 1
            base_pictographic = _pictographic(code)
            open_flag = 0x1F1E6 <= code <= 0x1F1FF
        if not 0x1F1E6 <= code <= 0x1F1FF:
            open_flag = False
        previous = char
    return count


def status_length(text: str, spoiler_text: str = "", url_weight: int = DEFAULT_URL_WEIGHT) -> int:
    """The length of a status as Mastodon checks it against ``max_characters``."""
    return graphemes(spoiler_text) + graphemes(countable(text, url_weight))
