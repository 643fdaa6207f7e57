"""The dashboard in a real browser: a creator's seeded days drawn by uPlot, with their totals."""

from __future__ import annotations

import secrets
from datetime import date

from playwright.sync_api import Page, expect

from api.security import hash_password
from reelflow import connect
from storage.catalog import Role, Visibility
from tests.e2e.site import Site, Viewer, sign_in
from tests.fixtures.analytics import VideoDay, seed_videos
from tests.fixtures.browser import screenshot_path

# Days of their own: no other test of the session writes the datasets.
D1, D2, D3, D4 = (date(2026, 6, n) for n in (1, 2, 3, 4))
RANGE = "from=2026-06-01&to=2026-06-04"
CHARTS = (
    "chart-views",
    "chart-completion",
    "chart-ratings",
    "chart-ttff",
    "chart-rebuffering",
    "chart-bitrate",
)
# uPlot draws each chart's first series in the page's accent colour (#4f8cff).
FIRST_SERIES_RGB = (79, 140, 255)


def figures(views: int, likes: int, ttff_median_ms: float) -> VideoDay:
    return VideoDay(
        views=views,
        unique_viewers=views + 2,
        watched_s=views * 90.0,
        avg_completion=0.4 + views / 100,
        likes=likes,
        dislikes=1,
        likes_added=2,
        dislikes_added=1,
        playlist_adds=1,
        plays=views + 3,
        video_start_failures=1,
        exits_before_start=1,
        ttff_median_ms=ttff_median_ms,
        ttff_p95_ms=ttff_median_ms * 2.5,
        rebuffer_ratio=0.02,
        avg_bitrate_kbps=1400.0 + views,
        rendition_switches=2,
    )


def new_creator(site: Site) -> Viewer:
    email = f"creator-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    user = site.catalog.create_user(email, hash_password(password), role=Role.CREATOR)
    return Viewer(user.id, email, password)


def total(page: Page, figure: str) -> str:
    return page.locator(f"#totals tr[data-figure='{figure}'] td").inner_text()


def drawn_pixels(page: Page, chart: str) -> int:
    """Pixels of the chart's canvas in its first series' colour: the line uPlot drew."""
    return int(
        page.evaluate(
            """([id, [r, g, b]]) => {
                const canvas = document.querySelector(`#${id} canvas`);
                const pixels = canvas.getContext('2d')
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                let found = 0;
                for (let i = 0; i < pixels.length; i += 4) {
                    if (pixels[i] === r && pixels[i + 1] === g && pixels[i + 2] === b
                        && pixels[i + 3] > 0) found += 1;
                }
                return found;
            }""",
            [chart, list(FIRST_SERIES_RGB)],
        )
    )


def test_a_creator_sees_their_videos_days_drawn_and_totalled(page: Page, site: Site) -> None:
    creator = new_creator(site)
    video = site.catalog.create_video(creator.id, "Sunrise timelapse", visibility=Visibility.PUBLIC)
    second = site.catalog.create_video(creator.id, "Night sky", visibility=Visibility.PRIVATE)
    store = connect.object_store(site.settings)
    # The third day has not been aggregated: a gap, reported, not an error.
    seed_videos(
        store, D1, {str(video.id): figures(10, 3, 400.0), str(second.id): figures(1, 1, 900.0)}
    )
    seed_videos(store, D2, {str(video.id): figures(20, 5, 600.0)})
    seed_videos(store, D4, {str(video.id): figures(30, 8, 500.0)})

    sign_in(page, site, creator, f"/dashboard.html?scope={video.id}&{RANGE}")

    expect(page.locator(f"#figures[data-scope='{video.id}']")).to_be_visible()
    assert total(page, "views") == "60"
    assert total(page, "unique_viewers_summed") == "66"
    assert total(page, "watched_s") == "1:30:00"
    assert total(page, "likes") == "8 (2026-06-04)"
    assert total(page, "playlist_adds") == "3"
    assert total(page, "plays") == "69"
    # Plays-weighted: (13 × 400 + 23 × 600 + 33 × 500) / 69.
    assert total(page, "ttff_median_ms") == "514 ms"
    expect(page.locator("#missing")).to_contain_text("daily_video_engagement: 1 of 4 days")
    views = page.evaluate("document.getElementById('chart-views').uplot.data")
    assert views[1] == [10, 20, None, 30]
    assert views[3] == [0.25, 0.5, None, 0.75]
    ttff = page.evaluate("document.getElementById('chart-ttff').uplot.data")
    assert ttff[1:] == [[400, 600, None, 500], [1000, 1500, None, 1250]]
    for chart in CHARTS:
        assert drawn_pixels(page, chart) > 20, chart

    page.locator("#scope").select_option("channel")
    page.get_by_role("button", name="Show").click()

    expect(page.locator("#figures[data-scope='channel']")).to_be_visible()
    expect(page.locator("#totals tr[data-figure='views'] td")).to_have_text("61")
    assert total(page, "likes") == "8 (2026-06-04)"
    assert page.evaluate("document.getElementById('chart-ratings').uplot.data")[1] == [
        4,
        5,
        None,
        8,
    ]
    expect(page).to_have_url(site.at(f"/dashboard.html?scope=channel&{RANGE}"))
    page.screenshot(path=screenshot_path("dashboard.png"), full_page=True)


def test_the_dashboard_link_shows_for_creators_and_not_for_viewers(page: Page, site: Site) -> None:
    sign_in(page, site, site.subscriber)
    expect(page.locator("header.top nav a", has_text="Search")).to_be_visible()
    expect(page.locator("header.top nav a[href='/dashboard.html']")).to_have_count(0)
    page.goto(site.at(f"/dashboard.html?{RANGE}"))
    expect(page.locator("#message")).to_contain_text("for creator accounts")
    expect(page.locator("#controls")).to_be_hidden()

    page.locator("#sign-out").click()
    page.wait_for_url(site.at("/login.html"))
    sign_in(page, site, new_creator(site))
    page.locator("header.top nav a[href='/dashboard.html']").click()
    expect(page.locator("#figures[data-scope='channel']")).to_be_visible()
    assert total(page, "views") == "0"
