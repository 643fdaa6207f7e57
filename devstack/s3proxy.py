"""The S3 server of the dev stack (S3Proxy), for the object store in S3 mode."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from devstack.jars import bundle_jars
from devstack.network import HOST, port_open
from devstack.service import Service, java


class S3Proxy(Service):
    """S3Proxy with its filesystem backend: the S3-compatible server of the dev stack."""

    name = "s3proxy"

    @property
    def port(self) -> int:
        return urlsplit(self.settings.s3_endpoint_url or f"http://{HOST}:19000").port or 80

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def prepare(self) -> None:
        # A bucket of the filesystem backend is a folder under its base directory.
        (self.dir / "data" / self.settings.s3_bucket).mkdir(parents=True, exist_ok=True)
        (self.dir / "s3proxy.conf").write_text(
            "\n".join(
                [
                    f"s3proxy.endpoint={self.endpoint}",
                    "s3proxy.authorization=aws-v2-or-v4",
                    f"s3proxy.identity={self.settings.s3_access_key_id}",
                    "s3proxy.credential=" + self.settings.s3_secret_access_key.get_secret_value(),
                    "s3proxy.ignore-unknown-headers=true",
                    "s3proxy.cors-allow-all=true",
                    "jclouds.provider=filesystem",
                    f"jclouds.filesystem.basedir={self.dir / 'data'}",
                    "",
                ]
            )
        )

    def command(self) -> list[str]:
        jars = bundle_jars(self.settings.jar_dir, "s3proxy")
        return [
            java(),
            "-Xmx256m",
            "-cp",
            os.pathsep.join(map(str, jars)),
            "org.gaul.s3proxy.Main",
            "--properties",
            str(self.dir / "s3proxy.conf"),
        ]

    def is_ready(self) -> bool:
        return port_open(self.port)
