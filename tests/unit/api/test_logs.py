"""Access log lines keep the route and leave out the secrets URLs carry."""

from __future__ import annotations

import logging

import pytest

from api.logs import RedactSecrets, redact_url


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        (
            "/api/v1/uploads/42?expires=1796660000&signature=ab12cd",
            "/api/v1/uploads/42?expires=1796660000&signature=[redacted]",
        ),
        (
            "/cdn/t/eyJ2IjoxfQ.c2ln/videos/7/v1/stream/master.m3u8",
            "/cdn/t/[redacted]/videos/7/v1/stream/master.m3u8",
        ),
        (
            "/b/k?partNumber=1&X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=ffee&uploadId=9",
            "/b/k?partNumber=1&X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&uploadId=9",
        ),
        ("/api/v1/videos/feed?limit=20", "/api/v1/videos/feed?limit=20"),
    ],
)
def test_secrets_in_request_targets_are_redacted(target: str, logged: str) -> None:
    assert redact_url(target) == logged


def test_the_filter_rewrites_uvicorns_access_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "PUT", "/api/v1/uploads/1?signature=s3cr3t", "1.1", 204),
        None,
    )
    assert RedactSecrets().filter(record) is True
    assert "s3cr3t" not in record.getMessage()
    assert record.getMessage().endswith('"PUT /api/v1/uploads/1?signature=[redacted] HTTP/1.1" 204')
