"""The site the browser tests use and what they do on it: sign in, wait for playback.

The API and its pages are served by uvicorn on a free port, on their own database and local
object store, with a library the real media pipeline published (see `conftest.site`).
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from uuid import UUID

import httpx
from dagster import instance_for_test
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from api.security import hash_password
from api.sessions import start_session
from media.samples import make_clip
from reelflow.settings import Settings
from storage.catalog import (
    BillingInterval,
    Catalog,
    EncodingStatus,
    SubscriptionStatus,
)
from tests.fixtures.media_pipeline import materialize_video

# Small upload chunks, so that the upload test's clip takes several and can stop between two.
UPLOAD_CHUNK_BYTES = 64 * 1024
PUBLIC_TITLE = "Colour bars at dawn"
PREMIUM_TITLE = "Members-only test pattern"
DESCRIPTION = "Eight seconds of moving test pattern and tones, made by ffmpeg."
LISTED_TIMEOUT_S = 30.0
# What the pages wait for at most (playback starts in well under a second here).
PAGE_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Viewer:
    id: UUID
    email: str
    password: str
    subscription_id: str | None = None


@dataclass(frozen=True)
class Site:
    url: str
    settings: Settings
    catalog: Catalog
    public: UUID
    premium: UUID
    subscriber: Viewer

    def at(self, path: str) -> str:
        return self.url + path

    def watch_url(self, video_id: UUID, **params: str) -> str:
        query = "".join(f"&{name}={value}" for name, value in params.items())
        return self.at(f"/watch.html?v={video_id}{query}")

    def new_viewer(self, *, subscribed: bool = False) -> Viewer:
        return new_viewer(self.catalog, subscribed=subscribed)

    def api(self, viewer: Viewer) -> httpx.Client:
        """A client of the served API signed in as `viewer`."""
        user = self.catalog.get_user(viewer.id)
        token = start_session(self.catalog, self.settings, user).access_token
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"})


def new_viewer(catalog: Catalog, *, subscribed: bool = False) -> Viewer:
    """A viewer with a real password (the login page signs in with it)."""
    email = f"viewer-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    user = catalog.create_user(email, hash_password(password))
    if not subscribed:
        return Viewer(user.id, email, password)
    catalog.upsert_plan(
        "monthly", name="Monthly", price_cents=999, currency="usd", interval=BillingInterval.MONTH
    )
    subscription_id = f"sub_{secrets.token_hex(6)}"
    catalog.create_subscription(
        user.id, "monthly", subscription_id, status=SubscriptionStatus.ACTIVE
    )
    return Viewer(user.id, email, password, subscription_id)


def run_media_lifecycle(settings: Settings, catalog: Catalog, video_id: UUID) -> None:
    """Materialize every media asset and check for the video's partition; it must be ready."""

    def run() -> bool:
        with instance_for_test() as instance:
            return materialize_video(settings, video_id, instance).success

    # In a thread of its own: Dagster runs an event loop of its own, which it cannot do in a
    # thread where Playwright's sync API keeps one marked as running.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(run).result()
    assert catalog.get_video(video_id).encoding_status == EncodingStatus.READY


def wait_until_in_feed(site: Site, video_ids: set[UUID]) -> None:
    """The feed lists new videos a moment after they are published (`feed.SETTLE`)."""
    deadline = time.monotonic() + LISTED_TIMEOUT_S
    with site.api(site.subscriber) as client:
        while True:
            response = client.get("/api/v1/videos/feed")
            response.raise_for_status()
            if video_ids <= {UUID(item["id"]) for item in response.json()["items"]}:
                return
            assert time.monotonic() < deadline, f"not in the feed: {response.json()}"
            time.sleep(0.2)


def sign_in(page: Page, site: Site, viewer: Viewer, next_path: str = "/") -> None:
    """Sign in through the login page, which then goes to `next_path`."""
    page.goto(site.at(f"/login.html?next={quote(next_path)}"))
    form = page.locator("#sign-in")
    form.get_by_label("Email").fill(viewer.email)
    form.get_by_label("Password").fill(viewer.password)
    form.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.at(next_path))
    expect(page.locator("#account .who")).to_have_text(viewer.email)


def wait_for_playback(page: Page, past_s: float) -> None:
    """The video plays past `past_s` seconds and has decoded frames."""
    try:
        page.wait_for_function(
            "past => { const v = document.querySelector('video');"
            " return v !== null && v.currentTime > past"
            " && v.getVideoPlaybackQuality().totalVideoFrames > 0; }",
            arg=past_s,
        )
    except PlaywrightTimeoutError:
        shown = page.evaluate(
            "() => ({message: document.getElementById('blocked')?.innerText,"
            " status: document.getElementById('status')?.innerText,"
            " currentTime: document.querySelector('video')?.currentTime})"
        )
        raise AssertionError(f"the video did not play past {past_s} s: {shown}") from None


@dataclass(frozen=True)
class PlayerState:
    manifest_type: str
    key_system: str
    thumbnail_uris: list[str]


def player_state(page: Page) -> PlayerState:
    """What Shaka Player (reached through its UI, `video.ui`) says about the loaded stream."""
    state = page.evaluate(
        """async () => {
            const player = document.querySelector('video').ui.getControls().getPlayer();
            const images = player.getImageTracks();
            const thumb = images.length ? await player.getThumbnails(images[0].id, 1) : null;
            return [player.getManifestType(), player.keySystem(), thumb ? thumb.uris : []];
        }"""
    )
    return PlayerState(*state)


def library_clip(path: Path) -> Path:
    """The library's clip: 8 s at 640x360 (two rungs), still quick to encode, and sharp enough
    for the screenshot of the player."""
    return make_clip(path, width=640, height=360, duration_s=8.0)
