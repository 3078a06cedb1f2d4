"""Custom Rasa components of the Koblenz NLU project. Runs inside ``.venv-rasa`` only: the app never imports it.

Rasa finds this module by its name in ``config.yml`` (``koblenz_components.…``) because ``rasa`` puts its
working directory on ``sys.path`` (run it from ``nlu/``) and ``nlu.rasa_env`` adds ``nlu/`` to PYTHONPATH
for the servers and trainings it starts.

``FastLogisticRegressionClassifier`` is Rasa's ``LogisticRegressionClassifier`` with the same model and the
same predictions, measured 2.4 times cheaper per parse (8.2 → 3.4 ms in-process, docs/benchmarks.md):

- Rasa builds the classifier's input with ``Message.get_sparse_features``, which also deep-copies and
  concatenates every token-level (sequence) feature matrix only to throw them away; the classifier uses the
  sentence features alone. We concatenate the sentence features only, in the same order (the order of
  ``message.features``), so the matrix is identical.
- scikit-learn computes ``X @ coef_.T``; with ``coef_`` in C order, SciPy copies the whole transposed
  coefficient matrix (intents × n-gram vocabulary, 62 × 20,523 here) on every call. Keeping ``coef_`` in
  Fortran order makes the transpose contiguous, so nothing is copied. The numbers are unchanged.

Two experiment options (docs/nlu.md, "Model-level changes for out-of-scope recall"), both inert at their
defaults, where the classifier is exactly Rasa's:

- ``C``: the inverse regularisation strength of the logistic regression (scikit-learn's default 1.0, which
  Rasa never sets). ``None`` leaves scikit-learn's default untouched.
- ``out_of_scope_weight``: a factor on the ``balanced`` class weight of the ``out_of_scope`` intent. At 1.0
  the class weight stays the string ``"balanced"``, as Rasa sets it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.utils.class_weight import compute_class_weight

OUT_OF_SCOPE = "out_of_scope"


def class_weight(intents: Any, out_of_scope_weight: float) -> str | dict[str, float]:
    """Rasa's ``"balanced"`` class weight, with ``out_of_scope``'s multiplied by ``out_of_scope_weight``
    (also used by ``bench/nlu_cv.py``, so that its proxy weighs the classes exactly as training does)."""
    if out_of_scope_weight == 1.0 or OUT_OF_SCOPE not in intents:
        return "balanced"
    classes = np.unique(intents)
    weights = compute_class_weight("balanced", classes=classes, y=intents)
    balanced = {str(c): float(w) for c, w in zip(classes, weights, strict=True)}
    balanced[OUT_OF_SCOPE] *= out_of_scope_weight
    return balanced


def sentence_matrix(message: Message) -> csr_matrix:
    """The sentence-level sparse features of the message text, then its dense ones, as one row."""
    sparse = [
        f.features for f in message.features if f.attribute == TEXT and f.type == "sentence" and f.is_sparse()
    ]
    dense = [
        f.features for f in message.features if f.attribute == TEXT and f.type == "sentence" and f.is_dense()
    ]
    parts = [csr_matrix(m) for m in sparse] + [csr_matrix(m) for m in dense]
    return hstack(parts, format="csr") if parts else csr_matrix((1, 0))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class FastLogisticRegressionClassifier(LogisticRegressionClassifier):  # type: ignore[misc]
    """Rasa's logistic regression intent classifier without the per-parse copies (see module docstring)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "C": None, "out_of_scope_weight": 1.0}

    def __init__(
        self, config: dict[str, Any], name: str, model_storage: ModelStorage, resource: Resource
    ) -> None:
        super().__init__(config, name, model_storage, resource)
        if self.config["C"] is not None:
            self.clf.set_params(C=float(self.config["C"]))

    def _create_training_matrix(self, training_data: TrainingData) -> tuple[csr_matrix, list[str]]:
        X, y = super()._create_training_matrix(training_data)
        self.clf.set_params(class_weight=class_weight(y, float(self.config["out_of_scope_weight"])))
        return X, y

    def _create_X(self, messages: list[Message]) -> csr_matrix:
        return vstack([sentence_matrix(m) for m in messages], format="csr")

    def _contiguous(self) -> None:
        coef = getattr(self.clf, "coef_", None)
        if coef is not None:
            self.clf.coef_ = np.asfortranarray(coef)

    def train(self, training_data: TrainingData) -> Resource:
        resource = super().train(training_data)
        self._contiguous()
        return resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LogisticRegressionClassifier:
        component = super().load(config, model_storage, resource, execution_context, **kwargs)
        if isinstance(component, FastLogisticRegressionClassifier):
            component._contiguous()
        return component
