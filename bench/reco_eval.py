"""Recommendation evaluation: every model against the popularity baseline on two splits.

    .venv/bin/python bench/reco_eval.py [--data DIR] [--k 10]

Reads a MovieLens-format directory (``ratings.csv``, ``movies.csv``, optional ``tags.csv``;
``../shared/data/movielens-small`` relative to the repository root by default). Ratings are
implicit feedback: a rating >= 3.5 is a positive, weighted by the rating (completion =
rating / 5). Titles, genres and tags are the content. Tags a user put on a movie they rated in a
split's test part are dropped for that split, so content cannot read the answer.

Prints the metrics table of each split (``ml.evaluation.evaluate``), 95 % bootstrap intervals
(over viewers) of NDCG@k and of the served model's ratio to each baseline, and, as its last two
lines, NDCG@k of the served model (the two-stage ranker) next to the popularity and trending
baselines'.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ml.evaluation import (
    Split,
    bootstrap_interval,
    evaluate_by_user,
    global_temporal_split,
    rolling_temporal_splits,
    user_temporal_split,
)
from ml.models import ItemContent
from ml.ranking import RankerRecommender
from ml.training import BASELINE, SERVED, TRENDING, evaluated_models

ROOT = Path(__file__).resolve().parent.parent
POSITIVE = 3.5


def load_interactions(data: Path) -> pd.DataFrame:
    ratings = pd.read_csv(data / "ratings.csv")
    pos = ratings[ratings["rating"] >= POSITIVE]
    return pd.DataFrame(
        {
            "user": pos["userId"].astype(str),
            "item": pos["movieId"].astype(str),
            "watched_s": 0.0,
            "completion": pos["rating"] / 5.0,
            "timestamp": pos["timestamp"].astype(float),
        }
    )


def load_content(data: Path, split: Split) -> dict[str, ItemContent]:
    movies = pd.read_csv(data / "movies.csv")
    tags: dict[str, list[str]] = {}
    if (data / "tags.csv").exists():
        t = pd.read_csv(data / "tags.csv")
        t["user"], t["item"] = t["userId"].astype(str), t["movieId"].astype(str)
        held = {(u, i) for u, items in split.test.items() for i in items}
        t = t[[(u, i) not in held for u, i in zip(t["user"], t["item"], strict=True)]]
        for item, group in t.groupby("item"):
            tags[str(item)] = [str(x) for x in group["tag"]]
    out = {}
    for mid, title, genres in movies[["movieId", "title", "genres"]].itertuples(index=False):
        item = str(mid)
        genre_tags = [g for g in str(genres).split("|") if g != "(no genres listed)"]
        out[item] = ItemContent(title=str(title), tags=tuple(genre_tags + tags.get(item, [])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "../shared/data/movielens-small")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    k = args.k
    print(f"load average at start: {os.getloadavg()}")
    interactions = load_interactions(args.data)
    print(
        f"{len(interactions)} positive interactions, {interactions['user'].nunique()} users, "
        f"{interactions['item'].nunique()} items"
    )
    summary = []
    for make_split, inner in ((user_temporal_split, "user"), (global_temporal_split, "global")):
        split = make_split(interactions)
        content = load_content(args.data, split)
        # The ranker learns from a split of its training interactions like the one it is
        # tested on: each viewer's last part, or the last days for everyone.
        models = evaluated_models(lambda inner=inner: RankerRecommender(inner_split=inner))
        t0 = time.perf_counter()
        table, per_user = evaluate_by_user(models, split, k=k, content=content)
        elapsed = time.perf_counter() - t0
        print(
            f"\nsplit={split.name}: {len(split.train)} train rows, {len(split.test)} test users, "
            f"{split.skipped_users} test users without history skipped, {elapsed:.1f}s"
        )
        print(table.drop(columns=["split"]).to_string(index=False, float_format="%.4f"))
        print(f"95 % intervals, bootstrap over the {len(split.test)} viewers:")
        print_intervals(
            {name: per_user[name] for name in (SERVED, "hybrid", BASELINE, TRENDING)}, k
        )
        by_model = table.set_index("model")[f"ndcg@{k}"]
        summary.append((split.name, by_model[SERVED], by_model[BASELINE], by_model[TRENDING]))
    rolling(interactions, args.data, k)
    print(f"\nload average at end: {os.getloadavg()}")
    for name, model, pop, trending in summary:
        print(
            f"ndcg@{k} split={name} model={model:.4f} popularity={pop:.4f} trending={trending:.4f}"
        )


def rolling(interactions: pd.DataFrame, data: Path, k: int) -> None:
    """The served model and both charts on the last four tenths of time, each predicted from
    everything before it, their viewers pooled: the global split with more viewers."""
    pooled: dict[str, list[np.ndarray]] = {SERVED: [], BASELINE: [], TRENDING: []}
    viewers = []
    for split in rolling_temporal_splits(interactions):
        models = {
            name: make
            for name, make in evaluated_models(RankerRecommender).items()
            if name in pooled
        }
        _, per_user = evaluate_by_user(models, split, k=k, content=load_content(data, split))
        for name in pooled:
            pooled[name].append(per_user[name])
        viewers.append(str(len(split.test)))
    scores = {name: np.concatenate(parts) for name, parts in pooled.items()}
    print(
        f"\nrolling global split: the last 4 tenths of time, each from all before it; "
        f"{' + '.join(viewers)} = {len(scores[SERVED])} viewers pooled:"
    )
    print_intervals(scores, k)


def print_intervals(ndcg: dict[str, np.ndarray], k: int) -> None:
    """Each model's mean NDCG@k over viewers, and the served model's ratio to each baseline,
    with their 95 % bootstrap intervals."""
    for name, values in ndcg.items():
        low, high = bootstrap_interval(values, np.mean)
        print(f"  ndcg@{k} {name:<10} {values.mean():.4f} [{low:.4f}, {high:.4f}]")
    for baseline in (BASELINE, TRENDING):
        pair = np.column_stack([ndcg[SERVED], ndcg[baseline]])
        low, high = bootstrap_interval(pair, _ratio)
        print(f"  {SERVED} / {baseline} = {_ratio(pair):.2f}x [{low:.2f}, {high:.2f}]")


def _ratio(pair: np.ndarray) -> float:
    """Mean NDCG of the first column over the second's."""
    base = pair[:, 1].mean()
    return float(pair[:, 0].mean() / base) if base > 0 else float("nan")


if __name__ == "__main__":
    main()
