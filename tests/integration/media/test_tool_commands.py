"""What the media tools are started with, read from the real runs: ffmpeg and ffprobe open an
upload as a local file only, and the content key never reaches a command line (any process of
the host reads those in /proc)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from media import drm, tools
from media.encode import encode_ladder
from media.ladder import plan_ladder
from media.probe import probe
from media.samples import make_clip


@pytest.fixture
def command_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Every command the media tools run, as started (each still runs)."""
    started: list[list[str]] = []
    real = subprocess.run

    def recording(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        started.append(list(args))
        return real(args, **kwargs)

    monkeypatch.setattr(tools.subprocess, "run", recording)
    yield started


def inputs(cmd: list[str]) -> list[int]:
    """Where the inputs of an ffmpeg command start (`-i`)."""
    return [i for i, arg in enumerate(cmd) if arg == "-i"]


def test_uploads_are_opened_as_local_files_and_keys_stay_off_command_lines(
    command_lines: list[list[str]], tmp_path: Path
) -> None:
    source = make_clip(tmp_path / "source.mp4", width=320, height=180, duration_s=2.0)
    # Made from lavfi: from here on, every input is a file.
    command_lines.clear()
    info = probe(source)
    ladder = plan_ladder(info, segment_s=2.0)
    result = encode_ladder(source, info, ladder, tmp_path / "ladder", preset="ultrafast")
    key = drm.new_content_key()
    work = tmp_path / "work"
    work.mkdir()
    drm.encrypt_cmaf(
        result.out_dir,
        drm.clear_streams(result),
        key,
        tmp_path / "encrypted",
        scheme="cbcs",
        segment_s=ladder.segment_duration_s,
        work_dir=work,
    )

    def of(tool: str) -> list[list[str]]:
        return [c for c in command_lines if Path(c[0]).name.startswith(tool)]

    probes = [c for c in of("ffprobe") if str(source) in c]
    encodes = [c for c in of("ffmpeg") if str(source) in c]
    packagers = of("packager")
    assert probes and encodes and packagers
    for cmd in probes:
        at = cmd.index(str(source))
        assert cmd[at - 2 : at] == ["-protocol_whitelist", "file"], cmd
    for cmd in encodes:
        for at in inputs(cmd):
            assert cmd[at - 2 : at] == ["-protocol_whitelist", "file"], cmd
    for cmd in command_lines:
        assert key.key.hex() not in " ".join(cmd).lower()
    # The flag file that held it went with the run's scratch directory.
    assert list(work.iterdir()) == []
