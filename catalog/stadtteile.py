"""The one Stadtteil detector: which of Koblenz's Stadtteile a citizen's text names, and the canonical
(resident's) name of a spelling that staff type into the CLI or a subscriber list.

Built once from the ``Catalog`` (every spelling of ``Catalog.stadtteil_names()``, patterns compiled in the
constructor), used by the dialogue (the Stadtteil a conversation is about), the Telegram subscriptions
("Warnungen für Güls und Lay") and the broadcast CLI (``--stadtteile``, the subscriber CSV).

Rules:
- resident names: statistical parts count as their Stadtteil (Karthause Nord → Karthause);
- spellings are matched on folded text (ä→ae, ß→ss) as whole words, longest spelling first, and a match is
  blanked out before shorter spellings are tried ("Koblenz-Süd" is one mention, not also "Süd");
- "Mitte", "Lay" and "Süd" are also everyday words: they count only when written as a name (capitalised),
  so "in Mitte" names the Stadtteil and "mitte Mai" does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from catalog.model import Catalog, fold

AMBIGUOUS = frozenset({"mitte", "lay", "süd", "sued", "sud"})


class Stadtteile:
    """Detect and resolve Stadtteil names; one instance per loaded catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.spellings: dict[str, str] = catalog.stadtteil_names()  # lower-case spelling → resident name
        self.names: list[str] = sorted(set(self.spellings.values()), key=fold)
        self._patterns = [
            (
                canonical,
                re.compile(rf"(?<!\w){re.escape(fold(spelling))}(?!\w)"),
                re.compile(rf"\b{re.escape(spelling.capitalize())}\b") if spelling in AMBIGUOUS else None,
            )
            for spelling, canonical in sorted(self.spellings.items(), key=lambda kv: (-len(kv[0]), kv[0]))
        ]

    def canonical(self, spelling: str) -> str | None:
        """The resident name for an exact spelling in any case ("lützel" → "Lützel"); None if unknown."""
        return self.spellings.get(spelling.strip().lower())

    def find(self, text: str) -> str | None:
        """The Stadtteil named by the longest spelling in the text, or None."""
        return next(self._mentions(text), None)

    def find_all(self, text: str) -> list[str]:
        """Every Stadtteil named in the text, in the order of ``names``."""
        found = set(self._mentions(text))
        return [name for name in self.names if name in found]

    def _mentions(self, text: str) -> Iterator[str]:
        folded = f" {fold(text)} "
        for canonical, pattern, as_name in self._patterns:
            match = pattern.search(folded)
            if match is None or (as_name is not None and not as_name.search(text)):
                continue
            yield canonical
            folded = folded[: match.start()] + " " * (match.end() - match.start()) + folded[match.end() :]
