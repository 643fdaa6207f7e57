"""The upload page in a real browser: a new creator's upload is cut off, resumed from the
server's offset after the page is opened again, and becomes a video that plays; with S3 as the
object store, the page sends the parts straight to their presigned URLs."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
from playwright.sync_api import Page, Response, expect

from api.main import create_app
from media.samples import make_clip
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import Catalog, UploadStatus
from storage.objects import S3ObjectStore
from tests.e2e.site import UPLOAD_CHUNK_BYTES, Site, run_media_lifecycle, wait_for_playback
from tests.fixtures.api_module import isolated_api_settings
from tests.fixtures.browser import Web, bound_socket, serving, socket_url
from tests.fixtures.mail import Inbox, link

# A slow uplink, so that the upload is still going when the page closes after the first chunk.
UPLOAD_BYTES_PER_S = 2 * UPLOAD_CHUNK_BYTES
TITLE = "Holiday in the test pattern"


@dataclass(frozen=True)
class S3Site:
    url: str
    settings: Settings
    catalog: Catalog
    store: S3ObjectStore

    def at(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def s3_site(
    dev_stack: Settings, migrated_template: str, api_keyspace: str, tmp_path: Path
) -> Iterator[S3Site]:
    """The API and pages on an object store in a fresh S3Proxy bucket, deleted afterwards."""
    sock = bound_socket()
    url = socket_url(sock)
    with isolated_api_settings(dev_stack, migrated_template, api_keyspace, tmp_path) as base:
        settings = base.model_copy(
            update={
                "object_store": "s3",
                "s3_bucket": f"reelflow-test-{secrets.token_hex(6)}",
                "api_base_url": url,
                "cdn_base_url": f"{url}/cdn",
            }
        )
        store = connect.s3_store(settings)
        store.ensure_bucket()
        try:
            with Catalog(settings.postgres_dsn, max_size=4) as catalog:
                with serving(create_app(settings), sock):
                    yield S3Site(url, settings, catalog, store)
        finally:
            store.delete_bucket()


def register_creator(page: Page, site: Site | S3Site, inbox: Inbox) -> None:
    """Create an account on the login page, ticking "I want to upload videos", open the link
    the mail brings, and sign in."""
    page.goto(site.at("/login.html?next=/upload.html"))
    page.get_by_role("button", name="Create an account").click()
    form = page.locator("#register")
    email = f"creator-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_label("I want to upload videos").check()
    form.get_by_role("button", name="Create account").click()
    expect(page.locator("#message")).to_contain_text(f"We sent a message to {email}")

    (message,) = inbox.wait_for(email)
    page.goto(link(message, "confirm.html"))
    expect(page.locator("#confirming")).to_have_text(f"Your account {email} is ready.")
    # The link's secret is off the address bar (and the history) at once.
    expect(page).to_have_url(site.at("/confirm.html"))

    page.goto(site.at("/login.html?next=/upload.html"))
    sign_in_form = page.locator("#sign-in")
    sign_in_form.get_by_label("Email").fill(email)
    sign_in_form.get_by_label("Password").fill(password)
    sign_in_form.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.at("/upload.html"))
    expect(page.locator("#account .who")).to_have_text(email)


def is_chunk(response: Response) -> bool:
    return "/api/v1/uploads/" in response.url and response.request.method == "PUT"


def test_interrupted_upload_resumes_and_the_video_plays(
    web: Web, page: Page, site: Site, inbox: Inbox, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "holiday.mp4", width=320, height=180, duration_s=6.0)
    size = clip.stat().st_size
    assert size > 4 * UPLOAD_CHUNK_BYTES
    register_creator(page, site, inbox)

    cdp = web.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": UPLOAD_BYTES_PER_S,
        },
    )
    form = page.locator("#upload")
    form.get_by_label("Title").fill(TITLE)
    form.get_by_label("Visibility").select_option("public")
    form.get_by_label("File").set_input_files(clip)
    with page.expect_response(is_chunk) as first_chunk:
        form.get_by_role("button", name="Upload").click()
    assert first_chunk.value.ok

    # Paused by the viewer, then resumed on the same page...
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#message")).to_contain_text("Paused")
    with page.expect_response(is_chunk) as next_chunk:
        page.get_by_role("button", name="Resume").click()
    assert next_chunk.value.ok
    # ...then cut off by closing the page mid-upload.
    video_id = UUID(page.evaluate("JSON.parse(localStorage.getItem('reelflow.upload')).videoId"))
    page.close()

    page = web.new_page()
    offsets: list[int] = []
    chunk_ranges: list[str] = []
    page.on(
        "response",
        lambda r: (
            offsets.append(int(r.headers["upload-offset"])) if r.request.method == "HEAD" else None
        ),
    )
    page.on(
        "request",
        lambda r: chunk_ranges.append(r.headers["content-range"]) if r.method == "PUT" else None,
    )
    page.goto(site.at("/upload.html"))
    resume = page.locator("#resume")
    expect(resume).to_contain_text("holiday.mp4")
    expect(page.locator("#resume-done")).to_contain_text(" of ")
    resume.get_by_label("File").set_input_files(clip)
    expect(page.locator("#watch-link")).to_be_visible()

    # The upload went on from the offset the API reported, not from the start.
    resumed_from = offsets[-1]
    assert 0 < resumed_from < size
    assert chunk_ranges[0].startswith(f"bytes {resumed_from}-")
    assert chunk_ranges[-1].endswith(f"-{size - 1}/{size}")
    assert page.evaluate("document.getElementById('progress').value") == size
    assert page.evaluate("localStorage.getItem('reelflow.upload')") is None
    upload = site.catalog.latest_upload(video_id)
    assert (upload.status, upload.received_bytes) == (UploadStatus.COMPLETED, size)

    run_media_lifecycle(site.settings, site.catalog, video_id)
    page.locator("#watch-link").click()
    expect(page.locator("#title")).to_have_text(TITLE)
    wait_for_playback(page, 2.0)


def test_upload_to_s3_sends_parts_to_their_presigned_urls(
    page: Page, s3_site: S3Site, inbox: Inbox, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=2.0)
    register_creator(page, s3_site, inbox)
    part_urls: list[str] = []
    page.on("request", lambda r: part_urls.append(r.url) if r.method == "PUT" else None)

    form = page.locator("#upload")
    form.get_by_label("Title").fill(TITLE)
    form.get_by_label("File").set_input_files(clip)
    form.get_by_role("button", name="Upload").click()
    expect(page.locator("#watch-link")).to_be_visible()

    endpoint = s3_site.settings.s3_endpoint_url
    assert endpoint is not None
    assert part_urls and all(url.startswith(endpoint) for url in part_urls)
    video_id = UUID(page.locator("#transfer").get_attribute("data-video-id") or "")
    upload = s3_site.catalog.latest_upload(video_id)
    assert upload.status == UploadStatus.COMPLETED
    assert s3_site.store.get_bytes(upload.object_key) == clip.read_bytes()
