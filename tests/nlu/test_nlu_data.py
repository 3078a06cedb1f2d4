"""Training data: generated from the catalog, up to date, large enough, and never the held-out set."""

from __future__ import annotations

import re

from catalog.model import Catalog, fold
from core.paths import PROJECT_ROOT
from nlu import intent_for_service
from nlu.evaluate import load_examples
from nlu.generate import annotate, generated_files


def _key(text: str) -> str:
    return re.sub(r"[^\w]+", " ", fold(text)).strip()


def test_committed_training_files_match_the_generator(catalog: Catalog) -> None:
    for path, content in generated_files(catalog).items():
        assert path.read_text(encoding="utf-8") == content, f"{path} is stale: run `koblenz-bot nlu generate`"


def test_at_least_25_examples_per_service_and_all_other_intents(catalog: Catalog) -> None:
    training = load_examples(PROJECT_ROOT / "nlu" / "data" / "nlu.yml")
    counts: dict[str, int] = {}
    for example in training:
        counts[example.intent] = counts.get(example.intent, 0) + 1
    for service in catalog:
        assert counts.get(intent_for_service(service.id), 0) >= 25, service.id
    for intent in (
        "greet",
        "help",
        "thanks",
        "alerts",
        "subscribe",
        "unsubscribe",
        "handoff",
        "out_of_scope",
    ):
        assert counts.get(intent, 0) >= 15, intent


def test_held_out_questions_are_never_trained_on() -> None:
    training = {_key(e.text) for e in load_examples(PROJECT_ROOT / "nlu" / "data" / "nlu.yml")}
    held_out = load_examples(PROJECT_ROOT / "tests" / "data" / "nlu_heldout.yml")
    assert len(held_out) >= 200
    leaked = [e.text for e in held_out if _key(e.text) in training]
    assert not leaked, f"held-out questions found in training data: {leaked[:5]}"


def test_held_out_set_covers_every_service(catalog: Catalog) -> None:
    intents = {e.intent for e in load_examples(PROJECT_ROOT / "tests" / "data" / "nlu_heldout.yml")}
    assert {intent_for_service(s.id) for s in catalog} <= intents
    assert "out_of_scope" in intents


def test_annotation_marks_stadtteil_and_aspect(catalog: Catalog) -> None:
    from nlu.generate import _stadtteil_patterns

    text = annotate("Was kostet Sperrmüll in Guels?", _stadtteil_patterns(catalog))
    assert '[kostet]{"entity": "aspect", "value": "fees"}' in text
    assert '[Guels]{"entity": "stadtteil", "value": "Güls"}' in text
    # "mitte" as an ordinary word is not a Stadtteil; "Mitte" capitalised after "in" is
    assert "stadtteil" not in annotate("Termin mitte nächster Woche", _stadtteil_patterns(catalog))
    assert '"value": "Südliche Vorstadt"' in annotate("Warnung für Mitte", _stadtteil_patterns(catalog))
