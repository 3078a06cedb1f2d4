"""The limits of the account's instance, as it states them in ``GET /api/v2/instance`` (``configuration``).

``DEFAULT`` holds Mastodon's stock values; the publisher uses them only until the instance has answered
(``MastodonPublisher.start()`` or the first send) and says so. An instance may raise its character limit
(1,000 or more is common) or lower its image size, so the real values always replace these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.mastodon.counting import DEFAULT_URL_WEIGHT

MAX_CHARACTERS = 500  # Mastodon's stock configuration.statuses.max_characters
IMAGE_SIZE_LIMIT = 16 * 1024 * 1024  # bytes (Mastodon 4.x; 10 MB before 4.0)
DESCRIPTION_LIMIT = 1500  # characters of an attachment's description (alt text), Mastodon 4.x
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
POSTS_PER_WINDOW = 300  # statuses per account in RATE_WINDOW seconds (Mastodon's RateLimiter)
RATE_WINDOW = 3 * 60 * 60


@dataclass(frozen=True)
class InstanceLimits:
    max_characters: int = MAX_CHARACTERS
    url_weight: int = DEFAULT_URL_WEIGHT  # characters_reserved_per_url
    max_media: int = 4  # statuses.max_media_attachments
    image_size_limit: int = IMAGE_SIZE_LIMIT
    description_limit: int = DESCRIPTION_LIMIT
    image_types: tuple[str, ...] = IMAGE_TYPES  # the image types among supported_mime_types
    version: str = ""
    loaded: bool = False  # False: Mastodon's stock values, the instance has not answered yet

    @classmethod
    def from_instance(cls, instance: Mapping[str, Any]) -> InstanceLimits:
        """From the JSON of ``/api/v2/instance`` (or v1, same ``configuration``); a value the instance does
        not state keeps Mastodon's default."""
        configuration = _mapping(instance.get("configuration"))
        statuses = _mapping(configuration.get("statuses"))
        media = _mapping(configuration.get("media_attachments"))
        types = media.get("supported_mime_types")
        images = (
            tuple(t for t in types if isinstance(t, str) and t.startswith("image/"))
            if isinstance(types, list | tuple)
            else IMAGE_TYPES
        )
        return cls(
            max_characters=_positive(statuses.get("max_characters"), MAX_CHARACTERS),
            url_weight=_positive(statuses.get("characters_reserved_per_url"), DEFAULT_URL_WEIGHT),
            max_media=_positive(statuses.get("max_media_attachments"), 4),
            image_size_limit=_positive(media.get("image_size_limit"), IMAGE_SIZE_LIMIT),
            description_limit=_positive(media.get("description_limit"), DESCRIPTION_LIMIT),
            image_types=images or IMAGE_TYPES,
            version=str(instance.get("version") or ""),
            loaded=True,
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _positive(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
