"""The whole demo: the dev stack, the data, every asset, then the servers until Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from dagster import DagsterInstance

from cli.demo.lifecycle import (
    RunOutcome,
    Runs,
    daily_assets,
    days_to_aggregate,
    definitions,
    materialize_days,
    materialize_unpartitioned,
    materialize_videos,
    stop_spark,
    unpartitioned_assets,
    videos_to_process,
)
from cli.demo.seeding import (
    DEFAULT_DAYS,
    DEFAULT_VIEWERS,
    DEMO_ACCOUNTS,
    DEMO_PASSWORD,
    REAL_MEDIA_DIR,
    demo_clips,
    seed_library,
    seed_users,
    seed_watch_events,
    watchable_videos,
)
from cli.demo.serving import child_environment, serve, stop, wait_until_interrupted
from cli.demo.showcase import seed_captions, seed_community, seed_playback
from cli.demo.terminal import phase, say
from devstack import services
from devstack.processes import Server
from reelflow import connect
from reelflow.settings import PROJECT_ROOT, Settings
from storage.migrate import upgrade
from storage.seed import days_ending

DEFAULT_DAGSTER_PORT = 3000


@dataclass(frozen=True)
class DemoOptions:
    days: int = DEFAULT_DAYS
    viewers: int = DEFAULT_VIEWERS
    host: str = "127.0.0.1"
    dagster_port: int = DEFAULT_DAGSTER_PORT
    serve: bool = True
    real_media_dir: Path | None = REAL_MEDIA_DIR


def run_demo(settings: Settings, options: DemoOptions) -> int:
    """Everything `make demo` does; the exit status (0 after Ctrl-C while serving)."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    _stop_on_signals()
    started: list[str] = []
    children: list[Server] = []
    try:
        with phase("dev stack"):
            started = start_services(settings)
        outcomes = build_platform(settings, options, dagster_instance(settings))
        failed = [outcome.run_id[:8] for outcome in outcomes if not outcome.success]
        if failed:
            say(f"{len(failed)} run(s) failed: {', '.join(failed)}; the Dagster UI has their logs")
        if not options.serve:
            return 1 if failed else 0
        with phase("servers"):
            children = serve(
                host=options.host,
                dagster_port=options.dagster_port,
                api_port=settings.api_port,
                log_dir=settings.state_dir / "demo" / "logs",
                env=child_environment(),
            )
        _print_welcome(children)
        wait_until_interrupted(children)
        return 0
    except KeyboardInterrupt:
        say("\nstopping what the demo started ...")
        return 0 if children else 130
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            stop(children)
            stop_services(settings, started)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def build_platform(
    settings: Settings, options: DemoOptions, instance: DagsterInstance
) -> list[RunOutcome]:
    """Accounts, library, watch events and every asset, reusing what exists; the runs made."""
    runs = Runs(instance)
    with connect.catalog(settings) as catalog:
        with phase("accounts and library"):
            users = seed_users(catalog)
            for change in users.changes:
                say(f"  {change}")
            library = seed_library(
                catalog,
                connect.object_store(settings),
                users.creator,
                demo_clips(options.real_media_dir),
                settings.state_dir / "demo" / "clips",
            )
            for video in library:
                state = "new" if video.created else "uploaded" if video.uploaded else "exists"
                say(f"  {state:<8} {video.visibility.value:<8} {video.title}")
            say(f"  {seed_captions(catalog, connect.object_store(settings), library)}")
        with phase("media lifecycle, one run per video partition"):
            todo = videos_to_process(catalog, instance, library)
            if not todo:
                say(f"  all {len(library)} videos are published")
            materialize_videos(runs, library, todo)
        # The days up to yesterday: the demo shows recent viewing, whatever the date.
        days = days_ending(datetime.now(UTC).date() - timedelta(days=1), options.days)
        with phase(f"watch events, {days[0]} to {days[-1]}"), connect.history(settings) as history:
            watchable = watchable_videos(catalog, library)
            written = seed_watch_events(history, users, watchable, days, options.viewers)
            if not watchable:
                say("  no video is published: nothing to watch")
            for day in days if watchable else []:
                count = written.get(day)
                say(f"  {day}: " + (f"{count} events written" if day in written else "exist"))
            played = seed_playback(history, watchable, days)
            for day, count in played.items():
                say(f"  {day}: {count} player quality events written")
            say(f"  {seed_community(catalog, users, watchable, days)}")
    defs = definitions()
    with phase("viewing aggregates, one run per day partition"):
        todo_days = days_to_aggregate(instance, daily_assets(defs), days, {*written, *played})
        if not todo_days:
            say("  every day is aggregated")
        materialize_days(runs, todo_days)
    with phase("unpartitioned assets"):
        outcome = materialize_unpartitioned(
            runs, unpartitioned_assets(defs), inputs_changed=bool(todo_days)
        )
        if outcome is None:
            say("  up to date")
    stop_spark()
    return runs.outcomes


def start_services(settings: Settings) -> list[str]:
    """Bring the dev stack up and migrate; the names of the services that were not running."""
    running = {status.name for status in services.status(settings) if status.pid is not None}
    statuses = services.up(settings)
    started = [status.name for status in statuses if status.name not in running]
    for status in statuses:
        state = "started" if status.name in started else "running"
        say(f"  {status.name:<12} {state:<8} {status.endpoint}")
    upgrade(settings.postgres_dsn)
    connect.migrate_history(settings)
    return started


def stop_services(settings: Settings, names: Sequence[str]) -> None:
    """Stop the dev stack services named (those the demo started)."""
    for service in reversed(services.services(settings)):
        if service.name in names and service.stop():
            say(f"  stopped {service.name}")


def dagster_instance(settings: Settings) -> DagsterInstance:
    """The instance of `DAGSTER_HOME` (default: the state dir's), configured as `make` does."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home).resolve()
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return DagsterInstance.get()


def _print_welcome(children: Sequence[Server]) -> None:
    urls = {child.name: child.endpoint for child in children}
    api = urls["api"]
    say("")
    say("Reelflow is running. Ctrl-C stops it.")
    say(f"  Dagster UI        {urls['dagster-webserver']}  (asset graph, runs, checks)")
    say(f"  Player and feed   {api}/")
    say(f"  Playlists         {api}/playlists.html")
    say(f"  Creator dashboard {api}/dashboard.html  (creator@example.com, admin@example.com)")
    say(f"  API docs          {api}/docs")
    say(f"Demo accounts, password '{DEMO_PASSWORD}':")
    for account in DEMO_ACCOUNTS:
        say(f"  {account.email:<24} {account.what}")
    say(f"Server logs: {children[0].log.parent}")


def _stop_on_signals() -> None:
    """SIGINT (Ctrl-C) and SIGTERM both raise KeyboardInterrupt, even if inherited ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
