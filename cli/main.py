"""The `reelflow` command: dev stack, schema migrations, bootstrap."""

from __future__ import annotations

import argparse
import copy
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from assets.queues import HEAVY, LIGHT
from reelflow import connect
from reelflow.settings import Settings


def _devstack_up(settings: Settings, _: argparse.Namespace) -> int:
    from devstack import services

    for status in services.up(settings):
        print(f"{status.name:<12} {status.state:<8} {status.endpoint:<45} log: {status.log}")
    return 0


def _devstack_down(settings: Settings, _: argparse.Namespace) -> int:
    from devstack import services

    stopped = services.down(settings)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def _devstack_status(settings: Settings, _: argparse.Namespace) -> int:
    from devstack import services

    statuses = services.status(settings)
    for status in statuses:
        pid = f"pid {status.pid}" if status.pid else ""
        print(
            f"{status.name:<12} {status.state:<8} {pid:<10} {status.endpoint:<45} log: {status.log}"
        )
    return 0 if all(s.ready for s in statuses) else 3


def _devstack_mail(settings: Settings, args: argparse.Namespace) -> int:
    from devstack.mail import MailSink

    for message in MailSink(settings).messages()[-args.last :]:
        body = message.get_payload(decode=True)
        text = (
            body.decode(message.get_content_charset() or "utf-8", "replace")
            if isinstance(body, bytes)
            else ""
        )
        print(f"To: {message['To']}\nSubject: {message['Subject']}\n\n{text}")
    return 0


def _bootstrap(settings: Settings, _: argparse.Namespace) -> int:
    from devstack.jars import fetch_all
    from devstack.kustomize import ensure_kustomize
    from devstack.stripe import ensure_stripe_mock
    from devstack.web import ensure_web_dependencies

    for name, jars in fetch_all(settings.jar_dir).items():
        print(f"{name:<16} {len(jars):>3} jars in {settings.jar_dir / name}")
    print(f"{'stripe-mock':<16} {ensure_stripe_mock(settings)}")
    print(f"{'kustomize':<16} {ensure_kustomize(settings)}")
    print(f"{'web packages':<16} {ensure_web_dependencies()}")
    return 0


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    from storage.migrate import current, upgrade

    upgrade(settings.postgres_dsn)
    print(f"postgres   schema at revision {current(settings.postgres_dsn)}")
    applied = connect.migrate_history(settings)
    print(
        f"cassandra  keyspace {settings.cassandra_keyspace} up to date"
        + (f" (applied {', '.join(applied)})" if applied else "")
    )
    return 0


def _reprocess(settings: Settings, args: argparse.Namespace) -> int:
    """Queue a media lifecycle run per video; the daemon runs them like any other run."""
    import json
    import os
    import subprocess
    from pathlib import Path
    from uuid import UUID

    from reelflow import media_runs
    from reelflow.settings import PROJECT_ROOT

    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    dagster = str(Path(sys.executable).with_name("dagster"))
    for video_id in args.video_ids:
        partition = str(UUID(video_id))
        subprocess.run(
            [dagster, "job", "launch", "-j", media_runs.JOB]
            + ["-w", str(PROJECT_ROOT / "workspace.yaml")]
            + [
                "--tags",
                json.dumps({media_runs.PARTITION_TAG: partition, media_runs.VIDEO_TAG: partition}),
            ],
            env=env,
            check=True,
        )
        print(f"queued {media_runs.JOB} for video {partition}")
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run media steps from the broker's queues until stopped (SIGTERM: after the current ones)."""
    from pipelines.executors import MEDIA_QUEUES, run_worker

    run_worker(settings, queues=args.queues or MEDIA_QUEUES, concurrency=args.concurrency)
    return 0


def api_workers(settings: Settings, requested: int | None = None) -> int:
    """Processes of `reelflow api`: asked for, else set, else one per core in prod and one
    locally."""
    if requested is not None:
        return requested
    if settings.api_workers is not None:
        return settings.api_workers
    return (os.cpu_count() or 1) if settings.deployment == "prod" else 1


def _api(settings: Settings, args: argparse.Namespace) -> int:
    import signal
    import tempfile
    from types import FrameType

    import uvicorn

    def stop(signum: int, _: FrameType | None) -> None:
        # With one worker, uvicorn raises the signal it stopped on again once it has shut down:
        # as an exception here, so that the run's metrics directory is removed on the way out.
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    workers = api_workers(settings, args.workers)
    # Every worker counts its metrics in files of this run's directory, which a scrape of any
    # of them sums (api/metrics.py); one worker takes the same path. The variable must be set
    # before prometheus-client is first imported, which the app's import does. A worker that
    # exits leaves its files, so what it counted stays in the sums and counters never go back;
    # `multiprocess.mark_process_dead` only drops live gauges, of which the API has none.
    with tempfile.TemporaryDirectory(prefix="reelflow-api-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        from api.main import create_app

        # Several workers each build the application from the environment's settings, as
        # `create_app()` does; they share nothing but the databases, the object store and Redis.
        uvicorn.run(
            create_app(settings) if workers == 1 else "api.main:create_app",
            factory=workers > 1,
            workers=workers,
            host=args.host or settings.api_host,
            port=args.port or settings.api_port,
            proxy_headers=True,
            server_header=False,
            log_config=_api_log_config(uvicorn.config.LOGGING_CONFIG),
        )
    return 0


def _api_log_config(base: dict[str, Any]) -> dict[str, Any]:
    """uvicorn's logging as JSON lines (api/logs.py), the API's own records included, with one
    access record per request written by the API (it knows the route, the account and the
    duration), and the secrets of request URLs left out."""
    config = copy.deepcopy(base)
    config["formatters"] = {"json": {"()": "api.logs.JsonFormatter"}}
    config.setdefault("filters", {})["redact_secrets"] = {"()": "api.logs.RedactSecrets"}
    for handler in config["handlers"].values():
        handler["formatter"] = "json"
    config["handlers"]["access"].setdefault("filters", []).append("redact_secrets")
    loggers = config.setdefault("loggers", {})
    loggers["api.access"] = {"handlers": ["access"], "level": "INFO", "propagate": False}
    # uvicorn's own access line would repeat the API's, without what only the API knows.
    loggers["uvicorn.access"] = {"handlers": [], "level": "INFO", "propagate": False}
    loggers["api"] = {"level": "INFO"}
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config


def _pipeline_metrics(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the pipeline's figures to Prometheus until stopped."""
    from dagster import DagsterInstance

    from pipelines.metrics import serve

    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    with DagsterInstance.get() as instance:
        try:
            serve(settings, instance, args.host, args.port)
        except KeyboardInterrupt:
            pass
    return 0


def _seed_events(settings: Settings, args: argparse.Namespace) -> int:
    """Write generated watch events through the history code, as the API would."""
    import psycopg

    from storage.seed import SeedVideo, catalog_videos, seed_events

    videos: int | list[SeedVideo] = args.videos
    if args.catalog_videos:
        with psycopg.connect(settings.postgres_dsn) as conn:
            videos = catalog_videos(conn, args.videos)
        if not videos:
            raise RuntimeError("the catalog has no published video to watch")
    with connect.history(settings) as history:
        summary = seed_events(
            history, users=args.users, videos=videos, days=args.days, seed=args.seed
        )
    print(
        f"wrote {summary.reports} watch events: {summary.users} users, {summary.videos} videos, "
        f"{summary.first_day} to {summary.last_day}"
    )
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    """Seed a demo library, materialize every asset, then serve the Dagster UI and the API."""
    from cli.demo import DEFAULT_DAYS, DEFAULT_VIEWERS, DemoOptions, run_demo

    if settings.deployment == "prod":
        # It seeds made-up viewers and watch events into the configured stores.
        raise RuntimeError("the demo seeds made-up data: it does not run with deployment 'prod'")
    options = DemoOptions(
        days=args.days or DEFAULT_DAYS,
        viewers=args.viewers or DEFAULT_VIEWERS,
        host=args.host,
        dagster_port=args.dagster_port,
        serve=not args.no_serve,
    )
    return run_demo(settings, options)


Handler = Callable[[Settings, argparse.Namespace], int]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    devstack = commands.add_parser(
        "devstack", help="local PostgreSQL, Cassandra, S3, Stripe, RabbitMQ, Redis and mail servers"
    )
    actions = devstack.add_subparsers(dest="action", required=True)
    for name, handler, text in (
        ("up", _devstack_up, "start every service and wait until it answers (idempotent)"),
        ("down", _devstack_down, "stop the services this dev stack started"),
        ("status", _devstack_status, "show each service, its endpoint and log"),
        ("mail", _devstack_mail, "print the newest messages the platform sent to the mail sink"),
    ):
        action = actions.add_parser(name, help=text)
        action.set_defaults(handler=handler)
        if name == "mail":
            action.add_argument("--last", type=int, default=5, help="how many (default 5)")
        elif name != "down":  # down stops every node this stack started, whatever the ring
            action.add_argument(
                "--cassandra-nodes",
                type=int,
                choices=(1, 2, 3),
                help="Cassandra nodes (a ring on 127.0.0.1-3; default REELFLOW_CASSANDRA_NODES, 1)",
            )

    commands.add_parser(
        "bootstrap",
        help="fetch the Java jars, build stripe-mock and install the web packages (once each)",
    ).set_defaults(handler=_bootstrap)
    commands.add_parser(
        "migrate", help="apply the PostgreSQL migrations and the Cassandra schema"
    ).set_defaults(handler=_migrate)
    api = commands.add_parser("api", help="serve the API with uvicorn")
    api.add_argument("--host", help="default: REELFLOW_API_HOST (127.0.0.1)")
    api.add_argument("--port", type=int, help="default: REELFLOW_API_PORT (8000)")
    api.add_argument(
        "--workers",
        type=_positive_int,
        help="processes (default: REELFLOW_API_WORKERS, else one per core in prod, one locally)",
    )
    api.set_defaults(handler=_api)

    metrics = commands.add_parser(
        "pipeline-metrics",
        help="serve the pipeline's figures (videos by state, queues, runs, datasets, model) "
        "to Prometheus on /metrics",
    )
    metrics.add_argument("--port", type=int, required=True)
    metrics.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    metrics.set_defaults(handler=_pipeline_metrics)

    seed = commands.add_parser("seed", help="generate demo data")
    kinds = seed.add_subparsers(dest="kind", required=True)
    events = kinds.add_parser(
        "events", help="realistic watch events, written through the history code"
    )
    events.add_argument("--users", type=int, default=1000)
    events.add_argument("--videos", type=int, default=200)
    events.add_argument("--days", type=int, default=7, help="days ending yesterday (UTC)")
    events.add_argument("--seed", type=int, default=0)
    events.add_argument(
        "--catalog-videos",
        action="store_true",
        help="watch up to --videos published catalog videos instead of random ids",
    )
    events.set_defaults(handler=_seed_events)

    reprocess = commands.add_parser(
        "reprocess", help="queue the media lifecycle again for videos (needs the daemon)"
    )
    reprocess.add_argument("video_ids", nargs="+", metavar="VIDEO_ID")
    reprocess.set_defaults(handler=_reprocess)

    worker = commands.add_parser(
        "worker",
        help="run steps of media runs from RabbitMQ (dagster-celery), on this host or any other",
    )
    worker.add_argument(
        "--queue",
        dest="queues",
        action="append",
        choices=(HEAVY, LIGHT),
        help=f"a queue to take steps from; repeat for several (default: {HEAVY} and {LIGHT})",
    )
    worker.add_argument(
        "--concurrency",
        type=_positive_int,
        default=1,
        help="steps run at once, each in a process of its own (1)",
    )
    worker.set_defaults(handler=_worker)

    demo = commands.add_parser(
        "demo",
        help="seed a library, materialize every asset, then serve the Dagster UI and the API "
        "until Ctrl-C (reuses what an earlier demo made)",
    )
    demo.add_argument("--days", type=int, help="days of watch events, to yesterday (3)")
    demo.add_argument("--viewers", type=int, help="generated viewers coming back daily (150)")
    demo.add_argument("--host", default="127.0.0.1", help="address of the Dagster UI and the API")
    demo.add_argument(
        "--dagster-port",
        type=int,
        default=3000,
        help="port of the Dagster UI (the API's is REELFLOW_API_PORT, default 8000)",
    )
    demo.add_argument(
        "--no-serve", action="store_true", help="stop once every asset is materialized"
    )
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    nodes = getattr(args, "cassandra_nodes", None)
    try:
        settings = Settings(**({"cassandra_nodes": nodes} if nodes else {}))
    except ValidationError as exc:
        print(f"reelflow: invalid settings: {exc}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    try:
        return handler(settings, args)
    except RuntimeError as exc:
        print(f"reelflow: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
