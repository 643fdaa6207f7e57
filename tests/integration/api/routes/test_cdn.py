"""The CDN origin: signed HLS and DASH served with ranges and conditional requests, refused
tokens, and serving from S3."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urljoin

from fastapi.testclient import TestClient

from api.main import create_app
from api.signing import UrlSigner
from media import manifests
from reelflow import connect
from storage.catalog import Visibility
from storage.objects import new_version
from tests.fixtures.playback import Published, fetch, get_video, path_of


def test_signed_hls_and_dash_play_through_the_cdn(published: Published) -> None:
    p = published
    body = get_video(p, p.public, None).json()
    playback = body["playback"]
    assert playback["drm"] is None
    version = p.catalog.get_video(p.public).published_version
    assert f"/videos/{p.public}/{version}/stream/master.m3u8" in playback["hls_url"]
    assert playback["hls_url"].startswith(p.settings.cdn_base_url + "/t/")

    master = fetch(p, playback["hls_url"])
    assert master.status_code == 200
    assert master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert master.headers["Cache-Control"] == "public, max-age=60"
    assert master.headers["Access-Control-Allow-Origin"] == "*"
    variant_url = urljoin(
        playback["hls_url"], manifests.parse_master_playlist(master.text).variants[0]
    )
    variant = fetch(p, variant_url)
    assert variant.status_code == 200
    media = manifests.parse_media_playlist(variant.text)
    init_url = urljoin(variant_url, media.maps[0])
    segment_url = urljoin(variant_url, media.segments[0])

    segment = fetch(p, segment_url)
    assert segment.status_code == 200
    # Kept by shared caches, but no longer than the URL's grant lasts.
    public, max_age, immutable = segment.headers["Cache-Control"].split(", ")
    assert (public, immutable) == ("public", "immutable")
    assert 0 < int(max_age.removeprefix("max-age=")) <= p.settings.signed_url_ttl_s
    assert segment.headers["Accept-Ranges"] == "bytes"
    key = path_of(segment_url).split("/", 4)[4]
    stored = p.store.get_bytes(key)
    assert segment.content == stored
    assert fetch(p, init_url).content == p.store.get_bytes(path_of(init_url).split("/", 4)[4])

    dash = fetch(p, playback["dash_url"])
    assert dash.status_code == 200
    assert dash.headers["Content-Type"] == "application/dash+xml"
    representation = manifests.parse_mpd(dash.text)[0]
    assert representation.init is not None
    assert fetch(p, urljoin(playback["dash_url"], representation.init)).status_code == 200
    assert fetch(p, urljoin(playback["dash_url"], representation.media[0])).status_code == 200


def test_ranges_and_conditional_requests(published: Published) -> None:
    p = published
    playback = get_video(p, p.public, None).json()["playback"]
    variant_url = urljoin(
        playback["hls_url"],
        manifests.parse_master_playlist(fetch(p, playback["hls_url"]).text).variants[0],
    )
    media = manifests.parse_media_playlist(fetch(p, variant_url).text)
    segment_url = urljoin(variant_url, media.segments[0])
    data = fetch(p, segment_url).content
    size = len(data)
    assert size > 200

    part = fetch(p, segment_url, Range="bytes=10-99")
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 10-99/{size}"
    assert part.headers["Content-Length"] == "90"
    assert part.content == data[10:100]
    tail = fetch(p, segment_url, Range="bytes=-50")
    assert (tail.status_code, tail.content) == (206, data[-50:])
    open_ended = fetch(p, segment_url, Range=f"bytes={size - 7}-")
    assert (open_ended.status_code, open_ended.content) == (206, data[-7:])
    clamped = fetch(p, segment_url, Range=f"bytes=0-{size + 1000}")
    assert clamped.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"

    beyond = fetch(p, segment_url, Range=f"bytes={size}-")
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"
    assert fetch(p, segment_url, Range="bytes=0-1,5-9").content == data
    # Thousands of digits: past every end (416), or clipped to it, never a 500.
    huge = "9" * 5000
    assert fetch(p, segment_url, Range=f"bytes={huge}-").status_code == 416
    assert fetch(p, segment_url, Range=f"bytes=0-{huge}").content == data

    head = p.client.head(path_of(segment_url))
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(size)
    assert head.content == b""
    etag = head.headers["ETag"]
    assert fetch(p, segment_url, **{"If-None-Match": etag}).status_code == 304
    stale = fetch(p, segment_url, Range="bytes=0-9", **{"If-Range": '"other"'})
    assert (stale.status_code, stale.content) == (200, data)


def test_a_premium_videos_objects_are_kept_by_the_viewers_browser_only(
    published: Published,
) -> None:
    p = published
    premium = p.catalog.get_video(p.premium)
    prefix = f"videos/{p.premium}/{premium.published_version}/"
    master = prefix + "stream/master.m3u8"
    grant = UrlSigner.from_settings(p.settings).sign_prefix(prefix, 600)
    answer = p.client.get(f"/cdn/{grant.path(master)}")
    assert answer.status_code == 200
    policy, max_age = answer.headers["Cache-Control"].split(", ")
    assert policy == "private" and 0 <= int(max_age.removeprefix("max-age=")) <= 60


def test_tampered_expired_or_foreign_tokens_are_refused(published: Published) -> None:
    p = published
    playback = get_video(p, p.public, None).json()["playback"]
    hls = path_of(playback["hls_url"])
    _, _, _, token, rest = hls.split("/", 4)
    assert p.client.get(hls).status_code == 200

    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    tampered = p.client.get(f"/cdn/t/{flipped}/{rest}")
    assert (tampered.status_code, tampered.json()["code"]) == (403, "invalid_token")
    assert tampered.headers["Access-Control-Allow-Origin"] == "*"
    assert p.client.get(f"/cdn/t/{token[:-1]}/{rest}").status_code == 403

    signer = UrlSigner.from_settings(p.settings)
    prefix = "/".join(rest.split("/")[:3]) + "/"
    expired = signer.sign_prefix(prefix, 60, now=time.time() - 120)
    assert p.client.get(f"/cdn/{expired.path(rest)}").status_code == 403
    fresh = signer.sign_prefix(prefix, 60)
    assert p.client.get(f"/cdn/{fresh.path(rest)}").status_code == 200
    # Another secret signs nothing here.
    foreign = UrlSigner(b"another-secret").sign_prefix(prefix, 60)
    assert p.client.get(f"/cdn/{foreign.path(rest)}").status_code == 403

    # Outside the granted prefix: another video's stream, and the version's parent folder.
    premium = p.catalog.get_video(p.premium)
    other = f"videos/{p.premium}/{premium.published_version}/stream/master.m3u8"
    assert p.store.exists(other)
    assert p.client.get(f"/cdn/t/{token}/{other}").status_code == 403
    assert p.client.get(f"/cdn/t/{token}/videos/{p.public}/CURRENT").status_code == 403
    # Traversal out of the prefix never reaches the store.
    escape = f"/cdn/t/{token}/{prefix}%2e%2e/%2e%2e/{p.premium}/{premium.published_version}/x"
    assert p.client.get(escape).status_code == 404
    assert p.client.get(f"/cdn/t/{token}/{prefix}stream/missing.m4s").status_code == 404


def test_cdn_serves_from_s3_with_ranges(published: Published) -> None:
    p = published
    settings = p.settings.model_copy(
        update={"object_store": "s3", "s3_bucket": f"reelflow-test-{secrets.token_hex(6)}"}
    )
    store = connect.s3_store(settings)
    store.ensure_bucket()
    try:
        video = p.catalog.create_video(p.owner.id, "On S3", visibility=Visibility.PUBLIC)
        prefix = f"videos/{video.id}/{new_version()}/"
        data = secrets.token_bytes(200_000)
        store.put_bytes(prefix + "stream/r180/1.m4s", data)
        store.put_bytes(prefix + "stream/master.m3u8", b"#EXTM3U\n")
        grant = UrlSigner.from_settings(settings).sign_prefix(prefix, 60)
        with TestClient(create_app(settings)) as client:
            segment = f"/cdn/{grant.path(prefix + 'stream/r180/1.m4s')}"
            whole = client.get(segment)
            assert (whole.status_code, whole.content) == (200, data)
            policy, max_age, _ = whole.headers["Cache-Control"].split(", ")
            assert policy == "public" and 0 <= int(max_age.removeprefix("max-age=")) <= 60
            part = client.get(segment, headers={"Range": "bytes=1000-1999"})
            assert part.status_code == 206
            assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
            assert part.content == data[1000:2000]
            assert client.get(segment, headers={"Range": "bytes=-10"}).content == data[-10:]
            beyond = client.get(segment, headers={"Range": f"bytes={len(data)}-"})
            assert beyond.status_code == 416
            head = client.head(segment)
            assert head.headers["Content-Length"] == str(len(data))
            assert (
                client.get(segment, headers={"If-None-Match": head.headers["ETag"]}).status_code
                == 304
            )
            master = client.get(f"/cdn/{grant.path(prefix + 'stream/master.m3u8')}")
            assert master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
            assert client.get(f"/cdn/{grant.path(prefix + 'stream/none.m4s')}").status_code == 404
    finally:
        store.delete_bucket()
