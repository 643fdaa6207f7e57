"""API benchmark: requests/s and latency of three hot endpoints against a bare FastAPI endpoint.

    .venv/bin/python bench/api.py [--duration 10] [--connections 16] [--threads 2] [--runs 1]
                                  [--videos 200] [--users 200] [--keep]

Needs the dev stack (PostgreSQL, Cassandra) and wrk (`apt-get install -y wrk`). In a scratch
database and keyspace, it seeds published public videos (with comments) and viewers, starts
`reelflow api` (uvicorn) on a free loopback port with settings pointing at them, and a bare
FastAPI app (one route returning a constant JSON object) under the same uvicorn options on
another port. wrk then loads, one after another for `--duration` seconds each (after a short
warm-up), with each request naming another viewer and video:

- bare:  GET /bare on the bare app, the ceiling of the server and client on this machine;
- video: GET /api/v1/videos/{id}, signed in (token check, catalog reads, URL signing);
- watch: POST /api/v1/videos/{id}/watch (token check, catalog read, Cassandra read + writes);
- feed:  GET /api/v1/videos/feed (token check, candidate ranking, Cassandra history read).

It prints requests/s, p50 and p99 latency per endpoint, the errors wrk saw, and each endpoint's
ratio to the bare one. Everything it started (servers, database, keyspace) is stopped or
dropped at the end; `--keep` keeps the database and keyspace.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import httpx
from fastapi import FastAPI
from portpicker import pick_unused_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory comes first on the path and `bench/api.py` would be
# imported as the `api` package: look packages up from the project root instead.
sys.path[0] = str(PROJECT_ROOT)

from api.sessions import start_session  # noqa: E402
from bench.scratch import publish_rows_only, scratch_settings  # noqa: E402
from devstack.network import port_open  # noqa: E402
from devstack.processes import Server, ServerError  # noqa: E402
from reelflow.settings import Settings  # noqa: E402
from storage.catalog import Catalog, Role  # noqa: E402

WARMUP_S = 2
READY_TIMEOUT_S = 60
ENDPOINTS = ("bare", "video", "watch", "feed")
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


def serve_bare(port: int) -> None:
    """Serve `bare_app` with the uvicorn options `reelflow api` uses (access log included)."""
    import uvicorn

    uvicorn.run(
        bare_app(),
        host="127.0.0.1",
        port=port,
        proxy_headers=True,
        server_header=False,
    )


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
    tokens: list[str]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--runs", type=int, default=1, help="runs; the table shows medians")
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the database and keyspace")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit(INSTALL_WRK)

    print(f"machine: {os.cpu_count()} cores, load average at start: {_loadavg()}")
    print(
        f"wrk: {args.threads} threads, {args.connections} connections, "
        f"{args.duration} s per endpoint after {WARMUP_S} s warm-up, {args.runs} run(s)"
    )
    results: dict[str, list[Figures]] = {name: [] for name in ENDPOINTS}
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-api-")))
        settings = stack.enter_context(scratch_settings(Settings(), directory, keep=args.keep))
        started = time.perf_counter()
        world = seed(settings, videos=args.videos, users=args.users)
        print(
            f"seeded {len(world.videos)} published videos and {len(world.tokens)} viewers "
            f"in {time.perf_counter() - started:.1f} s"
        )
        api_port, bare_port = pick_unused_port(), pick_unused_port()
        stack.enter_context(server(reelflow_api_command(api_port), settings, api_port))
        stack.enter_context(server(bare_command(bare_port), settings, bare_port))
        scripts = {
            name: write_script(directory, name, world, api_port, bare_port) for name in ENDPOINTS
        }
        check_endpoints(world, api_port, bare_port)
        print(f"servers up: reelflow api on :{api_port}, bare FastAPI on :{bare_port}")
        for run in range(args.runs):
            # Rotate the order, so that no endpoint always runs first or after the heaviest.
            order = ENDPOINTS[run % len(ENDPOINTS) :] + ENDPOINTS[: run % len(ENDPOINTS)]
            for name in order:
                url, script = scripts[name]
                load(wrk, url, script, args, WARMUP_S)
                figures = load(wrk, url, script, args, args.duration)
                results[name].append(figures)
                print(
                    f"  run {run + 1} {name:<5} {figures.rps:9.0f} req/s  p50 "
                    f"{figures.p50_ms:7.2f} ms  p99 {figures.p99_ms:7.2f} ms  errors "
                    f"{figures.errors}  load {_loadavg()}"
                )
    print_table(results)
    print(f"load average at end: {_loadavg()}")


def seed(settings: Settings, *, videos: int, users: int) -> World:
    """Published public videos of a few creators (rows only), a few comments each, and
    signed-in viewers."""
    with Catalog(settings.postgres_dsn, max_size=2) as catalog:
        creators = [
            catalog.create_user(f"creator-{i}@bench.invalid", "x", role=Role.CREATOR)
            for i in range(max(1, videos // 20))
        ]
        viewers = [catalog.create_user(f"viewer-{i}@bench.invalid", "x") for i in range(users)]
        video_ids = []
        for i in range(videos):
            creator = creators[i % len(creators)]
            video = publish_rows_only(
                catalog, settings, creator.id, f"Bench video {i}", tags=["bench"]
            )
            for j in range(i % 5):
                catalog.add_comment(video.id, viewers[(i + j) % len(viewers)].id, "nice")
            video_ids.append(video.id)
        tokens = [start_session(catalog, settings, v).access_token for v in viewers]
    return World(settings, video_ids, tokens)


def reelflow_api_command(port: int) -> list[str]:
    reelflow = Path(sys.executable).with_name("reelflow")
    return [str(reelflow), "api", "--host", "127.0.0.1", "--port", str(port)]


def bare_command(port: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)]


def environment(settings: Settings, port: int) -> dict[str, str]:
    """The REELFLOW_* variables that make a server process use `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFLOW_")}
    env |= {
        "REELFLOW_POSTGRES_DSN": settings.postgres_dsn,
        "REELFLOW_CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
        "REELFLOW_OBJECT_STORE": "local",
        "REELFLOW_OBJECT_STORE_DIR": str(settings.objects_dir),
        "REELFLOW_STATE_DIR": str(settings.state_dir),
        "REELFLOW_API_BASE_URL": f"http://127.0.0.1:{port}",
        "REELFLOW_CDN_BASE_URL": f"http://127.0.0.1:{port}/cdn",
    }
    return env


@contextmanager
def server(command: list[str], settings: Settings, port: int) -> Iterator[None]:
    """Run `command` until the block ends; it must answer on `port` within READY_TIMEOUT_S."""
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-") as logs:
        process = Server.start(
            Path(command[0]).name,
            command,
            log=Path(logs) / "server.log",
            cwd=PROJECT_ROOT,
            env=environment(settings, port),
            endpoint=f"127.0.0.1:{port}",
        )
        with process:
            try:
                process.wait_ready(lambda: port_open(port), READY_TIMEOUT_S)
            except ServerError as exc:
                sys.exit(str(exc))
            yield


def requests_of(name: str, world: World) -> list[tuple[str, str, dict[str, str], str | None]]:
    """The requests one endpoint's load cycles through: (method, path, headers, body)."""
    if name == "bare":
        return [("GET", "/bare", {}, None)]
    pairs = [
        (world.videos[i % len(world.videos)], world.tokens[i % len(world.tokens)])
        for i in range(max(len(world.videos), len(world.tokens)))
    ]
    if name == "video":
        return [("GET", f"/api/v1/videos/{v}", _bearer(t), None) for v, t in pairs]
    if name == "feed":
        return [("GET", "/api/v1/videos/feed", _bearer(t), None) for t in world.tokens]
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


def write_script(
    directory: Path, name: str, world: World, api_port: int, bare_port: int
) -> tuple[str, Path]:
    """The URL and the wrk script of one endpoint."""
    entries = []
    for method, path, headers, body in requests_of(name, world):
        lua_headers = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in headers.items())
        lua_body = "nil" if body is None else _lua(body)
        entries.append(f"  {{{_lua(method)}, {_lua(path)}, {{{lua_headers}}}, {lua_body}}},")
    script = directory / f"{name}.lua"
    script.write_text("REQUESTS = {\n" + "\n".join(entries) + "\n}\n" + WRK_LUA)
    port = bare_port if name == "bare" else api_port
    return f"http://127.0.0.1:{port}", script


def _lua(text: str) -> str:
    # JSON string escapes are valid Lua string escapes for the ASCII text used here.
    return json.dumps(text)


def check_endpoints(world: World, api_port: int, bare_port: int) -> None:
    """One request per endpoint before the load: a wrong status would make the figures moot."""
    for name in ENDPOINTS:
        method, path, headers, body = requests_of(name, world)[0]
        port = bare_port if name == "bare" else api_port
        response = httpx.request(
            method, f"http://127.0.0.1:{port}{path}", headers=headers, content=body, timeout=30
        )
        if response.status_code != 200:
            sys.exit(f"{name}: {method} {path} answered {response.status_code}: {response.text}")


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


def print_table(results: dict[str, list[Figures]]) -> None:
    def median(name: str, field: str) -> float:
        return statistics.median(getattr(f, field) for f in results[name])

    bare_rps, bare_p50, bare_p99 = (median("bare", f) for f in ("rps", "p50_ms", "p99_ms"))
    print()
    print(
        f"{'endpoint':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f" {'rps/bare':>9} {'p50/bare':>9} {'p99/bare':>9}"
    )
    for name in ENDPOINTS:
        rps, p50, p99 = (median(name, f) for f in ("rps", "p50_ms", "p99_ms"))
        errors = sum(f.errors for f in results[name])
        print(
            f"{name:<8} {rps:9.0f} {p50:8.2f} {p99:8.2f} {errors:7d}"
            f" {rps / bare_rps:9.3f} {p50 / bare_p50:9.1f} {p99 / bare_p99:9.1f}"
        )


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
