"""Java jars of the dev stack and Spark, fetched once by Maven into the jar cache and reused."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MAVEN_DIR = Path(__file__).resolve().parent / "maven"


class JarFetchError(RuntimeError):
    """Maven could not fetch a bundle of jars."""


@dataclass(frozen=True)
class Bundle:
    """A Maven pom under devstack/maven whose runtime dependencies form one classpath."""

    name: str
    # Jars that the runtime that loads the bundle already ships (Spark has its own Scala).
    exclude: tuple[str, ...] = ()

    @property
    def pom(self) -> Path:
        return MAVEN_DIR / f"{self.name}.xml"

    def digest(self) -> str:
        return hashlib.sha256(self.pom.read_bytes() + ",".join(self.exclude).encode()).hexdigest()


BUNDLES = {
    bundle.name: bundle
    for bundle in (
        Bundle("cassandra"),
        Bundle("s3proxy"),
        Bundle(
            "spark-connector",
            exclude=(
                "scala-library",
                "scala-reflect",
                "slf4j-api",
                "metrics-core",
                "commons-lang3",
                "paranamer",
            ),
        ),
    )
}


def bundle_jars(jar_dir: Path, name: str) -> list[Path]:
    """The jars of bundle `name`, fetching them with Maven on first use."""
    bundle = BUNDLES[name]
    target = jar_dir / name
    stamp = target / ".complete"
    digest = bundle.digest()
    if not (stamp.exists() and stamp.read_text() == digest):
        _fetch(bundle, target, digest)
    return sorted(target.glob("*.jar"))


def _fetch(bundle: Bundle, target: Path, digest: str) -> None:
    if shutil.which("mvn") is None:
        raise JarFetchError("Maven (mvn) is not installed; it fetches the dev stack's jars")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        "mvn",
        "-B",
        "-q",
        "-f",
        str(bundle.pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={partial}",
        "-DincludeScope=runtime",
    ]
    if bundle.exclude:
        command.append("-DexcludeArtifactIds=" + ",".join(bundle.exclude))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise JarFetchError(
            f"Maven could not fetch the {bundle.name} jars:\n" + "\n".join(output[-15:])
        )
    (partial / ".complete").write_text(digest)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def fetch_all(jar_dir: Path) -> dict[str, list[Path]]:
    """Every bundle's jars (the bootstrap step: nothing downloads after it)."""
    return {name: bundle_jars(jar_dir, name) for name in BUNDLES}
