"""Models on synthetic interactions with known structure.

Two clusters of ten users each watch two disjoint sets of ten videos ("a*" and "b*"); every user
watches seven of their cluster's ten, so each has three unwatched in-cluster videos to find.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.interactions import Row, build_matrix
from ml.models import (
    ALSRecommender,
    ContentRecommender,
    HybridRecommender,
    ItemContent,
    PopularityRecommender,
    Recommender,
    load,
)
from ml.ranking import (
    CooccurrenceRecommender,
    EaseRecommender,
    RankerRecommender,
    SequenceRecommender,
)

DAY = 86_400.0


def cluster_rows() -> list[Row]:
    rows: list[Row] = []
    for cluster in "ab":
        for u in range(10):
            for j in range(7):
                item = f"{cluster}{(u + j) % 10}"
                rows.append((f"{cluster}-user{u}", item, 600.0, 1.0, float(u * 10 + j)))
    return rows


def cluster_content() -> dict[str, ItemContent]:
    content = {
        f"a{i}": ItemContent(f"Cooking show {i}", "kitchen recipes", ("cooking", f"dish{i}"))
        for i in range(10)
    }
    content |= {
        f"b{i}": ItemContent(f"Football match {i}", "league highlights", ("football", f"team{i}"))
        for i in range(10)
    }
    # a3 and a7 share a rare tag: the content model must pair them.
    content["a3"] = ItemContent("Cooking show 3", "kitchen recipes", ("cooking", "sourdough"))
    content["a7"] = ItemContent("Cooking show 7", "kitchen recipes", ("cooking", "sourdough"))
    return content


# ALS models below use 4 factors: with 20 users in two clusters, more factors fit each user's
# own history rather than the cluster.


def fitted(model: Recommender) -> Recommender:
    return model.fit(build_matrix(cluster_rows(), "bm25"), cluster_content())


def small_hybrid(**kwargs: object) -> HybridRecommender:
    return HybridRecommender(als={"factors": 4, "iterations": 15}, **kwargs)  # type: ignore[arg-type]


def test_matrix_maps_ids_and_keeps_unwatched_catalogue_items() -> None:
    data = build_matrix(cluster_rows(), "log", items=["new-video"])
    assert data.shape == (20, 21)
    assert data.item_ids[0] == "new-video"
    assert data.matrix[:, 0].nnz == 0
    u, i = data.user_index["a-user0"], data.item_index["a3"]
    assert data.matrix[u, i] > 1.0
    assert data.times[u, i] == 3.0


def test_unknown_scheme_is_rejected() -> None:
    with pytest.raises(ValueError, match="scheme"):
        build_matrix(cluster_rows(), "linear")  # type: ignore[arg-type]


def test_als_recommends_within_the_cluster() -> None:
    model = fitted(ALSRecommender(factors=4, iterations=15))
    for user in ("a-user0", "b-user5"):
        recs = [i for i, _ in model.recommend(user, k=3)]
        assert len(recs) == 3
        assert all(i[0] == user[0] for i in recs), recs
    assert all(i[0] == "a" for i, _ in model.similar("a1", k=5))


def test_als_is_deterministic() -> None:
    one = fitted(ALSRecommender(factors=4, iterations=15)).recommend("a-user1", k=5)
    two = fitted(ALSRecommender(factors=4, iterations=15)).recommend("a-user1", k=5)
    assert [i for i, _ in one] == [i for i, _ in two]


def test_content_finds_the_video_with_shared_tags() -> None:
    model = fitted(ContentRecommender())
    assert model.similar("a3", k=1)[0][0] == "a7"
    assert all(i[0] == "a" for i, _ in model.similar("a1", k=5))


def test_content_cold_start_from_a_little_history() -> None:
    model = fitted(ContentRecommender())
    assert isinstance(model, ContentRecommender)
    assert model.recommend("nobody", k=5) == []
    scores = model.scores_for({"b2": 1.0})
    top = np.argsort(-scores)[:5]
    assert all(model.item_ids[i][0] == "b" for i in top)


def test_hybrid_recommends_to_a_viewer_it_never_saw_from_their_recent_history() -> None:
    model = fitted(small_hybrid())
    assert not model.knows("newcomer") and model.knows("a-user0")
    recs = [i for i, _ in model.recommend_from_history({"a3": 1.0}, k=3)]
    assert recs[0] == "a7"  # the video sharing the rare tag
    assert "a3" not in recs and all(i[0] == "a" for i in recs)
    allowed = {"a1", "b1"}
    assert [i for i, _ in model.recommend_from_history({"a3": 1.0}, allowed=allowed)] == ["a1"]
    assert (
        PopularityRecommender()
        .fit(build_matrix(cluster_rows()))
        .recommend_from_history({"a3": 1.0})
        == []
    )


def test_popularity_counts_viewers_and_recency_favours_recent_items() -> None:
    rows: list[Row] = [(f"u{n}", "old", 60.0, 1.0, 0.0) for n in range(3)]
    rows += [(f"u{n}", "new", 60.0, 1.0, 100 * DAY) for n in range(2)]
    data = build_matrix(rows, "bm25")
    assert PopularityRecommender().fit(data).recommend("stranger", k=1)[0][0] == "old"
    trending = PopularityRecommender(half_life_days=7).fit(data)
    assert trending.recommend("stranger", k=1)[0][0] == "new"


def test_hybrid_filters_seen_excluded_and_disallowed_items() -> None:
    model = fitted(small_hybrid())
    seen = {item for user, item, *_ in cluster_rows() if user == "a-user0"}
    recs = [i for i, _ in model.recommend("a-user0", k=20)]
    assert recs and not seen & set(recs)
    assert [i for i, _ in model.recommend("a-user0", k=3)] == recs[:3]
    assert all(i[0] == "a" for i in recs[:3])
    allowed = {"b1", "b2", "a7"}
    assert {i for i, _ in model.recommend("a-user0", k=10, allowed=allowed)} <= allowed
    excluded = recs[0]
    assert excluded not in {i for i, _ in model.recommend("a-user0", k=20, exclude=[excluded])}


def test_hybrid_unknown_user_falls_back_to_popularity() -> None:
    model = fitted(small_hybrid())
    assert len(model.recommend("brand-new-user", k=5)) == 5


def test_diversity_keeps_near_duplicates_from_filling_the_top() -> None:
    # Four copies of the same clip are the most watched; three distinct videos trail behind.
    rows: list[Row] = []
    for n in range(20):
        rows += [(f"u{n}", f"dup{d}", 60.0, 1.0, 0.0) for d in range(4)]
    for n, item in enumerate(["cats", "rockets", "opera"]):
        rows += [(f"v{m}", item, 60.0, 1.0, 0.0) for m in range(10 - n)]
    content = {f"dup{d}": ItemContent("Funny prank compilation", tags=("prank",)) for d in range(4)}
    content |= {
        "cats": ItemContent("Cats sleeping", tags=("cats",)),
        "rockets": ItemContent("Rocket launch", tags=("space",)),
        "opera": ItemContent("Opera night", tags=("music",)),
    }
    data = build_matrix(rows, "bm25")
    weights = {"als": 0.0, "content": 0.0, "popularity": 1.0}
    plain = HybridRecommender(weights=weights, diversity=0.0).fit(data, content)
    assert [i for i, _ in plain.recommend("new", k=3)] == ["dup0", "dup1", "dup2"]
    diverse = HybridRecommender(weights=weights, diversity=0.5).fit(data, content)
    top = [i for i, _ in diverse.recommend("new", k=3)]
    assert sum(i.startswith("dup") for i in top) == 1
    assert top[0] == "dup0"


EVERY_KIND = pytest.mark.parametrize(
    "make",
    [
        lambda: ALSRecommender(factors=4, iterations=15),
        ContentRecommender,
        lambda: PopularityRecommender(half_life_days=30),
        small_hybrid,
        CooccurrenceRecommender,
        EaseRecommender,
        SequenceRecommender,
        lambda: RankerRecommender(als={"factors": 4}),
    ],
    ids=["als", "content", "popularity", "hybrid", "cooccurrence", "ease", "sequence", "ranker"],
)


@EVERY_KIND
def test_many_users_at_once_get_what_each_gets_alone(make: type[Recommender]) -> None:
    model = fitted(make())
    rows = np.arange(len(model.user_ids))
    together = model.recommend_rows(rows, k=5)
    for n, user in enumerate(model.user_ids):
        alone = [model.item_index[i] for i, _ in model.recommend(user, k=5)]
        assert list(together[n][together[n] >= 0]) == alone
        assert len(alone) == 5 and not set(alone) & set(model.seen[n].indices)
    # Thirteen unwatched videos of twenty: the rest of a row asking for all is padding.
    assert (model.recommend_rows(rows[:2], k=len(model.item_ids))[:, -7:] == -1).all()


def test_a_refit_from_an_earlier_model_reaches_the_loss_of_a_fit_from_scratch() -> None:
    from implicit.cpu import _als

    rows = cluster_rows()
    data = build_matrix(rows, "bm25")
    earlier = ALSRecommender(factors=4).fit(build_matrix([r for r in rows if r[4] % 10 < 5]))
    cold = ALSRecommender(factors=4).fit(data)
    warm = ALSRecommender(factors=4).fit(data, start=earlier)  # two iterations
    short = ALSRecommender(factors=4, iterations=warm.refit_iterations).fit(data)

    def loss(model: ALSRecommender) -> float:
        matrix, users, items = data.matrix, model.user_factors, model.item_factors
        return float(_als.calculate_loss(matrix, users, items, model.regularization))

    assert loss(warm) <= loss(cold) * 1.01
    assert loss(warm) < loss(short)  # the earlier model, not the iterations, got it there
    for user in ("a-user2", "b-user5"):
        assert {i for i, _ in warm.recommend(user, 3)} == {i for i, _ in cold.recommend(user, 3)}


def test_a_refit_keeps_the_content_vectors_of_the_same_catalogue() -> None:
    data = build_matrix(cluster_rows(), "bm25")
    earlier = ContentRecommender().fit(data, cluster_content())
    again = ContentRecommender().fit(data, cluster_content(), start=earlier)
    assert again.vectors is earlier.vectors
    other = build_matrix(cluster_rows(), "bm25", items=["new"])
    assert ContentRecommender().fit(other, cluster_content(), start=earlier).vectors.shape[0] == 21


@EVERY_KIND
def test_save_load_round_trip(make: type[Recommender], tmp_path: Path) -> None:
    model = fitted(make())
    model.save(tmp_path / "m")
    again = load(tmp_path / "m")
    assert type(again) is type(model)
    assert again.recommend("a-user2", k=5) == model.recommend("a-user2", k=5)
    assert again.similar("a3", k=3) == model.similar("a3", k=3)
    assert type(model).load(tmp_path / "m").recommend("b-user1", k=5) == model.recommend(
        "b-user1", k=5
    )


def test_load_rejects_another_kind(tmp_path: Path) -> None:
    fitted(PopularityRecommender()).save(tmp_path / "pop")
    with pytest.raises(ValueError, match="popularity"):
        ALSRecommender.load(tmp_path / "pop")
