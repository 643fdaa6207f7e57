"""The web pages' JavaScript dependencies: `npm ci` into `web/node_modules`, once per lockfile.

The pages have no build step; the API serves these packages as they are (Shaka Player's `dist`
at `/vendor/shaka-player/`). A stamp holding the lockfile's SHA-256 makes the install
idempotent: it runs again only when the lockfile changes or `node_modules` is gone.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from devstack.service import ServiceError
from reelflow.settings import PROJECT_ROOT

WEB_DIR = PROJECT_ROOT / "web"
STAMP_NAME = ".reelflow-lock-sha256"


def lock_digest(web_dir: Path = WEB_DIR) -> str:
    """The SHA-256 of the lockfile the installed packages must match."""
    return hashlib.sha256((web_dir / "package-lock.json").read_bytes()).hexdigest()


def installed_digest(web_dir: Path = WEB_DIR) -> str | None:
    """The lockfile digest `node_modules` was installed from, or None if not installed."""
    try:
        return (web_dir / "node_modules" / STAMP_NAME).read_text().strip()
    except FileNotFoundError:
        return None


def ensure_web_dependencies(web_dir: Path = WEB_DIR) -> str:
    """Install the pinned packages with `npm ci` unless they already match the lockfile;
    says what was done."""
    digest = lock_digest(web_dir)
    if installed_digest(web_dir) == digest:
        return f"up to date in {web_dir / 'node_modules'}"
    npm = shutil.which("npm")
    if npm is None:
        raise ServiceError("the web pages' packages are installed with npm, which is missing")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=web_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(f"npm ci in {web_dir} failed:\n{result.stdout}{result.stderr}")
    # Written last: an interrupted install leaves no stamp and runs again next time.
    (web_dir / "node_modules" / STAMP_NAME).write_text(digest + "\n")
    return f"installed from package-lock.json into {web_dir / 'node_modules'}"
