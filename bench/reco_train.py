"""Recommendation training and serving benchmark.

    .venv/bin/python bench/reco_train.py [--users 100000] [--videos 10000] [--per-user 10]
                                         [--days 30] [--signed-in 200] [--requests 500]

Needs the dev stack (PostgreSQL, Cassandra). In a scratch database, keyspace and local object
store it seeds `--videos` published videos in 50 topics and writes `--days` days of the
`user_video_interactions` dataset for `--users` viewers, each watching `--per-user` videos, 80 %
of them in the viewer's favourite topic. Then it measures:

- training: the `recommendation_model` + `promoted_model` assets materialized as Dagster runs
  them (read the Parquet days, fit the two-stage ranker and both charts on the days before the
  held-out period, score as many held-out viewers as the promotion decision needs, refit the
  ranker's generators on everything from the evaluated one, upload, check, promote) against a
  bare `implicit` ALS fit on the same confidence matrix, and prints the ratio. The libraries
  they load (scikit-learn, implicit, LightGBM) are imported first and their import time printed
  apart: a process pays it once;
- serving: `GET /api/v1/videos/feed` latency (p50, p99) for `--signed-in` viewers of the model,
  through the whole app in process, with the promoted model loaded, against the same feed with
  no model (the trending/recent fallback), and prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg

from reelflow import connect

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(PROJECT_ROOT)

from dagster import DagsterInstance, materialize  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from api.main import create_app  # noqa: E402
from api.sessions import start_session  # noqa: E402
from assets.recommendations import (  # noqa: E402
    promoted_model,
    recommendation_model,
    training_interactions,
)
from bench.scratch import publish_rows_only, scratch_settings  # noqa: E402
from ml.interactions import build_matrix  # noqa: E402
from ml.models import ALSRecommender  # noqa: E402
from ml.serving import MODEL_PREFIX  # noqa: E402
from pipelines.resources import resources_for  # noqa: E402
from reelflow.settings import Settings  # noqa: E402
from storage.catalog import Catalog, Role  # noqa: E402
from storage.engagement import INTERACTIONS, pseudonym, pseudonym_key, write_partition  # noqa: E402

TOPICS = 50
IN_TOPIC = 0.8


def seed_catalog(
    settings: Settings, videos: int, signed_in: int
) -> tuple[list[str], list[str], list[str]]:
    """Published video ids, and the pseudonyms and access tokens of signed-in viewers."""
    with Catalog(settings.postgres_dsn, max_size=2) as catalog:
        creator = catalog.create_user("creator@bench.invalid", "x", role=Role.CREATOR)
        viewers = [catalog.create_user(f"viewer-{i}@bench.invalid", "x") for i in range(signed_in)]
        ids = []
        for i in range(videos):
            topic = i % TOPICS
            video = publish_rows_only(
                catalog,
                settings,
                creator.id,
                f"Topic {topic} episode {i}",
                description=f"an episode about topic{topic}",
                tags=[f"topic{topic}", f"series{i % 500}"],
            )
            ids.append(str(video.id))
        tokens = [start_session(catalog, settings, viewer).access_token for viewer in viewers]
    # Published before the moment a feed settles on.
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        conn.execute("UPDATE videos SET published_at = published_at - interval '1 hour'")
    key = pseudonym_key(settings.analytics_pseudonym_key.get_secret_value())
    pseudonyms = [pseudonym(viewer.id, key) for viewer in viewers]
    return ids, pseudonyms, tokens


def interactions(
    videos: list[str], users: list[str], per_user: int, days: int, seed: int = 7
) -> pd.DataFrame:
    rng = random.Random(seed)
    by_topic = [videos[t::TOPICS] for t in range(TOPICS)]
    now = datetime.now(UTC).replace(microsecond=0)
    rows = []
    for user in users:
        topic = rng.randrange(TOPICS)
        for _ in range(per_user):
            pool = by_topic[topic] if rng.random() < IN_TOPIC else videos
            # Popularity within a pool is skewed: low indices are watched more.
            video = pool[min(int(rng.paretovariate(1.2)) - 1, len(pool) - 1)]
            at = now - timedelta(seconds=rng.randrange(days * 86_400))
            completion = rng.choice((1.0, 1.0, 0.6, 0.3))
            rows.append((user, video, completion * 600.0, completion, at))
    frame = pd.DataFrame(rows, columns=["user_pseudonym", "video_id", "watched_s", "c", "at"])
    return pd.DataFrame(
        {
            "user_pseudonym": frame["user_pseudonym"],
            "video_id": frame["video_id"],
            "events": 3,
            "sessions": 1,
            "watched_s": frame["watched_s"],
            "max_position_s": frame["watched_s"],
            "duration_s": 600.0,
            "max_progress": frame["c"],
            "completion": frame["c"],
            "viewed": frame["watched_s"] >= 30,
            "finished": frame["c"] >= 0.95,
            "first_watched_at": frame["at"],
            "last_watched_at": frame["at"],
        }
    )


def latencies(client: TestClient, tokens: list[str], requests: int) -> list[float]:
    out = []
    for n in range(requests):
        headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}
        t0 = time.perf_counter()
        response = client.get("/api/v1/videos/feed", headers=headers)
        out.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"feed answered {response.status_code}: {response.text}")
    return out


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--signed-in", type=int, default=200)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    with (
        tempfile.TemporaryDirectory(prefix="reelflow-bench-") as tmp,
        scratch_settings(Settings(), Path(tmp), keep=False) as settings,
    ):
        t0 = time.perf_counter()
        videos, pseudonyms, tokens = seed_catalog(settings, args.videos, args.signed_in)
        users = pseudonyms + [f"u{n:07d}" for n in range(args.users - len(pseudonyms))]
        rows = interactions(videos, users, args.per_user, args.days)
        store = connect.object_store(settings)
        for day, frame in rows.groupby(rows["last_watched_at"].dt.date):
            write_partition(store, INTERACTIONS, day, frame)
        print(
            f"seeded {len(videos)} videos, {len(users)} viewers, {len(rows)} interactions "
            f"over {args.days} days in {time.perf_counter() - t0:.1f}s"
        )

        t0 = time.perf_counter()
        import implicit.cpu.als  # noqa: F401
        import lightgbm  # noqa: F401
        import sklearn.feature_extraction.text  # noqa: F401

        import_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = materialize(
            [recommendation_model, promoted_model],
            resources=resources_for(settings),
            instance=DagsterInstance.ephemeral(),
        )
        asset_s = time.perf_counter() - t0
        meta = result.asset_materializations_for_node("recommendation_model")[0].metadata
        [check] = result.get_asset_check_evaluations()

        # The matrix the asset fits: the same rows, the whole catalogue as columns.
        rows_read = training_interactions(store, datetime.now(UTC), args.days + 1)
        data = build_matrix(rows_read, items=videos)
        bare = ALSRecommender()
        t0 = time.perf_counter()
        bare.fit(data)
        bare_s = time.perf_counter() - t0

        shape = f"{data.shape[0]} users x {data.shape[1]} videos, {data.matrix.nnz} nnz"
        print(f"\ntraining ({shape})")
        for label, seconds in (
            ("importing scikit-learn, implicit, LightGBM (once a process)", import_s),
            ("asset run (read, evaluate, fit, upload, check, promote)", asset_s),
            ("  of which evaluation (fit on the days before, score)", meta["evaluate_s"].value),
            ("  of which fitting the served ranker on everything", meta["fit_s"].value),
            ("bare implicit ALS fit on the same matrix", bare_s),
        ):
            print(f"  {label:<56} {seconds:8.2f}s")
        print(f"  ratio asset / bare fit: {asset_s / bare_s:.2f}")
        print(f"  check {check.check_name}: passed={check.passed} ({check.description})")
        low, high = check.metadata["lift_95_interval"].value
        print(
            f"  lift over {check.metadata['stronger_baseline'].value} "
            f"{check.metadata['lift'].value:.4f} "
            f"(95 % interval {low:.4f} to {high:.4f}) on {check.metadata['test_users'].value} "
            f"held-out viewers, {check.metadata['needed_users'].value} needed to decide"
        )

        figures = {}
        empty = settings.model_copy(update={"object_store_dir": Path(tmp) / "no-model"})
        for name, app_settings in (("model", settings), ("fallback", empty)):
            with TestClient(create_app(app_settings)) as client:
                if name == "model":
                    served = client.app.state.recommendations.server  # type: ignore[attr-defined]
                    served.refresh()
                    assert served.current.version == store.current_version(MODEL_PREFIX)
                latencies(client, tokens, 20)  # warm-up
                figures[name] = latencies(client, tokens, args.requests)
        print(f"\nfeed latency over {args.requests} requests ({len(tokens)} signed-in viewers)")
        for name, values in figures.items():
            print(
                f"  {name:<9} p50 {percentile(values, 50):7.2f} ms   "
                f"p99 {percentile(values, 99):7.2f} ms"
            )
        ratio = percentile(figures["model"], 50) / percentile(figures["fallback"], 50)
        print(f"  ratio p50 model / fallback: {ratio:.2f}")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
