"""The widget bundle and the static pages, prepared once at start-up and served from memory.

No build tool: ``widget.js`` stays readable plain JavaScript. At start-up its two placeholders are filled
(the stylesheet ``widget.css``, whitespace-collapsed, and a small JSON config from the settings), then the
result is gzipped once. One request loads the whole widget.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"
CSS_PLACEHOLDER = '/*CSS*/""'
CONFIG_PLACEHOLDER = "/*CONFIG*/{}"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    content_type: str
    etag: str
    cache_control: str = "public, max-age=300"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_text(
        cls, text: str, content_type: str, cache_control: str = "public, max-age=300", **headers: str
    ) -> Asset:
        body = text.encode("utf-8")
        return cls(
            body,
            gzip.compress(body, compresslevel=9, mtime=0),
            content_type,
            '"' + hashlib.sha256(body).hexdigest()[:20] + '"',
            cache_control,
            tuple((name.replace("_", "-"), value) for name, value in headers.items()),
        )

    def response(self, request: web.Request) -> web.Response:
        headers = {
            "Cache-Control": self.cache_control,
            "ETag": self.etag,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
            **dict(self.headers),
        }
        if request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304, headers=headers)
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=self.gzipped, content_type=self.content_type, headers=headers)
        return web.Response(body=self.body, content_type=self.content_type, headers=headers)


def minify_css(css: str) -> str:
    """Drop comments and collapse whitespace; enough for a hand-written stylesheet."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"\s+", " ", css)
    css = re.sub(r"\s*([{};,>])\s*", r"\1", css)
    return css.replace(";}", "}").strip()


def widget_source(config: dict[str, Any]) -> str:
    """widget.js with its stylesheet and config filled in."""
    source = (STATIC_DIR / "widget.js").read_text(encoding="utf-8")
    css = minify_css((STATIC_DIR / "widget.css").read_text(encoding="utf-8"))
    if CSS_PLACEHOLDER not in source or CONFIG_PLACEHOLDER not in source:
        raise RuntimeError("widget.js lost its /*CSS*/ or /*CONFIG*/ placeholder")
    # json.dumps escapes quotes and backslashes; "</" is escaped too in case someone inlines the bundle
    return source.replace(CSS_PLACEHOLDER, json.dumps(css).replace("</", "<\\/")).replace(
        CONFIG_PLACEHOLDER, json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    )


def page(name: str, **values: str) -> str:
    """A static HTML page with ``{{NAME}}`` placeholders filled (values are plain text, escaped)."""
    from html import escape

    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", escape(value))
    return text
