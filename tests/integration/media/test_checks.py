"""Publishing checks: each passes on the pipeline's output and fails on a broken copy of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from media import checks, tools
from tests.fixtures.media_drm import (
    FPS,
    SEGMENT_S,
    ClearLadder,
    EncryptedLadder,
    encode_dash_rung,
)


def copy_ladder(clear_ladder: ClearLadder, target: Path) -> Path:
    shutil.copytree(clear_ladder.result.out_dir, target)
    return target


def streams_in(ladder_dir: Path, clear_ladder: ClearLadder) -> dict[str, list[Path]]:
    return {s.name: [ladder_dir / p.name for p in s.files] for s in clear_ladder.streams}


# --- manifests_resolve ----------------------------------------------------------------------------


def test_manifests_resolve_on_the_clear_ladder(clear_ladder: ClearLadder) -> None:
    outcome = checks.manifests_resolve(clear_ladder.result.out_dir)

    assert outcome.passed, outcome.metadata
    assert outcome.metadata["missing"] == []
    # MPD: 2 rungs x 3 files + audio 4 files; HLS: the same files again plus 3 media playlists.
    assert outcome.metadata["references"] == 2 * (2 * 3 + 4) + 3


def test_manifests_resolve_fails_on_a_deleted_segment(
    clear_ladder: ClearLadder, tmp_path: Path
) -> None:
    ladder_dir = copy_ladder(clear_ladder, tmp_path / "ladder")
    deleted = clear_ladder.stream("360p").files[2].name
    (ladder_dir / deleted).unlink()

    outcome = checks.manifests_resolve(ladder_dir)

    assert not outcome.passed
    assert outcome.metadata["missing"] == [
        f"manifest.mpd -> {deleted}",
        f"{clear_ladder.result.renditions[1].files.playlist.name} -> {deleted}",
    ]


def test_manifests_resolve_fails_on_a_missing_media_playlist(
    clear_ladder: ClearLadder, tmp_path: Path
) -> None:
    ladder_dir = copy_ladder(clear_ladder, tmp_path / "ladder")
    (ladder_dir / clear_ladder.result.audio.playlist.name).unlink()  # type: ignore[union-attr]

    outcome = checks.manifests_resolve(ladder_dir)

    assert not outcome.passed
    assert outcome.metadata["missing"] == ["master.m3u8 -> media_2.m3u8"]


def test_manifests_resolve_fails_on_an_escaping_reference(tmp_path: Path) -> None:
    outside = tmp_path / "secret.ts"
    outside.write_bytes(b"x")
    package = tmp_path / "package"
    package.mkdir()
    (package / "master.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n")
    (package / "v.m3u8").write_text("#EXTM3U\n#EXTINF:2,\n../secret.ts\n#EXT-X-ENDLIST\n")

    outcome = checks.manifests_resolve(package)

    assert not outcome.passed
    assert outcome.metadata["missing"] == ["v.m3u8 -> ../secret.ts"]


def test_manifests_resolve_fails_without_manifests(tmp_path: Path) -> None:
    assert not checks.manifests_resolve(tmp_path).passed


# --- decodes_end_to_end ---------------------------------------------------------------------------


def test_every_rendition_decodes(clear_ladder: ClearLadder) -> None:
    outcome = checks.decodes_end_to_end({s.name: s.files for s in clear_ladder.streams})

    assert outcome.passed, outcome.description


def test_a_truncated_segment_fails_to_decode(clear_ladder: ClearLadder, tmp_path: Path) -> None:
    ladder_dir = copy_ladder(clear_ladder, tmp_path / "ladder")
    streams = streams_in(ladder_dir, clear_ladder)
    segment = streams["360p"][1]
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) // 2])

    outcome = checks.decodes_end_to_end(streams)

    assert not outcome.passed
    assert list(outcome.metadata["failures"]) == ["360p"]


# --- duration_matches -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["240p", "360p", "audio"])
def test_renditions_last_as_long_as_the_source(clear_ladder: ClearLadder, name: str) -> None:
    outcome = checks.duration_matches(clear_ladder.stream(name).files, clear_ladder.info.duration_s)

    assert outcome.passed, outcome.description
    assert outcome.metadata["tolerance_s"] == 0.25


def test_a_rendition_missing_its_last_segment_is_too_short(clear_ladder: ClearLadder) -> None:
    files = clear_ladder.stream("360p").files[:-1]

    outcome = checks.duration_matches(files, clear_ladder.info.duration_s)

    assert not outcome.passed
    assert outcome.metadata["difference_s"] == pytest.approx(-SEGMENT_S, abs=0.05)


# --- keyframes_at_segment_boundaries --------------------------------------------------------------


@pytest.mark.parametrize("name", ["240p", "360p", "audio"])
def test_segments_start_with_keyframes(clear_ladder: ClearLadder, name: str) -> None:
    outcome = checks.keyframes_at_segment_boundaries(clear_ladder.stream(name).files, SEGMENT_S)

    assert outcome.passed, outcome.metadata["problems"]


def test_rung_without_forced_keyframes_fails(clear_ladder: ClearLadder, tmp_path: Path) -> None:
    # A 1.5 s GOP: the muxer can only cut at 3 s, so the second segment starts late.
    stream = encode_dash_rung(
        clear_ladder.source,
        tmp_path / "rung",
        width=416,
        height=234,
        gop_frames=FPS * 3 // 2,
        force_keyframes=False,
    )

    outcome = checks.keyframes_at_segment_boundaries(stream.files, SEGMENT_S)

    assert not outcome.passed
    assert any("starts at 3.000 s, not 2.000 s" in p for p in outcome.metadata["problems"])


def test_rung_with_one_long_gop_fails(clear_ladder: ClearLadder, tmp_path: Path) -> None:
    stream = encode_dash_rung(
        clear_ladder.source,
        tmp_path / "rung",
        width=416,
        height=234,
        gop_frames=250,
        force_keyframes=False,
    )

    outcome = checks.keyframes_at_segment_boundaries(stream.files, SEGMENT_S)

    assert not outcome.passed
    assert len(stream.files) == 2  # init and a single 4 s segment
    assert "last segment lasts 4.000 s" in outcome.description


def test_segments_starting_on_non_keyframes_fail(clear_ladder: ClearLadder, tmp_path: Path) -> None:
    # The HLS muxer told to split by time cuts every 0.5 s, mid-GOP, by stream copy.
    joined = tmp_path / "360p.mp4"
    joined.write_bytes(b"".join(p.read_bytes() for p in clear_ladder.stream("360p").files))
    out = tmp_path / "split"
    out.mkdir()
    tools.run(
        [tools.ffmpeg(), "-v", "error", "-i", str(joined), "-c", "copy", "-f", "hls"]
        + ["-hls_segment_type", "fmp4", "-hls_time", "0.5", "-hls_flags", "split_by_time"]
        + ["-hls_playlist_type", "vod", "-hls_fmp4_init_filename", "init.mp4"]
        + ["-hls_segment_filename", str(out / "seg_%03d.m4s"), str(out / "index.m3u8")]
    )
    files = [out / "init.mp4", *sorted(out.glob("seg_*.m4s"))]

    outcome = checks.keyframes_at_segment_boundaries(files, 0.5)

    assert not outcome.passed
    assert "segment 2 (seg_001.m4s) starts with a non-keyframe" in outcome.metadata["problems"]


def test_single_file_needs_keyframes_at_every_boundary(clear_ladder: ClearLadder) -> None:
    # The source clip has a 1 s GOP: keyframes at 0, 2 s (and 1, 3 s) suffice for 2 s segments.
    assert checks.keyframes_at_segment_boundaries([clear_ladder.source], SEGMENT_S).passed
    outcome = checks.keyframes_at_segment_boundaries([clear_ladder.source], 1.5)
    assert not outcome.passed
    assert "no keyframe at 1.500 s" in outcome.metadata["problems"]


# --- no_upscaling ---------------------------------------------------------------------------------


def test_ladder_does_not_upscale(clear_ladder: ClearLadder) -> None:
    rungs = {r.rung.name: (r.rung.width, r.rung.height) for r in clear_ladder.result.renditions}

    outcome = checks.no_upscaling(rungs, (clear_ladder.info.width, clear_ladder.info.height))

    assert outcome.passed, outcome.description


def test_a_rung_larger_than_the_source_fails() -> None:
    outcome = checks.no_upscaling({"360p": (640, 360), "720p": (1280, 720)}, (640, 360))

    assert not outcome.passed
    assert outcome.metadata["upscaled"] == {"720p": "1280x720"}


def test_even_rounding_can_be_forgiven() -> None:
    assert not checks.no_upscaling({"480p": (854, 480)}, (853, 480)).passed
    assert checks.no_upscaling({"480p": (854, 480)}, (853, 480), rounding_px=1).passed


# --- quality_scores -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["240p", "360p"])
def test_rungs_score_above_the_floor(clear_ladder: ClearLadder, name: str) -> None:
    outcome = checks.quality_scores(clear_ladder.source, clear_ladder.stream(name).files)

    assert outcome.passed, outcome.description
    assert outcome.metadata["ssim"] >= checks.DEFAULT_SSIM_FLOOR
    assert outcome.metadata["psnr_db"] > 25


def test_a_stretched_rung_fails_the_floor(clear_ladder: ClearLadder, tmp_path: Path) -> None:
    # The left half of the picture stretched to the full width.
    stream = encode_dash_rung(
        clear_ladder.source,
        tmp_path / "rung",
        width=416,
        height=234,
        gop_frames=FPS * 2,
        force_keyframes=True,
        video_filter="crop=iw/2:ih:0:0",
    )

    outcome = checks.quality_scores(clear_ladder.source, stream.files)

    assert not outcome.passed
    assert outcome.metadata["ssim"] < checks.DEFAULT_SSIM_FLOOR


def test_psnr_floor_is_checked_when_given(clear_ladder: ClearLadder) -> None:
    outcome = checks.quality_scores(
        clear_ladder.source, clear_ladder.stream("240p").files, psnr_floor=99.0
    )

    assert not outcome.passed
    assert "PSNR" in outcome.description


# --- decrypts_to_clear ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["360p", "audio"])
def test_encrypted_streams_decrypt_to_clear(encrypted_ladder: EncryptedLadder, name: str) -> None:
    encrypted = next(s for s in encrypted_ladder.streams if s.name == name)

    outcome = checks.decrypts_to_clear(
        encrypted_ladder.clear.stream(name).files, encrypted.files, encrypted_ladder.key.key
    )

    assert outcome.passed, outcome.description


def test_the_wrong_key_fails_to_decrypt(encrypted_ladder: EncryptedLadder) -> None:
    encrypted = next(s for s in encrypted_ladder.streams if s.name == "360p")
    wrong_key = bytes(b ^ 0xFF for b in encrypted_ladder.key.key)

    outcome = checks.decrypts_to_clear(
        encrypted_ladder.clear.stream("360p").files, encrypted.files, wrong_key
    )

    assert not outcome.passed


def test_another_rung_is_not_the_clear_rung(encrypted_ladder: EncryptedLadder) -> None:
    encrypted = next(s for s in encrypted_ladder.streams if s.name == "240p")

    outcome = checks.decrypts_to_clear(
        encrypted_ladder.clear.stream("360p").files, encrypted.files, encrypted_ladder.key.key
    )

    assert not outcome.passed
