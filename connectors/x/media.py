"""A post's image for X (``outgoing.image_url``): fetched with the shared aiohttp session, uploaded with
X's API v2 media endpoint (tweepy has none for v2).

Fetching takes only what X accepts for a post image (JPEG, PNG, GIF, WebP; at most 5 MB, read in chunks,
never more than the limit plus one chunk) within a timeout; anything else is ``MediaUnavailable`` with the
reason, and the publisher posts without the image.

Uploading is X's simple upload: ``POST {KOBLENZ_BOT_X_API_URL}/2/media/upload``, multipart with the image
bytes as ``media`` and ``media_category=tweet_image``, signed with OAuth 1.0a (user context) like every
other call; the answer is ``{"data": {"id": "...", "media_key": "...", ...}}`` and the id goes into
``create_tweet(media_ids=[...])``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import tweepy

from connectors import ConnectorError

FETCH_TIMEOUT = 15.0  # seconds for the whole download
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # X: images up to 5 MB
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
UPLOAD_PATH = "/2/media/upload"
_CHUNK = 64 * 1024


class MediaUnavailable(ConnectorError):
    """The image could not be fetched or X would not take it (the post goes without it)."""


@dataclass(frozen=True)
class Image:
    data: bytes
    mime_type: str


async def fetch_image(
    session: aiohttp.ClientSession,
    url: str,
    timeout: float = FETCH_TIMEOUT,
    limit: int = MAX_IMAGE_BYTES,
) -> Image:
    if not url.startswith(("http://", "https://")):
        raise MediaUnavailable(f"keine http(s)-Adresse: {url[:200]}")
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            if response.status != 200:
                raise MediaUnavailable(f"{url[:200]} antwortet {response.status}")
            mime_type = response.content_type.lower()
            if mime_type not in IMAGE_TYPES:
                raise MediaUnavailable(f"{url[:200]}: {mime_type or 'ohne Typ'} nimmt X nicht als Bild an")
            if response.content_length is not None and response.content_length > limit:
                raise MediaUnavailable(f"{url[:200]}: größer als {limit} Bytes")
            data = bytearray()
            async for chunk in response.content.iter_chunked(_CHUNK):
                data.extend(chunk)
                if len(data) > limit:
                    raise MediaUnavailable(f"{url[:200]}: größer als {limit} Bytes")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise MediaUnavailable(f"{url[:200]}: {type(error).__name__}") from error
    if not data:
        raise MediaUnavailable(f"{url[:200]}: leer")
    return Image(bytes(data), mime_type)


def raise_for_status(response: Any) -> None:
    """tweepy's exception for an error answer (the same classes ``Client.request`` raises), so one mapping
    (``errors.mapped``) covers the upload too."""
    status = response.status_code
    if status < 300:
        return
    if status == 400:
        raise tweepy.BadRequest(response)
    if status == 401:
        raise tweepy.Unauthorized(response)
    if status == 403:
        raise tweepy.Forbidden(response)
    if status == 404:
        raise tweepy.NotFound(response)
    if status == 429:
        raise tweepy.TooManyRequests(response)
    if status >= 500:
        raise tweepy.TwitterServerError(response)
    raise tweepy.HTTPException(response)


def upload(session: Any, base_url: str, auth: Any, image: Image) -> str:
    """Upload ``image`` (blocking: run it in a thread); the media id for ``create_tweet``."""
    extension = image.mime_type.split("/", 1)[1]
    response = session.request(
        "POST",
        base_url + UPLOAD_PATH,
        files={"media": (f"bild.{extension}", image.data, image.mime_type)},
        data={"media_category": "tweet_image"},
        auth=auth,
    )
    with response:
        raise_for_status(response)
        body = response.json()
    media_id = (body.get("data") or {}).get("id") if isinstance(body, dict) else None
    if not media_id:
        raise tweepy.HTTPException(response)
    return str(media_id)
