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

# Two-sided 95 % normal quantile: the intervals and sample sizes below are at this confidence.
Z95 = 1.959964
# Users scored at once: a batch's score matrices stay in tens of megabytes at 10k videos.
BATCH = 256


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
    codes, users = pd.factorize(test["user"])
    if not len(users):
        return {}, 0
    items = test["item"].to_numpy(object)[np.argsort(codes, kind="stable")]
    groups = np.split(items, np.cumsum(np.bincount(codes, minlength=len(users)))[:-1])
    kept = {u: set(g) for u, g in zip(users, groups, strict=True) if u in train_users}
    return kept, len(users) - len(kept)


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
    return _period_split("global-temporal", df, cutoff, np.inf)


def _period_split(name: str, df: pd.DataFrame, start: float, end: float) -> Split:
    """Everything up to ``start`` to learn from, what lies in (``start``, ``end``] held out."""
    stamps = df["timestamp"].to_numpy(np.float64)
    train = df[stamps <= start]
    held, skipped = _held_out(df[(stamps > start) & (stamps <= end)], set(train["user"]))
    return Split(name, train.reset_index(drop=True), held, skipped)


def rolling_temporal_splits(
    rows: Iterable[Row] | pd.DataFrame, windows: int = 4, window_fraction: float = 0.1
) -> list[Split]:
    """The global temporal split at several moments: the ``windows`` last periods of
    ``window_fraction`` of the interactions each, every one predicted from all that came
    before it (and nothing after). Pooling their viewers gives "predict the next days" more
    viewers to be measured on than the last period alone has."""
    df = to_frame(rows)
    stamps = df["timestamp"].to_numpy(np.float64)
    splits = []
    for n in range(windows, 0, -1):
        start = float(np.quantile(stamps, 1.0 - n * window_fraction))
        end = float(np.quantile(stamps, 1.0 - (n - 1) * window_fraction)) if n > 1 else np.inf
        splits.append(_period_split(f"rolling-{windows - n + 1}", df, start, end))
    return splits


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
    return evaluate_by_user(
        models, split, k=k, content=content, items=items, scheme=scheme, max_users=max_users
    )[0]


def evaluate_by_user(
    models: Mapping[str, Recommender | Callable[[], Recommender]],
    split: Split,
    *,
    k: int = 10,
    content: Mapping[str, ItemContent] | None = None,
    items: Sequence[str] | None = None,
    scheme: Scheme = "bm25",
    max_users: int | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """``evaluate``, and each model's NDCG@k per scored user (the same users, in one order)."""
    catalogue = list(items) if items is not None else list(content or {})
    extra = sorted({i for s in split.test.values() for i in s})
    data = build_matrix(split.train, scheme, items=catalogue + extra)
    users = sorted(split.test)
    if max_users is not None and len(users) > max_users:
        users = sorted(random.Random(0).sample(users, max_users))
    rel = [split.test[u] for u in users]
    rows = []
    per_user = {}
    for name, spec in models.items():
        model = spec() if callable(spec) and not isinstance(spec, Recommender) else spec
        model.fit(data, content)
        recs = recommend_ids(model, users, k)
        rows.append(_metrics(split.name, name, recs, rel, k, len(data.item_ids)))
        per_user[name] = _per_user(ndcg_at_k, recs, rel, k)
    return pd.DataFrame(rows), per_user


def bootstrap_interval(
    values: np.ndarray, statistic: Callable[[np.ndarray], float], *, resamples: int = 1000
) -> tuple[float, float]:
    """The 95 % percentile interval of ``statistic`` over users resampled with replacement
    (``values`` has one row per user; a fixed seed, so a run repeats)."""
    if len(values) == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    stats = np.array([statistic(values[p]) for p in picks])
    low, high = np.percentile(stats, [2.5, 97.5])
    return float(low), float(high)


def recommend_ids(model: Recommender, users: Sequence[str], k: int) -> list[list[str]]:
    """Each user's top ``k`` ids from ``model`` (every user known to it), a batch at a time."""
    rows = np.array([model.user_index[u] for u in users], np.int64)
    out: list[list[str]] = []
    with one_blas_thread():
        for lo in range(0, len(rows), BATCH):
            for top in model.recommend_rows(rows[lo : lo + BATCH], k):
                out.append([model.item_ids[i] for i in top if i >= 0])
    return out


@dataclass(frozen=True)
class Lift:
    """How much better one model ranks than a baseline: the mean over a sample of viewers of
    the difference in their NDCG@k, with the half width of its 95 % interval."""

    mean: float
    half_width: float
    users: int
    needed: int
    """Viewers the target half width asked for (more than ``users`` when too few were held out
    or the sample was capped)."""
    baseline: str = ""
    """The baseline the lift is over: the strongest of those compared."""

    @property
    def interval(self) -> tuple[float, float]:
        return (self.mean - self.half_width, self.mean + self.half_width)


def compare(
    models: Mapping[str, Recommender],
    split: Split,
    *,
    model: str,
    baselines: Sequence[str],
    k: int = 10,
    margin: float = 0.0,
    precision: float = 0.01,
    max_users: int | None = None,
    pilot: int = 500,
) -> tuple[pd.DataFrame, Lift]:
    """Score fitted ``models`` on as many of ``split``'s viewers as it takes to tell whether
    ``model`` beats the strongest of ``baselines`` by ``margin``: until the 95 % interval of the
    lift lies on one side of ``margin``, or is narrower than ``precision`` either side.

    The strongest baseline is the one with the best NDCG@k on the pilot viewers.

    A pilot of ``pilot`` viewers (a fixed random order) estimates the lift and the spread of the
    per-viewer difference; the sample then grows to ``(z * sd / max(|lift - margin|,
    precision)) ** 2`` viewers, at most ``max_users`` and at most every held-out viewer. A lift
    far from the margin is settled by the pilot; one close to it is measured on more viewers.
    Returns the table of ``evaluate`` over that sample and the lift.
    """
    order = sorted(split.test)
    random.Random(0).shuffle(order)
    limit = len(order) if max_users is None else min(len(order), max_users)
    recs: dict[str, list[list[str]]] = {name: [] for name in models}
    baseline = baselines[0]

    def score(users: Sequence[str]) -> np.ndarray:
        for name, fitted in models.items():
            recs[name].extend(recommend_ids(fitted, users, k))
        rel = [split.test[u] for u in order[: len(recs[model])]]
        return _per_user(ndcg_at_k, recs[model], rel, k) - _per_user(
            ndcg_at_k, recs[baseline], rel, k
        )

    score(order[: min(pilot, limit)])
    rel = [split.test[u] for u in order[: len(recs[model])]]
    baseline = max(baselines, key=lambda name: _mean(ndcg_at_k, recs[name], rel, k))
    differences = _per_user(ndcg_at_k, recs[model], rel, k) - _per_user(
        ndcg_at_k, recs[baseline], rel, k
    )
    sd = float(differences.std(ddof=1)) if len(differences) > 1 else 0.0
    distance = abs(float(differences.mean()) - margin) if len(differences) else 0.0
    needed = max(len(differences), math.ceil((Z95 * sd / max(distance, precision)) ** 2))
    if min(needed, limit) > len(differences):
        differences = score(order[len(differences) : min(needed, limit)])
    users = len(differences)
    sd = float(differences.std(ddof=1)) if users > 1 else 0.0
    rel = [split.test[u] for u in order[:users]]
    n_items = len(next(iter(models.values())).item_ids) if models else 0
    table = pd.DataFrame([_metrics(split.name, n, r, rel, k, n_items) for n, r in recs.items()])
    mean = float(differences.mean()) if users else 0.0
    half_width = Z95 * sd / math.sqrt(users) if users else math.inf
    return table, Lift(mean, half_width, users, needed, baseline)


def _metrics(
    split: str, model: str, recs: list[list[str]], rel: list[set[str]], k: int, n_items: int
) -> dict[str, object]:
    return {
        "split": split,
        "model": model,
        "users": len(recs),
        f"precision@{k}": _mean(precision_at_k, recs, rel, k),
        f"recall@{k}": _mean(recall_at_k, recs, rel, k),
        f"ndcg@{k}": _mean(ndcg_at_k, recs, rel, k),
        f"map@{k}": _mean(average_precision_at_k, recs, rel, k),
        f"coverage@{k}": catalogue_coverage(recs, n_items),
    }


def _per_user(
    metric: Callable[[Sequence[str], Iterable[str], int], float],
    recs: list[list[str]],
    rel: list[set[str]],
    k: int,
) -> np.ndarray:
    return np.array([metric(r, t, k) for r, t in zip(recs, rel, strict=True)], np.float64)


def _mean(
    metric: Callable[[Sequence[str], Iterable[str], int], float],
    recs: list[list[str]],
    rel: list[set[str]],
    k: int,
) -> float:
    return float(_per_user(metric, recs, rel, k).mean()) if recs else 0.0
