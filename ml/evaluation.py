"""Offline evaluation: ranking metrics, temporal splits and a comparison table.

Relevance is binary: an item is relevant to a user if they interacted with it in the test
part. Every model is trained on the train part only and recommends unseen items, so a model
cannot score by repeating the user's history.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.interactions import Row, Scheme, build_matrix, to_frame
from ml.models import ItemContent, Recommender, one_blas_thread


def precision_at_k(recommended: Sequence[str], relevant: Iterable[str], k: int) -> float:
    rel = set(relevant)
    return sum(1 for i in recommended[:k] if i in rel) / k


def recall_at_k(recommended: Sequence[str], relevant: Iterable[str], k: int) -> float:
    rel = set(relevant)
    if not rel:
        return 0.0
    return sum(1 for i in recommended[:k] if i in rel) / len(rel)


def ndcg_at_k(recommended: Sequence[str], relevant: Iterable[str], k: int) -> float:
    rel = set(relevant)
    if not rel:
        return 0.0
    dcg = sum(1.0 / math.log2(r + 2) for r, i in enumerate(recommended[:k]) if i in rel)
    ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(rel), k)))
    return dcg / ideal


def average_precision_at_k(recommended: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """AP@k normalised by min(|relevant|, k), so a perfect top-k scores 1."""
    rel = set(relevant)
    if not rel:
        return 0.0
    hits, total = 0, 0.0
    for r, i in enumerate(recommended[:k]):
        if i in rel:
            hits += 1
            total += hits / (r + 1)
    return total / min(len(rel), k)


def catalogue_coverage(recommendations: Iterable[Sequence[str]], n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's list."""
    shown: set[str] = set()
    for recs in recommendations:
        shown.update(recs)
    return len(shown) / n_items if n_items else 0.0


@dataclass
class Split:
    """Train rows and, per evaluated user, the items held out for them."""

    name: str
    train: pd.DataFrame
    test: dict[str, set[str]]
    skipped_users: int = 0
    """Test users with no training history: no personalised model can rank for them."""


def _held_out(test: pd.DataFrame, train_users: set[str]) -> tuple[dict[str, set[str]], int]:
    by_user = test.groupby("user")["item"].agg(set)
    kept = {u: set(items) for u, items in by_user.items() if u in train_users}
    return kept, len(by_user) - len(kept)


def user_temporal_split(
    rows: Iterable[Row] | pd.DataFrame, test_fraction: float = 0.2, min_train: int = 1
) -> Split:
    """Hold out the last ``test_fraction`` of each user's interactions (at least one).

    Users with fewer than ``min_train + 1`` interactions stay entirely in train.
    """
    df = to_frame(rows).sort_values(["user", "timestamp", "item"], kind="stable")
    n = df.groupby("user")["item"].transform("size").to_numpy()
    pos = df.groupby("user").cumcount().to_numpy()
    n_test = np.maximum(1, np.floor(n * test_fraction + 1e-9)).astype(int)
    is_test = (pos >= n - n_test) & (n > min_train)
    train, test = df[~is_test], df[is_test]
    held, skipped = _held_out(test, set(train["user"]))
    return Split("user-temporal", train.reset_index(drop=True), held, skipped)


def global_temporal_split(rows: Iterable[Row] | pd.DataFrame, test_fraction: float = 0.2) -> Split:
    """Hold out everything after the time that leaves ``test_fraction`` of interactions after it.

    Test users absent from train are counted in ``skipped_users`` and not scored; test items
    absent from train stay relevant (a model that cannot reach them is rightly penalised).
    """
    df = to_frame(rows)
    cutoff = float(np.quantile(df["timestamp"].to_numpy(np.float64), 1.0 - test_fraction))
    is_test = df["timestamp"].to_numpy(np.float64) > cutoff
    train, test = df[~is_test], df[is_test]
    held, skipped = _held_out(test, set(train["user"]))
    return Split("global-temporal", train.reset_index(drop=True), held, skipped)


METRICS = ["precision", "recall", "ndcg", "map", "coverage"]


def evaluate(
    models: Mapping[str, Recommender | Callable[[], Recommender]],
    split: Split,
    *,
    k: int = 10,
    content: Mapping[str, ItemContent] | None = None,
    items: Sequence[str] | None = None,
    scheme: Scheme = "bm25",
    max_users: int | None = None,
) -> pd.DataFrame:
    """Fit every model on ``split.train`` and score its top-``k`` on ``split.test``.

    ``models`` maps a name to a model or a factory (a fresh model per split). ``items`` is the
    catalogue: it defaults to the content ids plus every item in train and test. With
    ``max_users``, a fixed random sample of that many test users is scored (the same sample for
    every model). Returns one row per model with ``precision@k``, ``recall@k``, ``ndcg@k``,
    ``map@k``, ``coverage@k``.
    """
    catalogue = list(items) if items is not None else list(content or {})
    extra = sorted({i for s in split.test.values() for i in s})
    data = build_matrix(split.train, scheme, items=catalogue + extra)
    users = sorted(split.test)
    if max_users is not None and len(users) > max_users:
        users = sorted(random.Random(0).sample(users, max_users))
    rows = []
    for name, spec in models.items():
        model = spec() if callable(spec) and not isinstance(spec, Recommender) else spec
        model.fit(data, content)
        with one_blas_thread():
            recs = [[i for i, _ in model.recommend(u, k)] for u in users]
        rel = [split.test[u] for u in users]
        rows.append(
            {
                "split": split.name,
                "model": name,
                "users": len(users),
                f"precision@{k}": _mean(precision_at_k, recs, rel, k),
                f"recall@{k}": _mean(recall_at_k, recs, rel, k),
                f"ndcg@{k}": _mean(ndcg_at_k, recs, rel, k),
                f"map@{k}": _mean(average_precision_at_k, recs, rel, k),
                f"coverage@{k}": catalogue_coverage(recs, len(data.item_ids)),
            }
        )
    return pd.DataFrame(rows)


def _mean(
    metric: Callable[[Sequence[str], Iterable[str], int], float],
    recs: list[list[str]],
    rel: list[set[str]],
    k: int,
) -> float:
    if not recs:
        return 0.0
    return float(np.mean([metric(r, t, k) for r, t in zip(recs, rel, strict=True)]))
