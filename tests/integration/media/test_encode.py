"""encode_ladder end to end: real ffmpeg, outputs checked with ffprobe and by parsing manifests.

Each source is probed, planned and encoded once per session (x264 ultrafast: the tests check
structure, not picture quality); the tests then inspect the files.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import pytest

from media import tools
from media.encode import EncodeResult, encode_ladder
from media.ladder import Ladder, plan_ladder
from media.probe import SourceInfo, probe
from tests.fixtures.media import SOURCE_IDS, MediaSource

MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
TEST_PRESET = "ultrafast"

per_source = pytest.mark.parametrize("media_source", SOURCE_IDS, indirect=True)


@dataclass
class Encoded:
    info: SourceInfo
    ladder: Ladder
    result: EncodeResult
    progress: list[tuple[float, str]] = field(default_factory=list)


@pytest.fixture(scope="session")
def encode_cache() -> dict[str, Encoded]:
    return {}


@pytest.fixture
def encoded(
    media_source: MediaSource, encode_cache: dict[str, Encoded], media_dir: Path
) -> Encoded:
    name = media_source.case.name
    if name not in encode_cache:
        info = probe(media_source.path)
        ladder = plan_ladder(info)
        progress: list[tuple[float, str]] = []
        result = encode_ladder(
            media_source.path,
            info,
            ladder,
            media_dir / "encoded" / name,
            on_progress=lambda fraction, line: progress.append((fraction, line)),
            preset=TEST_PRESET,
        )
        encode_cache[name] = Encoded(info, ladder, result, progress)
    return encode_cache[name]


def ffprobe(path: Path, *args: str) -> dict:
    proc = tools.run([tools.ffprobe(), "-v", "error", "-of", "json", *args, str(path)])
    return json.loads(proc.stdout)


def joined(files: tuple[Path, ...], target: Path) -> Path:
    """init + media segments concatenated: what a player feeds its decoder."""
    target.write_bytes(b"".join(path.read_bytes() for path in files))
    return target


def packets(path: Path, stream: str) -> list[dict]:
    data = ffprobe(path, "-select_streams", stream, "-show_entries", "packet=pts,flags")
    return sorted(data["packets"], key=lambda p: int(p["pts"]))


def mpd_representations(mpd: Path) -> dict[str, dict]:
    """id -> attributes, content type and the file names its SegmentTemplate expands to."""
    root = ET.parse(mpd).getroot()
    found = {}
    for adaptation in root.iterfind("d:Period/d:AdaptationSet", MPD_NS):
        for rep in adaptation.iterfind("d:Representation", MPD_NS):
            template = rep.find("d:SegmentTemplate", MPD_NS)
            assert template is not None
            count = sum(1 + int(s.get("r", "0")) for s in template.iterfind(".//d:S", MPD_NS))
            first = int(template.get("startNumber", "1"))
            media = template.get("media", "").replace("$RepresentationID$", rep.get("id", ""))
            found[rep.get("id", "")] = {
                "content": adaptation.get("contentType"),
                "attrs": dict(rep.attrib),
                "init": template.get("initialization", "").replace(
                    "$RepresentationID$", rep.get("id", "")
                ),
                "segments": [
                    media.replace("$Number%05d$", f"{n:05d}") for n in range(first, first + count)
                ],
            }
    return found


def hls_attributes(line: str) -> dict[str, str]:
    return {
        key: value.strip('"')
        for key, value in re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1])
    }


def hls_master(master: Path) -> tuple[list[tuple[dict[str, str], str]], list[dict[str, str]]]:
    """(variant attributes, playlist URI) pairs and the EXT-X-MEDIA renditions."""
    lines = master.read_text().splitlines()
    variants = [
        (hls_attributes(line), lines[i + 1])
        for i, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    ]
    media = [hls_attributes(line) for line in lines if line.startswith("#EXT-X-MEDIA:")]
    return variants, media


def hls_media_files(playlist: Path) -> tuple[str, list[str], list[float]]:
    text = playlist.read_text()
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)
    assert init is not None
    segments = [line for line in text.splitlines() if line and not line.startswith("#")]
    durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", text)]
    return init.group(1), segments, durations


def iso_duration_s(value: str) -> float:
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?([0-9.]+)S", value)
    assert match, value
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)


def expected_segments(encoded: Encoded) -> int:
    # The last segment may be short; a sliver under 5% of a segment is the source's rounding.
    return math.ceil(encoded.info.duration_s / encoded.ladder.segment_duration_s - 0.05)


@per_source
def test_every_rung_has_planned_size(
    media_source: MediaSource, encoded: Encoded, tmp_path: Path
) -> None:
    assert [(r.width, r.height) for r in encoded.ladder.rungs] == list(media_source.case.rungs)
    assert [r.rung for r in encoded.result.renditions] == list(encoded.ladder.rungs)
    for rendition in encoded.result.renditions:
        path = joined(rendition.files.files, tmp_path / f"{rendition.rung.name}.mp4")
        (stream,) = ffprobe(path, "-show_streams")["streams"]
        assert (stream["codec_name"], stream["width"], stream["height"]) == (
            "h264",
            rendition.rung.width,
            rendition.rung.height,
        )
        assert stream["pix_fmt"] == "yuv420p"
        assert stream.get("sample_aspect_ratio", "1:1") == "1:1"
        assert b"cmfc" in rendition.files.init.read_bytes()[:64], "CMAF brand in init ftyp"


@per_source
def test_each_segment_is_one_gop_starting_with_a_keyframe(encoded: Encoded, tmp_path: Path) -> None:
    gop = encoded.ladder.gop_frames
    durations = {r.files.segment_durations_s for r in encoded.result.renditions}
    assert len(durations) == 1, "keyframes, hence segment boundaries, align across rungs"
    for rendition in encoded.result.renditions:
        segments = rendition.files.segments
        assert len(segments) == expected_segments(encoded)
        for number, segment in enumerate(segments):
            path = joined((rendition.files.init, segment), tmp_path / f"s{number}.mp4")
            flags = [p["flags"] for p in packets(path, "v:0")]
            assert flags[0].startswith("K"), f"{rendition.rung.name} segment {number}"
            assert sum(f.startswith("K") for f in flags) == 1
            if number < len(segments) - 1:
                assert len(flags) == gop
            else:
                assert 1 <= len(flags) <= gop


@per_source
def test_output_is_constant_frame_rate(encoded: Encoded, tmp_path: Path) -> None:
    for rendition in encoded.result.renditions:
        path = joined(rendition.files.files, tmp_path / "all.mp4")
        stream = ffprobe(path, "-show_streams")["streams"][0]
        assert Fraction(stream["r_frame_rate"]) == encoded.ladder.fps
        pts = [int(p["pts"]) for p in packets(path, "v:0")]
        assert len({b - a for a, b in zip(pts, pts[1:], strict=False)}) == 1
        assert sum(rendition.files.segment_durations_s) == pytest.approx(
            encoded.info.duration_s, abs=0.1
        )


@per_source
def test_audio_is_stereo_aac_or_absent(
    media_source: MediaSource, encoded: Encoded, tmp_path: Path
) -> None:
    audio = encoded.result.audio
    if media_source.case.audio_channels == 0:
        assert audio is None
        assert "audio" not in encoded.result.mpd.read_text()
        assert "#EXT-X-MEDIA" not in encoded.result.hls_master.read_text()
        return
    assert audio is not None
    # Audio is cut where video is; AAC frames overhanging the last video frame may end up in
    # one extra sliver of a segment.
    count = expected_segments(encoded)
    assert len(audio.segments) in (count, count + 1)
    if len(audio.segments) > count:
        assert audio.segment_durations_s[-1] < 0.1
    video = encoded.result.renditions[0].files.segment_durations_s
    for i in range(count - 1):
        assert sum(audio.segment_durations_s[: i + 1]) == pytest.approx(
            sum(video[: i + 1]), abs=0.05
        )
    (stream,) = ffprobe(joined(audio.files, tmp_path / "audio.mp4"), "-show_streams")["streams"]
    assert (stream["codec_name"], stream["channels"], stream["sample_rate"]) == (
        "aac",
        2,
        "48000",
    )
    assert stream["channel_layout"] == "stereo"
    assert float(stream["duration"]) == pytest.approx(encoded.info.duration_s, abs=0.1)


@per_source
def test_mpd_is_static_vod(encoded: Encoded) -> None:
    root = ET.parse(encoded.result.mpd).getroot()
    assert root.get("type") == "static"
    assert iso_duration_s(root.get("mediaPresentationDuration", "")) == pytest.approx(
        encoded.info.duration_s, abs=0.1
    )
    longest = max(d for r in encoded.result.renditions for d in r.files.segment_durations_s)
    assert iso_duration_s(root.get("maxSegmentDuration", "")) >= longest - 1e-3
    reps = mpd_representations(encoded.result.mpd)
    video = [rep for rep in reps.values() if rep["content"] == "video"]
    assert sorted((int(r["attrs"]["width"]), int(r["attrs"]["height"])) for r in video) == [
        (rung.width, rung.height) for rung in encoded.ladder.rungs
    ]
    assert {r["attrs"]["codecs"][:5] for r in video} == {"avc1."}


@per_source
def test_hls_master_lists_every_rung(encoded: Encoded) -> None:
    variants, media = hls_master(encoded.result.hls_master)
    assert len(variants) == len(encoded.ladder.rungs)
    by_resolution = {f"{r.width}x{r.height}": r for r in encoded.ladder.rungs}
    mpd_codecs = {
        f"{rep['attrs'].get('width')}x{rep['attrs'].get('height')}": rep["attrs"]["codecs"]
        for rep in mpd_representations(encoded.result.mpd).values()
    }
    assert {attrs["RESOLUTION"] for attrs, _ in variants} == set(by_resolution)
    for attrs, uri in variants:
        assert int(attrs["BANDWIDTH"]) >= int(attrs["AVERAGE-BANDWIDTH"]) > 0
        codecs = attrs["CODECS"].split(",")
        assert codecs[0] == mpd_codecs[attrs["RESOLUTION"]]
        assert ("mp4a.40.2" in codecs) is encoded.ladder.has_audio
        assert (encoded.result.out_dir / uri).is_file()
    bandwidths = [int(attrs["BANDWIDTH"]) for attrs, _ in variants]
    assert bandwidths == sorted(bandwidths, reverse=True)
    assert len(media) == (1 if encoded.ladder.has_audio else 0)
    for playlist in encoded.result.out_dir.glob("media_*.m3u8"):
        text = playlist.read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text
        assert text.rstrip().endswith("#EXT-X-ENDLIST")
        assert "PROGRAM-DATE-TIME" not in text
        target = re.search(r"#EXT-X-TARGETDURATION:(\d+)", text)
        assert target is not None
        rounded = [math.floor(d + 0.5) for d in hls_media_files(playlist)[2]]
        assert max(rounded) <= int(target.group(1))


@per_source
def test_dash_and_hls_share_the_same_segment_files(encoded: Encoded) -> None:
    out_dir = encoded.result.out_dir
    mpd_files = {
        name
        for rep in mpd_representations(encoded.result.mpd).values()
        for name in [rep["init"], *rep["segments"]]
    }
    variants, media = hls_master(encoded.result.hls_master)
    playlists = [uri for _, uri in variants] + [m["URI"] for m in media]
    hls_files: set[str] = set()
    for playlist in playlists:
        init, segments, durations = hls_media_files(out_dir / playlist)
        assert len(segments) == len(durations)
        hls_files |= {init, *segments}
    on_disk = {path.name for path in out_dir.iterdir() if path.suffix == ".m4s"}
    assert mpd_files == hls_files == on_disk
    assert {path.name for path in encoded.result.media_files} == on_disk
    assert len(encoded.result.media_files) == len(on_disk)
    manifests = {"manifest.mpd", "master.m3u8", *playlists}
    assert {path.name for path in out_dir.iterdir()} == on_disk | manifests


@per_source
def test_progress_rises_to_one(encoded: Encoded) -> None:
    fractions = [fraction for fraction, _ in encoded.progress]
    assert fractions, "on_progress was called"
    assert fractions == sorted(fractions)
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions[-1] == 1.0
    assert "progress=end" in encoded.progress[-1][1]
    assert encoded.result.wall_s > 0
    assert encoded.result.speed_x_realtime == pytest.approx(
        encoded.info.duration_s / encoded.result.wall_s
    )


def test_progress_reports_intermediate_fractions(
    clip_1080p: Path, media_dir: Path, encode_cache: dict[str, Encoded]
) -> None:
    cached = encode_cache.get("1080p_stereo")
    if cached is None:
        info = probe(clip_1080p)
        ladder = plan_ladder(info)
        progress: list[tuple[float, str]] = []
        result = encode_ladder(
            clip_1080p,
            info,
            ladder,
            media_dir / "encoded" / "1080p_stereo",
            on_progress=lambda f, line: progress.append((f, line)),
            preset=TEST_PRESET,
        )
        cached = encode_cache["1080p_stereo"] = Encoded(info, ladder, result, progress)
    assert any(0.0 < f < 1.0 for f, _ in cached.progress)
    print(f"1080p 5-rung ladder ({TEST_PRESET}): {cached.result.speed_x_realtime:.2f}x realtime")


def test_rerun_gives_identical_files_and_drops_stale_ones(clip_small: Path, tmp_path: Path) -> None:
    info = probe(clip_small)
    ladder = plan_ladder(info)
    out_dir = tmp_path / "out"
    first = encode_ladder(clip_small, info, ladder, out_dir, preset=TEST_PRESET)
    before = {path.name: path.read_bytes() for path in out_dir.iterdir()}
    (out_dir / "seg-0-99999.m4s").write_bytes(b"stale segment of an older encode")
    second = encode_ladder(clip_small, info, ladder, out_dir, preset=TEST_PRESET)
    after = {path.name: path.read_bytes() for path in out_dir.iterdir()}
    assert after == before
    assert second.media_files == first.media_files
    assert [path.name for path in tmp_path.iterdir()] == ["out"], "no work directory left over"


def test_failed_encode_leaves_nothing_behind(clip_small: Path, tmp_path: Path) -> None:
    info = probe(clip_small)
    with pytest.raises(tools.MediaToolError) as failed:
        encode_ladder(tmp_path / "vanished.mp4", info, plan_ladder(info), tmp_path / "out")
    assert "vanished.mp4" in str(failed.value)
    assert list(tmp_path.iterdir()) == []


def test_failing_progress_callback_stops_the_encode(clip_small: Path, tmp_path: Path) -> None:
    info = probe(clip_small)

    def explode(fraction: float, line: str) -> None:
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        encode_ladder(clip_small, info, plan_ladder(info), tmp_path / "out", on_progress=explode)
    assert list(tmp_path.iterdir()) == []
