"""The two-stage ranker and its generators on synthetic viewing with known structure, and the
gate that serves it only when it beats both baselines."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from ml.evaluation import compare, evaluate, global_temporal_split
from ml.interactions import Row, build_matrix
from ml.models import PopularityRecommender
from ml.ranking import (
    EaseRecommender,
    ItemStats,
    RankerRecommender,
    SequenceRecommender,
    _inner_split,
)
from ml.training import TRENDING, verdict

DAY = 86_400.0


def seasons_of_viewing(users: int = 600, clusters: int = 3, per_cluster: int = 20) -> list[Row]:
    """Viewers of three tastes, each watching ten of their cluster's videos a day apart, in an
    order the cluster shares (a series watched episode after episode), starting on days spread
    over two months. What a viewer watches next is their cluster's next episode: the chart
    knows none of it."""
    rng = random.Random(16)
    rows: list[Row] = []
    for u in range(users):
        c = u % clusters
        start = rng.randrange(0, 60)
        first = rng.randrange(0, per_cluster - 10)
        for j in range(10):
            item = f"c{c}-e{first + j}"
            rows.append((f"viewer{u}", item, 600.0, 1.0, (start + j) * DAY))
    return rows


def test_the_ranker_learns_from_its_own_past_and_beats_both_charts() -> None:
    split = global_temporal_split(seasons_of_viewing())

    table = evaluate(
        {
            "popularity": PopularityRecommender,
            "trending": lambda: PopularityRecommender(half_life_days=7.0),
            "ranker": lambda: RankerRecommender(als={"factors": 8}),
        },
        split,
    ).set_index("model")["ndcg@10"]

    assert table["ranker"] > 1.5 * max(table["popularity"], table["trending"])


def test_the_ranker_is_learned_when_there_are_viewers_to_learn_from() -> None:
    data = build_matrix(seasons_of_viewing())
    model = RankerRecommender(als={"factors": 8}).fit(data)
    assert len(model.rankers) == 3 and all(trees > 0 for _, trees in model.rankers)
    # Nothing seen comes back, and a viewer the model never saw gets the trending chart.
    for user in ("viewer1", "viewer2"):
        seen = {model.item_ids[i] for i in model.seen[model.user_index[user]].indices}
        assert not seen & {i for i, _ in model.recommend(user, k=10)}
    cold = [i for i, _ in model.recommend("nobody", k=3)]
    chart = np.argsort(-model.trending.popularity, kind="stable")[:3]
    assert cold == [model.item_ids[i] for i in chart]


def test_with_too_few_viewers_the_generators_ranks_are_fused() -> None:
    model = RankerRecommender(als={"factors": 2}).fit(build_matrix(seasons_of_viewing(users=12)))
    assert model.rankers == []
    picks = [i for i, _ in model.recommend("viewer0", k=3)]
    assert len(picks) == 3 and all(p.startswith("c0-") for p in picks)


def test_ease_recommends_the_next_episodes_of_the_viewers_series() -> None:
    model = EaseRecommender(regularization=10.0).fit(build_matrix(seasons_of_viewing()))
    for user in ("viewer0", "viewer4"):
        cluster = user_cluster(user)
        picks = [i for i, _ in model.recommend(user, k=3)]
        assert all(p.startswith(f"c{cluster}-") for p in picks)


def test_the_sequence_generator_proposes_what_comes_next_in_the_series() -> None:
    model = SequenceRecommender().fit(build_matrix(seasons_of_viewing()))
    for n in range(6):
        user = f"viewer{n}"
        watched = sorted(
            (model.item_ids[i] for i in model.seen[model.user_index[user]].indices),
            key=lambda item: int(item.split("-e")[1]),
        )
        last = int(watched[-1].split("-e")[1])
        cluster = user_cluster(user)
        # The next episode after the viewer's latest, when the series has one.
        if last + 1 < 20:
            assert model.recommend(user, k=1)[0][0] == f"c{cluster}-e{last + 1}"


def user_cluster(user: str) -> int:
    return int(user.removeprefix("viewer")) % 3


def evaluation(ranker: float, popularity: float, trending: float) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"split": "global-temporal", "model": name, "users": 50, "ndcg@10": value}
            for name, value in (
                ("popularity", popularity),
                ("trending", trending),
                ("ranker", ranker),
            )
        ]
    )


def test_a_ranker_that_loses_to_trending_is_not_served() -> None:
    decided = verdict(evaluation(0.15, 0.10, 0.17), k=10, margin=0.005, min_test_users=10)

    assert not decided.passed
    assert (decided.baseline, decided.baseline_ndcg, decided.serves) == ("trending", 0.17, TRENDING)
    assert "does not beat trending" in decided.reason
    assert "serves the trending chart" in decided.reason


def test_a_ranker_must_beat_the_stronger_baseline_by_the_margin() -> None:
    assert verdict(evaluation(0.18, 0.10, 0.17), k=10, margin=0.005, min_test_users=10).passed
    close = verdict(evaluation(0.173, 0.10, 0.17), k=10, margin=0.005, min_test_users=10)
    assert not close.passed
    popular = verdict(evaluation(0.18, 0.178, 0.10), k=10, margin=0.005, min_test_users=10)
    assert (popular.passed, popular.baseline) == (False, "popularity")


def test_the_lift_is_measured_over_the_stronger_baseline() -> None:
    split = global_temporal_split(seasons_of_viewing())
    data = build_matrix(split.train)
    models = {
        "ranker": RankerRecommender(als={"factors": 8}).fit(data),
        "popularity": PopularityRecommender().fit(data),
        "trending": PopularityRecommender(half_life_days=7.0).fit(data),
    }

    table, lift = compare(
        models, split, model="ranker", baselines=["popularity", "trending"], pilot=50
    )

    ndcg = table.set_index("model")["ndcg@10"]
    stronger = "popularity" if ndcg["popularity"] >= ndcg["trending"] else "trending"
    assert lift.baseline == stronger
    assert lift.mean == pytest.approx(ndcg["ranker"] - ndcg[stronger])


def test_finish_rates_come_from_the_interactions_the_model_is_given() -> None:
    rows = [(f"u{u}", "finished", 600.0, 1.0, u * DAY) for u in range(4)]
    rows += [(f"u{u}", "abandoned", 60.0, 0.3, u * DAY) for u in range(4)]
    # Finished only after the cut-off: a model of the days before knows nothing of it.
    rows += [(f"u{u}", "later", 600.0, 1.0, 10 * DAY) for u in range(4)]
    stats = ItemStats(build_matrix(rows))
    rates = dict(zip(build_matrix(rows).item_ids, stats.finish_rate, strict=True))

    # 8 of 12 viewings finished overall; each item is shrunk towards that share, 5 viewers' worth.
    share = 8 / 12
    assert rates["finished"] == pytest.approx((4 + 5 * share) / 9)
    assert rates["abandoned"] == pytest.approx((0 + 5 * share) / 9)
    earlier, _ = _inner_split(build_matrix(rows), "global", 0.4)
    before = dict(zip(earlier.item_ids, ItemStats(earlier).finish_rate, strict=True))
    assert before["later"] == pytest.approx(4 / 8)  # no viewer yet: the prior share
