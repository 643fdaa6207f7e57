"""Ratings and playlists as a viewer uses them: the watch page's controls and playlists.html."""

from __future__ import annotations

import re
from uuid import UUID

from playwright.sync_api import Page, expect

from tests.e2e.site import Site, sign_in


def save_to(page: Page, site: Site, video_id: UUID, target: str) -> None:
    page.goto(site.watch_url(video_id, autoplay="0"))
    page.get_by_label("Save to").select_option(label=target)
    page.locator("#save").click()
    expect(page.locator("#message")).to_have_text(f"Saved to {target}.")


def listed(page: Page) -> list[str]:
    expect(page.locator("#items .card").first).to_be_visible()
    return [
        str(i)
        for i in page.locator("#items li").evaluate_all(
            "items => items.map(item => item.dataset.videoId)"
        )
    ]


def test_like_save_and_share_a_public_playlist(page: Page, site: Site) -> None:
    viewer = site.new_viewer()
    sign_in(page, site, viewer, next_path=f"/watch.html?v={site.public}&autoplay=0")
    like, likes = page.locator("#like"), page.locator("#likes")
    expect(likes).to_have_text(re.compile(r"^\d+$"))
    before = int(likes.inner_text())

    like.click()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(likes).to_have_text(str(before + 1))
    # The count and the viewer's own state come back from the API, not from the page.
    page.reload()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(likes).to_have_text(str(before + 1))

    page.locator("#save").click()
    expect(page.locator("#message")).to_have_text("Saved to Watch later.")
    page.get_by_role("link", name="Playlists").click()
    expect(page.locator("#list-title")).to_have_text("Watch later")
    assert listed(page) == [str(site.public)]

    page.get_by_label("New playlist").fill("Road trip")
    page.get_by_label("Public").check()
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#list-title")).to_have_text("Road trip")
    playlist_url = page.url
    save_to(page, site, site.public, "Road trip")
    save_to(page, site, site.premium, "Road trip")
    page.goto(playlist_url)
    assert listed(page) == [str(site.public), str(site.premium)]
    page.locator(f"#items li[data-video-id='{site.public}'] button.down").click()
    expect(page.locator("#items li").first).to_have_attribute("data-video-id", str(site.premium))

    page.evaluate("localStorage.clear()")
    page.goto(playlist_url)
    expect(page.locator("#list-title")).to_have_text("Road trip")
    assert listed(page) == [str(site.premium), str(site.public)]
    expect(page.locator("#items button")).to_have_count(0)
    expect(page.locator("#mine")).to_be_hidden()
