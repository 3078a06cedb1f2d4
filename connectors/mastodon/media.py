"""Fetching a post's image for upload to Mastodon (``outgoing.image_url``), with the shared aiohttp session.

Only what the instance accepts is taken: an image type it supports, at most its ``image_size_limit``
bytes (read in chunks, never more than the limit plus one chunk), within ``timeout`` seconds. Anything
else is a ``MediaUnavailable`` with the reason; the publisher then posts without the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from connectors import ConnectorError
from connectors.mastodon.limits import InstanceLimits

FETCH_TIMEOUT = 15.0  # seconds for the whole download
_CHUNK = 64 * 1024


class MediaUnavailable(ConnectorError):
    """The image could not be fetched or is not acceptable to the instance (the post goes without it)."""


@dataclass(frozen=True)
class Image:
    data: bytes
    mime_type: str


async def fetch_image(
    session: aiohttp.ClientSession, url: str, limits: InstanceLimits, timeout: float = FETCH_TIMEOUT
) -> Image:
    if not url.startswith(("http://", "https://")):
        raise MediaUnavailable(f"keine http(s)-Adresse: {url[:200]}")
    try:
        async with session.get(
            url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=True
        ) as response:
            if response.status != 200:
                raise MediaUnavailable(f"{url[:200]} antwortet {response.status}")
            mime_type = response.content_type.lower()
            if mime_type not in limits.image_types:
                raise MediaUnavailable(f"{url[:200]}: {mime_type or 'ohne Typ'} nimmt die Instanz nicht an")
            if response.content_length is not None and response.content_length > limits.image_size_limit:
                raise MediaUnavailable(f"{url[:200]}: größer als {limits.image_size_limit} Bytes")
            data = bytearray()
            async for chunk in response.content.iter_chunked(_CHUNK):
                data.extend(chunk)
                if len(data) > limits.image_size_limit:
                    raise MediaUnavailable(f"{url[:200]}: größer als {limits.image_size_limit} Bytes")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise MediaUnavailable(f"{url[:200]}: {type(error).__name__}: {error}") from error
    if not data:
        raise MediaUnavailable(f"{url[:200]}: leer")
    return Image(bytes(data), mime_type)
