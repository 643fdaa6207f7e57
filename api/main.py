"""The Reelflow API: viewers, creators and the player. Served by uvicorn (`reelflow api`)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache

from fastapi import FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from api.cache import SharedCache
from api.deps import HistoryProvider
from api.errors import install_error_handlers
from api.limits import RateLimiter
from api.logs import REQUEST_ID_HEADER
from api.mailer import Mailer
from api.media_runs import MediaRuns
from api.metrics import METRICS_PATH, metrics
from api.middleware import SECURITY_HEADERS, LimitsAndHeaders, RequestLog, content_security_policy
from api.public_reads import PublicReads
from api.recommendations import Recommendations
from api.replica import LaggingReads
from api.routes import (
    analytics,
    auth,
    captions,
    cdn,
    comments,
    drm,
    feed,
    health,
    playback,
    playlists,
    ratings,
    search,
    subscriptions,
    trending,
    uploads,
    users,
    videos,
    watch,
)
from api.sessions import SessionCache
from reelflow import connect
from reelflow.settings import PROJECT_ROOT, Settings, get_settings
from storage.catalog import Catalog

API_PREFIX = "/api/v1"
# The web pages (plain files, no build step) and the npm packages they load (`reelflow bootstrap`).
WEB_PAGES_DIR = PROJECT_ROOT / "web" / "public"
SHAKA_PLAYER_DIR = PROJECT_ROOT / "web" / "node_modules" / "shaka-player" / "dist"
UPLOT_DIR = PROJECT_ROOT / "web" / "node_modules" / "uplot" / "dist"


def drop_cached_on_change(catalog: Catalog, app: FastAPI) -> None:
    """Every change `catalog` commits to a user or a video drops what the app's workers share
    about it in Redis."""
    catalog.on_changed("user", app.state.sessions.forget)
    catalog.on_changed("video", app.state.public_reads.forget_video)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for `settings` (the environment's by default)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.catalog = connect.catalog(settings)
        app.state.lagging = LaggingReads(
            app.state.catalog,
            connect.replica_catalog(settings),
            retry_s=settings.postgres_replica_retry_s,
        )
        drop_cached_on_change(app.state.catalog, app)
        app.state.history = HistoryProvider(settings)
        app.state.history.start()
        app.state.recommendations.start()
        # A connection of its own: requests never wait behind the mail, nor it behind them.
        app.state.mailer = Mailer(settings, Catalog(settings.postgres_dsn, max_size=1))
        app.state.mailer.start()
        try:
            yield
        finally:
            app.state.mailer.stop()
            app.state.mailer.catalog.close()
            app.state.recommendations.stop()
            app.state.history.close()
            app.state.lagging.close()
            app.state.catalog.close()
            app.state.cache.close()

    app = FastAPI(
        title="Reelflow API",
        version="1.0.0",
        description="Video on demand: accounts, uploads, playback, DRM, history, feed, billing.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = connect.object_store(settings)
    app.state.recommendations = Recommendations(settings, app.state.store)
    app.state.media_runs = MediaRuns(settings.dagster_url)
    app.state.cache = SharedCache(settings)
    app.state.sessions = SessionCache(app.state.cache, settings)
    app.state.limiter = RateLimiter(app.state.cache, settings)
    app.state.public_reads = PublicReads(app.state.cache, settings)
    install_error_handlers(app)

    app.add_middleware(
        LimitsAndHeaders,
        limit=settings.max_request_bytes,
        upload_limit=settings.upload_chunk_max_bytes,
        upload_prefix=f"{API_PREFIX}/uploads/",
        headers=SECURITY_HEADERS
        | {
            "Content-Security-Policy": content_security_policy(
                settings.cdn_base_url, _upload_urls(settings)
            )
        },
    )

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["Content-Range", "Upload-Offset", REQUEST_ID_HEADER],
        )
    # Added last, so outermost: every answer is counted and logged, the refusals and preflight
    # answers of the layers within included.
    app.add_middleware(RequestLog)

    app.include_router(health.router)
    # For the scraper, in Prometheus's text format: not part of the API clients read about.
    app.add_api_route(METRICS_PATH, metrics, include_in_schema=False)
    # Before any router with /videos/{video_id}: that path would also match /videos/feed.
    app.include_router(feed.router, prefix=API_PREFIX)
    app.include_router(trending.router, prefix=API_PREFIX)
    app.include_router(watch.router, prefix=API_PREFIX)
    app.include_router(playback.router, prefix=API_PREFIX)
    app.include_router(search.router, prefix=API_PREFIX)
    app.include_router(comments.router, prefix=API_PREFIX)
    app.include_router(captions.router, prefix=API_PREFIX)
    app.include_router(ratings.router, prefix=API_PREFIX)
    app.include_router(playlists.router, prefix=API_PREFIX)
    app.include_router(playlists.me_router, prefix=API_PREFIX)
    app.include_router(subscriptions.router, prefix=API_PREFIX)
    app.include_router(auth.router, prefix=API_PREFIX)
    app.include_router(users.router, prefix=API_PREFIX)
    app.include_router(videos.router, prefix=API_PREFIX)
    app.include_router(videos.admin_router, prefix=API_PREFIX)
    app.include_router(uploads.router, prefix=API_PREFIX)
    app.include_router(drm.router, prefix=API_PREFIX)
    app.include_router(analytics.router, prefix=API_PREFIX)
    # The CDN origin lives outside the versioned API: its URLs are baked into manifests.
    app.include_router(cdn.router)
    app.add_api_route(
        "/vendor/shaka-player/controls.css", shaka_controls_css, include_in_schema=False
    )
    app.mount(
        "/vendor/shaka-player",
        StaticFiles(directory=SHAKA_PLAYER_DIR, check_dir=False),
        name="shaka-player",
    )
    app.mount("/vendor/uplot", StaticFiles(directory=UPLOT_DIR, check_dir=False), name="uplot")
    # The pages answer only paths no route claims: a catch-all mount would also take the
    # requests that the API answers with 405 and its `Allow` header.
    app.router.default = StaticFiles(directory=WEB_PAGES_DIR, html=True)
    return app


# Shaka's stylesheet declares Roboto from Google's servers: the pages load nothing from other
# origins (their content security policy forbids it), so the faces are left out.
_REMOTE_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*url\(\s*['\"]?https?:[^}]*\}")


@cache
def _shaka_controls_css() -> str:
    css = (SHAKA_PLAYER_DIR / "controls.css").read_text()
    return _REMOTE_FONT_FACE.sub("", css)


def shaka_controls_css() -> Response:
    """The player's stylesheet, without the fonts it would fetch from elsewhere."""
    return Response(_shaka_controls_css(), media_type="text/css")


def _upload_urls(settings: Settings) -> list[str]:
    """Where the upload page sends presigned parts: the S3 endpoint (AWS's when none is set);
    nowhere else with the local store, whose chunks go to the API."""
    if settings.object_store != "s3":
        return []
    if settings.s3_endpoint_url:
        return [settings.s3_endpoint_url]
    region = settings.s3_region
    return [
        f"https://{settings.s3_bucket}.s3.{region}.amazonaws.com",
        f"https://s3.{region}.amazonaws.com",
    ]
