"""Where step outputs go: pickled in the bucket of an S3 deployment, so that any host can run
the next step; under DAGSTER_HOME with the local object store."""

from __future__ import annotations

import pytest
from dagster import EnvVar, FilesystemIOManager
from dagster_aws.s3 import S3PickleIOManager

from pipelines.resources import IO_PREFIX, resources_for
from reelflow.settings import Settings
from tests.unit.reelflow.test_settings import REAL_SECRETS

S3_SECRET = "0d9c8b7a6f5e4d3c2b1a"


def test_prod_pickles_step_outputs_in_its_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    monkeypatch.setenv("REELFLOW_OBJECT_STORE", "s3")
    monkeypatch.setenv("REELFLOW_S3_BUCKET", "media-prod")
    monkeypatch.setenv("REELFLOW_S3_ENDPOINT_URL", "https://s3.eu-west-1.amazonaws.com")
    monkeypatch.setenv("REELFLOW_S3_REGION", "eu-west-1")
    monkeypatch.setenv("REELFLOW_S3_ACCESS_KEY_ID", "AKIAEXAMPLEKEY")
    monkeypatch.setenv("REELFLOW_S3_SECRET_ACCESS_KEY", S3_SECRET)
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)

    io_manager = resources_for(Settings())["io_manager"]

    assert isinstance(io_manager, S3PickleIOManager)
    assert (io_manager.s3_bucket, io_manager.s3_prefix) == ("media-prod", IO_PREFIX)
    s3 = io_manager.s3_resource
    assert s3.endpoint_url == "https://s3.eu-west-1.amazonaws.com"
    assert (s3.region_name, s3.aws_access_key_id) == ("eu-west-1", "AKIAEXAMPLEKEY")
    # The same credentials as the object store, the secret named, never shown.
    assert s3.aws_secret_access_key == EnvVar("REELFLOW_S3_SECRET_ACCESS_KEY")
    assert S3_SECRET not in io_manager.model_dump_json()


def test_local_deployments_pickle_where_their_objects_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFLOW_OBJECT_STORE", "local")
    assert isinstance(resources_for(Settings())["io_manager"], FilesystemIOManager)

    monkeypatch.setenv("REELFLOW_OBJECT_STORE", "s3")
    settings = Settings()
    io_manager = resources_for(settings)["io_manager"]
    assert isinstance(io_manager, S3PickleIOManager)
    assert io_manager.s3_bucket == settings.s3_bucket
    assert io_manager.s3_resource.endpoint_url == settings.s3_endpoint_url
