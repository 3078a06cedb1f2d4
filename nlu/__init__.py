"""Natural-language understanding: the stock Rasa project in this folder and the app's side of it.

The app never imports rasa. It generates training data from the catalog (``generate``), trains and serves
models through the Rasa CLI in ``.venv-rasa`` (``rasa_env``, ``server``), parses over HTTP (``client``)
and measures accuracy on a held-out set (``evaluate``).

Exception tree::

    NluError
    ├── RasaEnvMissing      .venv-rasa or Python 3.10 is not installed; the message says how to fix it
    ├── TrainingFailed      ``rasa train nlu`` exited non-zero (its output is in the message)
    └── RasaUnavailable     the Rasa server did not answer in time or answered with an error
"""

from __future__ import annotations

from pathlib import Path

from core import KoblenzError

NLU_DIR = Path(__file__).resolve().parent
SERVICE_PREFIX = "service_"


class NluError(KoblenzError):
    """Root of the nlu package's exceptions."""


class RasaEnvMissing(NluError):
    """The Rasa environment is not installed."""


class TrainingFailed(NluError):
    """Training a model failed."""


class RasaUnavailable(NluError):
    """The Rasa server is down, slow or answered with an error."""


def intent_for_service(service_id: str) -> str:
    return SERVICE_PREFIX + service_id.replace("-", "_")


def service_for_intent(intent: str) -> str | None:
    if not intent.startswith(SERVICE_PREFIX):
        return None
    return intent[len(SERVICE_PREFIX) :].replace("_", "-")
