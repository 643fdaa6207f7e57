"""kustomize, which renders the Kubernetes manifests of deploy/k8s for each environment.

Built from the Go module proxy with `go install` at a pinned version into the cache directory
(one directory per version, so changing the pin builds the new one), as stripe-mock is: the same
kustomize renders the manifests in tests and for `kubectl apply`, whatever kubectl embeds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from devstack.service import ServiceError
from reelflow.settings import Settings

KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.7.1"


def kustomize_path(settings: Settings) -> Path:
    """Where the pinned kustomize binary is (or will be) installed."""
    return settings.cache_dir / "bin" / f"kustomize-{KUSTOMIZE_VERSION}" / "kustomize"


def ensure_kustomize(settings: Settings) -> Path:
    """The pinned kustomize binary, built with `go install` on first use (about 45 s)."""
    binary = kustomize_path(settings)
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        raise ServiceError("kustomize is built with Go, which is not installed (need Go 1.22+)")
    binary.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
        env={**os.environ, "GOBIN": str(binary.parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not binary.is_file():
        raise ServiceError(
            f"go install {KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION} failed:\n"
            f"{result.stdout}{result.stderr}"
        )
    return binary


def kustomize_build(settings: Settings, directory: Path) -> str:
    """The manifests that `kustomize build directory` renders, as one multi-document YAML."""
    result = subprocess.run(
        [str(ensure_kustomize(settings)), "build", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(f"kustomize build {directory} failed:\n{result.stderr}")
    return result.stdout
