"""stripe-mock, Stripe's API simulator: the dev stack's payment provider.

Built from the Go module proxy with `go install` at a pinned version into the cache directory
(one directory per version, so changing the pin builds the new one). It is stateless: it
validates requests against Stripe's OpenAPI spec and answers with fixture objects.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from devstack.gotools import GoTool
from devstack.network import HOST, http_ok
from devstack.service import Service, ServiceError
from reelflow.settings import Settings

STRIPE_MOCK = GoTool("stripe-mock", "github.com/stripe/stripe-mock", "v0.203.0")
DEFAULT_PORT = 12111


def stripe_mock_path(settings: Settings) -> Path:
    """Where the pinned stripe-mock binary is (or will be) installed."""
    return STRIPE_MOCK.path(settings)


def ensure_stripe_mock(settings: Settings) -> Path:
    """The pinned stripe-mock binary, built on first use (about 40 s)."""
    return STRIPE_MOCK.ensure(settings)


class StripeMock(Service):
    """stripe-mock on the port of `settings.stripe_api_base`, plain HTTP on loopback only."""

    name = "stripe-mock"
    start_timeout_s = 30.0

    @property
    def port(self) -> int:
        if not self.settings.stripe_api_base:
            raise ServiceError("stripe-mock needs REELFLOW_STRIPE_API_BASE (unset: real Stripe)")
        return urlsplit(self.settings.stripe_api_base).port or DEFAULT_PORT

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def prepare(self) -> None:
        ensure_stripe_mock(self.settings)

    def command(self) -> list[str]:
        # `-http-port N` would bind every interface, and any HTTP flag but `-http-port` leaves
        # HTTPS on its default port 12112 on every interface too: both are pinned to loopback,
        # HTTPS on a port the system picks, since nothing uses it.
        return [
            str(stripe_mock_path(self.settings)),
            "-http-addr",
            f"{HOST}:{self.port}",
            "-https-addr",
            f"{HOST}:0",
        ]

    def is_ready(self) -> bool:
        api_key = self.settings.stripe_api_key.get_secret_value()
        return http_ok(
            f"{self.endpoint}/v1/customers",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout_s=2,
        )
