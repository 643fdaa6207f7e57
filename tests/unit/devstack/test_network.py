"""Loopback checks: a port answers or could be listened on; a URL answers 200."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from portpicker import pick_unused_port

from devstack.network import HOST, http_ok, port_bindable, port_open

TOKEN = "Bearer sesame"


def test_a_listening_port_is_open_and_cannot_be_bound_until_closed() -> None:
    with socket.create_server((HOST, 0)) as server:
        port = server.getsockname()[1]
        assert port_open(port)
        assert not port_bindable(port)
    assert not port_open(port)
    assert port_bindable(port)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        allowed = self.path == "/ok" and self.headers.get("Authorization") == TOKEN
        self.send_response(200 if allowed else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer((HOST, 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_ok_only_for_a_200_answer(http_server: str) -> None:
    assert http_ok(f"{http_server}/ok", headers={"Authorization": TOKEN})
    assert not http_ok(f"{http_server}/ok")
    assert not http_ok(f"{http_server}/elsewhere", headers={"Authorization": TOKEN})
    assert not http_ok(f"http://{HOST}:{pick_unused_port()}/ok")
