"""The promoted model in memory, swapped for a newly promoted one without a restart.

A model is published as a directory of files under a version; a pointer names the promoted
version. ``ModelServer`` reads the pointer (on ``refresh``, which a background thread calls
every few seconds), and when it names another version it downloads and loads that version
beside the one serving, then swaps one reference. A request holds the ``ServedModel`` it
started with, so it finishes on that model whatever happens meanwhile; no request waits for a
load or sees a half-loaded model. A failed load is logged and the old model keeps serving.

The server also keeps the previously served model for a while, so the pages of a feed a client
started before a switch keep coming from the model that ranked the first page.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ml.models import Recommender, load

log = logging.getLogger(__name__)

# Where models live in the object store: `<MODEL_PREFIX>/<version>/...` plus the pointer.
MODEL_PREFIX = "models/recommendations"


@dataclass(frozen=True)
class ServedModel:
    version: str
    model: Recommender
    loaded_at: float


class ModelServer:
    """Serves the promoted model and reloads it when the pointer moves.

    ``promoted`` returns the promoted version (None when nothing was promoted yet) and
    ``fetch(version, directory)`` puts that version's files in ``directory``.
    """

    def __init__(
        self,
        promoted: Callable[[], str | None],
        fetch: Callable[[str, Path], object],
        *,
        keep: int = 2,
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, not {keep}")
        self._promoted = promoted
        self._fetch = fetch
        self._keep = keep
        self._served: tuple[ServedModel, ...] = ()
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> ServedModel | None:
        """The model serving now, or None before any model was promoted (or loaded)."""
        served = self._served
        return served[0] if served else None

    def get(self, version: str | None) -> ServedModel | None:
        """The model of ``version`` if it is still held, else the current one."""
        served = self._served
        for item in served:
            if item.version == version:
                return item
        return served[0] if served else None

    def refresh(self) -> bool:
        """Load the promoted version if it is not the one serving; True if it switched.

        Never raises for a store or model problem: the old model keeps serving and the
        next refresh tries again.
        """
        with self._refresh_lock:
            try:
                version = self._promoted()
            except Exception:
                log.exception("cannot read the promoted model version")
                return False
            current = self.current
            if version is None or (current is not None and current.version == version):
                return False
            try:
                model = self._load(version)
            except Exception:
                log.exception("cannot load model %s; still serving %s", version, current)
                return False
            self._served = (ServedModel(version, model, time.time()), *self._served)[: self._keep]
            log.info("serving recommendation model %s", version)
            return True

    def _load(self, version: str) -> Recommender:
        with tempfile.TemporaryDirectory(prefix="reelflow-model-") as tmp:
            self._fetch(version, Path(tmp))
            return load(tmp)

    def start(self, interval_s: float) -> None:
        """Refresh now and then every ``interval_s`` seconds in a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while True:
                self.refresh()
                if self._stop.wait(interval_s):
                    return

        self._thread = threading.Thread(target=loop, name="model-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()
