"""Who gets what, for every route of the app: one table, five callers.

The callers are nobody (anonymous), another user, the owner of the resource, an admin, and a
subscriber (another user with an active subscription). The world is one creator's public,
unlisted, private, premium and taken-down video (published, the protected ones with DRM keys),
comments by that creator and an open upload of theirs.

Routes that act on the caller (`/users/me`, `/subscriptions/me` ...) take no one else's id, so
"another user" reaches only their own data there; `test_one_user_never_reads_another_users_data`
checks that. A private video answers 404 to whoever may not see it (never 403), and so does
everything hanging off it. A route added to the app without a row here fails
`test_every_route_has_a_row`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import hash_password
from api.signing import UrlSigner
from api.uploading import upload_url
from media.drm import kid_b64url
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import (
    BillingInterval,
    Catalog,
    DrmScheme,
    NewStreamAsset,
    PlaylistVisibility,
    Role,
    StreamFormat,
    SubscriptionStatus,
    Upload,
    Visibility,
)
from storage.objects import ObjectStore, new_version
from tests.fixtures.api_module import bearer, isolated_api_settings, new_user

CALLERS = ("anonymous", "other", "owner", "admin", "subscriber")
PLAN = "premium-monthly"
KINDS = {
    "public": Visibility.PUBLIC,
    "unlisted": Visibility.UNLISTED,
    "private": Visibility.PRIVATE,
    "premium": Visibility.PREMIUM,
    "taken_down": Visibility.PUBLIC,
}
# The videos whose streams are encrypted: they have a ClearKey (cbcs) and an AES-128 key.
PROTECTED = ("private", "premium", "taken_down")
MANIFEST = "stream/master.m3u8"


@dataclass
class World:
    settings: Settings
    catalog: Catalog
    store: ObjectStore
    client: TestClient
    users: dict[str, UUID]
    headers: dict[str, dict[str, str]]
    upload: Upload
    login: dict[str, str]
    videos: dict[str, UUID] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    kids: dict[str, str] = field(default_factory=dict)

    def caller(self, who: str, *, fresh: bool) -> dict[str, str]:
        """The bearer header of `who`; with `fresh`, of a new account of the same kind (for
        requests that use their caller up: erasure, subscribing, cancelling)."""
        if who == "anonymous":
            return {}
        if not fresh:
            return self.headers[who]
        role = {"owner": Role.CREATOR, "admin": Role.ADMIN}.get(who, Role.VIEWER)
        user = new_user(self.catalog, role)
        if who == "subscriber":
            subscribe(self.catalog, user.id)
        return bearer(self.catalog, self.settings, user)

    def new_video(self, kind: str) -> UUID:
        """Another published video of the owner, like the world's `kind` one."""
        return publish(self, kind)

    def new_comment(self, kind: str) -> UUID:
        """A new comment of the owner on the world's `kind` video."""
        return self.catalog.add_comment(self.videos[kind], self.users["owner"], "mine").id

    def stream_path(self, kind: str, token: str | None = None) -> dict[str, str]:
        """The CDN path of the `kind` video's HLS master, under a fresh grant or `token`."""
        prefix = f"videos/{self.videos[kind]}/{self.versions[kind]}/"
        grant = UrlSigner.from_settings(self.settings).sign_prefix(prefix, 600)
        return {"token": token or grant.token, "key": prefix + MANIFEST}


def subscribe(catalog: Catalog, user_id: UUID) -> None:
    catalog.create_subscription(
        user_id, PLAN, f"sub_{secrets.token_hex(6)}", status=SubscriptionStatus.ACTIVE
    )


def publish(world: World, kind: str) -> UUID:
    """A published video of the owner; protected kinds get DRM keys, `taken_down` is taken
    down after publishing. Catalog rows only, but for the HLS master the CDN rows fetch."""
    catalog, owner = world.catalog, world.users["owner"]
    video = catalog.create_video(owner, f"The {kind} one", visibility=KINDS[kind])
    version = new_version()
    master = world.settings.drm_master_key.get_secret_value()
    kid = None
    if kind in PROTECTED:
        kid = uuid4()
        catalog.put_drm_key(video.id, kid, secrets.token_bytes(16), DrmScheme.CBCS, master)
        catalog.put_drm_key(video.id, uuid4(), secrets.token_bytes(16), DrmScheme.AES_128, master)
    base = f"{world.settings.cdn_base_url}/videos/{video.id}/{version}"
    asset = NewStreamAsset(
        width=320,
        height=180,
        bitrate=200_000,
        codec="avc1.64000d",
        format=StreamFormat.HLS,
        cdn_url=f"{base}/{MANIFEST}",
        drm_key_id=kid,
    )
    catalog.publish_video(video.id, version, [asset], f"{base}/thumbs/poster.jpg", 3.0)
    world.store.put_bytes(f"videos/{video.id}/{version}/{MANIFEST}", b"#EXTM3U\n")
    if kind == "taken_down":
        catalog.take_down_video(video.id, "matrix")
    world.versions.setdefault(kind, version)
    if kid is not None:
        world.kids.setdefault(kind, kid_b64url(kid.bytes))
    return video.id


@pytest.fixture(scope="module")
def world(
    dev_stack: Settings,
    migrated_template: str,
    api_keyspace: str,
    stripe_mock: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    directory: Path = tmp_path_factory.mktemp("matrix")
    with (
        isolated_api_settings(dev_stack, migrated_template, api_keyspace, directory) as settings,
        Catalog(settings.postgres_dsn, max_size=2) as catalog,
        TestClient(create_app(settings)) as client,
    ):
        catalog.upsert_plan(
            PLAN,
            name="Premium",
            price_cents=999,
            currency="usd",
            interval=BillingInterval.MONTH,
            stripe_price_id="price_premium_monthly",
        )
        roles = {"other": Role.VIEWER, "owner": Role.CREATOR, "admin": Role.ADMIN}
        users = {who: new_user(catalog, role) for who, role in roles.items()}
        users["subscriber"] = new_user(catalog)
        subscribe(catalog, users["subscriber"].id)
        password = secrets.token_urlsafe(12)
        signed_in = catalog.create_user(
            f"login-{secrets.token_hex(4)}@example.com", hash_password(password)
        )
        unfinished = catalog.create_video(users["owner"].id, "Uploading")
        upload = catalog.create_upload(
            unfinished.id,
            object_key=f"uploads/{unfinished.id}/source",
            size_bytes=1000,
            content_type="video/mp4",
        )
        world = World(
            settings=settings,
            catalog=catalog,
            store=connect.object_store(settings),
            client=client,
            users={who: user.id for who, user in users.items()},
            headers={who: bearer(catalog, settings, user) for who, user in users.items()},
            upload=upload,
            login={"email": signed_in.email, "password": password},
        )
        for kind in KINDS:
            world.videos[kind] = publish(world, kind)
            catalog.add_comment(world.videos[kind], users["owner"].id, "first")
        yield world


# What each row sends, given the world.
Target = Callable[[World], dict[str, Any]]


def video(kind: str) -> Target:
    return lambda w: {"video_id": w.videos[kind]}


def fresh_video(kind: str) -> Target:
    return lambda w: {"video_id": w.new_video(kind)}


def fresh_captioned(kind: str) -> Target:
    """A new video like the world's `kind` one, with English captions."""

    def make(w: World) -> dict[str, Any]:
        video_id = w.new_video(kind)
        w.catalog.put_caption(video_id, "en", "English", f"uploads/{video_id}/captions/en.vtt", 1)
        return {"video_id": video_id, "language": "en"}

    return make


def in_language(target: Target, language: str = "en") -> Target:
    return lambda w: {**target(w), "language": language}


def fresh_comment(kind: str) -> Target:
    return lambda w: {"comment_id": w.new_comment(kind)}


def owners_playlist(visibility: str, item: str | None = None) -> Target:
    """A new list of the owner's, holding the world's `item` video (also the target's)."""

    def make(w: World) -> dict[str, Any]:
        owner = w.users["owner"]
        playlist = w.catalog.create_playlist(
            owner, "Matrix", visibility=PlaylistVisibility(visibility)
        )
        if item is None:
            return {"playlist_id": playlist.id}
        w.catalog.add_playlist_item(playlist.id, w.videos[item])
        return {"playlist_id": playlist.id, "video_id": w.videos[item]}

    return make


def video_body(kind: str) -> Callable[[World], Any]:
    return lambda w: {"video_id": str(w.videos[kind])}


def kid_of(kind: str) -> Callable[[World], Any]:
    return lambda w: {"kids": [w.kids[kind]]}


def stream(kind: str, token: str | None = None) -> Target:
    return lambda w: w.stream_path(kind, token)


def signed_upload(w: World) -> dict[str, Any]:
    return {"upload_id": w.upload.id, "query": upload_url(w.settings, w.upload).split("?")[1]}


def unsigned_upload(w: World) -> dict[str, Any]:
    return {"upload_id": w.upload.id}


def upload_video(w: World) -> dict[str, Any]:
    return {"video_id": w.upload.video_id}


def nothing(w: World) -> dict[str, Any]:
    return {}


def in_range(target: Target) -> Target:
    """`target` asked about a fixed range of days (the analytics routes need one)."""
    return lambda w: {**target(w), "query": "from=2026-11-01&to=2026-11-07"}


def fixed(**params: Any) -> Target:
    return lambda w: params


# Within the world's 3-second videos: a report past the catalog's duration is clamped to it,
# which would make the video finished and leave it out of "continue watching".
WATCHED = {
    "position_s": 1.0,
    "duration_s": 3.0,
    "watched_delta_s": 1.0,
    "session_id": "6f1c1f0e-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
    "event_type": "progress",
}
PLAN_BODY = {
    "name": "Premium",
    "price_cents": 999,
    "currency": "usd",
    "interval": "month",
    "stripe_price_id": "price_premium_monthly",
}
SUBSCRIBE = {"plan_id": PLAN, "payment_method_id": "pm_card_visa"}
FORGED = "A" * 54
LINK = {"token": "an unknown link"}
RESET = {"token": "an unknown link", "new_password": "long-enough-1"}


def playback_events(kind: str) -> Callable[[World], Any]:
    """A session's start on the world's video of `kind` (`unknown`: a video that does not exist)."""

    def body(w: World) -> dict[str, Any]:
        video_id = UNKNOWN if kind == "unknown" else w.videos[kind]
        start = {"session_id": str(uuid4()), "video_id": str(video_id), "seq": 0, "t": 0}
        return {"events": [start | {"type": "session_start"}]}

    return body


def address(w: World) -> dict[str, Any]:
    return {"email": f"new-{secrets.token_hex(4)}@example.com"}


def register(w: World) -> dict[str, Any]:
    return {**address(w), "password": "long-enough-1"}


@dataclass(frozen=True)
class Row:
    method: str
    route: str
    about: str
    # Statuses for: anonymous, other, owner, admin, subscriber (CALLERS).
    expect: tuple[int, int, int, int, int]
    target: Target = nothing
    # A dict (or what a callable gives) is sent as JSON, bytes as they are.
    body: Callable[[World], Any] | dict[str, Any] | bytes | None = None
    fresh: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.route} ({self.about})"


VIDEO = "/api/v1/videos/{video_id:uuid}"
SIMILAR = "/api/v1/videos/{video_id}/similar"
COMPLETE = "/api/v1/videos/{video_id:uuid}/upload/complete"
TAKEDOWN = "/api/v1/admin/videos/{video_id:uuid}/takedown"
RESTORE = "/api/v1/admin/videos/{video_id:uuid}/restore"
UPLOAD = "/api/v1/uploads/{upload_id}"
WATCH = "/api/v1/videos/{video_id}/watch"
PLAYBACK_EVENTS = "/api/v1/playback/events"
COMMENTS = "/api/v1/videos/{video_id}/comments"
CAPTIONS = "/api/v1/videos/{video_id:uuid}/captions"
CAPTION = "/api/v1/videos/{video_id:uuid}/captions/{language}"
SUBTITLES = b"WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nHello\n"
COMMENT = "/api/v1/comments/{comment_id}"
RATING = "/api/v1/videos/{video_id}/rating"
PLAYLIST = "/api/v1/playlists/{playlist_id}"
PLAYLIST_ITEMS = "/api/v1/playlists/{playlist_id}/items"
PLAYLIST_ITEM = "/api/v1/playlists/{playlist_id}/items/{video_id}"
WATCH_LATER = "/api/v1/users/me/watch-later"
LICENSE = "/api/v1/drm/clearkey/license"
HLS_KEY = "/api/v1/drm/hls-key/{video_id}"
CDN = "/cdn/t/{token}/{key:path}"
ANALYTICS_VIDEO = "/api/v1/analytics/videos/{video_id:uuid}"
ANALYTICS_CHANNEL = "/api/v1/analytics/channels/{creator_id:uuid}"
UNKNOWN = uuid4()
RENAME = {"title": "Renamed"}
TOKEN = {"refresh_token": "never-issued"}

ALL = 200, 200, 200, 200, 200
SIGNED_IN = 401, 200, 200, 200, 200
ADMIN = 401, 403, 403, 200, 403
# A private video: its owner and admins get through, everyone else gets the 404 of a missing one.
PRIVATE = 404, 404, 200, 200, 404
# Taken down: only admins see it (and even they may not play it: 403 on the playback routes).
TAKEN_DOWN = 404, 404, 404, 200, 404
TAKEN_DOWN_202 = 404, 404, 404, 202, 404


def only(status: int) -> tuple[int, int, int, int, int]:
    return (status,) * 5


# fmt: off
MATRIX = [
    # Row(method, route, about, statuses for CALLERS, target, body)
    # Documentation and health: open to everyone.
    Row("GET", "/openapi.json", "schema", ALL),
    Row("GET", "/docs", "Swagger UI", ALL),
    Row("GET", "/docs/oauth2-redirect", "Swagger UI sign-in", ALL),
    Row("GET", "/redoc", "ReDoc", ALL),
    Row("GET", "/healthz", "liveness", ALL),
    Row("GET", "/readyz", "readiness", ALL),
    Row("GET", "/metrics", "Prometheus scrape", ALL),
    # Accounts: every route acts on the caller.
    Row("POST", "/api/v1/users/register", "new email", only(202), body=register),
    Row("POST", "/api/v1/users/register/confirm", "unknown link", only(400), body=LINK),
    Row("POST", "/api/v1/auth/password-reset", "any address", only(202), body=address),
    Row("POST", "/api/v1/auth/password-reset/confirm", "unknown link", only(400), body=RESET),
    Row("POST", "/api/v1/auth/login", "right password", ALL, body=lambda w: w.login),
    Row("POST", "/api/v1/auth/refresh", "unknown token", only(401), body=TOKEN),
    Row("POST", "/api/v1/auth/logout", "unknown token", (401, 204, 204, 204, 204), body=TOKEN),
    Row("GET", "/api/v1/users/me", "own profile", SIGNED_IN),
    Row("PATCH", "/api/v1/users/me", "own profile", SIGNED_IN, body={"display_name": "Me"}),
    Row("GET", "/api/v1/users/me/export", "own data", SIGNED_IN),
    Row("DELETE", "/api/v1/users/me", "own account", (401, 204, 204, 204, 204), fresh=True),
    Row("GET", "/api/v1/users/me/history", "own history", SIGNED_IN),
    # Videos: visibility decides who reads; the owner and admins change.
    Row("GET", VIDEO, "public", ALL, video("public")),
    Row("GET", VIDEO, "unlisted", ALL, video("unlisted")),
    Row("GET", VIDEO, "private", PRIVATE, video("private")),
    Row("GET", VIDEO, "premium", ALL, video("premium")),
    Row("GET", VIDEO, "taken down", TAKEN_DOWN, video("taken_down")),
    Row("GET", VIDEO, "unknown", only(404), fixed(video_id=UNKNOWN)),
    Row("GET", "/api/v1/videos/feed", "own feed", SIGNED_IN),
    Row("GET", SIMILAR, "public", ALL, video("public")),
    Row("GET", SIMILAR, "private", PRIVATE, video("private")),
    Row("GET", SIMILAR, "taken down", TAKEN_DOWN, video("taken_down")),
    Row("GET", SIMILAR, "unknown", only(404), fixed(video_id=UNKNOWN)),
    Row("GET", "/api/v1/videos/trending", "public ranking", ALL),
    Row("GET", "/vendor/shaka-player/controls.css", "player stylesheet", ALL),
    Row("GET", "/api/v1/search", "listed videos", ALL),
    Row("PATCH", VIDEO, "public", (401, 403, 200, 200, 403), video("public"), RENAME),
    Row("PATCH", VIDEO, "private", (401, 404, 200, 200, 404), video("private"), RENAME),
    Row("PATCH", VIDEO, "taken down", (401, 404, 404, 200, 404), video("taken_down"), RENAME),
    Row("DELETE", VIDEO, "public", (401, 403, 204, 204, 403), fresh_video("public")),
    Row("DELETE", VIDEO, "private", (401, 404, 204, 204, 404), fresh_video("private")),
    Row("POST", TAKEDOWN, "public", ADMIN, fresh_video("public"), {"reason": "matrix"}),
    Row("POST", TAKEDOWN, "unknown", (401, 403, 403, 404, 403), fixed(video_id=UNKNOWN),
        {"reason": "matrix"}),
    Row("POST", RESTORE, "taken down", ADMIN, fresh_video("taken_down")),
    # Uploads: creators and admins start one, only its owner completes it. The signed URL is
    # the grant for the chunks, whoever holds it; without it nobody gets in.
    Row("POST", "/api/v1/videos/upload/initiate", "new video", (401, 403, 201, 201, 403),
        body={"title": "New", "size_bytes": 1000, "content_type": "video/mp4"}),
    Row("POST", COMPLETE, "owner's open upload", (401, 404, 409, 403, 404), upload_video),
    Row("HEAD", UPLOAD, "signed URL", ALL, signed_upload),
    Row("HEAD", UPLOAD, "unsigned", only(403), unsigned_upload),
    Row("PUT", UPLOAD, "unsigned", only(403), unsigned_upload),
    Row("PUT", UPLOAD, "signed, no Content-Range", only(400), signed_upload),
    # Watching: whoever may play the video reports progress.
    Row("POST", WATCH, "public", SIGNED_IN, video("public"), WATCHED),
    Row("POST", WATCH, "unlisted", SIGNED_IN, video("unlisted"), WATCHED),
    Row("POST", WATCH, "private", (401, 404, 200, 200, 404), video("private"), WATCHED),
    Row("POST", WATCH, "premium", (401, 403, 200, 200, 200), video("premium"), WATCHED),
    Row("POST", WATCH, "taken down", (401, 404, 404, 403, 404), video("taken_down"), WATCHED),
    # Playback quality: anyone who sees the video reports, signed in or not (a beacon sent as
    # the page unloads carries no token); a hidden video is the same 404 as a missing one.
    Row("POST", PLAYBACK_EVENTS, "public", only(202), body=playback_events("public")),
    Row("POST", PLAYBACK_EVENTS, "premium", only(202), body=playback_events("premium")),
    Row("POST", PLAYBACK_EVENTS, "private", (404, 404, 202, 202, 404),
        body=playback_events("private")),
    Row("POST", PLAYBACK_EVENTS, "taken down", TAKEN_DOWN_202,
        body=playback_events("taken_down")),
    Row("POST", PLAYBACK_EVENTS, "unknown", only(404), body=playback_events("unknown")),
    # Comments: read and written where the video is visible; deleted by author or admin.
    Row("GET", COMMENTS, "public", ALL, video("public")),
    Row("GET", COMMENTS, "private", PRIVATE, video("private")),
    Row("GET", COMMENTS, "taken down", TAKEN_DOWN, video("taken_down")),
    Row("POST", COMMENTS, "public", (401, 201, 201, 201, 201), video("public"), {"text": "hi"}),
    Row("POST", COMMENTS, "private", (401, 404, 201, 201, 404), video("private"), {"text": "hi"}),
    Row("DELETE", COMMENT, "owner's, public", (401, 403, 204, 204, 403), fresh_comment("public")),
    Row("DELETE", COMMENT, "owner's, private", (401, 404, 204, 204, 404),
        fresh_comment("private")),
    Row("DELETE", COMMENT, "unknown", (401, 404, 404, 404, 404), fixed(comment_id=UNKNOWN)),
    # Captions: listed for whoever may play the video, changed by its owner and admins.
    Row("GET", CAPTIONS, "public", ALL, video("public")),
    Row("GET", CAPTIONS, "premium", (401, 403, 200, 200, 200), video("premium")),
    Row("GET", CAPTIONS, "private", PRIVATE, video("private")),
    Row("GET", CAPTIONS, "taken down", (404, 404, 404, 403, 404), video("taken_down")),
    Row("PUT", CAPTION, "public", (401, 403, 201, 201, 403), in_language(fresh_video("public")),
        SUBTITLES),
    Row("PUT", CAPTION, "private", (401, 404, 201, 201, 404), in_language(fresh_video("private")),
        SUBTITLES),
    Row("PUT", CAPTION, "taken down", (401, 404, 404, 201, 404),
        in_language(fresh_video("taken_down")), SUBTITLES),
    Row("DELETE", CAPTION, "public", (401, 403, 204, 204, 403), fresh_captioned("public")),
    Row("DELETE", CAPTION, "private", (401, 404, 204, 204, 404), fresh_captioned("private")),
    Row("DELETE", CAPTION, "none in that language", (401, 403, 404, 404, 403),
        in_language(video("public"), "de")),
    # Ratings: whoever may play the video rates it; reading and taking back need only sight.
    Row("GET", RATING, "public", SIGNED_IN, video("public")),
    Row("GET", RATING, "private", (401, 404, 200, 200, 404), video("private")),
    Row("PUT", RATING, "public", SIGNED_IN, video("public"), {"value": "like"}),
    Row("PUT", RATING, "premium", (401, 403, 200, 200, 200), video("premium"), {"value": "like"}),
    Row("PUT", RATING, "private", (401, 404, 200, 200, 404), video("private"), {"value": "like"}),
    Row("PUT", RATING, "taken down", (401, 404, 404, 403, 404), video("taken_down"),
        {"value": "like"}),
    Row("PUT", RATING, "unknown", (401, 404, 404, 404, 404), fixed(video_id=UNKNOWN),
        {"value": "like"}),
    Row("DELETE", RATING, "public", SIGNED_IN, video("public")),
    Row("DELETE", RATING, "private", (401, 404, 200, 200, 404), video("private")),
    # Playlists: only the owner changes one; a private one is 404 to everyone else, admins too.
    Row("GET", "/api/v1/users/me/playlists", "own lists", SIGNED_IN),
    Row("POST", "/api/v1/playlists", "new list", (401, 201, 201, 201, 201), body=RENAME),
    Row("GET", PLAYLIST, "owner's private", (404, 404, 200, 404, 404), owners_playlist("private")),
    Row("GET", PLAYLIST, "owner's public", ALL, owners_playlist("public")),
    Row("GET", PLAYLIST, "unknown", only(404), fixed(playlist_id=UNKNOWN)),
    Row("PATCH", PLAYLIST, "owner's private", (401, 404, 200, 404, 404),
        owners_playlist("private"), RENAME),
    Row("PATCH", PLAYLIST, "owner's public", (401, 403, 200, 403, 403),
        owners_playlist("public"), RENAME),
    Row("DELETE", PLAYLIST, "owner's private", (401, 404, 204, 404, 404),
        owners_playlist("private")),
    Row("DELETE", PLAYLIST, "owner's public", (401, 403, 204, 403, 403),
        owners_playlist("public")),
    Row("POST", PLAYLIST_ITEMS, "owner's public, public video", (401, 403, 201, 403, 403),
        owners_playlist("public"), video_body("public")),
    Row("POST", PLAYLIST_ITEMS, "owner's private, private video", (401, 404, 201, 404, 404),
        owners_playlist("private"), video_body("private")),
    Row("PATCH", PLAYLIST_ITEM, "owner's public", (401, 403, 200, 403, 403),
        owners_playlist("public", "public"), {"position": 0}),
    Row("PATCH", PLAYLIST_ITEM, "owner's private", (401, 404, 200, 404, 404),
        owners_playlist("private", "public"), {"position": 0}),
    Row("DELETE", PLAYLIST_ITEM, "owner's public", (401, 403, 204, 403, 403),
        owners_playlist("public", "public")),
    Row("DELETE", PLAYLIST_ITEM, "owner's private", (401, 404, 204, 404, 404),
        owners_playlist("private", "private")),
    Row("GET", WATCH_LATER, "own list", SIGNED_IN),
    Row("POST", WATCH_LATER, "public video", (401, 201, 201, 201, 201), body=video_body("public")),
    Row("POST", WATCH_LATER, "private video", (401, 404, 201, 201, 404),
        body=video_body("private")),
    # Billing: plans by admins, a subscription of one's own.
    Row("GET", "/api/v1/plans", "catalogue", ALL),
    Row("PUT", "/api/v1/plans/{plan_id}", "define", ADMIN, fixed(plan_id=PLAN), PLAN_BODY),
    Row("POST", "/api/v1/subscriptions", "subscribe", (401, 201, 201, 201, 409), body=SUBSCRIBE,
        fresh=True),
    Row("GET", "/api/v1/subscriptions/me", "own", (401, 404, 404, 404, 200)),
    Row("DELETE", "/api/v1/subscriptions/me", "cancel own", (401, 404, 404, 404, 200),
        fresh=True),
    Row("POST", "/api/v1/billing/webhook", "unsigned delivery", only(400), body={}),
    # Content keys: whoever may play the video; a hidden one is a 404 like an unknown key.
    Row("POST", LICENSE, "premium", (401, 403, 200, 200, 200), body=kid_of("premium")),
    Row("POST", LICENSE, "private", PRIVATE, body=kid_of("private")),
    Row("POST", LICENSE, "taken down", (404, 404, 404, 403, 404), body=kid_of("taken_down")),
    Row("GET", HLS_KEY, "premium", (401, 403, 200, 200, 200), video("premium")),
    Row("GET", HLS_KEY, "private", PRIVATE, video("private")),
    Row("GET", HLS_KEY, "taken down", (404, 404, 404, 403, 404), video("taken_down")),
    Row("GET", HLS_KEY, "public, not encrypted", only(404), video("public")),
    # The CDN: the signed URL is the grant; the bearer token plays no part.
    Row("GET", CDN, "signed", ALL, stream("public")),
    Row("HEAD", CDN, "signed", ALL, stream("public")),
    Row("GET", CDN, "forged token", only(403), stream("public", FORGED)),
    Row("GET", CDN, "taken down", only(404), stream("taken_down")),
    Row("OPTIONS", CDN, "CORS preflight", only(204), stream("public")),
    # Analytics: a video's or channel's figures for its creator and admins; overall for admins.
    Row("GET", ANALYTICS_VIDEO, "public", (401, 403, 200, 200, 403), in_range(video("public"))),
    Row("GET", ANALYTICS_VIDEO, "private", (401, 404, 200, 200, 404), in_range(video("private"))),
    Row("GET", ANALYTICS_VIDEO, "taken down", (401, 404, 404, 200, 404),
        in_range(video("taken_down"))),
    Row("GET", ANALYTICS_VIDEO, "unknown", (401, 404, 404, 404, 404),
        in_range(fixed(video_id=UNKNOWN))),
    Row("GET", "/api/v1/analytics/channels/me", "own channel", (401, 403, 200, 200, 403),
        in_range(nothing)),
    Row("GET", ANALYTICS_CHANNEL, "owner's", (401, 403, 200, 200, 403),
        in_range(lambda w: {"creator_id": w.users["owner"]})),
    Row("GET", ANALYTICS_CHANNEL, "unknown", (401, 403, 403, 404, 403),
        in_range(fixed(creator_id=UNKNOWN))),
    Row("GET", "/api/v1/analytics/overview", "every video", ADMIN, in_range(nothing)),
]
# fmt: on


def url_of(row: Row, params: dict[str, Any]) -> str:
    """The route with its path parameters filled in (and the query, if the target has one)."""
    params = dict(params)
    query = params.pop("query", None)
    path = row.route.replace(":uuid", "").replace(":path", "").format(**params)
    return f"{path}?{query}" if query else path


@pytest.mark.parametrize("row", MATRIX, ids=lambda row: row.id)
def test_authorization(world: World, row: Row) -> None:
    got = []
    for who in CALLERS:
        url = url_of(row, row.target(world))
        body = row.body(world) if callable(row.body) else row.body
        headers = world.caller(who, fresh=row.fresh)
        if isinstance(body, bytes):
            response = world.client.request(row.method, url, content=body, headers=headers)
        else:
            response = world.client.request(row.method, url, json=body, headers=headers)
        got.append(response.status_code)
        if response.status_code == 404 and row.target is not nothing and row.method != "HEAD":
            # Hidden and missing look the same: one code, nothing about the resource.
            assert response.json()["code"] == "not_found", (who, response.text)
    assert tuple(got) == row.expect, dict(zip(CALLERS, got, strict=True))


def routes_of(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app answers, documented or not."""
    routes = set()
    for route in iter_route_contexts(app.routes):
        methods = route.methods or set()
        # Starlette answers HEAD for every GET route; only a HEAD of its own is a route.
        routes |= {(m, str(route.path)) for m in methods if m != "HEAD" or "GET" not in methods}
    return routes


def test_every_route_has_a_row(world: World) -> None:
    routes = routes_of(world.client.app)
    in_matrix = {(row.method, row.route) for row in MATRIX}
    assert routes - in_matrix == set(), "routes without a row in MATRIX"
    assert in_matrix - routes == set(), "rows of routes the app no longer has"


def test_one_user_never_reads_another_users_data(world: World) -> None:
    # Accounts of this test only: the matrix leaves comments and history on the world's.
    someone = new_user(world.catalog, Role.CREATOR)
    mine = bearer(world.catalog, world.settings, someone)
    theirs = bearer(world.catalog, world.settings, new_user(world.catalog))
    own_video = world.catalog.create_video(
        someone.id, "Someone's own", visibility=Visibility.PRIVATE
    )
    public = world.videos["public"]
    assert world.client.post(
        f"/api/v1/videos/{public}/watch", json=WATCHED, headers=mine
    ).is_success
    posted = world.client.post(
        f"/api/v1/videos/{public}/comments", json={"text": "x"}, headers=mine
    )
    assert posted.status_code == 201

    def history(headers: dict[str, str]) -> list[str]:
        body = world.client.get("/api/v1/users/me/history", headers=headers).json()
        return [item["video"]["id"] for item in body["items"]]

    def export(headers: dict[str, str]) -> dict[str, Any]:
        return world.client.get("/api/v1/users/me/export", headers=headers).json()

    assert history(mine) == [str(public)]
    assert history(theirs) == []
    assert export(mine)["profile"]["id"] == str(someone.id)
    assert [c["id"] for c in export(mine)["comments"]] == [posted.json()["id"]]
    assert [v["id"] for v in export(mine)["videos"]] == [str(own_video.id)]
    assert export(mine)["history"] != []
    assert {k: export(theirs)[k] for k in ("comments", "videos", "history")} == {
        "comments": [],
        "videos": [],
        "history": [],
    }
    # Listings do not show someone's private video to anyone else either.
    found = world.client.get("/api/v1/search", params={"q": "own"}, headers=theirs).json()
    assert str(own_video.id) not in {v["id"] for v in found["items"]}
