"""A whitespace tokenizer that also gives every token of the message text its German lemma (simplemma).

Runs inside ``.venv-rasa`` only (like ``koblenz_components``); Rasa finds it by its name in a config
(``koblenz_lemma.LemmaWhitespaceTokenizer``). Measured against the production pipeline in docs/nlu.md
("Lemmatisation, measured 2026-11-30") and not adopted: only ``nlu/configs/lemma*.yml`` use it, and simplemma
is not a requirement (``.venv-rasa/bin/pip install simplemma==2.0.0`` to repeat the measurement).

Rasa's ``Token`` has a ``lemma`` (equal to the text unless a tokenizer sets it) and ``CountVectorsFeaturizer``
counts lemmas instead of the surface form when ``use_lemma`` is true, which is its default. So in a config
with this tokenizer every ``CountVectorsFeaturizer`` that should keep counting surface forms needs
``use_lemma: false``; a featurizer with ``use_lemma: true`` counts lemma n-grams ("Laternen" → "laterne",
"beantrage" → "beantragen"). Nothing else in our pipeline reads the lemma (the lexical-syntactic
featurizer, the regex featurizer and the CRF use the text).

simplemma ships its dictionaries in its wheel: no download at run time. The surface form is lemmatised as
written (case helps it tell nouns from verbs: "Sauen" → "Sau", "sauen" stays); the featurizer lower-cases.
"""

from __future__ import annotations

from functools import lru_cache

import simplemma
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

LANGUAGE = "de"


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    """The German lemma of one word (the word itself when simplemma does not know it)."""
    result = simplemma.lemmatize(word, lang=LANGUAGE)
    return result if isinstance(result, str) and result else word


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class LemmaWhitespaceTokenizer(WhitespaceTokenizer):  # type: ignore[misc]
    """Rasa's ``WhitespaceTokenizer`` (same tokens, same offsets) with German lemmas on the text's tokens."""

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens: list[Token] = super().tokenize(message, attribute)
        if attribute == TEXT:
            for token in tokens:
                token.lemma = lemma(token.text)
        return tokens
