"""The end-of-run search for secrets in logs finds each kind of secret, and only secrets."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from reelflow.settings import Settings
from tests.fixtures.log_audit import findings, secret_values

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhYmMxMjM0NTY3OCJ9.c2lnbmF0dXJlLW9mLWEtdG9rZW4"


def test_secret_values_are_secret_settings_and_passwords_of_urls() -> None:
    settings = Settings(
        jwt_secret=SecretStr("a-jwt-secret-long-enough-to-sign-0123456789"),
        broker_url=SecretStr("amqp://reelflow:broker-password-of-a-test@127.0.0.1:5672//"),
    )
    values = secret_values(settings)
    assert values["jwt_secret"] == "a-jwt-secret-long-enough-to-sign-0123456789"
    assert values["broker_url"] == "broker-password-of-a-test"
    # The dev stack's public credentials and non-secret settings are not searched for.
    assert "reelflow" not in values.values()
    assert "api_port" not in values


def test_each_kind_of_secret_is_found_with_its_line(tmp_path: Path) -> None:
    # Not a log suffix: the end-of-run search would find these secrets.
    log = tmp_path / "api-log.txt"
    log.write_text(
        "\n".join(
            [
                "GET /api/v1/videos 200",
                f"authorization: Bearer {JWT}",
                "GET /uploads/x?expires=1&signature=0123456789abcdef 200",
                "GET /cdn/t/0123456789abcdef0123/videos/x/master.m3u8 200",
                "connected with broker-password-of-a-test",
                "GET /uploads/x?expires=1&signature=[redacted] 200",
                "GET /cdn/t/[redacted]/videos/x/master.m3u8 200",
            ]
        )
        + "\n"
    )
    found = list(findings(log, {"broker_url": "broker-password-of-a-test"}))
    assert found == [
        f"{log}:2: JWT, bearer token",
        f"{log}:3: URL signature",
        f"{log}:4: CDN token",
        f"{log}:5: setting broker_url",
    ]
