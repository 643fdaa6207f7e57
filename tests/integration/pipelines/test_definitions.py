"""Every deployment's definitions load; resources show the names of secrets, never their values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import Definitions, build_resources

from pipelines.definitions import build_definitions
from pipelines.resources import resources_for
from reelflow.settings import SECRET_FIELDS, Settings
from tests.unit.reelflow.test_settings import REAL_SECRETS


def prod_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    monkeypatch.setenv("REELFLOW_OBJECT_STORE", "s3")
    monkeypatch.setenv("REELFLOW_S3_SECRET_ACCESS_KEY", "0d9c8b7a6f5e4d3c2b1a")
    monkeypatch.setenv("REELFLOW_SPARK_MASTER", "spark://spark-master:7077")
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_local_definitions_load() -> None:
    defs = build_definitions(Settings())
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} >= {
        "daily_watch_events",
        "recommendation_model",
        "promoted_model",
    }


def test_prod_definitions_load(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = prod_settings(monkeypatch)
    defs = build_definitions(settings)
    Definitions.validate_loadable(defs)
    spark = resources_for(settings)["pyspark"]
    assert spark.spark_config["spark.master"] == "spark://spark-master:7077"
    assert "spark.driver.bindAddress" not in spark.spark_config


@pytest.mark.parametrize("deployment", ["local", "prod"])
def test_resources_name_their_secrets_and_read_them_when_a_run_starts(
    monkeypatch: pytest.MonkeyPatch, deployment: str
) -> None:
    settings = prod_settings(monkeypatch) if deployment == "prod" else Settings()
    resources = resources_for(settings)
    shown = json.dumps({key: resource.model_dump() for key, resource in resources.items()})
    for field in (*SECRET_FIELDS, "s3_secret_access_key"):
        assert getattr(settings, field).get_secret_value() not in shown
    assert settings.postgres_dsn not in shown

    media = {"media": resources["media"], "object_store": resources["object_store"]}
    with build_resources(media) as built:
        assert built.media.drm_master_key == settings.drm_master_key.get_secret_value()
        assert (
            built.object_store.url_signing_secret == settings.url_signing_secret.get_secret_value()
        )


def test_prod_refuses_the_local_object_store(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = prod_settings(monkeypatch)
    monkeypatch.setenv("REELFLOW_OBJECT_STORE", "local")
    with pytest.raises(ValueError, match="REELFLOW_OBJECT_STORE=s3"):
        resources_for(Settings())
    assert settings.object_store == "s3"


@pytest.mark.parametrize("deployment", ["local", "prod"])
def test_dagster_cli_validates_the_workspace(
    monkeypatch: pytest.MonkeyPatch, deployment: str
) -> None:
    if deployment == "prod":
        prod_settings(monkeypatch)
    root = Path(__file__).resolve().parents[3]
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(root / "workspace.yaml")],
        cwd=root,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr
