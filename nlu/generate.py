"""Build the Rasa training data from the catalog and the hand-written phrasings.

Inputs: ``data/`` (services, synonyms, Stadtteile) and ``nlu/phrases/*.yml`` (what citizens really type,
written by people). Phrasings that also occur in the held-out evaluation set (tests/data/nlu_heldout.yml,
written independently) are dropped here, so the evaluation never measures memorised questions. Outputs, all deterministic and committed so the Rasa project is stock: ``nlu/data/nlu.yml``
(intents with aspect and Stadtteil entities annotated), ``nlu/data/stadtteile.yml`` (lookup table and
synonyms) and ``nlu/domain.yml``. ``make test`` checks the committed files are up to date.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from catalog.aspects import ASPECTS, find_aspects
from catalog.model import Catalog, fold
from nlu import NLU_DIR, intent_for_service

OTHER_INTENTS = (
    "greet",
    "help",
    "thanks",
    "goodbye",
    "alerts",
    "subscribe",
    "unsubscribe",
    "handoff",
    "out_of_scope",
)
MAX_PER_SERVICE = 60
HELD_OUT = NLU_DIR.parent / "tests" / "data" / "nlu_heldout.yml"

# Templates that read naturally with a noun ("Reisepass") and a verb phrase ("Auto anmelden") alike.
SERVICE_TEMPLATES = (
    "{name}",
    "Frage zu {name}",
    "{name} – was kostet das?",
    "{name}: welche Unterlagen brauche ich?",
    "{name} online erledigen",
    "Termin für {name}",
    "wie lange dauert {name}",
    "Infos zu {name} bitte",
    "wo kann ich {name} machen",
    "{name} was muss ich mitbringen",
)
STADTTEIL_TEMPLATES = {
    "alerts": ("Gibt es gerade eine Warnung für {st}?", "ist in {st} irgendwas passiert"),
    "subscribe": ("Warnungen für {st} abonnieren", "ich will Nachrichten für {st} bekommen"),
}
# Names that are also ordinary German words are only annotated when capitalised.
_CASE_SENSITIVE = {"mitte", "lay", "süd", "sued", "altstadt"}


@dataclass(frozen=True)
class Example:
    text: str
    intent: str


def _clean(text: str) -> str:
    text = re.sub(r"[\[\]{}()]", " ", str(text))
    return re.sub(r"\s+", " ", text).strip()


def _stadtteil_patterns(catalog: Catalog) -> list[tuple[re.Pattern[str], str]]:
    spellings = sorted(catalog.stadtteil_names().items(), key=lambda kv: -len(kv[0]))
    patterns = []
    for spelling, canonical in spellings:
        flags = 0 if spelling in _CASE_SENSITIVE else re.IGNORECASE
        word = spelling if flags else spelling.capitalize()
        patterns.append((re.compile(rf"(?<![\wäöüß]){re.escape(word)}(?![\wäöüß])", flags), canonical))
    return patterns


def annotate(text: str, stadtteil_patterns: list[tuple[re.Pattern[str], str]]) -> str:
    """Mark Stadtteil and aspect mentions in Rasa's entity syntax."""
    spans: list[tuple[int, int, str, str]] = []
    for pattern, canonical in stadtteil_patterns:
        for match in pattern.finditer(text):
            if not any(match.start() < end and start < match.end() for start, end, _, _ in spans):
                spans.append((match.start(), match.end(), "stadtteil", canonical))
    for found in find_aspects(text):
        if not any(found.start < end and start < found.end for start, end, _, _ in spans):
            spans.append((found.start, found.end, "aspect", found.aspect))
    out, cursor = [], 0
    for start, end, entity, value in sorted(spans):
        surface = text[start:end]
        out.append(text[cursor:start])
        if entity == "stadtteil" and surface == value:
            out.append(f"[{surface}](stadtteil)")
        else:
            out.append(f"[{surface}]" + json.dumps({"entity": entity, "value": value}, ensure_ascii=False))
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def _key(text: str) -> str:
    return re.sub(r"[^\w]+", " ", fold(text)).strip()


def held_out_keys(path: Path = HELD_OUT) -> set[str]:
    """The held-out evaluation questions, normalised: they are measured on and so never trained on."""
    if not path.exists():
        return set()
    from nlu.evaluate import load_examples

    return {_key(example.text) for example in load_examples(path)}


def _dedupe(texts: Iterable[str], exclude: Collection[str] = ()) -> list[str]:
    seen: set[str] = set(exclude)
    result = []
    for text in texts:
        key = _key(text)
        if text and key not in seen:
            seen.add(key)
            result.append(text)
    return result


def build_examples(catalog: Catalog, phrases_dir: Path) -> dict[str, list[str]]:
    services_phrases = yaml.safe_load((phrases_dir / "services.yml").read_text(encoding="utf-8")) or {}
    intent_phrases = yaml.safe_load((phrases_dir / "intents.yml").read_text(encoding="utf-8")) or {}
    unknown = set(services_phrases) - set(catalog.services)
    if unknown:
        raise ValueError(f"nlu/phrases/services.yml names unknown services: {sorted(unknown)}")
    held_out = held_out_keys()
    examples: dict[str, list[str]] = {}
    for service in catalog:
        handwritten = [_clean(t) for t in services_phrases.get(service.id, [])]
        names = [service.title, *service.synonyms]
        generated = [
            _clean(template.format(name=name))
            for index, name in enumerate(names)
            for template in SERVICE_TEMPLATES[index % 3 :: 3]
        ]
        examples[intent_for_service(service.id)] = _dedupe(handwritten + generated, held_out)[
            :MAX_PER_SERVICE
        ]
    resident_names = sorted({catalog.resident_name(p) for p in catalog.stadtteile.values()})
    for intent in OTHER_INTENTS:
        texts = [_clean(t) for t in intent_phrases.get(intent, [])]
        for template in STADTTEIL_TEMPLATES.get(intent, ()):
            texts += [template.format(st=name) for name in resident_names[::2]]
        examples[intent] = _dedupe(texts, held_out)
    return examples


def _examples_block(lines: Iterable[str]) -> str:
    return "".join(f"    - {line}\n" for line in lines)


def render_nlu(catalog: Catalog, examples: dict[str, list[str]]) -> str:
    patterns = _stadtteil_patterns(catalog)
    parts = [
        "# Generated by `koblenz-bot nlu generate` from data/ and nlu/phrases/: do not edit.\n",
        'version: "3.1"\nnlu:\n',
    ]
    for intent, texts in examples.items():
        parts.append(f"- intent: {intent}\n  examples: |\n")
        parts.append(_examples_block(annotate(t, patterns) for t in texts))
    return "".join(parts)


def render_stadtteile(catalog: Catalog) -> str:
    parts = [
        "# Generated by `koblenz-bot nlu generate` from data/stadtteile.yaml: do not edit.\n",
        'version: "3.1"\nnlu:\n- lookup: stadtteil\n  examples: |\n',
    ]
    names = catalog.stadtteil_names()
    parts.append(
        _examples_block(sorted({s for p in catalog.stadtteile.values() for s in (p.name, *p.synonyms)}))
    )
    by_canonical: dict[str, list[str]] = {}
    for spelling, canonical in sorted(names.items()):
        if spelling != canonical.lower():
            by_canonical.setdefault(canonical, []).append(spelling)
    for canonical, spellings in sorted(by_canonical.items()):
        parts.append(f"- synonym: {canonical}\n  examples: |\n")
        parts.append(_examples_block(spellings))
    return "".join(parts)


def render_domain(intents: Iterable[str]) -> str:
    domain = {
        "version": "3.1",
        "intents": list(intents),
        "entities": ["stadtteil", "aspect"],
    }
    header = "# Generated by `koblenz-bot nlu generate`: do not edit. Aspects: " + ", ".join(ASPECTS) + "\n"
    return header + yaml.safe_dump(domain, allow_unicode=True, sort_keys=False)


def generated_files(catalog: Catalog, nlu_dir: Path = NLU_DIR) -> dict[Path, str]:
    examples = build_examples(catalog, nlu_dir / "phrases")
    return {
        nlu_dir / "data" / "nlu.yml": render_nlu(catalog, examples),
        nlu_dir / "data" / "stadtteile.yml": render_stadtteile(catalog),
        nlu_dir / "domain.yml": render_domain(examples),
    }


def write_generated(catalog: Catalog, nlu_dir: Path = NLU_DIR) -> list[Path]:
    """Write the generated files; return those whose content changed."""
    changed = []
    for path, content in generated_files(catalog, nlu_dir).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            changed.append(path)
    return changed
