"""Stratified 5-fold cross-validation of the intent classifier on the TRAINING data only (nlu/data/nlu.yml).

A scikit-learn proxy of the production pipeline's intent classifier (nlu/config.yml), used to choose
model-level changes for out-of-scope recall without looking at the held-out set. Run it with the Rasa
environment's Python (it uses Rasa's own data loader and tokenizer) from the project root:

    nice -n 19 .venv-rasa/bin/python bench/nlu_cv.py [--variants production,c2,...] [--folds 5]

What it reproduces, read from Rasa 3.6.21's sources:
- tokens: Rasa's ``WhitespaceTokenizer`` (punctuation stripped as Rasa does);
- ``CountVectorsFeaturizer`` (count_vectors_featurizer.py): each token's digits-only words become
  ``__NUMBER__``, tokens lower-cased, joined with spaces; the sentence feature is scikit-learn's
  ``CountVectorizer`` on that string: ``analyzer="word"`` with ``token_pattern=r"(?u)\\b\\w+\\b"``, n-grams
  1-1, and ``analyzer="char_wb"`` with n-grams 2-5 (``token_pattern=None``), ``min_df=1``, raw counts;
- ``RegexFeaturizer`` (lookup table ``stadtteil``, case-insensitive): its sentence feature, one column
  that is 1 when the lookup regex matches the text (approximation: Rasa also requires the match to overlap
  a token, which it always does here);
- ``LexicalSyntacticFeaturizer``: left out, it gives token-level (sequence) features only, which the
  logistic regression never sees;
- ``LogisticRegressionClassifier``: ``LogisticRegression(solver="lbfgs", max_iter=500 (our config),
  tol=1e-4, random_state=42, class_weight="balanced", C=1.0 (sklearn's default; Rasa does not set it))``.

Figures, out-of-fold over all examples: service accuracy (gold intent ``service_*``), out-of-scope recall
and precision, and "forced": the share of out-of-scope examples predicted as a service with a confidence
of at least the bot's INTENT_THRESHOLD (0.45), i.e. answered with a wrong city service.
The training data has templated phrasings per service (title + "Unterlagen", "Termin", ...), so CV
service accuracy is higher than on independently written questions; the figures compare variants, they
do not predict held-out figures.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "nlu" / "data"
sys.path.insert(0, str(ROOT / "nlu"))  # koblenz_components, as Rasa finds it
OOS = "out_of_scope"
INTENT_THRESHOLD = 0.45
SEED = 42

# name -> (word n-gram range, C, out-of-scope class-weight factor)
VARIANTS: dict[str, tuple[tuple[int, int], float, float]] = {
    "production": ((1, 1), 1.0, 1.0),
    "c0.5": ((1, 1), 0.5, 1.0),
    "c2": ((1, 1), 2.0, 1.0),
    "c5": ((1, 1), 5.0, 1.0),
    "c10": ((1, 1), 10.0, 1.0),
    "word12": ((1, 2), 1.0, 1.0),
    "oos_w2": ((1, 1), 1.0, 2.0),
    "oos_w3": ((1, 1), 1.0, 3.0),
}
THRESHOLDS = [round(t, 2) for t in np.arange(0.10, 0.61, 0.05)]


def load() -> tuple[list[str], list[str], re.Pattern[str]]:
    """Texts as Rasa's CountVectorsFeaturizer sees them (tokenised, __NUMBER__, lower-case), intents, lookup."""
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.nlu.utils.pattern_utils import _generate_lookup_regex
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(DATA))
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    texts, intents = [], []
    for message in data.intent_examples:
        if not (message.get("intent") and message.get("text")):
            continue
        tokens = [t.text for t in tokenizer.tokenize(message, "text")]
        tokens = [re.sub(r"\b[0-9]+\b", "__NUMBER__", t).lower() for t in tokens]
        texts.append(" ".join(tokens))
        intents.append(message.get("intent"))
    (table,) = data.lookup_tables
    lookup = re.compile(_generate_lookup_regex(table), flags=re.IGNORECASE)
    # the regex runs on the raw text in Rasa; lower-casing and token joins do not change a Stadtteil match
    return texts, intents, lookup


def features(train: list[str], test: list[str], lookup: re.Pattern[str], word_ngrams: tuple[int, int]):
    regex = [csr_matrix([[1.0 if lookup.search(t) else 0.0] for t in part]) for part in (train, test)]
    words = CountVectorizer(token_pattern=r"(?u)\b\w+\b", lowercase=True, ngram_range=word_ngrams)
    chars = CountVectorizer(analyzer="char_wb", lowercase=True, ngram_range=(2, 5))
    x_train = hstack([regex[0], words.fit_transform(train), chars.fit_transform(train)], format="csr")
    x_test = hstack([regex[1], words.transform(test), chars.transform(test)], format="csr")
    return x_train, x_test


def classifier(y: np.ndarray, c: float, oos_factor: float) -> LogisticRegression:
    from koblenz_components import class_weight  # the production component's own weighting

    return LogisticRegression(
        C=c,
        solver="lbfgs",
        max_iter=500,
        tol=1e-4,
        random_state=SEED,
        class_weight=class_weight(y, oos_factor),
    )


def figures(gold: list[str], predicted: list[str], confidence: list[float]) -> dict[str, float]:
    service = [(g, p) for g, p in zip(gold, predicted, strict=True) if g.startswith("service_")]
    oos = [(p, c) for g, p, c in zip(gold, predicted, confidence, strict=True) if g == OOS]
    said_oos = [g for g, p in zip(gold, predicted, strict=True) if p == OOS]
    return {
        "service_accuracy": round(sum(g == p for g, p in service) / len(service), 4),
        "oos_recall": round(sum(p == OOS for p, _ in oos) / len(oos), 4),
        "oos_precision": round(sum(g == OOS for g in said_oos) / max(len(said_oos), 1), 4),
        "forced": round(
            sum(p.startswith("service_") and c >= INTENT_THRESHOLD for p, c in oos) / len(oos), 4
        ),
    }


def threshold_rule(classes: np.ndarray, proba: np.ndarray, t: float) -> tuple[list[str], list[float]]:
    """out_of_scope when the top intent is a service whose probability is below t."""
    top = proba.argmax(axis=1)
    predicted, confidence = [], []
    oos = int(np.where(classes == OOS)[0][0])
    for row, k in zip(proba, top, strict=True):
        if classes[k].startswith("service_") and row[k] < t:
            predicted.append(OOS)
            confidence.append(float(row[oos]))
        else:
            predicted.append(str(classes[k]))
            confidence.append(float(row[k]))
    return predicted, confidence


def report(names: list[str], intents: list[str], classes: np.ndarray, runs: dict[str, list[dict]]) -> dict:
    """Out-of-fold figures per variant over the folds done; the threshold rule on production's probabilities."""
    results: dict[str, dict] = {}
    for name in names:
        done = runs.get(name, [])
        if not done:
            continue
        index = np.concatenate([r["test"] for r in done])
        proba = np.vstack([r["proba"] for r in done])
        top = proba.argmax(axis=1)
        results[name] = {
            **figures(
                [intents[i] for i in index],
                [str(classes[k]) for k in top],
                [float(proba[j, k]) for j, k in enumerate(top)],
            ),
            "folds": [int(r["fold"]) for r in done],
            "cpu_s": round(sum(float(r["cpu"]) for r in done), 1),
            "n_iter": [int(r["n_iter"]) for r in done],
        }
        if name == "production":
            gold = [intents[i] for i in index]
            for t in THRESHOLDS:
                p, conf = threshold_rule(classes, proba, t)
                results[f"production+t{t:.2f}"] = figures(gold, p, conf)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", help="fold numbers to run, e.g. 1,2,3 (to split the work over processes)")
    parser.add_argument(
        "--save", help="directory for the out-of-fold probabilities (one .npz per variant and fold)"
    )
    parser.add_argument("--combine", action="store_true", help="only report on the folds saved in --save")
    args = parser.parse_args()
    names = args.variants.split(",")

    texts, intents, lookup = load()
    y = np.array(intents)
    classes = np.unique(y)
    folds = list(StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=SEED).split(texts, y))
    print(
        f"{len(texts)} examples, {len(set(intents))} intents, {sum(y == OOS)} out-of-scope", file=sys.stderr
    )
    runs: dict[str, list[dict]] = {name: [] for name in names}
    if args.combine:
        for name in names:
            for path in sorted(Path(args.save).glob(f"{name}-fold*.npz")):
                runs[name].append(dict(np.load(path)))
        print(json.dumps(report(names, intents, classes, runs), indent=1))
        return

    only = [int(n) for n in args.only.split(",")] if args.only else range(1, args.folds + 1)
    for number in only:
        train, test = folds[number - 1]
        cache: dict[tuple[int, int], tuple] = {}
        base: dict[tuple[int, int], LogisticRegression] = {}
        # variants with the production features start from the production fit of the same fold (warm start):
        # the L2-regularised objective has one optimum, so this changes only how fast lbfgs gets there
        for name in sorted(names, key=lambda n: VARIANTS[n] != VARIANTS["production"]):
            word_ngrams, c, oos_factor = VARIANTS[name]
            started = time.process_time()
            if word_ngrams not in cache:
                train_texts, test_texts = [texts[i] for i in train], [texts[i] for i in test]
                cache[word_ngrams] = features(train_texts, test_texts, lookup, word_ngrams)
            x_train, x_test = cache[word_ngrams]
            clf = classifier(y[train], c, oos_factor)
            if word_ngrams in base:
                clf.set_params(warm_start=True)
                clf.coef_ = base[word_ngrams].coef_.copy()
                clf.intercept_ = base[word_ngrams].intercept_.copy()
            clf.fit(x_train, y[train])
            if word_ngrams not in base and (c, oos_factor) == (1.0, 1.0):
                base[word_ngrams] = clf
            assert list(clf.classes_) == list(classes)
            run = {
                "fold": number,
                "test": test,
                "proba": clf.predict_proba(x_test),
                "cpu": time.process_time() - started,
                "n_iter": int(clf.n_iter_[0]),
            }
            runs[name].append(run)
            if args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                np.savez_compressed(Path(args.save) / f"{name}-fold{number}.npz", **run)
            print(
                f"fold {number}/{len(folds)} {name}: n_iter={run['n_iter']}, {run['cpu']:.0f} s CPU, "
                f"{x_train.shape[1]} features",
                file=sys.stderr,
                flush=True,
            )
        print(
            json.dumps({"after_fold": number, **report(names, intents, classes, runs)}),
            file=sys.stderr,
            flush=True,
        )
    print(json.dumps(report(names, intents, classes, runs), indent=1))


if __name__ == "__main__":
    main()
