"""The recommendation model the API serves, and the pseudonym a model knows a viewer by.

Models are trained on the analytics datasets, where viewers are HMAC pseudonyms; the API holds
the same key, so it finds a signed-in viewer's row without the model ever holding user ids.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ml.models import one_blas_thread
from ml.serving import MODEL_PREFIX, ModelServer, ServedModel
from reelflow.settings import Settings
from storage.engagement import pseudonym, pseudonym_key
from storage.objects import ObjectStore


class Recommendations:
    def __init__(self, settings: Settings, store: ObjectStore) -> None:
        self.server = ModelServer(
            lambda: store.current_version(MODEL_PREFIX),
            lambda version, directory: store.download_tree(f"{MODEL_PREFIX}/{version}", directory),
        )
        self._key = pseudonym_key(settings.analytics_pseudonym_key.get_secret_value())
        self._reload_s = settings.reco_reload_s
        self._blas: Any = None

    def viewer(self, user_id: UUID) -> str:
        """The id of the user in the models' training data."""
        return pseudonym(user_id, self._key)

    def model(self, version: str | None = None) -> ServedModel | None:
        """The model of `version` while it is still held, else the promoted one (or None)."""
        return self.server.get(version)

    def start(self) -> None:
        # Requests run in parallel threads; each scores one viewer with small products.
        self._blas = one_blas_thread()
        self.server.start(self._reload_s)

    def stop(self) -> None:
        self.server.stop()
        if self._blas is not None:
            self._blas.restore_original_limits()
            self._blas = None
