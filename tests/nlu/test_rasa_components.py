"""Our custom Rasa component gives the classifier exactly what Rasa's own would, and the same probabilities.

It runs inside .venv-rasa (the app never imports rasa), so the checks are a script run with that Python.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from nlu import NLU_DIR, rasa_env

pytestmark = [pytest.mark.rasa, pytest.mark.processes]

CHECK = r"""
import json, sys
import numpy as np
from scipy.sparse import csr_matrix, random as sparse_random
from sklearn.linear_model import LogisticRegression
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from koblenz_components import FastLogisticRegressionClassifier

rng = np.random.default_rng(7)
messages = []
for n in range(6):
    m = Message(data={"text": f"frage {n}"})
    for origin, width in (("regex", 3), ("lexical", 5), ("words", 40), ("chars", 90)):
        tokens = 2 + n
        m.add_features(Features(sparse_random(tokens, width, density=0.3, format="coo", random_state=n),
                                "sequence", "text", origin))
        m.add_features(Features(sparse_random(1, width, density=0.4, format="coo", random_state=10 + n),
                                "sentence", "text", origin))
    m.add_features(Features(rng.random((1, 4)), "sentence", "text", "dense"))
    m.add_features(Features(sparse_random(1, 7, density=0.5, format="coo"), "sentence", "intent", "other"))
    messages.append(m)

config = {**LogisticRegressionClassifier.get_default_config()}
stock = LogisticRegressionClassifier(config, "stock", None, None)
fast = FastLogisticRegressionClassifier(config, "fast", None, None)
x_stock, x_fast = stock._create_X(messages), fast._create_X(messages)

X = sparse_random(300, 20_000, density=0.002, format="csr", random_state=3)
y = rng.integers(0, 12, 300)
clf = LogisticRegression(max_iter=200).fit(X, y)
expected = clf.predict_proba(X)
fast.clf = clf
fast._contiguous()
got = fast.clf.predict_proba(X)
print(json.dumps({
    "same_shape": x_stock.shape == x_fast.shape,
    "same_matrix": bool((x_stock != x_fast).nnz == 0),
    "shape": list(x_fast.shape),
    "max_proba_delta": float(np.abs(expected - got).max()),
    "transpose_contiguous": bool(fast.clf.coef_.T.flags["C_CONTIGUOUS"]),
}))
"""


def test_fast_classifier_matches_rasas_own() -> None:
    python = rasa_env.rasa_executable().parent / "python"
    result = subprocess.run(
        [str(python), "-c", CHECK],
        cwd=NLU_DIR,  # how Rasa itself finds koblenz_components
        env=rasa_env.rasa_environ(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["same_shape"] and report["same_matrix"], report
    assert report["shape"] == [6, 3 + 5 + 40 + 90 + 4]  # sentence features of the text only, dense last
    assert report["max_proba_delta"] < 1e-12
    assert report["transpose_contiguous"]  # no copy of the coefficients per parse
