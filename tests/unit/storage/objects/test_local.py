"""The local store's presigned URLs: signed with its secret, checked by `verify_local_signature`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from storage.objects import LocalObjectStore, verify_local_signature

SECRET = b"unit-test-secret"


def _signed(tmp_path: Path, key: str, method: str = "GET") -> dict[str, str]:
    store = LocalObjectStore(tmp_path, "http://cdn.test/cdn/", SECRET)
    url = store.presign(key, 300, method)
    parts = urlsplit(url)
    assert url.startswith("http://cdn.test/cdn/")
    return {name: values[0] for name, values in parse_qs(parts.query).items()}


def test_local_presigned_url_verifies(tmp_path: Path) -> None:
    query = _signed(tmp_path, "videos/1/a b.mp4")

    assert verify_local_signature(
        SECRET, "videos/1/a b.mp4", query["expires"], "GET", query["signature"]
    )
    assert verify_local_signature(
        SECRET, "videos/1/a b.mp4", int(query["expires"]), "get", query["signature"]
    )


def test_local_presigned_url_quotes_the_key_path(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path, "http://cdn.test/cdn", SECRET)

    url = store.presign("videos/1/a b?.mp4", 60)

    assert urlsplit(url).path == "/cdn/videos/1/a%20b%3F.mp4"


@pytest.mark.parametrize(
    "change",
    [
        {"secret": b"other-secret"},
        {"key": "videos/2/a b.mp4"},
        {"method": "PUT"},
        {"expires": "+1"},
        {"expires": "1_0"},
        {"expires": "soon"},
        {"signature": "0" * 64},
        {"signature": "not hex ✓"},
        {"key": "../etc/passwd"},
    ],
)
def test_local_signature_rejects_any_change(tmp_path: Path, change: dict[str, object]) -> None:
    query = _signed(tmp_path, "videos/1/a b.mp4")
    arguments: dict[str, object] = {
        "secret": SECRET,
        "key": "videos/1/a b.mp4",
        "expires": query["expires"],
        "method": "GET",
        "signature": query["signature"],
    }
    arguments.update(change)

    assert not verify_local_signature(**arguments)  # type: ignore[arg-type]


def test_local_signature_expires(tmp_path: Path) -> None:
    query = _signed(tmp_path, "k")
    expires = int(query["expires"])

    assert verify_local_signature(SECRET, "k", expires, "GET", query["signature"], now=expires)
    assert not verify_local_signature(
        SECRET, "k", expires, "GET", query["signature"], now=expires + 1
    )
