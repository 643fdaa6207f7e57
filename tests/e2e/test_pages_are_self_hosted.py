"""The pages load nothing from other origins: Shaka Player is the npm package that bootstrap
installed from the lockfile, served by the API under /vendor/."""

from __future__ import annotations

import json
import re

import httpx
from playwright.sync_api import Page, expect

from devstack.web import WEB_DIR, installed_digest, lock_digest
from tests.e2e.site import Site, wait_for_playback
from tests.fixtures.browser import Web

PAGES = (
    "/",
    "/login.html",
    "/search.html",
    "/upload.html",
    "/confirm.html",
    "/reset.html",
    "/dashboard.html",
    "/playlists.html",
)
EXTERNAL_URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)


def test_every_request_of_every_page_stays_on_the_site(page: Page, site: Site) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for path in PAGES:
        page.goto(site.at(path))
        expect(page.locator("#account")).not_to_be_empty()
    page.goto(site.watch_url(site.public))
    wait_for_playback(page, 1.0)
    elsewhere = [url for url in requested if not url.startswith(site.url + "/")]
    assert elsewhere == []


def test_the_served_player_is_the_pinned_package(page: Page, site: Site) -> None:
    lock = json.loads((WEB_DIR / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/shaka-player"]["version"]
    assert installed_digest() == lock_digest(), "run `reelflow bootstrap`"
    page.goto(site.watch_url(site.public))
    assert page.evaluate("shaka.Player.version").startswith(f"v{pinned}")


def test_the_served_chart_library_is_the_pinned_package(site: Site) -> None:
    lock = json.loads((WEB_DIR / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/uplot"]["version"]
    served = httpx.get(site.at("/vendor/uplot/uPlot.esm.js"))
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/javascript")
    # The banner at the top of the file names the release it was built from.
    assert f"uPlot (v{pinned})" in served.text[:500]


def test_no_page_names_another_origin() -> None:
    sources = [
        path for path in (WEB_DIR / "public").rglob("*") if path.suffix in (".html", ".js", ".css")
    ]
    assert sources
    for path in sources:
        assert EXTERNAL_URL.findall(path.read_text()) == [], path


def test_pages_run_under_a_policy_that_blocks_injected_scripts(
    page: Page, site: Site, web: Web
) -> None:
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    for path in PAGES:
        response = page.goto(site.at(path))
        assert response is not None
        assert "script-src 'self'" in response.headers["content-security-policy"]
        expect(page.locator("#account")).not_to_be_empty()
    page.goto(site.watch_url(site.public))
    wait_for_playback(page, 1.0)
    # The pages' own scripts, styles and the player break no rule of it.
    assert violations == []
    # Markup that gets injected (through a field rendered unescaped, say) runs no script.
    web.expect_console_error("Executing inline event handler violates")
    page.evaluate(
        """document.body.insertAdjacentHTML(
            'beforeend', '<img src="data:," onerror="window.injected = true">')"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.injected === undefined")
    assert violations != []
