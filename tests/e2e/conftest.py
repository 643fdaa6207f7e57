"""The site the browser tests use, built once per session: a public and a premium clip (8 s,
320x180) go through every media asset and check, as the sensor's run would take them, and the
API serves them and its pages with uvicorn on a free port.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from api.main import create_app, drop_cached_on_change
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import Catalog, Visibility
from tests.e2e.site import (
    DESCRIPTION,
    PAGE_TIMEOUT_MS,
    PREMIUM_TITLE,
    PUBLIC_TITLE,
    UPLOAD_CHUNK_BYTES,
    Site,
    library_clip,
    new_viewer,
    run_media_lifecycle,
    wait_until_in_feed,
)
from tests.fixtures.api_module import isolated_api_settings
from tests.fixtures.browser import Web, bound_socket, serving, socket_url
from tests.fixtures.uploads import finished_upload


@pytest.fixture(scope="session")
def site(
    dev_stack: Settings,
    migrated_template: str,
    api_keyspace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("e2e")
    sock = bound_socket()
    url = socket_url(sock)
    with isolated_api_settings(dev_stack, migrated_template, api_keyspace, directory) as base:
        settings = base.model_copy(
            update={
                "api_base_url": url,
                "cdn_base_url": f"{url}/cdn",
                "x264_preset": "ultrafast",
                "upload_chunk_max_bytes": UPLOAD_CHUNK_BYTES,
                # New videos reach feeds within the shared lists' lifetime: short here, so
                # that the library published just before the site opens is listed at once.
                "cache_ttl_s": 2.0,
            }
        )
        store = connect.object_store(settings)
        source = library_clip(directory / "clip.mp4")
        with Catalog(settings.postgres_dsn, max_size=4) as catalog:
            library = {}
            for visibility, title in (
                (Visibility.PUBLIC, PUBLIC_TITLE),
                (Visibility.PREMIUM, PREMIUM_TITLE),
            ):
                video_id = finished_upload(catalog, store, source, visibility)
                catalog.update_video(
                    video_id,
                    title=title,
                    description=DESCRIPTION,
                    tags=["testcard", visibility.value],
                )
                run_media_lifecycle(settings, catalog, video_id)
                library[visibility] = video_id
            app = create_app(settings)
            # The tests' own changes reach the site's caches as another worker's would.
            drop_cached_on_change(catalog, app)
            with serving(app, sock):
                site = Site(
                    url=url,
                    settings=settings,
                    catalog=catalog,
                    public=library[Visibility.PUBLIC],
                    premium=library[Visibility.PREMIUM],
                    subscriber=new_viewer(catalog, subscribed=True),
                )
                wait_until_in_feed(site, set(library.values()))
                yield site


@pytest.fixture
def page(web: Web) -> Page:
    """The test's page, waiting at most PAGE_TIMEOUT_MS for anything."""
    web.page.set_default_timeout(PAGE_TIMEOUT_MS)
    return web.page
