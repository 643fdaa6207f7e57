"""Training the served model: evaluate it against the baselines, then fit it on everything.

The evaluation asks one question, the one promotion is decided on: does the served model rank
the next days of viewing better than both baselines, the all-time chart and the trending one
(``PROMOTION_SPLIT``)? It fits the served model and the baselines on the days before, then
scores as many held-out viewers as the lift over the stronger baseline needs to be known within
a set margin (``ml.evaluation.compare``). The saved
model is then fitted on all interactions, starting from the evaluated one, so the evaluation
costs one fit rather than a second full one. The saved directory holds the model plus
``evaluation.json`` (the table) and ``training.json`` (what it was trained on, and the lift
with its interval), so an artifact carries the evidence its promotion was decided on.

``bench/reco_eval.py`` compares every model on both splits; that table is not part of training.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ml.evaluation import Lift, compare, global_temporal_split
from ml.interactions import Scheme, build_matrix, to_frame
from ml.models import (
    ALSRecommender,
    ContentRecommender,
    HybridRecommender,
    ItemContent,
    PopularityRecommender,
    Recommender,
)
from ml.ranking import (
    CooccurrenceRecommender,
    EaseRecommender,
    RankerRecommender,
    SequenceRecommender,
)

SERVED = "ranker"
BASELINE = "popularity"
TRENDING = "trending"
# A model is served only when it beats the stronger of these.
BASELINES = (BASELINE, TRENDING)
# The trending chart: each view counts half as much per this many days of age.
TRENDING_HALF_LIFE_DAYS = 90.0
# The split a promotion is decided on: predicting the next days, where popularity is strongest.
PROMOTION_SPLIT = "global-temporal"


def served_model() -> Recommender:
    """The configuration served to viewers: the two-stage ranker, its ranker learning from the
    last days before the interactions it is given (``ml.ranking``)."""
    return RankerRecommender()


Factory = Callable[[], Recommender]


def promotion_models(make_served: Factory) -> dict[str, Factory]:
    """The models a promotion compares: the baselines and the served model."""
    return {
        BASELINE: PopularityRecommender,
        TRENDING: lambda: PopularityRecommender(half_life_days=TRENDING_HALF_LIFE_DAYS),
        SERVED: make_served,
    }


def evaluated_models(make_served: Factory) -> dict[str, Factory]:
    """The models every evaluation table compares: the baselines, each generator, the blend of
    the previous served model, and the served."""
    baselines = {n: f for n, f in promotion_models(make_served).items() if n != SERVED}
    return {
        **baselines,
        "als": ALSRecommender,
        "ease": EaseRecommender,
        "sequence": SequenceRecommender,
        "cooccurrence": CooccurrenceRecommender,
        "content": ContentRecommender,
        "hybrid": HybridRecommender,
        SERVED: make_served,
    }


@dataclass(frozen=True)
class Verdict:
    """Whether a model is good enough to serve, decided on its evaluation table."""

    passed: bool
    model_ndcg: float
    baseline_ndcg: float
    test_users: int
    reason: str
    baseline: str = BASELINE
    """The stronger baseline, the one the model had to beat."""

    @property
    def lift(self) -> float:
        return self.model_ndcg - self.baseline_ndcg

    @property
    def serves(self) -> str:
        """What a feed serves after this verdict: the model, or the trending chart."""
        return "model" if self.passed else TRENDING


def verdict(evaluation: pd.DataFrame, *, k: int, margin: float, min_test_users: int) -> Verdict:
    """Passed when the served model's NDCG@k on the promotion split beats the stronger of the
    popularity and trending baselines by at least ``margin`` (and by something), over enough
    held-out viewers."""
    split = evaluation[evaluation["split"] == PROMOTION_SPLIT].set_index("model")
    column = f"ndcg@{k}"
    scores = split[column] if column in split else pd.Series(dtype=float)
    model = float(scores.get(SERVED, 0.0))
    baseline = max(BASELINES, key=lambda name: float(scores.get(name, 0.0)))
    best = float(scores.get(baseline, 0.0))
    users = int(split["users"].max()) if len(split) else 0
    if users < min_test_users:
        reason = f"only {users} viewers to evaluate on ({min_test_users} needed)"
        return Verdict(False, model, best, users, reason, baseline)
    lift = model - best
    if lift <= 0 or lift < margin:
        reason = (
            f"NDCG@{k} {model:.4f} does not beat {baseline} {best:.4f} by {margin}:"
            " the feed serves the trending chart"
        )
        return Verdict(False, model, best, users, reason, baseline)
    reason = f"NDCG@{k} {model:.4f} vs {baseline} {best:.4f}"
    return Verdict(True, model, best, users, reason, baseline)


@dataclass
class TrainingResult:
    model: Recommender
    evaluation: pd.DataFrame
    """One row per model on the promotion split: the metrics of ``ml.evaluation.evaluate``."""
    k: int
    interactions: int
    users: int
    items: int
    lift: Lift
    """The served model's NDCG@k minus the stronger baseline's on the promotion split."""
    evaluate_s: float
    fit_s: float

    def summary(self) -> dict[str, Any]:
        low, high = self.lift.interval
        return {
            "k": self.k,
            "interactions": self.interactions,
            "users": self.users,
            "items": self.items,
            "lift": round(self.lift.mean, 5),
            "lift_over": self.lift.baseline,
            "lift_95_low": round(low, 5),
            "lift_95_high": round(high, 5),
            "evaluated_users": self.lift.users,
            "needed_users": self.lift.needed,
            "evaluate_s": round(self.evaluate_s, 3),
            "fit_s": round(self.fit_s, 3),
        }

    def save(self, directory: Path) -> None:
        self.model.save(directory)
        (directory / "evaluation.json").write_text(self.evaluation.to_json(orient="records"))
        (directory / "training.json").write_text(json.dumps(self.summary()))


def train(
    rows: pd.DataFrame,
    content: Mapping[str, ItemContent],
    *,
    items: Sequence[str] | None = None,
    k: int = 10,
    scheme: Scheme = "bm25",
    make_model: Factory = served_model,
    margin: float = 0.0,
    precision: float = 0.01,
    max_eval_users: int | None = None,
) -> TrainingResult:
    """Evaluate ``make_model()`` against the baselines on the promotion split, then fit it on
    all of ``rows``.

    ``items`` is the catalogue (defaults to the ids in ``content``): videos nobody watched
    yet still get a column, so content similarity can recommend them. The viewers scored are as
    many as deciding whether the lift over popularity clears ``margin`` takes, or as measuring
    it within ``precision`` (``ml.evaluation.compare``), at most ``max_eval_users``.
    """
    frame = to_frame(rows)
    catalogue = list(items) if items is not None else list(content)
    data = build_matrix(frame, scheme, items=catalogue)
    t0 = time.perf_counter()
    split = global_temporal_split(frame)
    before = build_matrix(split.train, scheme, items=data.item_ids)
    fitted = {
        name: make().fit(before, content) for name, make in promotion_models(make_model).items()
    }
    table, lift = compare(
        fitted,
        split,
        model=SERVED,
        baselines=BASELINES,
        k=k,
        margin=margin,
        precision=precision,
        max_users=max_eval_users,
    )
    evaluate_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    model = make_model().fit(data, content, start=fitted[SERVED])
    fit_s = time.perf_counter() - t1
    return TrainingResult(
        model=model,
        evaluation=table,
        k=k,
        interactions=len(frame),
        users=len(data.user_ids),
        items=len(data.item_ids),
        lift=lift,
        evaluate_s=evaluate_s,
        fit_s=fit_s,
    )


def saved_evaluation(directory: Path) -> pd.DataFrame:
    """The evaluation table saved beside a model."""
    return pd.DataFrame(json.loads((directory / "evaluation.json").read_text()))
