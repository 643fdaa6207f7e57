"""Captions on the watch page: a video published with caption tracks uploaded through the API
lists them in the captions menu, shows the chosen one's cue at its time, and remembers the
choice."""

from __future__ import annotations

from uuid import UUID

import pytest
from playwright.sync_api import Page, expect

from media.samples import make_clip
from reelflow import connect
from storage.catalog import Visibility
from tests.e2e.site import Site, Viewer, run_media_lifecycle, wait_for_playback
from tests.fixtures.uploads import finished_upload

CUE = "Hello from the captions"
ENGLISH = f"WEBVTT\n\n00:00:01.000 --> 00:00:05.000\n{CUE}\n".encode()
FRENCH = b"1\n00:00:01,000 --> 00:00:05,000\nBonjour\n"
TEXT = ".shaka-text-container"


@pytest.fixture(scope="module")
def captioned(site: Site, tmp_path_factory: pytest.TempPathFactory) -> UUID:
    """A public clip whose creator uploaded English and French captions before it was
    processed; the real pipeline published it."""
    source = make_clip(
        tmp_path_factory.mktemp("captioned") / "clip.mp4", width=320, height=180, duration_s=6.0
    )
    store = connect.object_store(site.settings)
    video_id = finished_upload(site.catalog, store, source, Visibility.PUBLIC)
    owner = site.catalog.get_video(video_id).uploaded_by_user_id
    with site.api(Viewer(owner, "", "")) as client:
        for language, label, data in (("en", "English", ENGLISH), ("fr", "Français", FRENCH)):
            response = client.put(
                f"/api/v1/videos/{video_id}/captions/{language}",
                params={"label": label},
                content=data,
            )
            assert response.status_code == 201, response.text
    run_media_lifecycle(site.settings, site.catalog, video_id)
    return video_id


def active_tracks(page: Page) -> list[str]:
    """The languages of the text tracks Shaka has selected."""
    return page.evaluate(
        "() => document.querySelector('video').ui.getControls().getPlayer()"
        ".getTextTracks().filter((t) => t.active).map((t) => t.language)"
    )


def at(page: Page, seconds: float) -> None:
    """Hold the video still at `seconds`."""
    page.evaluate(
        "s => { const v = document.querySelector('video'); v.pause(); v.currentTime = s; }",
        seconds,
    )


@pytest.mark.parametrize("format", ["dash", "hls"])
def test_the_chosen_track_shows_its_cue_at_its_time(
    page: Page, site: Site, captioned: UUID, format: str
) -> None:
    page.goto(site.watch_url(captioned, format=format))
    wait_for_playback(page, 0.2)
    menu = page.locator("#captions select")
    expect(menu.locator("option")).to_have_text(["Off", "English", "Français"])
    # Nothing is shown until a track is chosen.
    expect(menu).to_have_value("off")
    assert active_tracks(page) == []

    menu.select_option(label="English")
    expect(page.locator("#captions")).to_have_attribute("data-selected", "en")
    at(page, 2.5)
    page.wait_for_function(
        f"cue => document.querySelector('{TEXT}')?.textContent.includes(cue)", arg=CUE
    )
    # Out of the cue's time, it is gone.
    at(page, 5.5)
    page.wait_for_function(
        f"cue => !document.querySelector('{TEXT}')?.textContent.includes(cue)", arg=CUE
    )


def test_the_choice_is_remembered_and_off_hides_the_captions(
    page: Page, site: Site, captioned: UUID
) -> None:
    page.goto(site.watch_url(captioned))
    wait_for_playback(page, 0.2)
    page.locator("#captions select").select_option(label="Français")

    page.reload()
    wait_for_playback(page, 0.2)
    menu = page.locator("#captions select")
    assert menu.evaluate("select => select.selectedOptions[0].textContent") == "Français"
    assert active_tracks(page) == ["fr"]
    expect(page.locator("#captions")).to_have_attribute("data-selected", "fr")
    at(page, 2.0)
    page.wait_for_function(
        f"() => document.querySelector('{TEXT}')?.textContent.includes('Bonjour')"
    )

    menu.select_option("off")
    expect(page.locator("#captions")).to_have_attribute("data-selected", "off")
    page.wait_for_function(
        f"() => !document.querySelector('{TEXT}')?.textContent.includes('Bonjour')"
    )
    page.reload()
    wait_for_playback(page, 0.2)
    expect(page.locator("#captions select")).to_have_value("off")


def test_a_video_without_captions_has_no_menu(page: Page, site: Site) -> None:
    page.goto(site.watch_url(site.public))
    wait_for_playback(page, 0.2)
    expect(page.locator("#captions")).to_be_hidden()
