"""The watch page in a real browser: Shaka Player on the published streams, DRM, progress."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from storage.catalog import SubscriptionStatus
from tests.e2e.site import (
    PREMIUM_TITLE,
    PUBLIC_TITLE,
    Site,
    player_state,
    sign_in,
    wait_for_playback,
)
from tests.fixtures.browser import Web, screenshot_path

LICENSE_PATH = "/api/v1/drm/clearkey/license"
HLS_KEY_PATH = "/api/v1/drm/hls-key/"


def wait_for_thumbnails(page: Page) -> None:
    page.wait_for_function(
        "() => document.querySelector('video').ui.getControls().getPlayer()"
        ".getImageTracks().length > 0"
    )


def save_screenshot(page: Page) -> None:
    """The player mid-playback, its controls showing and the scrub thumbnail of a later moment."""
    seek_bar = page.locator("input.shaka-seek-bar")
    seek_bar.hover()
    box = seek_bar.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2)
    expect(page.locator(".shaka-player-ui-thumbnail-image")).to_be_visible()
    # Controls and thumbnail fade in; the picture is taken once they are fully there.
    page.wait_for_function(
        """() => [
            '.shaka-controls-button-panel',
            '.shaka-seek-bar-container',
            '.shaka-player-ui-thumbnail-container',
        ].every((s) => getComputedStyle(document.querySelector(s)).opacity === '1')
        && document.querySelector('.shaka-player-ui-thumbnail-image').complete"""
    )
    page.screenshot(path=screenshot_path("player.png"))


def test_subscriber_plays_the_premium_video_from_the_feed(page: Page, site: Site) -> None:
    licence_requests = []
    page.on(
        "request",
        lambda request: licence_requests.append(request) if LICENSE_PATH in request.url else None,
    )
    sign_in(page, site, site.subscriber)
    page.locator(f"#feed .card[data-video-id='{site.premium}']").click()
    expect(page).to_have_url(site.watch_url(site.premium))
    expect(page.locator("#title")).to_have_text(PREMIUM_TITLE)

    wait_for_playback(page, 3.0)
    expect(page.locator("#player")).to_have_attribute("data-format", "dash")
    expect(page.locator("#status")).to_contain_text("protected")
    state = player_state(page)
    assert (state.manifest_type, state.key_system) == ("DASH", "org.w3.clearkey")
    # The licence came from our endpoint, asked with the viewer's bearer token.
    assert licence_requests
    assert all(r.headers["authorization"].startswith("Bearer ") for r in licence_requests)
    wait_for_thumbnails(page)
    assert any("sprite" in uri for uri in player_state(page).thumbnail_uris)
    save_screenshot(page)


def test_subscriber_plays_the_premium_video_over_hls(page: Page, site: Site) -> None:
    key_requests = []
    page.on(
        "request",
        lambda request: key_requests.append(request) if HLS_KEY_PATH in request.url else None,
    )
    sign_in(page, site, site.subscriber, f"/watch.html?v={site.premium}&format=hls")
    wait_for_playback(page, 3.0)
    # HLS gets the AES-128 variant, whose key the API hands out for the bearer token.
    state = player_state(page)
    assert state.manifest_type == "HLS"
    assert key_requests
    assert all(r.headers["authorization"].startswith("Bearer ") for r in key_requests)


def test_free_viewer_is_told_a_subscription_is_needed(page: Page, site: Site) -> None:
    licence_requests = []
    page.on(
        "request",
        lambda request: licence_requests.append(request) if LICENSE_PATH in request.url else None,
    )
    sign_in(page, site, site.new_viewer(), f"/watch.html?v={site.premium}")
    expect(page.locator("#blocked-title")).to_have_text("Subscription required")
    expect(page.locator("#blocked-reason")).to_contain_text("needs an active subscription")
    assert page.evaluate("document.querySelector('video').currentTime") == 0
    assert licence_requests == []


def test_licence_refused_once_the_subscription_lapsed(web: Web, page: Page, site: Site) -> None:
    viewer = site.new_viewer(subscribed=True)
    sign_in(page, site, viewer, f"/watch.html?v={site.premium}&autoplay=0")
    start = page.get_by_role("button", name="Play")
    expect(start).to_be_visible()

    # The page still holds signed manifest URLs, but the subscription ends before playing.
    assert viewer.subscription_id is not None
    site.catalog.update_subscription_status(viewer.subscription_id, SubscriptionStatus.CANCELED)
    web.expect_failed_request(LICENSE_PATH)
    with page.expect_response(lambda r: LICENSE_PATH in r.url) as refused:
        start.click()
    assert refused.value.status == 403
    assert refused.value.json()["code"] == "not_entitled"
    expect(page.locator("#blocked-title")).to_have_text("Subscription required")
    expect(page.locator("#blocked-reason")).to_have_text(
        "Playing this video needs an active subscription"
    )
    assert page.evaluate("document.querySelector('video').currentTime") == 0


@pytest.mark.parametrize(("format_", "manifest_type"), [("dash", "DASH"), ("hls", "HLS")])
def test_public_video_plays_without_an_account(
    page: Page, site: Site, format_: str, manifest_type: str
) -> None:
    page.goto(site.watch_url(site.public, format=format_))
    expect(page.locator("#title")).to_have_text(PUBLIC_TITLE)
    wait_for_playback(page, 3.0)
    expect(page.locator("#player")).to_have_attribute("data-format", format_)
    state = player_state(page)
    assert (state.manifest_type, state.key_system) == (manifest_type, "")


def test_progress_is_saved_and_playback_resumes_there(page: Page, site: Site) -> None:
    viewer = site.new_viewer()
    sign_in(page, site, viewer, "/search.html")
    page.get_by_role("searchbox").fill("colour bars")
    page.get_by_role("button", name="Search").click()
    page.locator(f"#results .card[data-video-id='{site.public}']").click()
    expect(page).to_have_url(site.watch_url(site.public))

    wait_for_playback(page, 3.0)
    with page.expect_response(
        lambda r: r.url.endswith(f"/videos/{site.public}/watch") and r.request.method == "POST"
    ) as paused:
        page.evaluate("document.querySelector('video').pause()")
    report = paused.value.request.post_data_json
    assert report is not None
    assert report["event_type"] == "pause"
    assert paused.value.ok
    position = report["position_s"]
    assert position > 3.0

    with site.api(viewer) as api:
        history = api.get("/api/v1/users/me/history")
    assert history.status_code == 200, history.text
    (item,) = [i for i in history.json()["items"] if i["video"]["id"] == str(site.public)]
    assert item["position_s"] == pytest.approx(position)

    # Where playback starts after a reload, caught before the page's scripts run.
    page.add_init_script(
        "document.addEventListener('playing', (e) => {"
        " window.firstPlayingAt ??= e.target.currentTime; }, true);"
    )
    page.reload()
    page.wait_for_function("() => window.firstPlayingAt !== undefined")
    assert page.evaluate("window.firstPlayingAt") == pytest.approx(position, abs=0.5)
    expect(page.locator("#status")).to_contain_text(re.compile(r"resumed at 0:0\d"))
