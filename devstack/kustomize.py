"""kustomize, which renders the Kubernetes manifests of deploy/k8s for each environment.

Built from the Go module proxy with `go install` at a pinned version into the cache directory
(one directory per version, so changing the pin builds the new one), as stripe-mock is: the same
kustomize renders the manifests in tests and for `kubectl apply`, whatever kubectl embeds.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from devstack.gotools import GoTool
from devstack.service import ServiceError
from reelflow.settings import Settings

KUSTOMIZE = GoTool("kustomize", "sigs.k8s.io/kustomize/kustomize/v5", "v5.7.1")


def ensure_kustomize(settings: Settings) -> Path:
    """The pinned kustomize binary, built on first use (about 45 s)."""
    return KUSTOMIZE.ensure(settings)


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
