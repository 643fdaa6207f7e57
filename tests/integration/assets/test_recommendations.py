"""The recommendation stage: a model trained on the interaction datasets, checked against the
popularity and trending charts, stored as a version, and promoted only when it beats both."""

from __future__ import annotations

from dagster import materialize
from fastapi.testclient import TestClient

from assets.recommendations import MODEL_KEY, promoted_model, recommendation_model
from ml.serving import MODEL_PREFIX
from pipelines.resources import resources_for
from reelflow.settings import Settings
from storage.catalog import Catalog
from tests.fixtures.recommendations import World, feed, version_of


def test_the_model_beats_popularity_and_is_promoted(world: World) -> None:
    result = world.train()
    version = version_of(result)
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.description
    model_ndcg = check.metadata["ndcg@10"].value
    assert isinstance(model_ndcg, float)
    baseline = check.metadata["stronger_baseline"].value
    assert baseline in ("popularity", "trending")
    assert model_ndcg > check.metadata[f"{baseline}_ndcg@10"].value + 0.005
    assert check.metadata["serves"].value == "model"
    materialization = result.asset_materializations_for_node("recommendation_model")[0]
    evaluation = materialization.metadata["evaluation"].value
    assert isinstance(evaluation, str)
    for model in ("popularity", "trending", "ranker"):
        assert f"| global-temporal | {model} |" in evaluation
    low, high = check.metadata["lift_95_interval"].value
    assert low < check.metadata["lift"].value < high
    assert check.metadata["test_users"].value <= check.metadata["needed_users"].value
    assert world.store.current_version(MODEL_PREFIX) == version
    keys = world.store.list(f"{MODEL_PREFIX}/{version}")
    for name in ("model.json", "arrays.npz", "evaluation.json", "training.json", "als/model.json"):
        assert f"{MODEL_PREFIX}/{version}/{name}" in keys


def test_a_model_that_does_not_beat_popularity_is_not_promoted(
    world: World, reco_api: TestClient
) -> None:
    first = version_of(world.train())
    strict = world.settings.model_copy(update={"reco_promotion_margin": 1.0})
    world.settings = strict
    result = world.train(succeed=False)  # a failed blocking check fails the run
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and "serves the trending chart" in (check.description or "")
    assert check.metadata["serves"].value == "trending"
    assert result.asset_materializations_for_node("promoted_model") == []
    assert world.store.current_version(MODEL_PREFIX) == first
    # Promoting it by hand hits the same bar.
    by_hand = materialize(
        [promoted_model],
        resources=resources_for(strict),
        instance=world.instance,
        raise_on_error=False,
    )
    assert not by_hand.success
    assert world.store.current_version(MODEL_PREFIX) == first
    assert world.instance.get_latest_materialization_event(MODEL_KEY) is not None
    assert feed(reco_api, world.viewers["a"])["model_version"] == first


def test_too_few_interactions_fail_the_check(world: World) -> None:
    world.settings = world.settings.model_copy(update={"reco_min_test_users": 1000})
    result = world.train(succeed=False)
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and "viewers to evaluate on" in (check.description or "")
    assert world.store.current_version(MODEL_PREFIX) is None


def test_no_interactions_at_all_fail_the_model(api_settings: Settings, catalog: Catalog) -> None:
    result = materialize(
        [recommendation_model, promoted_model],
        resources=resources_for(api_settings),
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("recommendation_model")
    assert failure is not None and "no viewing interactions" in str(failure.error)
