"""An account's erasure reaches the viewing datasets: the days it was aggregated on are re-run."""

from __future__ import annotations

from datetime import date

import psycopg
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    SensorResult,
    SkipReason,
    build_sensor_context,
)

from assets.engagement import INTERACTIONS_KEY
from assets.resources import CatalogResource
from pipelines.sensors import ERASURE_TAG, erasure_sensor
from storage.catalog import Catalog


def evaluate(instance: DagsterInstance, dsn: str, cursor: str | None) -> SensorResult | SkipReason:
    resources = {"catalog": CatalogResource(dsn=dsn)}
    with build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        return erasure_sensor(context)


def test_each_erasure_reruns_the_days_already_aggregated(
    catalog: Catalog, catalog_dsn: str
) -> None:
    instance = DagsterInstance.ephemeral()
    for day in ("2026-01-01", "2026-01-02"):
        instance.report_runless_asset_event(AssetMaterialization(INTERACTIONS_KEY, partition=day))
    assert isinstance(evaluate(instance, catalog_dsn, None), SkipReason)

    erased = catalog.create_user("erin@example.com", "x")
    catalog.erase_user(erased.id, analytics_days=[date(2026, 1, 3), date(2026, 1, 1)])
    # Events that landed between the two history passes of the same erasure.
    catalog.request_analytics_erasure([date(2026, 1, 2), date(2026, 1, 1)])
    catalog.request_analytics_erasure([])
    requests = catalog.list_analytics_erasures(after_id=0)
    assert [r.days for r in requests] == [
        [date(2026, 1, 1), date(2026, 1, 3)],
        [date(2026, 1, 1), date(2026, 1, 2)],
    ]
    newest = requests[-1].id

    result = evaluate(instance, catalog_dsn, None)

    assert isinstance(result, SensorResult)
    # 2026-01-03 was never aggregated: its first run reads the events as they are now.
    assert [(r.partition_key, r.run_key, r.tags) for r in result.run_requests or []] == [
        (day, f"erasure:{newest}:{day}", {ERASURE_TAG: str(newest)})
        for day in ("2026-01-01", "2026-01-02")
    ]
    assert result.cursor == str(newest)
    assert isinstance(evaluate(instance, catalog_dsn, result.cursor), SkipReason)
    # The queue names days, never the person.
    with psycopg.connect(catalog_dsn) as conn:
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'analytics_erasures' ORDER BY ordinal_position"
        ).fetchall()
    assert [c for (c,) in columns] == ["id", "days", "requested_at"]
