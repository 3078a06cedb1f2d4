"""Full-text search over the catalog: the dialogue's fallback when NLU is unsure or unreachable.

BM25 over weighted fields (title and synonyms count most), on folded words (umlauts, case) with a light
German suffix stemmer, typo tolerance (one edit for longer words) and compound splitting
("Hundesteuerbescheid" finds "hundesteuer").
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass

from catalog.aspects import find_aspects
from catalog.model import Catalog, Service, words

STOPWORDS = frozenset(
    """aber alle als also am an auch auf aus bei bin bis bitte brauch brauche braucht da damit dann das dass dem
    den der des die dies diese dir doch du ein eine einem einen einer eines er es etwas euch fuer gibt habe haben
    hallo hat hier ich ihr im in ist ja jetzt kann kannst koennen koblenz man mein meine meinem meinen meiner mich
    mir mit muss muessen nach nicht noch nur ob oder sein sich sie sind so soll ueber um und uns unser von vom
    war was welche welcher welches wenn wer werden wie wieder will wir wird wo zu zum zur
    gerne moechte wuerde stadt frage info infos machen mache erledigen bekommen kriege geht gehen tun neu neue""".split()
)
_SUFFIXES = ("ungen", "ung", "en", "er", "es", "e", "n", "s")
FIELD_WEIGHTS = {"title": 3.0, "synonyms": 3.0, "summary": 1.0, "details": 0.5, "documents": 0.3}


@functools.lru_cache(maxsize=65536)  # the catalog's and citizens' words repeat: index builds stem each often
def stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) - len(suffix) >= 4 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def _within_one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b:
        return a == b
    if len(a) > len(b):
        a, b = b, a
    i = j = edits = 0
    while i < len(a) and j < len(b):
        if a[i] != b[j]:
            edits += 1
            if edits > 1:
                return False
            if len(a) == len(b):
                i += 1
            j += 1
        else:
            i += 1
            j += 1
    return edits + (len(b) - j) + (len(a) - i) <= 1


@dataclass(frozen=True)
class Hit:
    service_id: str
    title: str
    score: float


class CatalogSearch:
    """BM25F: per-field term frequencies, normalised by field length, weighted, then saturated."""

    def __init__(self, catalog: Catalog, k1: float = 1.2, b: float = 0.75) -> None:
        self._catalog = catalog
        self._k1, self._b = k1, b
        self.reindex()

    def reindex(self) -> None:
        """Build the index again from the catalog it holds (after an editor's change in the console)."""
        fields: dict[str, dict[str, Counter[str]]] = {}
        for service in self._catalog:
            fields[service.id] = {name: Counter(terms(_field_text(service, name))) for name in FIELD_WEIGHTS}
        n = max(len(fields), 1)
        avg = {
            name: max(sum(sum(f[name].values()) for f in fields.values()) / n, 1.0) for name in FIELD_WEIGHTS
        }
        df: Counter[str] = Counter(t for f in fields.values() for t in set().union(*f.values()))
        idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        # swapped together: a search never mixes the old index with the new one
        self._fields, self._avg, self._idf, self._vocab = fields, avg, idf, sorted(idf)

    def _expand(self, term: str) -> list[tuple[str, float]]:
        """The vocabulary terms a query term stands for, with a match weight."""
        if term in self._idf:
            return [(term, 1.0)]
        found: list[tuple[str, float]] = []
        if len(term) >= 5:
            found += [(v, 0.8) for v in self._vocab if len(v) >= 4 and _within_one_edit(term, v)]
        if len(term) >= 8:  # compound: "hundesteuerbescheid" contains "hundesteu(er)"
            found += [(v, 0.6) for v in self._vocab if len(v) >= 5 and v in term]
        return found

    def _tf(self, service_id: str, term: str) -> float:
        total = 0.0
        for name, bag in self._fields[service_id].items():
            count = bag.get(term, 0)
            if count:
                length = sum(bag.values())
                total += FIELD_WEIGHTS[name] * count / (1 - self._b + self._b * length / self._avg[name])
        return total

    def search(self, text: str, limit: int = 3) -> list[Hit]:
        stripped = text
        for found in reversed(find_aspects(text)):  # "was kostet" says what about, not which service
            stripped = stripped[: found.start] + " " + stripped[found.end :]
        query = terms(stripped) or terms(text)
        scores: Counter[str] = Counter()
        for term in query:
            for vocab_term, weight in self._expand(term):
                idf = self._idf[vocab_term]
                for service_id in self._fields:
                    tf = self._tf(service_id, vocab_term)
                    if tf:
                        scores[service_id] += weight * idf * tf / (self._k1 + tf)  # type: ignore[assignment]
        return [
            Hit(service_id, self._catalog.service(service_id).title, round(score, 3))
            for service_id, score in scores.most_common(limit)
            if score > 0
        ]


def _field_text(service: Service, name: str) -> str:
    value = getattr(service, name)
    if isinstance(value, tuple):
        return " ".join(value)
    return str(value)
