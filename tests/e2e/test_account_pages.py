"""Signing in, renewing the session and signing out, as the pages do it."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.site import Site, Viewer, sign_in
from tests.fixtures.mail import Inbox, link

SESSION = "JSON.parse(localStorage.getItem('reelflow.session'))"


def test_lapsed_access_token_is_renewed_and_sign_out_revokes_the_session(
    page: Page, site: Site
) -> None:
    viewer = site.new_viewer()
    sign_in(page, site, viewer)
    expect(page.locator(f"#feed .card[data-video-id='{site.public}']")).to_be_visible()
    first = page.evaluate(SESSION)

    # The access token is about to lapse: the next page renews it with the refresh token.
    page.evaluate(
        f"localStorage.setItem('reelflow.session', JSON.stringify({{...{SESSION}, expiresAt: 0}}))"
    )
    with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/refresh")) as renewal:
        page.reload()
    assert renewal.value.status == 200
    expect(page.locator("#account .who")).to_have_text(viewer.email)
    renewed = page.evaluate(SESSION)
    assert renewed["refreshToken"] != first["refreshToken"]
    assert renewed["expiresAt"] > 0

    with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/logout")) as signed_out:
        page.get_by_role("button", name="Sign out").click()
    assert signed_out.value.status == 204
    page.wait_for_url(site.at("/login.html"))
    assert page.evaluate(SESSION) is None
    refused = httpx.post(
        site.at("/api/v1/auth/refresh"), json={"refresh_token": renewed["refreshToken"]}
    )
    assert refused.status_code == 401


def test_signing_in_never_leaves_the_site_whatever_next_says(page: Page, site: Site) -> None:
    viewer = site.new_viewer()
    # As they appear in the query: a backslash, a scheme-relative URL, another origin, and a tab
    # the URL parser drops ("/<tab>/evil.example" is "//evil.example").
    for target in ("/%5Cevil.example", "//evil.example", "https:%2F%2Fevil.example/", "/%09/evil"):
        page.goto(site.at(f"/login.html?next={target}"))
        form = page.locator("#sign-in")
        form.get_by_label("Email").fill(viewer.email)
        form.get_by_label("Password").fill(viewer.password)
        form.get_by_role("button", name="Sign in").click()
        page.wait_for_url(site.at("/"))
        expect(page.locator("#account .who")).to_have_text(viewer.email)
        page.evaluate("localStorage.clear()")
    # A page of this site, with its query, is still where signing in leads.
    sign_in(page, site, viewer, next_path=f"/watch.html?v={site.public}")


def test_a_forgotten_password_is_reset_from_the_mailed_link(
    page: Page, site: Site, inbox: Inbox
) -> None:
    viewer = site.new_viewer()
    page.goto(site.at("/login.html"))
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(viewer.email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.locator("#message")).to_contain_text("a message with the link is on its way")

    (message,) = inbox.wait_for(viewer.email)
    page.goto(link(message, "reset.html"))
    expect(page).to_have_url(site.at("/reset.html"))
    new_password = "a new password for the test"
    page.get_by_label("New password").fill(new_password)
    page.get_by_role("button", name="Set the password").click()
    expect(page.locator("#message")).to_contain_text("Your password is set.")

    sign_in(page, site, Viewer(viewer.id, viewer.email, new_password))
    old = httpx.post(
        site.at("/api/v1/auth/login"), json={"email": viewer.email, "password": viewer.password}
    )
    assert old.status_code == 401
