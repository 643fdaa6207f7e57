"""Training the served model: evaluate it against the baselines, then fit it on everything.

The evaluation fits every model on the train part of both temporal splits (``ml.evaluation``);
the model that is saved is then fitted on all interactions. The saved directory holds the
model plus ``evaluation.json`` (the table) and ``training.json`` (what it was trained on), so
an artifact carries the evidence its promotion was decided on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ml.evaluation import evaluate, global_temporal_split, user_temporal_split
from ml.interactions import Scheme, build_matrix, to_frame
from ml.models import (
    ALSRecommender,
    ContentRecommender,
    HybridRecommender,
    ItemContent,
    PopularityRecommender,
    Recommender,
)

SERVED = "hybrid"
BASELINE = "popularity"
# The split a promotion is decided on: predicting the next days, where popularity is strongest.
PROMOTION_SPLIT = "global-temporal"


def served_model() -> Recommender:
    """The configuration served to viewers (the hybrid's defaults, tuned on MovieLens-small)."""
    return HybridRecommender()


Factory = Callable[[], Recommender]


def evaluated_models(make_served: Factory) -> dict[str, Factory]:
    """The models every evaluation table compares: the baselines, each component, the served."""
    return {
        BASELINE: PopularityRecommender,
        "trending": lambda: PopularityRecommender(half_life_days=90.0),
        "als": ALSRecommender,
        "content": ContentRecommender,
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

    @property
    def lift(self) -> float:
        return self.model_ndcg - self.baseline_ndcg


def verdict(evaluation: pd.DataFrame, *, k: int, margin: float, min_test_users: int) -> Verdict:
    """Passed when the served model's NDCG@k on the promotion split beats the popularity
    baseline's by at least ``margin`` (and by something), over enough held-out viewers."""
    split = evaluation[evaluation["split"] == PROMOTION_SPLIT].set_index("model")
    column = f"ndcg@{k}"
    model = float(split[column].get(SERVED, 0.0)) if column in split else 0.0
    baseline = float(split[column].get(BASELINE, 0.0)) if column in split else 0.0
    users = int(split["users"].max()) if len(split) else 0
    if users < min_test_users:
        return Verdict(
            False,
            model,
            baseline,
            users,
            f"only {users} viewers to evaluate on ({min_test_users} needed)",
        )
    lift = model - baseline
    if lift <= 0 or lift < margin:
        return Verdict(
            False,
            model,
            baseline,
            users,
            f"NDCG@{k} {model:.4f} does not beat popularity {baseline:.4f} by {margin}",
        )
    return Verdict(
        True, model, baseline, users, f"NDCG@{k} {model:.4f} vs popularity {baseline:.4f}"
    )


@dataclass
class TrainingResult:
    model: Recommender
    evaluation: pd.DataFrame
    """One row per (split, model): the metrics of ``ml.evaluation.evaluate``."""
    k: int
    interactions: int
    users: int
    items: int
    evaluate_s: float
    fit_s: float

    def summary(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "interactions": self.interactions,
            "users": self.users,
            "items": self.items,
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
    max_eval_users: int | None = None,
) -> TrainingResult:
    """Evaluate every model on both splits, then fit ``make_model()`` on all of ``rows``.

    ``items`` is the catalogue (defaults to the ids in ``content``): videos nobody watched
    yet still get a column, so content similarity can recommend them. ``max_eval_users``
    bounds the viewers scored per split (a fixed random sample).
    """
    frame = to_frame(rows)
    catalogue = list(items) if items is not None else list(content)
    t0 = time.perf_counter()
    tables = []
    for make_split in (user_temporal_split, global_temporal_split):
        split = make_split(frame)
        models = evaluated_models(make_model)
        table = evaluate(
            models,
            split,
            k=k,
            content=content,
            items=catalogue,
            scheme=scheme,
            max_users=max_eval_users,
        )
        tables.append(table)
    evaluate_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    data = build_matrix(frame, scheme, items=catalogue)
    model = make_model().fit(data, content)
    fit_s = time.perf_counter() - t1
    return TrainingResult(
        model=model,
        evaluation=pd.concat(tables, ignore_index=True),
        k=k,
        interactions=len(frame),
        users=len(data.user_ids),
        items=len(data.item_ids),
        evaluate_s=evaluate_s,
        fit_s=fit_s,
    )


def saved_evaluation(directory: Path) -> pd.DataFrame:
    """The evaluation table saved beside a model."""
    return pd.DataFrame(json.loads((directory / "evaluation.json").read_text()))
