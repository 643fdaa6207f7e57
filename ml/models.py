"""Recommenders behind one small interface: fit / recommend / similar / save / load.

Like implicit's ``recommender_base.py``: plain Python and numpy, no framework. Every model
scores the whole catalogue for many users at once as one matrix (``_score_rows``); the base class
turns that into a filtered top-k, so filtering behaves the same in every model, the hybrid can
blend them, and an evaluation scores thousands of viewers in a few matrix products.

A model can be fitted from a ``start``: a model of the same kind fitted on an earlier part of the
same interactions. ALS then begins from its factors and runs ``refit_iterations`` instead of
``iterations``, and the content model keeps its vectors when the catalogue is the same.

Artifacts are a directory with ``model.json`` (kind, parameters, ids) and ``arrays.npz``
(numeric arrays only, loaded with ``allow_pickle=False``); the hybrid nests its components.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from ml.interactions import InteractionMatrix, decay

Scored = list[tuple[str, float]]


@dataclass(frozen=True)
class ItemContent:
    """The text a content model sees for one video."""

    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()

    def text(self) -> str:
        # Tags are joined into single tokens so "science fiction" does not match "science" talks.
        tags = " ".join(t.strip().lower().replace(" ", "_") for t in self.tags)
        return f"{self.title} {self.description} {tags}"


class Recommender(ABC):
    """Base recommender: subclasses implement ``_fit``, ``scores``, ``similar`` and their arrays."""

    kind: ClassVar[str]

    def __init__(self) -> None:
        self.user_ids: list[str] = []
        self.item_ids: list[str] = []
        self.user_index: dict[str, int] = {}
        self.item_index: dict[str, int] = {}
        # What each user already interacted with in training: filtered from recommendations.
        self.seen: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)

    # -- interface -------------------------------------------------------------------------

    def fit(
        self,
        data: InteractionMatrix,
        content: Mapping[str, ItemContent] | None = None,
        *,
        start: Self | None = None,
    ) -> Self:
        """Train on ``data``; ``content`` is used by models that read item text. With ``start``
        (the same kind, fitted on part of the same interactions and content), begin from it."""
        self._set_index(data.user_ids, data.item_ids, data.matrix)
        self._fit(data, content or {}, start)
        return self

    def recommend(
        self,
        user: str,
        k: int = 10,
        exclude: Collection[str] = (),
        *,
        allowed: Collection[str] | None = None,
        filter_seen: bool = True,
    ) -> Scored:
        """Top ``k`` items for ``user`` (best first), without seen, excluded or disallowed items.

        An unknown user gets what ``scores`` gives for no history (popularity: the chart;
        personalised models: nothing).
        """
        return self._rank(user, self._candidates(user, exclude, allowed, filter_seen), k)

    def recommend_rows(self, rows: np.ndarray, k: int = 10) -> np.ndarray:
        """Top ``k`` item indices for many users known to the model (their row indices), seen
        items left out: row ``n`` holds what ``recommend(self.user_ids[rows[n]], k)`` returns,
        padded with -1 where fewer than ``k`` items qualify."""
        return self._rank_rows(np.asarray(rows), self._unseen(rows), k)[0]

    def _unseen(self, rows: np.ndarray) -> np.ndarray:
        """Per row, the items the user did not interact with in training."""
        seen = self.seen[rows]  # stored entries, zero weights included, are what was seen
        unseen = np.ones(seen.shape, dtype=bool)
        unseen[np.repeat(np.arange(len(rows)), np.diff(seen.indptr)), seen.indices] = False
        return unseen

    def scores(self, user: str) -> np.ndarray | None:
        """Score of every item for ``user`` (higher is better), or None if the model cannot."""
        u = self.user_index.get(user)
        if u is None:
            return self._cold_scores()
        return self._score_rows(np.array([u]))[0]

    def _rank(self, user: str, mask: np.ndarray, k: int) -> Scored:
        """Top ``k`` of the items in ``mask``, by ``scores``."""
        u = self.user_index.get(user)
        if u is not None:
            idx, values = self._rank_rows(np.array([u]), mask[None, :], k)
            return self._scored(idx[0], values[0])
        s = self._cold_scores()
        if s is None:
            return []
        return self._top(np.where(mask, s, -np.inf), k)

    def _rank_rows(
        self, rows: np.ndarray, mask: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(item indices, scores) of the top ``k`` per row among the items ``mask`` allows."""
        return _top_rows(np.where(mask, self._score_rows(rows), -np.inf), k)

    def _cold_scores(self) -> np.ndarray | None:
        """Scores for a user the model never saw: none, unless the model needs no history."""
        return None

    def knows(self, user: str) -> bool:
        """Whether ``user`` had interactions in training."""
        return user in self.user_index

    def recommend_from_history(
        self,
        history: Mapping[str, float],
        k: int = 10,
        exclude: Collection[str] = (),
        *,
        allowed: Collection[str] | None = None,
    ) -> Scored:
        """Top ``k`` for a viewer the model never saw, from what they watched since (item ->
        weight); the watched items themselves are left out. Empty for models that cannot."""
        return []

    @abstractmethod
    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        """Scores (float64, users x items) of every item for users known to the model."""

    @abstractmethod
    def similar(self, item: str, k: int = 10) -> Scored:
        """Items most similar to ``item``, itself excluded."""

    def save(self, path: str | Path) -> None:
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": self.kind,
            "params": self._params(),
            "user_ids": self.user_ids,
            "item_ids": self.item_ids,
        }
        (out / "model.json").write_text(json.dumps(meta))
        arrays = {
            "seen_data": self.seen.data,
            "seen_indices": self.seen.indices,
            "seen_indptr": self.seen.indptr,
            **self._arrays(),
        }
        np.savez(out / "arrays.npz", **arrays)
        for name, child in self._children().items():
            child.save(out / name)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        src = Path(path)
        meta = json.loads((src / "model.json").read_text())
        if cls is not Recommender and meta["kind"] != cls.kind:
            raise ValueError(f"{src} holds a {meta['kind']!r} model, not {cls.kind!r}")
        from ml import ranking  # noqa: F401 - its kinds join KINDS

        target = KINDS[meta["kind"]] if cls is Recommender else cls
        model = target(**meta["params"])
        with np.load(src / "arrays.npz", allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        shape = (len(meta["user_ids"]), len(meta["item_ids"]))
        seen = sp.csr_matrix(
            (arrays.pop("seen_data"), arrays.pop("seen_indices"), arrays.pop("seen_indptr")),
            shape=shape,
        )
        model._set_index(meta["user_ids"], meta["item_ids"], seen)
        model._restore(arrays, src)
        return model  # type: ignore[return-value]

    # -- for subclasses --------------------------------------------------------------------

    @abstractmethod
    def _fit(
        self, data: InteractionMatrix, content: Mapping[str, ItemContent], start: Self | None
    ) -> None: ...

    @abstractmethod
    def _params(self) -> dict[str, Any]: ...

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _restore(self, arrays: dict[str, np.ndarray], path: Path) -> None: ...

    def _children(self) -> Mapping[str, Recommender]:
        """Components of a composite model, saved in subdirectories named by key."""
        return {}

    def _set_index(self, users: list[str], items: list[str], seen: sp.csr_matrix) -> None:
        self.user_ids = list(users)
        self.item_ids = list(items)
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        self.item_index = {it: i for i, it in enumerate(self.item_ids)}
        self.seen = sp.csr_matrix(seen, dtype=np.float32)

    def _history(self, user: str) -> tuple[np.ndarray, np.ndarray]:
        """(item indices, confidences) the user interacted with in training."""
        u = self.user_index.get(user)
        if u is None:
            return np.empty(0, np.int32), np.empty(0, np.float32)
        lo, hi = self.seen.indptr[u], self.seen.indptr[u + 1]
        return self.seen.indices[lo:hi], self.seen.data[lo:hi]

    def _candidates(
        self,
        user: str,
        exclude: Collection[str],
        allowed: Collection[str] | None,
        filter_seen: bool,
    ) -> np.ndarray:
        n = len(self.item_ids)
        if allowed is None:
            mask = np.ones(n, dtype=bool)
        else:
            mask = np.zeros(n, dtype=bool)
            mask[[self.item_index[i] for i in allowed if i in self.item_index]] = True
        if filter_seen:
            mask[self._history(user)[0]] = False
        mask[[self.item_index[i] for i in exclude if i in self.item_index]] = False
        return mask

    def _top(self, s: np.ndarray, k: int) -> Scored:
        idx, values = _top_rows(s[None, :], k)
        return self._scored(idx[0], values[0])

    def _scored(self, idx: np.ndarray, values: np.ndarray) -> Scored:
        return [(self.item_ids[i], float(v)) for i, v in zip(idx, values, strict=True) if i >= 0]


def sparse_arrays(name: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as named arrays of a model's `arrays.npz`."""
    return {
        f"{name}_data": m.data,
        f"{name}_indices": m.indices,
        f"{name}_indptr": m.indptr,
        f"{name}_shape": np.asarray(m.shape, np.int64),
    }


def sparse_from_arrays(name: str, arrays: Mapping[str, np.ndarray]) -> sp.csr_matrix:
    """The CSR matrix `sparse_arrays` stored under `name`."""
    shape = tuple(int(x) for x in arrays[f"{name}_shape"])
    return sp.csr_matrix(
        (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
        shape=shape,
    )


def _top_rows(s: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the indices and values of the ``k`` largest finite entries, best first; -1 and
    -inf pad rows with fewer. Ties go to the lower index, so results are reproducible."""
    n, width = s.shape
    take = min(k, width)
    if take <= 0:
        return np.full((n, k), -1, np.int64), np.full((n, k), -np.inf)
    part = np.argpartition(-s, take - 1, axis=1)[:, :take]
    values = np.take_along_axis(s, part, 1)
    order = np.lexsort((part, -values), axis=1)
    idx = np.take_along_axis(part, order, 1)
    values = np.take_along_axis(values, order, 1)
    idx[~np.isfinite(values)] = -1
    pad = k - take
    if pad:
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        values = np.pad(values, ((0, 0), (0, pad)), constant_values=-np.inf)
    return idx, values


def one_blas_thread() -> Any:
    """A context (or, kept, a process-wide setting) limiting BLAS to one thread.

    Scoring one user is a few small products: BLAS threads cost more than they give (a
    10k x 64 product takes 4-5 times longer with two threads on two busy cores), and implicit
    threads ALS itself. Callers that score many users at once parallelise above BLAS.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")


def _cosine_top(vectors: Any, i: int, k: int, ids: list[str]) -> Scored:
    col = vectors @ vectors[i].T
    sims = (col.toarray() if sp.issparse(col) else np.asarray(col)).ravel().astype(np.float64)
    sims[i] = -np.inf
    sims[sims <= 0] = -np.inf  # nothing in common is not "similar"
    k = min(k, int(np.isfinite(sims).sum()))
    if k <= 0:
        return []
    part = np.argpartition(-sims, k - 1)[:k]
    order = part[np.lexsort((part, -sims[part]))]
    return [(ids[j], float(sims[j])) for j in order]


class ALSRecommender(Recommender):
    """Collaborative filtering with implicit's alternating least squares (CPU)."""

    kind = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 1.0,
        alpha: float = 1.0,
        iterations: int = 15,
        random_state: int = 42,
        refit_iterations: int = 2,
        half_life_days: float | None = None,
    ) -> None:
        super().__init__()
        self.half_life_days = half_life_days
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.refit_iterations = refit_iterations
        self.user_factors = np.zeros((0, factors), np.float32)
        self.item_factors = np.zeros((0, factors), np.float32)

    def _fit(
        self, data: InteractionMatrix, content: Mapping[str, ItemContent], start: Self | None
    ) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        # implicit parallelises itself; a multi-threaded BLAS underneath oversubscribes the
        # cores and slows ALS down (implicit checks, and warns, when the model is built), so
        # BLAS is pinned to one thread for construction and fit.
        # More factors than a quarter of the matrix's smaller side fit each user's own history
        # rather than what users share: small catalogues get fewer.
        factors = max(2, min(self.factors, min(data.shape) // 4))
        warm = start is not None and start.item_factors.shape[1] == factors
        with one_blas_thread():
            model = AlternatingLeastSquares(
                factors=factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.refit_iterations if warm else self.iterations,
                random_state=self.random_state,
            )
            if warm:
                assert start is not None
                rng = np.random.default_rng(self.random_state)
                model.user_factors = _laid_out(
                    self.user_ids, start.user_index, start.user_factors, rng
                )
                model.item_factors = _laid_out(
                    self.item_ids, start.item_index, start.item_factors, rng
                )
            model.fit(self._weighted(data), show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)

    def _weighted(self, data: InteractionMatrix) -> sp.csr_matrix:
        """The confidences ALS learns from: with ``half_life_days``, each interaction's halves
        with every half-life it lies before the newest, so tastes of late count most."""
        if self.half_life_days is None or data.times.nnz == 0:
            return data.matrix
        weighted = data.matrix.copy()
        age_s = data.times.data.max() - data.times.data
        weighted.data = (weighted.data * decay(age_s, self.half_life_days)).astype(np.float32)
        return weighted

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return (self.user_factors[rows] @ self.item_factors.T).astype(np.float64)

    def similar(self, item: str, k: int = 10) -> Scored:
        i = self.item_index.get(item)
        if i is None:
            return []
        norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
        unit = self.item_factors / np.maximum(norms, 1e-12)
        return _cosine_top(unit, i, k, self.item_ids)

    def _params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "random_state": self.random_state,
            "refit_iterations": self.refit_iterations,
            "half_life_days": self.half_life_days,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _restore(self, arrays: dict[str, np.ndarray], path: Path) -> None:
        self.user_factors = arrays["user_factors"]
        self.item_factors = arrays["item_factors"]


def _laid_out(
    ids: list[str], index: Mapping[str, int], factors: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``factors`` (rows named by ``index``) laid out for ``ids``; ids without a row start small
    and random, as implicit starts every factor."""
    out = (rng.random((len(ids), factors.shape[1]), dtype=np.float32) * 0.01).astype(np.float32)
    pairs = [(n, index[i]) for n, i in enumerate(ids) if i in index]
    if pairs:
        to, of = np.array(pairs).T
        out[to] = factors[of]
    return out


class ContentRecommender(Recommender):
    """TF-IDF over title, description and tags; cosine similarity between items.

    A user is the confidence-weighted mean of the vectors of what they watched, so a viewer
    with a little history, and a video nobody watched yet, still get scores.
    """

    kind = "content"

    def __init__(self, max_features: int = 50_000, min_df: int = 1) -> None:
        super().__init__()
        self.max_features = max_features
        self.min_df = min_df
        self.vectors: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(
        self, data: InteractionMatrix, content: Mapping[str, ItemContent], start: Self | None
    ) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if start is not None and start.item_ids == self.item_ids:
            self.vectors = start.vectors  # the same catalogue and texts: the same vectors
            return
        empty = ItemContent()
        texts = [content.get(i, empty).text() for i in self.item_ids]
        vectorizer = TfidfVectorizer(
            max_features=self.max_features,
            min_df=self.min_df,
            sublinear_tf=True,
            stop_words="english",
            dtype=np.float32,
        )
        try:
            self.vectors = sp.csr_matrix(vectorizer.fit_transform(texts))
        except ValueError:  # no text at all: every item gets an empty vector
            self.vectors = sp.csr_matrix((len(texts), 1), dtype=np.float32)

    def scores_for(self, items: Mapping[str, float]) -> np.ndarray:
        """Scores for a history given directly (item -> weight, unknown ids ignored): cold
        start for users the model never saw."""
        known = [i for i in items if i in self.item_index]
        weights = sp.csr_matrix(
            (
                np.array([items[i] for i in known], dtype=np.float32),
                (np.zeros(len(known), np.int64), [self.item_index[i] for i in known]),
            ),
            shape=(1, len(self.item_ids)),
        )
        return self._score_weights(weights)[0]

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return self._score_weights(self.seen[rows])

    def _score_weights(self, weights: sp.csr_matrix) -> np.ndarray:
        """Cosine of every item with each row's profile: the weighted sum of the vectors of
        what the row watched, L2-normalised (a row with no history scores 0 everywhere)."""
        profiles = sp.csr_matrix(weights @ self.vectors, dtype=np.float64)
        norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel())
        profiles = sp.diags(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-300), 0.0)) @ profiles
        return np.asarray((profiles @ self.vectors.T).todense(), dtype=np.float64)

    def recommend_from_history(
        self,
        history: Mapping[str, float],
        k: int = 10,
        exclude: Collection[str] = (),
        *,
        allowed: Collection[str] | None = None,
    ) -> Scored:
        s = self.scores_for(history)
        mask = self._candidates("", [*exclude, *history], allowed, filter_seen=False)
        # Items sharing no term with the history are not recommendations, just the rest.
        return self._top(np.where(mask & (s > 0), s, -np.inf), k)

    def similar(self, item: str, k: int = 10) -> Scored:
        i = self.item_index.get(item)
        if i is None:
            return []
        return _cosine_top(self.vectors, i, k, self.item_ids)

    def similarity(self, idx: np.ndarray) -> np.ndarray:
        """Cosine similarity between the given items (dense, len(idx) x len(idx))."""
        sub = self.vectors[idx]
        return np.asarray((sub @ sub.T).todense(), dtype=np.float64)

    def _params(self) -> dict[str, Any]:
        return {"max_features": self.max_features, "min_df": self.min_df}

    def _arrays(self) -> dict[str, np.ndarray]:
        return sparse_arrays("vec", self.vectors)

    def _restore(self, arrays: dict[str, np.ndarray], path: Path) -> None:
        self.vectors = sparse_from_arrays("vec", arrays)


class PopularityRecommender(Recommender):
    """Most-watched items, the same for everyone; the baseline and the fallback.

    With ``half_life_days`` each interaction counts ``0.5 ** (age / half_life)`` relative to the
    newest interaction in training: a trending chart rather than an all-time one.
    """

    kind = "popularity"

    def __init__(self, half_life_days: float | None = None) -> None:
        super().__init__()
        self.half_life_days = half_life_days
        self.popularity = np.zeros(0, np.float64)

    def _fit(
        self, data: InteractionMatrix, content: Mapping[str, ItemContent], start: Self | None
    ) -> None:
        # Counts of viewers, not summed confidence: BM25 weights would already discount
        # popular items, which is the opposite of what this model is for.
        ones = data.times.copy()
        if self.half_life_days is None or ones.nnz == 0:
            ones.data = np.ones_like(ones.data)
        else:
            ones.data = decay(ones.data.max() - ones.data, self.half_life_days)
        self.popularity = np.asarray(ones.sum(axis=0)).ravel().astype(np.float64)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(rows), len(self.popularity)))

    def _cold_scores(self) -> np.ndarray | None:
        return self.popularity

    def similar(self, item: str, k: int = 10) -> Scored:
        # Popularity has no notion of item similarity; "similar" is the chart without the item.
        s = self.popularity.copy()
        if item in self.item_index:
            s[self.item_index[item]] = -np.inf
        return self._top(s, k)

    def _params(self) -> dict[str, Any]:
        return {"half_life_days": self.half_life_days}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity}

    def _restore(self, arrays: dict[str, np.ndarray], path: Path) -> None:
        self.popularity = arrays["popularity"]


def _normalise(s: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Scale each row by its largest magnitude over the candidate items, so components on
    different scales can blend. Unlike min-max scaling, scores that barely differ (a chart where
    every item is about as popular) stay about equal instead of being stretched over [0, 1]."""
    top = np.where(mask, np.abs(s), 0.0).max(axis=-1, keepdims=True)
    return np.where(mask & (top > 0), s / np.where(top > 0, top, 1.0), 0.0)


class HybridRecommender(Recommender):
    """Blend of ALS, content and (trending) popularity, with filters and light diversity.

    Each component's scores are min-max normalised over the candidates and summed with
    ``weights``; a user unknown to ALS and content falls back to popularity alone. The top
    ``pool`` candidates are re-ranked by maximal marginal relevance (Carbonell & Goldstein,
    1998) on content similarity: ``diversity`` trades relevance for distance to what is
    already picked, so ten near-duplicates do not fill the feed.

    The defaults are the ones tuned on MovieLens-small (``bench/reco_eval.py``): a 90-day
    trending component is what lets the blend beat popularity on the global temporal split.
    """

    kind = "hybrid"

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        diversity: float = 0.05,
        pool: int = 50,
        als: Mapping[str, Any] | None = None,
        content: Mapping[str, Any] | None = None,
        popularity: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.weights = dict(weights or {"als": 1.0, "content": 0.1, "popularity": 0.5})
        self.diversity = diversity
        self.pool = pool
        self.als = ALSRecommender(**(als or {}))
        self.content = ContentRecommender(**(content or {}))
        self.popularity = PopularityRecommender(**(popularity or {"half_life_days": 90.0}))

    @property
    def components(self) -> dict[str, Recommender]:
        return {"als": self.als, "content": self.content, "popularity": self.popularity}

    def _fit(
        self, data: InteractionMatrix, content: Mapping[str, ItemContent], start: Self | None
    ) -> None:
        begun = start.components if start is not None else {}
        for name, model in self.components.items():
            if self.weights.get(name, 0.0) > 0 or name == "content":  # content drives diversity
                model.fit(data, content, start=begun.get(name))

    def scores(self, user: str) -> np.ndarray | None:
        return self._blend(user, np.ones(len(self.item_ids), dtype=bool))

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return self._blend_rows(rows, np.ones((len(rows), len(self.item_ids)), dtype=bool))

    def _blend(self, user: str, mask: np.ndarray) -> np.ndarray | None:
        """One user's blend; a user the components never saw gets what they give cold."""
        u = self.user_index.get(user)
        if u is not None:
            return self._blend_rows(np.array([u]), mask[None, :])[0]
        total: np.ndarray | None = None
        for name, model in self.components.items():
            w = self.weights.get(name, 0.0)
            s = model.scores(user) if w > 0 else None
            if s is not None:
                total = self._add(total, w * _normalise(s, mask))
        return total

    def _blend_rows(self, rows: np.ndarray, mask: np.ndarray) -> np.ndarray:
        total: np.ndarray | None = None
        for name, model in self.components.items():
            w = self.weights.get(name, 0.0)
            if w > 0:
                total = self._add(total, w * _normalise(model._score_rows(rows), mask))
        return total if total is not None else np.zeros(mask.shape)

    @staticmethod
    def _add(total: np.ndarray | None, part: np.ndarray) -> np.ndarray:
        return part if total is None else total + part

    def _rank(self, user: str, mask: np.ndarray, k: int) -> Scored:
        s = self._blend(user, mask)
        if s is None:
            return []
        return self._diversify(s, mask, k)

    def _rank_rows(
        self, rows: np.ndarray, mask: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        blended = self._blend_rows(rows, mask)
        idx = np.full((len(rows), k), -1, np.int64)
        values = np.full((len(rows), k), -np.inf)
        for n in range(len(rows)):
            ranked = self._diversify(blended[n], mask[n], k)
            idx[n, : len(ranked)] = [self.item_index[i] for i, _ in ranked]
            values[n, : len(ranked)] = [v for _, v in ranked]
        return idx, values

    def _diversify(self, s: np.ndarray, mask: np.ndarray, k: int) -> Scored:
        # Components are scaled over the candidates, then the top `pool` re-ranked for diversity.
        ranked = self._top(np.where(mask, s, -np.inf), max(k, self.pool))
        if self.diversity <= 0 or len(ranked) <= 1:
            return ranked[:k]
        return self._mmr(ranked, k)

    def _mmr(self, ranked: Scored, k: int) -> Scored:
        idx = np.array([self.item_index[i] for i, _ in ranked])
        rel = np.array([s for _, s in ranked])
        span = rel.max() - rel.min()
        rel = (rel - rel.min()) / span if span > 0 else np.ones_like(rel)
        sim = self.content.similarity(idx)
        lam = 1.0 - self.diversity
        picked: list[int] = []
        max_sim = np.zeros(len(idx))
        free = np.ones(len(idx), dtype=bool)
        for _ in range(min(k, len(idx))):
            gain = np.where(free, lam * rel - self.diversity * max_sim, -np.inf)
            j = int(np.argmax(gain))
            picked.append(j)
            free[j] = False
            max_sim = np.maximum(max_sim, sim[j])
        return [ranked[j] for j in picked]

    def recommend_from_history(
        self,
        history: Mapping[str, float],
        k: int = 10,
        exclude: Collection[str] = (),
        *,
        allowed: Collection[str] | None = None,
    ) -> Scored:
        # ALS has no factors for a viewer it never saw; what they watched since has text.
        return self.content.recommend_from_history(history, k, exclude, allowed=allowed)

    def similar(self, item: str, k: int = 10) -> Scored:
        # Content similarity works for new videos too; ALS only for watched ones.
        return self.content.similar(item, k) or self.als.similar(item, k)

    def _params(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "diversity": self.diversity,
            "pool": self.pool,
            "als": self.als._params(),
            "content": self.content._params(),
            "popularity": self.popularity._params(),
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _children(self) -> Mapping[str, Recommender]:
        return self.components

    def _restore(self, arrays: dict[str, np.ndarray], path: Path) -> None:
        self.als = ALSRecommender.load(path / "als")
        self.content = ContentRecommender.load(path / "content")
        self.popularity = PopularityRecommender.load(path / "popularity")


KINDS: dict[str, type[Recommender]] = {
    m.kind: m
    for m in (ALSRecommender, ContentRecommender, PopularityRecommender, HybridRecommender)
}


def load(path: str | Path) -> Recommender:
    """Load any saved model, whatever its kind."""
    return Recommender.load(path)
