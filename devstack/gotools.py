"""Tools the dev stack builds from the Go module proxy with `go install` at a pinned version,
into the cache directory: one directory per tool and version, so changing a pin builds the new
one and keeps nothing stale."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.service import ServiceError
from reelflow.settings import Settings


@dataclass(frozen=True)
class GoTool:
    """A command built from `module` at `version`."""

    name: str
    module: str
    version: str

    def path(self, settings: Settings) -> Path:
        """Where the binary is (or will be) installed."""
        return settings.cache_dir / "bin" / f"{self.name}-{self.version}" / self.name

    def ensure(self, settings: Settings) -> Path:
        """The binary, built on first use (under a minute with a warm module cache)."""
        binary = self.path(settings)
        if binary.is_file():
            return binary
        go = shutil.which("go")
        if go is None:
            raise ServiceError(f"{self.name} is built with Go, which is not installed (need 1.22+)")
        binary.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [go, "install", f"{self.module}@{self.version}"],
            env={**os.environ, "GOBIN": str(binary.parent)},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not binary.is_file():
            raise ServiceError(
                f"go install {self.module}@{self.version} failed:\n{result.stdout}{result.stderr}"
            )
        return binary
