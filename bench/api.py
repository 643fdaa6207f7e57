"""API benchmark: requests/s and latency of three hot endpoints against a bare FastAPI endpoint,
with each number of API processes and, optionally, against an earlier checkout of the project.

    .venv/bin/python bench/api.py [--duration 10] [--connections 16] [--threads 2] [--runs 1]
                                  [--workers 1,2] [--baseline DIR]
                                  [--videos 200] [--users 200] [--keep]

Needs the dev stack (PostgreSQL, Cassandra) and wrk (`apt-get install -y wrk`). In a scratch
database and keyspace, it seeds published public videos (with comments) and viewers with COPY,
and starts a session for up to 2,000 of the viewers (the ones the requests name); it prints how
long that took. Then it starts these servers, each on a free loopback port with settings
pointing at the scratch database and keyspace:

- after:  `reelflow api --workers N` for each N of `--workers`;
- before: with `--baseline DIR`, a git checkout of an earlier commit (`git worktree add DIR REV`)
  served by this venv's python with DIR first on the path and as working directory: its
  `reelflow api --workers N` for each N if its `api` command has `--workers`, else its one
  process (the scratch database is migrated by this checkout: DIR must work with that schema);
- bare:   a bare FastAPI app (one route returning a constant JSON object) under the same uvicorn
  options, with 1 worker and with the largest N.

wrk then loads each server's endpoints one after another, for `--duration` seconds each (after
a short warm-up), with each request naming another signed-in viewer and video:

- bare:  GET /bare on the bare app, the ceiling of the server and client on this machine;
- video: GET /api/v1/videos/{id}, signed in (token check, catalog reads, URL signing);
- watch: POST /api/v1/videos/{id}/watch (token check, catalog read, Cassandra read + writes);
- feed:  GET /api/v1/videos/feed (token check, the promoted two-stage ranker's picks for the
  viewer, candidate ranking, Cassandra history read). The model is trained on a made-up month
  of the signed-in viewers' viewing and promoted before the servers start.

Each run rotates the order of the servers and of the endpoints. The table has a row per endpoint
and server: requests/s, p50 and p99 latency (medians over `--runs`), the errors wrk saw (all
runs), the ratios to the bare endpoint with the same number of workers (measured for 1 and the
largest N only), requests/s against the same server with 1 worker, and after against before with
the same number of workers. Everything it started (servers, database, keyspace) is stopped or
dropped at the end; `--keep` keeps the database and keyspace.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from uuid import UUID, uuid4

import httpx
import psutil
import psycopg
from fastapi import FastAPI
from portpicker import pick_unused_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory comes first on the path and `bench/api.py` would be
# imported as the `api` package: look packages up from the project root instead (which also
# makes `bench.api:bare_app` importable by the bare app's uvicorn workers).
sys.path[0] = str(PROJECT_ROOT)

from api.security import REFRESH_TOKEN_TTL, create_access_token, new_secret_token  # noqa: E402
from bench.scratch import publish_many_rows_only, scratch_settings  # noqa: E402
from devstack.network import port_open  # noqa: E402
from devstack.processes import Server, ServerError  # noqa: E402
from ml.interactions import build_matrix  # noqa: E402
from ml.serving import MODEL_PREFIX  # noqa: E402
from ml.training import served_model  # noqa: E402
from reelflow import connect  # noqa: E402
from reelflow.settings import Settings  # noqa: E402
from storage.catalog import Role  # noqa: E402
from storage.engagement import pseudonym, pseudonym_key  # noqa: E402
from storage.objects import new_version  # noqa: E402

T = TypeVar("T")

WARMUP_S = 2
READY_TIMEOUT_S = 60
ENDPOINTS = ("bare", "video", "watch", "feed")
API_ENDPOINTS = ENDPOINTS[1:]
# Viewers with a session: the load cycles through this many tokens at most, and writing a
# session per viewer would make most of the seeding time at 100k viewers.
SIGNED_IN = 2000
# What uvicorn logs once a worker process serves; the port opens with the first of them.
STARTED = "Application startup complete."
CHECKOUT_MAIN = "import sys; from cli.main import main; sys.exit(main())"
IMPORTED_API = "import api; print(api.__file__)"
INSTALL_WRK = "wrk is not installed: apt-get install -y wrk (Debian/Ubuntu) or brew install wrk"

# The wrk script: each thread cycles through requests prepared in `init`, and `done` prints the
# figures as one JSON line (latencies in microseconds).
WRK_LUA = """
local requests = {}
local position = 0

init = function(args)
  for i = 1, #REQUESTS do
    local r = REQUESTS[i]
    requests[i] = wrk.format(r[1], r[2], r[3], r[4])
  end
  position = math.random(#requests)
end

request = function()
  position = position % #requests + 1
  return requests[position]
end

done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %f, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def bare_app() -> FastAPI:
    """The baseline: FastAPI with one route and nothing else."""
    app = FastAPI()

    @app.get("/bare")
    def bare() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_bare(port: int, workers: int) -> None:
    """Serve `bare_app` with the uvicorn options `reelflow api` uses (access log included)."""
    import uvicorn

    # Worker processes import the app; one worker imports it the same way.
    uvicorn.run(
        "bench.api:bare_app",
        factory=True,
        workers=workers,
        host="127.0.0.1",
        port=port,
        proxy_headers=True,
        server_header=False,
    )


@dataclass(frozen=True)
class Config:
    """A server measured: the bare app, this checkout's API (after) or the baseline's
    (before), with its number of worker processes."""

    side: str
    workers: int

    @property
    def label(self) -> str:
        return f"{self.side} {self.workers}w"

    @property
    def endpoints(self) -> tuple[str, ...]:
        return ("bare",) if self.side == "bare" else API_ENDPOINTS


@dataclass
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class World:
    settings: Settings
    videos: list[UUID]
    # (user id, session id) of the signed-in viewers.
    sessions: list[tuple[UUID, UUID]]


@dataclass(frozen=True)
class Checkout:
    """A checkout of an earlier commit, its code run by this venv's python."""

    directory: Path
    # Whether its `reelflow api` has --workers; without it, it serves one process.
    has_workers: bool

    @classmethod
    def probe(cls, directory: Path) -> Checkout:
        """The checkout in `directory`, once its packages are the ones its processes import."""
        directory = directory.resolve()
        if not (directory / "cli" / "main.py").is_file():
            sys.exit(f"--baseline {directory}: no checkout of this project (no cli/main.py)")
        # This checkout is installed in the venv in editable mode; DIR first on the path must
        # win over it, or the baseline would measure this code.
        where = Path(_run_in(directory, sys.executable, "-c", IMPORTED_API).strip())
        if not where.is_relative_to(directory):
            sys.exit(f"--baseline {directory}: its python imports `api` from {where}")
        usage = _run_in(directory, *checkout_reelflow("api", "--help"))
        return cls(directory, has_workers="--workers" in usage)

    def worker_counts(self, wanted: Sequence[int]) -> Sequence[int]:
        return wanted if self.has_workers else (1,)


def checkout_reelflow(*args: str) -> list[str]:
    """`reelflow ARGS` of the checkout on PYTHONPATH (the venv's `reelflow` script would run
    the checkout installed in it)."""
    return [sys.executable, "-c", CHECKOUT_MAIN, *args]


def _run_in(directory: Path, *command: str) -> str:
    """The output of `command` run in `directory` with its packages first on the path."""
    env = os.environ | {"PYTHONPATH": str(directory)}
    try:
        done = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True)
    except OSError as exc:
        sys.exit(f"--baseline {directory}: {exc}")
    if done.returncode != 0:
        sys.exit(f"--baseline {directory}: {shlex.join(command)} failed:\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--runs", type=int, default=1, help="runs; the table shows medians")
    parser.add_argument(
        "--workers",
        type=_worker_counts,
        default=(1, 2),
        help="API processes to measure, comma-separated (default: 1,2)",
    )
    parser.add_argument(
        "--baseline", type=Path, metavar="DIR", help="a checkout of an earlier commit to compare"
    )
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the database and keyspace")
    parser.add_argument(
        "--serve-bare", type=int, nargs=2, metavar=("PORT", "WORKERS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(*args.serve_bare)
        return
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit(INSTALL_WRK)
    baseline = Checkout.probe(args.baseline) if args.baseline else None

    print(f"machine: {os.cpu_count()} cores, load average at start: {_loadavg()}")
    print(
        f"wrk: {args.threads} threads, {args.connections} connections, "
        f"{args.duration} s per endpoint after {WARMUP_S} s warm-up, {args.runs} run(s)"
    )
    if baseline is not None:
        options = "--workers" if baseline.has_workers else "one process (no --workers)"
        print(f"baseline: {baseline.directory}, its api with {options}")
    results: dict[tuple[Config, str], list[Figures]] = {}
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-api-")))
        settings = stack.enter_context(scratch_settings(Settings(), directory, keep=args.keep))
        started = time.perf_counter()
        world = seed(settings, videos=args.videos, users=args.users)
        print(
            f"seeded {len(world.videos)} published videos and {args.users} viewers "
            f"({len(world.sessions)} signed in) in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        version = promote_ranker(world)
        print(
            f"trained and promoted the two-stage ranker {version} on {PICKS} videos per "
            f"signed-in viewer in {time.perf_counter() - started:.1f} s: the feed ranks with it"
        )
        configs = [Config("bare", n) for n in sorted({1, max(args.workers)})]
        configs += [Config("after", n) for n in args.workers]
        if baseline is not None:
            configs += [Config("before", n) for n in baseline.worker_counts(args.workers)]
        ports = {}
        for config in configs:
            port = ports[config] = pick_unused_port()
            command = server_command(config, port, baseline)
            checkout = baseline.directory if config.side == "before" and baseline else None
            stack.enter_context(server(config, command, settings, port, checkout=checkout))
            check_endpoints(config, port, world)
        print("servers up: " + ", ".join(f"{c.label} on :{p}" for c, p in ports.items()))
        for run in range(args.runs):
            # Rotate the orders, so that no server or endpoint always runs first or after the
            # heaviest.
            for config in _rotated(list(ports), run):
                # Access tokens last minutes: new ones for each server.
                tokens = access_tokens(world)
                for name in _rotated(config.endpoints, run):
                    script = write_script(directory, name, requests_of(name, world, tokens))
                    url = f"http://127.0.0.1:{ports[config]}"
                    load(wrk, url, script, args, WARMUP_S)
                    before = cpu_seconds()
                    figures = load(wrk, url, script, args, args.duration)
                    spent = cpu_seconds() - before
                    results.setdefault((config, name), []).append(figures)
                    print(
                        f"  run {run + 1} {config.label:<9} {name:<5} {figures.rps:9.0f} req/s"
                        f"  p50 {figures.p50_ms:7.2f} ms  p99 {figures.p99_ms:7.2f} ms  errors "
                        f"{figures.errors}  load {_loadavg()}"
                    )
                    print(f"      cpu ms per request: {spent.per_request(figures, args.duration)}")
    print_table(results)
    print(f"load average at end: {_loadavg()}")


def _worker_counts(text: str) -> tuple[int, ...]:
    try:
        counts = sorted({int(part) for part in text.split(",")})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text}") from exc
    if counts[0] < 1:
        raise argparse.ArgumentTypeError(f"worker counts start at 1: {text}")
    return tuple(counts)


def _rotated(items: Sequence[T], run: int) -> list[T]:
    shift = run % len(items)
    return [*items[shift:], *items[:shift]]


def seed(settings: Settings, *, videos: int, users: int) -> World:
    """Published public videos of a few creators (rows only), a few comments each, and viewers,
    the first SIGNED_IN of them with a session.

    Written with COPY in one transaction: a round trip per row took minutes at 10k videos and
    100k viewers.
    """
    creators = [uuid4() for _ in range(max(1, videos // 20))]
    viewers = [uuid4() for _ in range(users)]
    sessions = [(viewer, uuid4()) for viewer in viewers[:SIGNED_IN]]
    expires_at = datetime.now(UTC) + REFRESH_TOKEN_TTL
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy("COPY users (id, email, password_hash, role) FROM STDIN") as copy:
                for i, creator in enumerate(creators):
                    copy.write_row((creator, f"creator-{i}@bench.invalid", "x", Role.CREATOR))
                for i, viewer in enumerate(viewers):
                    copy.write_row((viewer, f"viewer-{i}@bench.invalid", "x", Role.VIEWER))
            titles = [f"Bench video {i}" for i in range(videos)]
            video_ids = publish_many_rows_only(conn, settings, creators, titles, tags=["bench"])
            with cur.copy("COPY comments (video_id, user_id, text) FROM STDIN") as copy:
                for i, video in enumerate(video_ids):
                    for j in range(i % 5):
                        copy.write_row((video, viewers[(i + j) % len(viewers)], "nice"))
            with cur.copy(
                "COPY refresh_tokens (user_id, session_id, token_hash, expires_at) FROM STDIN"
            ) as copy:
                for user_id, session_id in sessions:
                    copy.write_row((user_id, session_id, new_secret_token()[1], expires_at))
        # Statistics, as autovacuum would have gathered them on a database that grew slowly:
        # without them the planner guesses at the sizes of the tables just loaded.
        conn.execute("ANALYZE")
    return World(settings, video_ids, sessions)


# Videos each signed-in viewer watched in the made-up history the feed's model learns from.
PICKS = 10
TOPICS = 20
MODEL_LOAD_S = 30.0


def promote_ranker(world: World) -> str:
    """The served model (the two-stage ranker) trained on a made-up month of viewing of the
    signed-in viewers, each mostly in one of `TOPICS` topics, and promoted as the training asset
    promotes: the feed then ranks every signed-in viewer's picks with it."""
    settings = served_settings(world.settings)
    key = pseudonym_key(settings.analytics_pseudonym_key.get_secret_value())
    rng = random.Random(5)
    now = time.time()
    rows = []
    for n, (user_id, _) in enumerate(world.sessions):
        topic = n % TOPICS
        for _ in range(PICKS):
            slot = rng.randrange(len(world.videos) // TOPICS) * TOPICS
            video = world.videos[(slot + topic) % len(world.videos)]
            rows.append(
                (pseudonym(user_id, key), str(video), 300.0, 0.8, now - rng.uniform(0, 30 * 86_400))
            )
    data = build_matrix(rows, items=[str(v) for v in world.videos])
    model = served_model().fit(data, {})
    store = connect.object_store(settings)
    version = new_version()
    with tempfile.TemporaryDirectory(prefix="bench-model-") as tmp:
        model.save(Path(tmp))
        store.put_tree(f"{MODEL_PREFIX}/{version}", Path(tmp))
    store.point(MODEL_PREFIX, version)
    return version


def access_tokens(world: World) -> list[str]:
    """A fresh access token for each signed-in viewer, as signing in hands them out."""
    secret = world.settings.jwt_secret.get_secret_value()
    return [
        create_access_token(user_id, Role.VIEWER, secret, session_id=session_id)
        for user_id, session_id in world.sessions
    ]


def server_command(config: Config, port: int, baseline: Checkout | None) -> list[str]:
    address = ["--host", "127.0.0.1", "--port", str(port)]
    workers = ["--workers", str(config.workers)]
    if config.side == "bare":
        this = str(Path(__file__).resolve())
        return [sys.executable, this, "--serve-bare", str(port), str(config.workers)]
    if config.side == "after":
        return [str(Path(sys.executable).with_name("reelflow")), "api", *address, *workers]
    if baseline is None:
        raise ValueError(f"{config.label} needs a baseline checkout")
    return [*checkout_reelflow("api", *address), *(workers if baseline.has_workers else [])]


def served_settings(settings: Settings) -> Settings:
    """The scratch settings with the local object store the servers read models from."""
    return settings.model_copy(
        update={"object_store": "local", "object_store_dir": settings.objects_dir}
    )


def environment(settings: Settings, port: int) -> dict[str, str]:
    """The REELFLOW_* variables that make a server process use `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFLOW_")}
    served = served_settings(settings).model_copy(
        update={
            "api_base_url": f"http://127.0.0.1:{port}",
            "cdn_base_url": f"http://127.0.0.1:{port}/cdn",
            "redis_namespace": f"bench-{port}",
            # wrk is one client address: its per-address limit would measure the limiter.
            "rate_limits": {"watch:address": "100000000/60"},
        }
    )
    return env | served.as_environment()


@contextmanager
def server(
    config: Config,
    command: list[str],
    settings: Settings,
    port: int,
    *,
    checkout: Path | None = None,
) -> Iterator[None]:
    """Run `command` until the block ends; each of its worker processes must have started
    within READY_TIMEOUT_S. With `checkout`, it runs there and imports that checkout's code."""
    env = environment(settings, port)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-") as logs:
        log = Path(logs) / "server.log"
        process = Server.start(
            config.label,
            command,
            log=log,
            cwd=checkout or PROJECT_ROOT,
            env=env,
            endpoint=f"127.0.0.1:{port}",
        )

        def ready() -> bool:
            # The port opens with the first worker; a load must not start while others start.
            started = log.read_text(errors="replace").count(STARTED)
            return port_open(port) and started >= config.workers

        with process:
            try:
                process.wait_ready(ready, READY_TIMEOUT_S)
            except ServerError as exc:
                sys.exit(str(exc))
            yield


Request = tuple[str, str, dict[str, str], str | None]


def requests_of(name: str, world: World, tokens: list[str]) -> list[Request]:
    """The requests one endpoint's load cycles through: (method, path, headers, body)."""
    if name == "bare":
        return [("GET", "/bare", {}, None)]
    pairs = [
        (world.videos[i % len(world.videos)], tokens[i % len(tokens)])
        for i in range(max(len(world.videos), len(tokens)))
    ]
    if name == "video":
        return [("GET", f"/api/v1/videos/{v}", _bearer(t), None) for v, t in pairs]
    if name == "feed":
        return [("GET", "/api/v1/videos/feed", _bearer(t), None) for t in tokens]
    session = str(uuid4())
    body = json.dumps(
        {
            "position_s": 30.0,
            "duration_s": 60.0,
            "watched_delta_s": 5.0,
            "session_id": session,
            "event_type": "progress",
        }
    )
    headers = {"Content-Type": "application/json"}
    return [("POST", f"/api/v1/videos/{v}/watch", headers | _bearer(t), body) for v, t in pairs]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def write_script(directory: Path, name: str, requests: list[Request]) -> Path:
    """The wrk script of one endpoint's load."""
    entries = []
    for method, path, headers, body in requests:
        lua_headers = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in headers.items())
        lua_body = "nil" if body is None else _lua(body)
        entries.append(f"  {{{_lua(method)}, {_lua(path)}, {{{lua_headers}}}, {lua_body}}},")
    script = directory / f"{name}.lua"
    script.write_text("REQUESTS = {\n" + "\n".join(entries) + "\n}\n" + WRK_LUA)
    return script


def _lua(text: str) -> str:
    # JSON string escapes are valid Lua string escapes for the ASCII text used here.
    return json.dumps(text)


def check_endpoints(config: Config, port: int, world: World) -> None:
    """One request per endpoint before the load: a wrong status would make the figures moot."""
    tokens = access_tokens(world)
    for name in config.endpoints:
        method, path, headers, body = requests_of(name, world, tokens)[0]
        # The model loads in the background after start: the feed waits for its picks.
        deadline = time.monotonic() + (MODEL_LOAD_S if name == "feed" else 0)
        while True:
            response = httpx.request(
                method, f"http://127.0.0.1:{port}{path}", headers=headers, content=body, timeout=30
            )
            if response.status_code != 200:
                sys.exit(
                    f"{config.label} {name}: {method} {path} answered {response.status_code}: "
                    f"{response.text}"
                )
            if name != "feed" or config.side != "after":
                break
            reasons = {item["reason"] for item in response.json()["items"]}
            if "for_you" in reasons:
                break
            if time.monotonic() > deadline:
                sys.exit(f"{config.label} feed: no pick of the model in {sorted(reasons)}")
            time.sleep(0.5)


# Where the machine's time goes during a load: CPU seconds of the processes by what they are.
CPU_GROUPS = ("api", "postgres", "cassandra", "redis", "wrk")


@dataclass(frozen=True)
class CpuSeconds:
    by_group: dict[str, float]

    def __sub__(self, earlier: CpuSeconds) -> CpuSeconds:
        return CpuSeconds(
            {g: self.by_group[g] - earlier.by_group.get(g, 0.0) for g in self.by_group}
        )

    def per_request(self, figures: Figures, seconds: int) -> str:
        requests = max(1.0, figures.rps * seconds)
        parts = [f"{g} {self.by_group[g] * 1000 / requests:.2f}" for g in CPU_GROUPS]
        return ", ".join(parts)


def cpu_seconds() -> CpuSeconds:
    """User and system CPU seconds so far of the API servers (any Python process serving
    `api`, bench's bare app included), PostgreSQL, Cassandra, Redis and wrk (the finished
    children of this process)."""
    totals = dict.fromkeys(CPU_GROUPS, 0.0)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    totals["wrk"] = children.ru_utime + children.ru_stime
    for process in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        group = _cpu_group(process.info["name"] or "", process.info["cmdline"] or [])
        times = process.info["cpu_times"]
        if group is not None and times is not None:
            totals[group] += times.user + times.system
    return CpuSeconds(totals)


def _cpu_group(name: str, cmdline: list[str]) -> str | None:
    command = " ".join(cmdline)
    if name.startswith("postgres"):
        return "postgres"
    if name == "java" and "CassandraDaemon" in command:
        return "cassandra"
    if name.startswith("redis-server"):
        return "redis"
    if " api " in f" {command} " or "--serve-bare" in command or "multiprocessing" in command:
        return "api"
    return None


def load(wrk: str, url: str, script: Path, args: argparse.Namespace, seconds: int) -> Figures:
    command = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("{"))
    data = json.loads(line)
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Figures(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
    )


def print_table(results: dict[tuple[Config, str], list[Figures]]) -> None:
    """A row per endpoint and server: medians, errors summed, and the ratios of the medians."""
    table = {
        key: Figures(
            rps=statistics.median(f.rps for f in runs),
            p50_ms=statistics.median(f.p50_ms for f in runs),
            p99_ms=statistics.median(f.p99_ms for f in runs),
            errors=sum(f.errors for f in runs),
        )
        for key, runs in results.items()
    }
    # Before next to after with as many workers.
    sides = {"bare": 0, "before": 1, "after": 2}
    rows = sorted(table, key=lambda k: (ENDPOINTS.index(k[1]), k[0].workers, sides[k[0].side]))
    print()
    print(
        f"{'endpoint':<8} {'server':<9} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        f" {'rps/bare':>8} {'p50/bare':>8} {'p99/bare':>8} {'rps/1w':>6}"
        f" {'rps/before':>10} {'p99/before':>10}"
    )
    for config, name in rows:
        row = table[config, name]
        bare = table.get((Config("bare", config.workers), "bare"))
        one = table.get((Config(config.side, 1), name)) if config.workers > 1 else None
        before = (
            table.get((Config("before", config.workers), name)) if config.side == "after" else None
        )
        print(
            f"{name:<8} {config.label:<9} {row.rps:7.0f} {row.p50_ms:8.2f} {row.p99_ms:8.2f}"
            f" {row.errors:6d}"
            f" {_ratio(row, bare, 'rps', 8, 3)}"
            f" {_ratio(row, bare, 'p50_ms', 8, 1)}"
            f" {_ratio(row, bare, 'p99_ms', 8, 1)}"
            f" {_ratio(row, one, 'rps', 6, 2)}"
            f" {_ratio(row, before, 'rps', 10, 3)}"
            f" {_ratio(row, before, 'p99_ms', 10, 2)}"
        )
    print(
        "/bare: to the bare endpoint with as many workers; rps/1w: to the same server with 1 "
        "worker; /before: after to before with as many workers; -: not measured"
    )


def _ratio(row: Figures, reference: Figures | None, field: str, width: int, decimals: int) -> str:
    """`field` of `row` over that of `reference`, or a dash without one."""
    if reference is None or not getattr(reference, field):
        return f"{'-':>{width}}"
    return f"{getattr(row, field) / getattr(reference, field):{width}.{decimals}f}"


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
