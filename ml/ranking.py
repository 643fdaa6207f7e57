"""Two-stage recommendations: candidates from several generators, ordered by a learned ranker.

Stage one asks each generator for its best items per viewer: ALS (recent interactions weigh
more), EASE, what viewers watch next (sequence), item-item co-occurrence from the viewer's
history and last session, content similarity, the trending chart, and what was popular in the
weeks before the viewer's last visit. Stage two is a LightGBM LambdaMART model (``lambdarank``,
NDCG) over features of each (viewer, candidate): every generator's score and rank, the item's
popularity at several half-lives, its age, how fully and how often to the end it is watched, the
viewer's activity and how recent it is.

The ranker learns from a time split of the training interactions themselves: the generators are
fitted on the earlier part, and the later part says which candidates were right. Three rankers
are learned, each choosing its number of trees by early stopping on the third of those viewers
it did not learn from, and their scores are averaged. The period a caller evaluates on (the
test split) is never seen: it is not in the interactions given to ``fit``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import scipy.sparse as sp

from ml.interactions import DAY_S, InteractionMatrix, decay
from ml.models import (
    KINDS,
    ALSRecommender,
    ContentRecommender,
    ItemContent,
    PopularityRecommender,
    Recommender,
    Scored,
    _cosine_top,
    _top_rows,
    sparse_arrays,
    sparse_from_arrays,
)

# A viewing counts as finished from this completion on (as in `daily_video_engagement`).
FINISHED = 0.95
InnerSplit = Literal["global", "user"]
# Below this many viewers with a right candidate, no ranker is learned (ranks are fused): a
# third of them is what each ranker is judged on, and a dozen viewers judge nothing.
MIN_GROUPS = 50
# Rankers learned, each with a third of the viewers held out to choose its number of trees.
FOLDS = 3
MIN_LEAF_ROWS = 20
# Reciprocal rank fusion's constant (Cormack et al., 2009).
FUSION_K = 60.0


# An item's mean counts as this many viewers of the catalogue's mean: an item seen twice is not
# the best (or worst) there is.
PRIOR_VIEWERS = 5.0


def _binary(m: sp.csr_matrix) -> sp.csr_matrix:
    """1 where ``m`` has an entry."""
    out = m.copy()
    out.data = np.ones_like(out.data)
    return out


def _last_times(times: sp.csr_matrix) -> np.ndarray:
    """Each row's latest time (0 for a row without entries)."""
    last = np.zeros(times.shape[0])
    has = np.diff(times.indptr) > 0
    last[has] = np.maximum.reduceat(times.data, times.indptr[:-1][has])
    return last


def _shrunk(sums: np.ndarray, counts: np.ndarray, prior: float) -> np.ndarray:
    """Per item, the mean of ``sums`` over ``counts`` pulled towards ``prior``."""
    return (sums + PRIOR_VIEWERS * prior) / (counts + PRIOR_VIEWERS)


class CooccurrenceRecommender(Recommender):
    """Item-item cosine similarity of who watched what; a viewer's items weigh by how recently
    they watched them, back from their last interaction: ``half_life_days`` for its scores,
    ``recent_half_life_days`` for ``recent_scores`` (the last session, mostly)."""

    kind = "cooccurrence"

    def __init__(
        self,
        half_life_days: float = 365.0,
        recent_half_life_days: float = 1.0,
        neighbours: int = 200,
    ) -> None:
        super().__init__()
        self.half_life_days = half_life_days
        self.recent_half_life_days = recent_half_life_days
        self.neighbours = neighbours
        self.similarity_matrix: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self.history: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self.recent: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(
        self, data: InteractionMatrix, content: Mapping[str, ItemContent], start: Self | None
    ) -> None:
        binary = _binary(data.matrix)
        norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel())
        scaled = binary @ sp.diags(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-12), 0.0))
        sim = sp.csr_matrix(scaled.T @ scaled, dtype=np.float32)
        sim.setdiag(0.0)
        sim.eliminate_zeros()
        self.similarity_matrix = _keep_top(sim, self.neighbours)
        self.history = _recency_weighted(data, self.half_life_days)
        self.recent = _recency_weighted(data, self.recent_half_life_days)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.history[rows] @ self.similarity_matrix).todense(), np.float64)

    def recent_scores(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.recent[rows] @ self.similarity_matrix).todense(), np.float64)

    def similar(self, item: str, k: int = 10) -> Scored:
        i = self.item_index.get(item)
        if i is None:
            return []
        return _cosine_top(self.similarity_matrix, i, k, self.item_ids)

    def _params(self) -> dict[str, Any]:
        return {
            "half_life_days": self.half_life_days,
            "recent_half_life_days": self.recent_half_life_days,
            "neighbours": self.neighbours,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            **sparse_arrays("sim", self.similarity_matrix),
            **sparse_arrays("hist", self.history),
            **sparse_arrays("recent", self.recent),
        }

    def _restore(self, arrays: dict[str, np.ndarray], path: Path) -> None:
        self.similarity_matrix = sparse_from_arrays("sim", arrays)
        self.history = sparse_from_arrays("hist", arrays)
        self.recent = sparse_from_arrays("recent", arrays)


class EaseRecommender(Recommender):
    """EASE (Steck, 2019): the item-item weights that best rebuild each viewer's history from
    the rest of it, in closed form, ``B = I - P / diag(P)`` with ``P = (X'X + lambda I)^-1``.

    The inverse costs the cube of the items it covers: the ``max_items`` most watched of those
    seen at least ``min_count`` times. Others get no score (candidates come from elsewhere).
    """

    kind = "ease"

    def __init__(
        self, regularization: float = 200.0, min_count: int = 3, max_items: int = 2000
    ) -> None:
        super().__init__()
        self.regularization = regularization
        self.min_count = min_count
        self.max_items = max_items
        self.columns = np.zeros(0, np.int64)
        self.weights = np.zeros((0, 0), np.float32)

    def _fit(
        self, data: InteractionMatrix, content: Mapping[str, ItemContent], start: Self | None
    ) -> None:
        binary = _binary(data.matrix)
        counts = np.asarray(binary.sum(axis=0)).ravel()
        eligible = np.flatnonzero(counts >= self.min_count)
        if len(eligible) > self.max_items:
            eligible = np.sort(
                eligible[np.argsort(-counts[eligible], kind="stable")][: self.max_items]
            )
        self.columns = eligible
        x = sp.csr_matrix(binary[:, eligible], dtype=np.float64)
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += self.regularization
        p = np.linalg.inv(gram)
        b = -p / np.diag(p)[None, :]
        np.fill_diagonal(b, 0.0)
        self.weights = b.astype(np.float32)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), len(self.item_ids)))
        if len(self.columns):
            history = _binary(sp.csr_matrix(self.seen[rows][:, self.columns], dtype=np.float32))
            out[:, self.columns] = history @ self.weights
        return out

    def similar(self, item: str, k: int = 10) -> Scored:
        i = self.item_index.get(item)
        at = np.searchsorted(self.columns, i) if i is not None else 0
        if i is None or at >= len(self.columns) or self.columns[at] != i:
            return []
        s = np.full(len(self.item_ids), -np.inf)
        s[self.columns] = self.weights[at]
        s[i] = -np.inf
        return self._top(np.where(s > 0, s, -np.inf), k)

    def _params(self) -> dict[str, Any]:
        return {
            "regularization": self.regularization,
            "min_count": self.min_count,
            "max_items": self.max_items,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"columns": self.columns, "weights": self.weights}

    def _restore(self, arrays: dict[str, np.ndarray], path: Path) -> None:
        self.columns = arrays["columns"]
        self.weights = arrays["weights"]


class SequenceRecommender(Recommender):
    """What viewers watch next: item-to-item transitions within ``window`` steps of each
    viewer's history in time order (a step further counts less), scored from the viewer's
    ``last`` items, the latest weighing most (``decay`` per step back)."""

    kind = "sequence"

    def __init__(self, window: int = 10, last: int = 20, decay: float = 0.8) -> None:
        super().__init__()
        self.window = window
        self.last = last
        self.decay = decay
        self.transitions: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self.recent: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(
        self, data: InteractionMatrix, content: Mapping[str, ItemContent], start: Self | None
    ) -> None:
        times = data.times.tocsr()
        n_items = times.shape[1]
        counts = np.diff(times.indptr)
        users = np.repeat(np.arange(times.shape[0]), counts)
        # Each viewer's items in time order (ties by item), as one array over all viewers.
        order = np.lexsort((times.indices, times.data, users))
        items, owners = times.indices[order], users[order]
        rows, cols, weights = [], [], []
        for step in range(1, self.window + 1):
            same = owners[:-step] == owners[step:]
            rows.append(items[:-step][same])
            cols.append(items[step:][same])
            weights.append(np.full(int(same.sum()), 1.0 / step))
        follows = sp.csr_matrix(
            (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_items, n_items),
        )
        totals = np.asarray(follows.sum(axis=1)).ravel()
        scale = sp.diags(np.where(totals > 0, 1.0 / np.maximum(totals, 1e-12), 0.0))
        self.transitions = sp.csr_matrix(scale @ follows, dtype=np.float32)
        # Steps back from each viewer's latest item.
        back = np.repeat(times.indptr[1:], counts) - 1 - np.arange(len(order))
        back = back.astype(np.int64)
        keep = back < self.last
        self.recent = sp.csr_matrix(
            (np.power(self.decay, back[keep]), (owners[keep], items[keep])),
            shape=times.shape,
            dtype=np.float32,
        )

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.recent[rows] @ self.transitions).todense(), np.float64)

    def similar(self, item: str, k: int = 10) -> Scored:
        i = self.item_index.get(item)
        if i is None:
            return []
        s = np.asarray(self.transitions[i].todense(), np.float64).ravel()
        s[i] = 0.0
        return self._top(np.where(s > 0, s, -np.inf), k)

    def _params(self) -> dict[str, Any]:
        return {"window": self.window, "last": self.last, "decay": self.decay}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            **sparse_arrays("transitions", self.transitions),
            **sparse_arrays("recent", self.recent),
        }

    def _restore(self, arrays: dict[str, np.ndarray], path: Path) -> None:
        self.transitions = sparse_from_arrays("transitions", arrays)
        self.recent = sparse_from_arrays("recent", arrays)


def _recency_weighted(data: InteractionMatrix, half_life_days: float) -> sp.csr_matrix:
    """Each viewer's confidences, weighed by how long before their last interaction each was."""
    times = data.times.tocsr()
    age = np.repeat(_last_times(times), np.diff(times.indptr)) - times.data
    weighted = data.matrix.copy().astype(np.float32)
    weighted.data = (weighted.data * decay(age, half_life_days)).astype(np.float32)
    return weighted


def _keep_top(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row's ``k`` largest entries."""
    m = m.tocsr()
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        if hi - lo > k:
            part = np.argpartition(-m.data[lo:hi], k - 1)[:k] + lo
        else:
            part = np.arange(lo, hi)
        rows.append(np.full(len(part), r))
        cols.append(m.indices[part])
        vals.append(m.data[part])
    if not rows:
        return sp.csr_matrix(m.shape, dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=m.shape,
        dtype=np.float32,
    )


class ItemStats:
    """What the ranker knows of each item and viewer at the end of the interactions."""

    HALF_LIVES = (7.0, 30.0, 90.0, 365.0)
    # The window, before a viewer's last interaction, whose popularity is "popular then".
    THEN_HALF_LIFE = 30.0

    def __init__(self, data: InteractionMatrix) -> None:
        times = data.times.tocsr()
        self.now = float(times.data.max()) if times.nnz else 0.0
        cols = times.tocsc()
        self.count = np.diff(cols.indptr).astype(np.float64)
        self.trend = np.vstack(
            [
                np.asarray(
                    sp.csr_matrix(
                        (decay(self.now - times.data, h), times.indices, times.indptr),
                        shape=times.shape,
                    ).sum(axis=0)
                ).ravel()
                for h in self.HALF_LIVES
            ]
        )
        first = np.full(times.shape[1], self.now)
        watched = self.count > 0
        first[watched] = np.minimum.reduceat(cols.data, cols.indptr[:-1][watched])
        self.age_days = (self.now - first) / DAY_S
        # Finished by what share of its viewers, shrunk the same way: the completion rate of
        # `daily_video_engagement`, from the interactions the model is given (so a model fitted
        # on the days before a split knows nothing of the days after).
        finished = (
            np.asarray((data.completion >= FINISHED).sum(axis=0)).ravel().astype(np.float64)
            if data.completion is not None
            else np.zeros(times.shape[1])
        )
        share = float(finished.sum() / self.count.sum()) if self.count.sum() else 0.0
        self.finish_rate = _shrunk(finished, self.count, share)
        signal = data.signal if data.signal is not None else data.matrix
        sums = np.asarray(signal.sum(axis=0)).ravel()
        self.quality = _shrunk(sums, self.count, float(signal.data.mean()) if signal.nnz else 0.0)
        self.user_count = np.diff(times.indptr).astype(np.float64)
        self.user_last = _last_times(times)
        # Interactions per item and day: popularity at any viewer's time is a product with it.
        day = np.floor(times.data / DAY_S).astype(np.int64)
        self.first_day = int(day.min()) if len(day) else 0
        days = (day.max() - self.first_day + 1) if len(day) else 1
        self.by_day = sp.csr_matrix(
            (np.ones(len(day)), (times.indices, day - self.first_day)),
            shape=(times.shape[1], days),
        )

    def popular_then(self, rows: np.ndarray) -> np.ndarray:
        """Per viewer (rows), each item's interactions in the weeks before their last one."""
        days = np.arange(self.by_day.shape[1]) + self.first_day
        last_day = np.floor(self.user_last[rows] / DAY_S)
        age = (last_day[:, None] - days[None, :]) * DAY_S
        weights = np.where(age >= 0, decay(age, self.THEN_HALF_LIFE), 0.0)
        return np.asarray(self.by_day @ weights.T).T

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "now": np.asarray([self.now, self.first_day]),
            "count": self.count,
            "trend": self.trend,
            "age_days": self.age_days,
            "quality": self.quality,
            "user_count": self.user_count,
            "user_last": self.user_last,
            "finish_rate": self.finish_rate,
            **sparse_arrays("by_day", self.by_day),
        }

    @classmethod
    def restore(cls, arrays: Mapping[str, np.ndarray]) -> ItemStats:
        stats = cls.__new__(cls)
        stats.now, first_day = (float(x) for x in arrays["now"])
        stats.first_day = int(first_day)
        names = ("count", "trend", "age_days", "quality", "user_count", "user_last", "finish_rate")
        for name in names:
            setattr(stats, name, arrays[name])
        stats.by_day = sparse_from_arrays("by_day", arrays)
        return stats


GENERATORS = (
    "als",
    "ease",
    "sequence",
    "cooccurrence",
    "recent",
    "content",
    "trending",
    "then",
)
# Without a ranker, the viewer's own generators are fused (the charts are for the cold).
FUSED = ("als", "ease", "sequence", "cooccurrence", "recent")
FEATURES = [
    *(f"{g}_score" for g in GENERATORS),
    *(f"{g}_rank" for g in GENERATORS),
    "log_count",
    *(f"log_trend_{int(h)}" for h in ItemStats.HALF_LIVES),
    "age_days",
    "quality",
    "finish_rate",
    "user_log_count",
    "user_idle_days",
]


class RankerRecommender(Recommender):
    """Candidates from every generator, ordered by a LambdaMART ranker (module docstring)."""

    kind = "ranker"

    def __init__(
        self,
        per_generator: int = 100,
        inner_split: InnerSplit = "global",
        # The later part as long as a test period of a fifth of everything is: a quarter of the
        # four fifths left before it.
        inner_fraction: float = 0.25,
        als: Mapping[str, Any] | None = None,
        ease: Mapping[str, Any] | None = None,
        sequence: Mapping[str, Any] | None = None,
        cooccurrence: Mapping[str, Any] | None = None,
        content: Mapping[str, Any] | None = None,
        ranker: Mapping[str, Any] | None = None,
        random_state: int = 7,
        patience: int = 50,
        max_train_users: int = 1000,
        negatives: int = 100,
    ) -> None:
        super().__init__()
        self.negatives = negatives
        self.patience = patience
        self.max_train_users = max_train_users
        self.per_generator = per_generator
        self.inner_split = inner_split
        self.inner_fraction = inner_fraction
        self.als_params = dict(als or {"half_life_days": 365.0})
        self.ease_params = dict(ease or {})
        self.sequence_params = dict(sequence or {})
        self.cooccurrence_params = dict(cooccurrence or {})
        self.content_params = dict(content or {})
        # Small trees over many rows each: item features (counts, age) would otherwise let
        # trees learn which items the training period liked rather than why (picked on the
        # validation viewers of MovieLens-small; the test viewers never took part).
        self.ranker_params = dict(
            ranker
            or {
                "n_estimators": 400,
                "learning_rate": 0.05,
                "num_leaves": 7,
                "min_child_samples": 500,
                "subsample": 0.7,
                "subsample_freq": 1,
                "colsample_bytree": 0.5,
                "reg_lambda": 10.0,
            }
        )
        self.random_state = random_state
        self.als = ALSRecommender(**self.als_params)
        self.ease = EaseRecommender(**self.ease_params)
        self.sequence = SequenceRecommender(**self.sequence_params)
        self.cooccurrence = CooccurrenceRecommender(**self.cooccurrence_params)
        self.content = ContentRecommender(**self.content_params)
        self.trending = PopularityRecommender(half_life_days=90.0)
        self.stats: ItemStats | None = None
        # (booster, trees) per fold; empty: the generators' ranks are fused instead.
        self.rankers: list[tuple[Any, int]] = []

    @property
    def components(self) -> dict[str, Recommender]:
        return {
            "als": self.als,
            "ease": self.ease,
            "sequence": self.sequence,
            "cooccurrence": self.cooccurrence,
            "content": self.content,
            "trending": self.trending,
        }

    # -- fitting ---------------------------------------------------------------------------

    def _fit(
        self, data: InteractionMatrix, content: Mapping[str, ItemContent], start: Self | None
    ) -> None:
        if start is not None and start.stats is not None:
            # A ranker fitted on part of these interactions: its ranker stays, and its
            # generators learn the rest (the evaluated model is the one served).
            self.rankers = start.rankers
            self._fit_generators(data, content, start)
            return
        earlier, labels = _inner_split(data, self.inner_split, self.inner_fraction)
        stage = type(self)(**self._params())
        stage._set_index(earlier.user_ids, earlier.item_ids, earlier.matrix)
        stage._fit_generators(earlier, content, None)
        self.rankers = stage._learn(labels, self.random_state)
        # The generators served are fitted on everything, starting from the earlier ones.
        self._fit_generators(data, content, stage)

    def _fit_generators(
        self, data: InteractionMatrix, content: Mapping[str, ItemContent], start: Self | None
    ) -> None:
        begun = start.components if start is not None else {}
        for name, model in self.components.items():
            model.fit(data, content, start=begun.get(name))
        self.stats = ItemStats(data)

    def _learn(self, labels: sp.csr_matrix, random_state: int) -> list[tuple[Any, int]]:
        """Fit LambdaMART rankers on the candidates of the viewers with labels: one per fold
        of ``FOLDS``, each stopping where the viewers of its fold, held out, are ranked best;
        their scores are averaged. Empty when too few viewers have a right candidate."""
        import lightgbm as lgb

        users = np.flatnonzero(np.diff(labels.indptr) > 0)
        users = users[self.stats.user_count[users] > 0] if self.stats is not None else users
        rng = np.random.default_rng(random_state)
        rng.shuffle(users)
        x, y, groups = self._training_rows(np.sort(users[: self.max_train_users]), labels)
        if len(groups) < MIN_GROUPS:
            return []  # too few viewers to learn from: generator ranks are fused instead
        params = dict(self.ranker_params)
        # A leaf holds at least a share of the rows: enough on a small catalogue to split at all.
        params["min_child_samples"] = int(
            np.clip(len(y) // 200, MIN_LEAF_ROWS, params.get("min_child_samples", 500))
        )
        fold_of = np.arange(len(groups)) % FOLDS
        rng.shuffle(fold_of)
        rankers = []
        learned: list[float] = []
        fused: list[float] = []
        for fold in range(FOLDS):
            held = fold_of == fold
            rows = np.repeat(held, groups)
            ranker = lgb.LGBMRanker(
                objective="lambdarank",
                random_state=random_state + fold,
                n_jobs=os.cpu_count() or 1,
                verbose=-1,
                **params,
            )
            ranker.fit(
                x[~rows],
                y[~rows],
                group=np.asarray(groups)[~held],
                eval_set=[(x[rows], y[rows])],
                eval_group=[np.asarray(groups)[held]],
                eval_at=[10],
                callbacks=[lgb.early_stopping(self.patience, verbose=False)],
            )
            trees = int(ranker.best_iteration_ or ranker.n_estimators)
            rankers.append((ranker.booster_, trees))
            sizes = np.asarray(groups)[held]
            predicted = np.asarray(ranker.booster_.predict(x[rows], num_iteration=trees))
            learned.append(_ndcg(predicted, y[rows], sizes))
            fused.append(_ndcg(_fused(x[rows][None])[0], y[rows], sizes))
        # The rankers must rank the viewers they did not learn from better than the fusion of
        # the generators does (on a small or odd catalogue, a stump learned from a few viewers
        # can rank worse than the generators it was given).
        if np.mean(learned) <= np.mean(fused):
            return []
        return rankers

    def _training_rows(
        self, users: np.ndarray, labels: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray, list[int]]:
        xs, ys, groups = [], [], []
        rng = np.random.default_rng(self.random_state)
        for lo in range(0, len(users), 256):
            rows = users[lo : lo + 256]
            cand, feats = self._candidate_features(rows, self._unseen(rows))
            for n, r in enumerate(rows):
                keep = cand[n] >= 0
                items = cand[n][keep]
                truth = np.zeros(len(items))
                lo_, hi_ = labels.indptr[r], labels.indptr[r + 1]
                truth[np.isin(items, labels.indices[lo_:hi_])] = 1.0
                if truth.sum() == 0:  # nothing to learn from a viewer none of whose were found
                    continue
                # Every right candidate and a sample of the wrong ones: the list a ranker
                # learns from need not be the whole candidate set, and this is most of its cost.
                wrong = np.flatnonzero(truth == 0)
                if len(wrong) > self.negatives:
                    wrong = rng.choice(wrong, self.negatives, replace=False)
                chosen = np.sort(np.concatenate([np.flatnonzero(truth > 0), wrong]))
                xs.append(feats[n][keep][chosen])
                ys.append(truth[chosen])
                groups.append(len(chosen))
        if not xs:
            return np.zeros((0, len(FEATURES))), np.zeros(0), []
        return np.vstack(xs), np.concatenate(ys), groups

    # -- candidates and features -----------------------------------------------------------

    def _generator_scores(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        assert self.stats is not None
        return {
            "als": self.als._score_rows(rows),
            "ease": self.ease._score_rows(rows),
            "sequence": self.sequence._score_rows(rows),
            "cooccurrence": self.cooccurrence._score_rows(rows),
            "recent": self.cooccurrence.recent_scores(rows),
            "content": self.content._score_rows(rows),
            "trending": self.trending._score_rows(rows),
            "then": self.stats.popular_then(rows),
        }

    def _candidate_features(
        self, rows: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per viewer (rows), the candidate item indices (-1 padded) and their features."""
        assert self.stats is not None
        scores = self._generator_scores(rows)
        chosen = np.zeros(mask.shape, dtype=bool)
        for s in scores.values():
            top, _ = _top_rows(np.where(mask, s, -np.inf), self.per_generator)
            for n in range(len(rows)):
                chosen[n, top[n][top[n] >= 0]] = True
        width = int(chosen.sum(axis=1).max()) if len(rows) else 0
        cand = np.full((len(rows), width), -1, np.int64)
        feats = np.zeros((len(rows), width, len(FEATURES)), np.float32)
        st = self.stats
        for n, r in enumerate(rows):
            items = np.flatnonzero(chosen[n])
            cand[n, : len(items)] = items
            columns = [scores[g][n, items] for g in GENERATORS]
            # Each generator's rank among the candidates (0 is its best).
            columns += [np.log1p(_ranks(scores[g][n, items])) for g in GENERATORS]
            columns += [np.log1p(st.count[items])]
            columns += [np.log1p(st.trend[h, items]) for h in range(len(ItemStats.HALF_LIVES))]
            columns += [st.age_days[items], st.quality[items], st.finish_rate[items]]
            columns += [
                np.full(len(items), np.log1p(st.user_count[r])),
                np.full(len(items), (st.now - st.user_last[r]) / DAY_S),
            ]
            feats[n, : len(items)] = np.column_stack(columns)
        return cand, feats

    # -- ranking ---------------------------------------------------------------------------

    def _rank_rows(
        self, rows: np.ndarray, mask: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        cand, feats = self._candidate_features(rows, mask)
        idx = np.full((len(rows), k), -1, np.int64)
        values = np.full((len(rows), k), -np.inf)
        if cand.shape[1] == 0:
            return idx, values
        predicted = np.where(cand >= 0, self._predict(feats), -np.inf)
        top, top_values = _top_rows(predicted, k)
        for n in range(len(rows)):
            valid = top[n] >= 0
            idx[n, : valid.sum()] = cand[n, top[n][valid]]
            values[n, : valid.sum()] = top_values[n][valid]
        return idx, values

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        """The ranker's score of every candidate; items no generator proposed get -inf."""
        mask = np.ones((len(rows), len(self.item_ids)), dtype=bool)
        cand, feats = self._candidate_features(rows, mask)
        out = np.full((len(rows), len(self.item_ids)), -np.inf)
        if cand.shape[1]:
            predicted = self._predict(feats)
            for n in range(len(rows)):
                valid = cand[n] >= 0
                out[n, cand[n][valid]] = predicted[n][valid]
        return out

    def _predict(self, feats: np.ndarray) -> np.ndarray:
        """The rankers' mean score of each candidate (viewers x candidates x features);
        without them, the reciprocal rank fusion of the generators' ranks."""
        if not self.rankers:
            return _fused(feats)
        flat = feats.reshape(-1, len(FEATURES))
        total = sum(booster.predict(flat, num_iteration=trees) for booster, trees in self.rankers)
        return (np.asarray(total) / len(self.rankers)).reshape(feats.shape[:2])

    def _cold_scores(self) -> np.ndarray | None:
        return self.trending.popularity

    def recommend_from_history(
        self,
        history: Mapping[str, float],
        k: int = 10,
        exclude: Collection[str] = (),
        *,
        allowed: Collection[str] | None = None,
    ) -> Scored:
        return self.content.recommend_from_history(history, k, exclude, allowed=allowed)

    def similar(self, item: str, k: int = 10) -> Scored:
        # Content works for new videos too; co-watching for videos without text in common.
        return self.content.similar(item, k) or self.cooccurrence.similar(item, k)

    # -- persistence -----------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        return {
            "per_generator": self.per_generator,
            "inner_split": self.inner_split,
            "inner_fraction": self.inner_fraction,
            "als": self.als_params,
            "ease": self.ease_params,
            "sequence": self.sequence_params,
            "cooccurrence": self.cooccurrence_params,
            "content": self.content_params,
            "ranker": self.ranker_params,
            "random_state": self.random_state,
            "patience": self.patience,
            "max_train_users": self.max_train_users,
            "negatives": self.negatives,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        assert self.stats is not None
        return {**self.stats.arrays(), "trees": np.asarray([t for _, t in self.rankers], np.int64)}

    def _children(self) -> Mapping[str, Recommender]:
        return self.components

    def save(self, path: str | Path) -> None:
        super().save(path)
        for n, (booster, _) in enumerate(self.rankers):
            (Path(path) / f"ranker-{n}.txt").write_text(booster.model_to_string())

    def _restore(self, arrays: dict[str, np.ndarray], path: Path) -> None:
        import lightgbm as lgb

        self.als = ALSRecommender.load(path / "als")
        self.ease = EaseRecommender.load(path / "ease")
        self.sequence = SequenceRecommender.load(path / "sequence")
        self.cooccurrence = CooccurrenceRecommender.load(path / "cooccurrence")
        self.content = ContentRecommender.load(path / "content")
        self.trending = PopularityRecommender.load(path / "trending")
        trees = [int(t) for t in arrays.pop("trees")]
        self.stats = ItemStats.restore(arrays)
        self.rankers = [
            (lgb.Booster(model_str=(path / f"ranker-{n}.txt").read_text()), t)
            for n, t in enumerate(trees)
        ]


def _fused(feats: np.ndarray) -> np.ndarray:
    """The reciprocal rank fusion of the personal generators (viewers x candidates x features):
    a generator that gives an item nothing does not vouch for it, whatever its rank."""
    ranks = feats[:, :, [FEATURES.index(f"{g}_rank") for g in FUSED]]
    scores = feats[:, :, [FEATURES.index(f"{g}_score") for g in FUSED]]
    return np.where(scores > 0, 1.0 / (FUSION_K + np.expm1(ranks)), 0.0).sum(axis=2)


def _ndcg(scores: np.ndarray, labels: np.ndarray, sizes: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k over consecutive groups of ``sizes`` rows (binary labels)."""
    values = []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for lo, hi in zip(np.cumsum(sizes) - sizes, np.cumsum(sizes), strict=True):
        order = np.argsort(-scores[lo:hi], kind="stable")[:k]
        gains = labels[lo:hi][order]
        ideal = discounts[: int(min(k, labels[lo:hi].sum()))].sum()
        values.append(float((gains * discounts[: len(gains)]).sum() / ideal) if ideal else 0.0)
    return float(np.mean(values)) if values else 0.0


def _ranks(values: np.ndarray) -> np.ndarray:
    """The rank of each value, best (largest) first; ties in index order."""
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.arange(len(values))
    return ranks


def _inner_split(
    data: InteractionMatrix, kind: InnerSplit, fraction: float
) -> tuple[InteractionMatrix, sp.csr_matrix]:
    """The interactions before a time split of ``data``, and the later (viewer, item) cells,
    which the ranker learns to find: after a global cut-off time (``global``), or each viewer's
    last ``fraction`` (``user``)."""
    times = data.times.tocsr()
    if kind == "global":
        cutoff = float(np.quantile(times.data, 1.0 - fraction)) if times.nnz else 0.0
        later = times.data > cutoff
    else:
        later = np.zeros(times.nnz, dtype=bool)
        for u in range(times.shape[0]):
            lo, hi = times.indptr[u], times.indptr[u + 1]
            n = hi - lo
            if n < 2:
                continue
            take = max(1, int(np.floor(n * fraction + 1e-9)))
            order = np.argsort(times.data[lo:hi], kind="stable")
            later[lo + order[n - take :]] = True

    rows = np.repeat(np.arange(times.shape[0]), np.diff(times.indptr))

    def part(m: sp.csr_matrix | None, keep: np.ndarray) -> sp.csr_matrix | None:
        # By position, not value: a time of 0 is a time. Every matrix has the same entries.
        if m is None:
            return None
        m = m.tocsr()
        return sp.csr_matrix(
            (m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape, dtype=m.dtype
        )

    earlier = InteractionMatrix(
        part(data.matrix, ~later),
        part(data.times, ~later),
        data.user_ids,
        data.item_ids,
        part(data.signal, ~later),
        part(data.completion, ~later),
    )
    labels = part(data.times, later)
    assert labels is not None
    return earlier, labels


KINDS.update(
    {
        m.kind: m
        for m in (
            CooccurrenceRecommender,
            EaseRecommender,
            SequenceRecommender,
            RankerRecommender,
        )
    }
)
