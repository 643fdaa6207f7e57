"""Metrics on hand-computed examples and the temporal splits on tiny data."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ml.evaluation import (
    Split,
    average_precision_at_k,
    catalogue_coverage,
    compare,
    evaluate,
    global_temporal_split,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    rolling_temporal_splits,
    user_temporal_split,
)
from ml.interactions import Row, build_matrix
from ml.models import ALSRecommender, PopularityRecommender

RECS = ["a", "b", "c", "d"]
RELEVANT = {"a", "c", "x"}


def test_precision_and_recall() -> None:
    assert precision_at_k(RECS, RELEVANT, 4) == 0.5
    assert precision_at_k(RECS, RELEVANT, 2) == 0.5
    assert recall_at_k(RECS, RELEVANT, 4) == pytest.approx(2 / 3)
    assert recall_at_k(RECS, set(), 4) == 0.0


def test_ndcg() -> None:
    # Hits at ranks 1 and 3; the ideal list has its three relevant items at ranks 1-3.
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RECS, RELEVANT, 4) == pytest.approx(1.5 / ideal)
    assert ndcg_at_k(["a", "c"], {"a", "c"}, 2) == 1.0
    assert ndcg_at_k(["b", "a"], {"a"}, 2) == pytest.approx(1 / math.log2(3))


def test_average_precision() -> None:
    # Precision 1/1 at rank 1 and 2/3 at rank 3, over min(3 relevant, k=4).
    assert average_precision_at_k(RECS, RELEVANT, 4) == pytest.approx((1 + 2 / 3) / 3)
    assert average_precision_at_k(["b", "a"], {"a"}, 1) == 0.0
    assert average_precision_at_k(["b", "a"], {"a"}, 2) == 0.5


def test_catalogue_coverage() -> None:
    assert catalogue_coverage([["a", "b"], ["b", "c"]], 10) == 0.3
    assert catalogue_coverage([], 0) == 0.0


def rows_for(user: str, n: int, start: float = 0.0) -> list[Row]:
    return [(user, f"{user}-i{t}", 60.0, 1.0, start + t) for t in range(n)]


def test_rolling_splits_predict_each_of_the_last_periods_from_all_before_it() -> None:
    # One interaction a day for 40 days, on a new item each: four windows of 4 days each.
    rows = rows_for("u", 40, start=1.0)
    splits = rolling_temporal_splits(rows, windows=4, window_fraction=0.1)

    assert [s.name for s in splits] == ["rolling-1", "rolling-2", "rolling-3", "rolling-4"]
    held = [sorted(int(i.split("i")[1]) for i in s.test["u"]) for s in splits]
    assert held == [[24, 25, 26, 27], [28, 29, 30, 31], [32, 33, 34, 35], [36, 37, 38, 39]]
    for split, items in zip(splits, held, strict=True):
        # Everything before the window is known, nothing in it or after.
        assert set(split.train["item"]) == {f"u-i{j}" for j in range(items[0])}


def test_user_temporal_split_holds_out_each_users_last_fifth() -> None:
    rows = rows_for("u5", 5) + rows_for("u10", 10) + rows_for("u1", 1)
    split = user_temporal_split(rows)
    assert split.test == {"u5": {"u5-i4"}, "u10": {"u10-i8", "u10-i9"}}
    assert len(split.train) == 4 + 8 + 1
    assert split.skipped_users == 0


def test_global_temporal_split_holds_out_the_last_fifth_of_time() -> None:
    # 21 timestamps 1..20 and 20: the 80th percentile is 17, so 18, 19 and 20 are held out.
    rows = rows_for("u", 20, start=1.0) + [("late", "u-i0", 60.0, 1.0, 20.0)]
    split = global_temporal_split(rows)
    assert split.test == {"u": {"u-i17", "u-i18", "u-i19"}}
    assert split.skipped_users == 1  # "late" has no history before the cutoff
    assert split.train["timestamp"].max() == 17.0


def test_evaluate_scores_popularity_on_a_known_case() -> None:
    train = pd.DataFrame(
        [
            ("u1", "i1", 60.0, 1.0, 0.0),
            ("u2", "i1", 60.0, 1.0, 0.0),
            ("u2", "i2", 60.0, 1.0, 0.0),
            ("u3", "i2", 60.0, 1.0, 0.0),
            ("u3", "i3", 60.0, 1.0, 0.0),
        ],
        columns=["user", "item", "watched_s", "completion", "timestamp"],
    )
    split = Split("custom", train, {"u1": {"i2"}, "u3": {"i4"}})
    table = evaluate({"popularity": PopularityRecommender}, split, k=2)
    row = table.iloc[0]
    # u1 gets [i2, i3] (i1 seen): a hit at rank 1. u3 gets [i1, i4]: i4 is unwatched in train,
    # it is in the catalogue only through the test set, and ranks after i1.
    assert row["model"] == "popularity" and row["users"] == 2
    assert row["precision@2"] == pytest.approx((0.5 + 0.5) / 2)
    assert row["recall@2"] == 1.0
    assert row["ndcg@2"] == pytest.approx((1.0 + 1 / math.log2(3)) / 2)
    assert row["map@2"] == pytest.approx((1.0 + 0.5) / 2)
    assert row["coverage@2"] == 1.0


def clustered_viewing(users: int = 200, clusters: int = 4, per_user: int = 6) -> list[Row]:
    """Each viewer watches ``per_user`` of their cluster's ten videos over time, the most watched
    videos differing by cluster: a personal model predicts the last ones, a chart cannot."""
    rows: list[Row] = []
    for u in range(users):
        c = u % clusters
        for j in range(per_user):
            rows.append((f"user{u}", f"c{c}-v{(u // clusters + j) % 10}", 600.0, 1.0, float(j)))
    return rows


def test_compare_scores_as_many_viewers_as_the_decision_needs() -> None:
    split = global_temporal_split(clustered_viewing())
    data = build_matrix(split.train)
    models = {
        "als": ALSRecommender(factors=4).fit(data),
        "popularity": PopularityRecommender().fit(data),
    }
    table, far = compare(models, split, model="als", baselines=["popularity"], pilot=20)
    # Far from a zero margin, the pilot decides.
    assert far.mean > 0.2 and far.users == far.needed == 20
    low, high = far.interval
    assert 0 < low < far.mean < high
    assert list(table["model"]) == ["als", "popularity"] and set(table["users"]) == {20}
    als = table.set_index("model").loc["als", "ndcg@10"]
    popularity = table.set_index("model").loc["popularity", "ndcg@10"]
    assert als - popularity == pytest.approx(far.mean)
    # A margin right at the lift needs more viewers than there are: all are scored, up to a cap.
    _, close = compare(
        models, split, model="als", baselines=["popularity"], pilot=20, margin=far.mean
    )
    assert close.needed > len(split.test) == close.users
    _, capped = compare(
        models,
        split,
        model="als",
        baselines=["popularity"],
        pilot=20,
        margin=far.mean,
        max_users=60,
    )
    assert capped.users == 60 and capped.half_width < far.half_width
