"""Checks that a ladder or package is fit to publish, and the manifest parsing they rest on.

Every check is a plain function returning a `CheckOutcome`; Dagster asset checks wrap them and
block publishing when one fails. A stream is given as its files in playback order: the init
segment (if any) first, then the media segments; or a single self-contained file.

The manifest parsers are pure (text in, URIs out) and cover what our packagers write and a
little more: DASH `SegmentTemplate` (`$RepresentationID$`, `$Number%05d$`, `$Time$`,
`$Bandwidth$`) with or without `SegmentTimeline`, `SegmentList`, `BaseURL`; HLS master playlists
(`EXT-X-STREAM-INF`, `EXT-X-MEDIA`, `EXT-X-I-FRAME-STREAM-INF`) and media playlists (segments,
`EXT-X-MAP`, `EXT-X-KEY`).
"""

from __future__ import annotations

import json
import math
import re
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from media import drm, tools

DASH_NS = "urn:mpeg:dash:schema:mpd:2011"
_NS = {"mpd": DASH_NS}
DEFAULT_SSIM_FLOOR = 0.90
MIN_DURATION_TOLERANCE_S = 0.25
# A timestamp within this of a frame boundary counts as on it (float rounding in ffprobe output).
EPSILON_S = 0.001
CHECK_TIMEOUT_S = 3600.0
AUDIO_FRAMES_TOLERANCE = 2
AUDIO_SEGMENT_TOLERANCE = 0.05
PACKET_FIELDS = "packet=stream_index,pts_time,duration_time,pos,flags"
_TEMPLATE_TOKEN = re.compile(r"\$(RepresentationID|Number|Time|Bandwidth)(%0?\d*[dxX])?\$|\$\$")
_ISO_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
_SSIM_ALL = re.compile(r"SSIM .*All:([0-9.]+|inf)")
_PSNR_AVERAGE = re.compile(r"PSNR .*average:([0-9.]+|inf)")


class ManifestError(ValueError):
    """A manifest that cannot be parsed."""


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check: what a Dagster `AssetCheckResult` is built from."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


# --- DASH -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MpdRepresentation:
    """One Representation of an MPD with its segment URIs expanded, relative to the MPD."""

    id: str
    content_type: str  # "video", "audio", "text" or "" when the MPD does not say
    bandwidth: int | None
    width: int | None
    height: int | None
    init: str | None
    media: tuple[str, ...]

    @property
    def uris(self) -> list[str]:
        return ([self.init] if self.init else []) + list(self.media)


def parse_iso_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration as MPDs write them (`PT1H2M3.5S`, `P1DT2H`)."""
    match = _ISO_DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        raise ManifestError(f"not an ISO 8601 duration: {text!r}")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["days"] * 86400 + parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"]


def fill_template(
    template: str,
    *,
    representation_id: str,
    number: int | None = None,
    time: int | None = None,
    bandwidth: int | None = None,
) -> str:
    """Expand the DASH template identifiers (`$Number%05d$` etc.) in `template`."""

    def replace(match: re.Match[str]) -> str:
        name, fmt = match.group(1), match.group(2)
        if name is None:
            return "$"
        if name == "RepresentationID":
            return representation_id
        value = {"Number": number, "Time": time, "Bandwidth": bandwidth}[name]
        if value is None:
            raise ManifestError(f"template {template!r} uses ${name}$ with no value for it")
        return (fmt or "%d") % value

    return _TEMPLATE_TOKEN.sub(replace, template)


def parse_mpd(text: str) -> list[MpdRepresentation]:
    """Every Representation of a static MPD with its init and media segment URIs expanded."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ManifestError(f"MPD is not XML: {exc}") from exc
    if root.tag != f"{{{DASH_NS}}}MPD":
        raise ManifestError(f"not a DASH MPD (root element {root.tag})")
    total = root.get("mediaPresentationDuration")
    total_s = parse_iso_duration(total) if total else None
    mpd_base = _base_url("", root)
    representations = []
    periods = root.findall("mpd:Period", _NS)
    for index, period in enumerate(periods):
        period_s = _period_duration(period, periods[index + 1 :], total_s)
        period_base = _base_url(mpd_base, period)
        for aset in period.findall("mpd:AdaptationSet", _NS):
            aset_base = _base_url(period_base, aset)
            for rep in aset.findall("mpd:Representation", _NS):
                representations.append(
                    _representation(period, aset, rep, _base_url(aset_base, rep), period_s)
                )
    return representations


def _period_duration(
    period: ET.Element, later: Sequence[ET.Element], total_s: float | None
) -> float | None:
    if period.get("duration"):
        return parse_iso_duration(period.get("duration", ""))
    start = parse_iso_duration(period.get("start", "PT0S"))
    if later and later[0].get("start"):
        return parse_iso_duration(later[0].get("start", "")) - start
    return None if total_s is None else total_s - start


def _base_url(parent: str, element: ET.Element) -> str:
    base = element.find("mpd:BaseURL", _NS)
    if base is None or not (base.text or "").strip():
        return parent
    return urljoin(parent, (base.text or "").strip())


def _representation(
    period: ET.Element,
    aset: ET.Element,
    rep: ET.Element,
    base: str,
    period_s: float | None,
) -> MpdRepresentation:
    rep_id = rep.get("id", "")
    bandwidth = _int_attr(rep, "bandwidth")
    mime = rep.get("mimeType") or aset.get("mimeType") or ""
    content_type = aset.get("contentType") or rep.get("contentType") or mime.split("/")[0]
    init: str | None = None
    media: list[str] = []
    chain = [period, aset, rep]  # least to most specific: inner attributes override outer ones
    templates = [el.find("mpd:SegmentTemplate", _NS) for el in chain]
    lists = [el.find("mpd:SegmentList", _NS) for el in chain]
    if any(t is not None for t in templates):
        attrs: dict[str, str] = {}
        timeline: ET.Element | None = None
        for template in templates:
            if template is not None:
                attrs.update(template.attrib)
                timeline = template.find("mpd:SegmentTimeline", _NS) or timeline
        if "initialization" in attrs:
            init = fill_template(
                attrs["initialization"], representation_id=rep_id, bandwidth=bandwidth
            )
        media_template = attrs.get("media")
        if media_template is None:
            raise ManifestError(f"Representation {rep_id!r}: SegmentTemplate without @media")
        for number, time in _template_segments(attrs, timeline, period_s, rep_id):
            media.append(
                fill_template(
                    media_template,
                    representation_id=rep_id,
                    number=number,
                    time=time,
                    bandwidth=bandwidth,
                )
            )
    elif any(s is not None for s in lists):
        segment_list = next(s for s in reversed(lists) if s is not None)
        initialization = segment_list.find("mpd:Initialization", _NS)
        if initialization is not None and initialization.get("sourceURL"):
            init = initialization.get("sourceURL")
        media = [u.get("media", "") for u in segment_list.findall("mpd:SegmentURL", _NS)]
        # A SegmentURL without @media addresses a byte range of the BaseURL itself.
        media = [m or base for m in media]
    else:
        # SegmentBase or nothing: the whole Representation is the file at its BaseURL.
        if not base:
            raise ManifestError(f"Representation {rep_id!r} has no segments and no BaseURL")
        media = [base]
        base = ""
    return MpdRepresentation(
        id=rep_id,
        content_type=content_type,
        bandwidth=bandwidth,
        width=_int_attr(rep, "width") or _int_attr(aset, "width"),
        height=_int_attr(rep, "height") or _int_attr(aset, "height"),
        init=urljoin(base, init) if init else None,
        media=tuple(urljoin(base, m) for m in media),
    )


def _template_segments(
    attrs: Mapping[str, str], timeline: ET.Element | None, period_s: float | None, rep_id: str
) -> list[tuple[int, int]]:
    """(number, time) of each segment of a SegmentTemplate, times in its timescale."""
    timescale = int(attrs.get("timescale", "1"))
    number = int(attrs.get("startNumber", "1"))
    offset = int(attrs.get("presentationTimeOffset", "0"))
    end = None if period_s is None else offset + round(period_s * timescale)
    segments: list[tuple[int, int]] = []
    if timeline is not None:
        entries = timeline.findall("mpd:S", _NS)
        time = offset
        for index, entry in enumerate(entries):
            time = int(entry.get("t", time))
            duration = int(entry.get("d", "0"))
            if duration <= 0:
                raise ManifestError(f"Representation {rep_id!r}: S element without @d")
            repeat = int(entry.get("r", "0"))
            if repeat < 0:
                # r=-1 repeats up to the next S@t, or to the end of the Period.
                following = entries[index + 1].get("t") if index + 1 < len(entries) else None
                until = int(following) if following is not None else end
                if until is None:
                    raise ManifestError(f"Representation {rep_id!r}: open-ended r=-1")
                repeat = math.ceil((until - time) / duration) - 1
            for _ in range(repeat + 1):
                segments.append((number, time))
                number += 1
                time += duration
        return segments
    if "duration" not in attrs:
        # A template without duration or timeline has one segment (e.g. a single-file template).
        return [(number, offset)]
    if end is None:
        raise ManifestError(f"Representation {rep_id!r}: @duration but no Period duration")
    duration = int(attrs["duration"])
    count = math.ceil((end - offset) / duration - 1e-9)
    return [(number + i, offset + i * duration) for i in range(count)]


def _int_attr(element: ET.Element, name: str) -> int | None:
    value = element.get(name)
    return int(value) if value and value.isdigit() else None


def mpd_streams(mpd_path: Path) -> list[drm.ClearStream]:
    """The local files of each Representation of an MPD, e.g. to feed `drm.encrypt_cmaf`.

    Names are `<kind>_<Representation id>`; rename with `ClearStream._replace(name=...)`.
    """
    streams = []
    for rep in parse_mpd(mpd_path.read_text()):
        if rep.content_type not in ("video", "audio"):
            continue
        files = [mpd_path.parent / unquote(uri) for uri in rep.uris]
        name = re.sub(r"[^A-Za-z0-9_-]", "_", f"{rep.content_type}_{rep.id}")
        kind: drm.StreamKind = "video" if rep.content_type == "video" else "audio"
        streams.append(drm.ClearStream(files=files, kind=kind, name=name))
    return streams


# --- HLS ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MasterPlaylist:
    """URIs named by an HLS master playlist, relative to it."""

    variants: tuple[str, ...]
    renditions: tuple[str, ...]  # EXT-X-MEDIA (alternative audio, subtitles)
    iframe_playlists: tuple[str, ...]

    @property
    def playlists(self) -> list[str]:
        return [*self.variants, *self.renditions, *self.iframe_playlists]


@dataclass(frozen=True)
class MediaPlaylist:
    """Segments, init maps and keys of an HLS media playlist; URIs relative to it."""

    segments: tuple[str, ...]
    maps: tuple[str, ...]
    keys: tuple[dict[str, str], ...]
    durations: tuple[float, ...]
    ended: bool

    @property
    def uris(self) -> list[str]:
        return [*self.maps, *self.segments]


def parse_attributes(attribute_list: str) -> dict[str, str]:
    """An HLS attribute list (`METHOD=AES-128,URI="a,b"`) as a dict with quotes removed."""
    return {
        name: value[1:-1] if value.startswith('"') else value
        for name, value in _ATTRIBUTE.findall(attribute_list)
    }


def is_master_playlist(text: str) -> bool:
    """Whether an M3U8 text is a master playlist (it lists variants) rather than a media one."""
    return any(
        line.startswith(("#EXT-X-STREAM-INF", "#EXT-X-I-FRAME-STREAM-INF"))
        for line in text.splitlines()
    )


def parse_master_playlist(text: str) -> MasterPlaylist:
    """The variant, rendition and I-frame playlist URIs of an HLS master playlist."""
    lines = _m3u8_lines(text)
    variants, renditions, iframes = [], [], []
    expecting_uri = False
    for line in lines:
        if line.startswith("#EXT-X-STREAM-INF"):
            expecting_uri = True
        elif line.startswith("#EXT-X-MEDIA:"):
            uri = parse_attributes(line.partition(":")[2]).get("URI")
            if uri:
                renditions.append(uri)
        elif line.startswith("#EXT-X-I-FRAME-STREAM-INF:"):
            uri = parse_attributes(line.partition(":")[2]).get("URI")
            if uri:
                iframes.append(uri)
        elif not line.startswith("#") and expecting_uri:
            variants.append(line)
            expecting_uri = False
    if expecting_uri:
        raise ManifestError("EXT-X-STREAM-INF without a URI line")
    return MasterPlaylist(tuple(variants), tuple(dict.fromkeys(renditions)), tuple(iframes))


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Segment URIs, `EXT-X-MAP` URIs, `EXT-X-KEY` attributes and durations of a media playlist."""
    segments, maps, durations = [], [], []
    keys: list[dict[str, str]] = []
    ended = False
    for line in _m3u8_lines(text):
        if line.startswith("#EXTINF:"):
            durations.append(float(line.partition(":")[2].split(",")[0]))
        elif line.startswith("#EXT-X-MAP:"):
            uri = parse_attributes(line.partition(":")[2]).get("URI")
            if not uri:
                raise ManifestError("EXT-X-MAP without URI")
            maps.append(uri)
        elif line.startswith("#EXT-X-KEY:"):
            keys.append(parse_attributes(line.partition(":")[2]))
        elif line.startswith("#EXT-X-ENDLIST"):
            ended = True
        elif not line.startswith("#"):
            segments.append(line)
    if len(durations) != len(segments):
        raise ManifestError(f"{len(segments)} segments but {len(durations)} EXTINF tags")
    return MediaPlaylist(
        tuple(segments), tuple(dict.fromkeys(maps)), tuple(keys), tuple(durations), ended
    )


def _m3u8_lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ManifestError("not an M3U8 playlist (no #EXTM3U header)")
    return lines


# --- Checks ---------------------------------------------------------------------------------------


def manifests_resolve(package_dir: Path) -> CheckOutcome:
    """Every file named by the MPDs and HLS playlists under `package_dir` exists inside it.

    URIs with a scheme (`https:`, `data:`, `skd:`) are not files of the package (keys, CDNs) and
    are skipped. A reference that leaves `package_dir` counts as missing: it would not be
    published with the package.
    """
    # Resolved once, so that the paths named in messages are all relative to the same root.
    package_dir = root = package_dir.resolve()
    missing: list[str] = []
    errors: list[str] = []
    checked = 0
    mpds = sorted(package_dir.rglob("*.mpd"))
    masters = []
    for playlist in sorted(package_dir.rglob("*.m3u8")):
        try:
            if is_master_playlist(playlist.read_text()):
                masters.append(playlist)
        except UnicodeDecodeError:
            errors.append(f"{playlist.relative_to(package_dir)}: not text")
    if not mpds and not masters:
        return CheckOutcome(False, f"no MPD or HLS master playlist in {package_dir}", {})

    def check(manifest: Path, uri: str) -> Path | None:
        nonlocal checked
        parts = urlsplit(uri)
        if parts.scheme or parts.netloc:
            return None
        checked += 1
        target = (manifest.parent / unquote(parts.path)).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            missing.append(f"{manifest.relative_to(package_dir)} -> {uri}")
            return None
        return target

    for mpd in mpds:
        try:
            for rep in parse_mpd(mpd.read_text()):
                for uri in rep.uris:
                    check(mpd, uri)
        except ManifestError as exc:
            errors.append(f"{mpd.relative_to(package_dir)}: {exc}")
    for master in masters:
        try:
            playlist_uris = parse_master_playlist(master.read_text()).playlists
        except ManifestError as exc:
            errors.append(f"{master.relative_to(package_dir)}: {exc}")
            continue
        for uri in playlist_uris:
            media_playlist = check(master, uri)
            if media_playlist is None:
                continue
            try:
                for segment in parse_media_playlist(media_playlist.read_text()).uris:
                    check(media_playlist, segment)
            except ManifestError as exc:
                errors.append(f"{media_playlist.relative_to(package_dir)}: {exc}")
    passed = not missing and not errors
    description = (
        f"all {checked} references of {len(mpds)} MPD(s) and {len(masters)} master playlist(s)"
        " resolve"
        if passed
        else f"{len(missing)} of {checked} references missing, {len(errors)} unreadable manifests"
    )
    return CheckOutcome(
        passed,
        description,
        {
            "references": checked,
            "missing": missing,
            "errors": errors,
            "mpds": [str(p.relative_to(package_dir)) for p in mpds],
            "hls_masters": [str(p.relative_to(package_dir)) for p in masters],
        },
    )


def decodes_end_to_end(streams: Mapping[str, Sequence[Path]]) -> CheckOutcome:
    """Every stream (name -> init + segments, or one file) decodes with no ffmpeg error."""
    failures: dict[str, str] = {}
    for name, files in streams.items():
        try:
            with drm.joined_stream(files) as path:
                proc = tools.run(
                    [tools.ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path)]
                    + ["-map", "0", "-f", "null", "-"],
                    check=False,
                    timeout=CHECK_TIMEOUT_S,
                )
        except OSError as exc:
            failures[name] = f"unreadable: {exc}"
            continue
        if proc.returncode != 0 or proc.stderr.strip():
            lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
            failures[name] = lines[0]
    if not streams:
        return CheckOutcome(False, "no streams to decode", {})
    if failures:
        return CheckOutcome(
            False,
            f"{len(failures)} of {len(streams)} streams fail to decode: {', '.join(failures)}",
            {"failures": failures},
        )
    return CheckOutcome(True, f"all {len(streams)} streams decode without errors", {})


def duration_matches(
    files: Sequence[Path], source_duration_s: float, *, tolerance_s: float | None = None
) -> CheckOutcome:
    """The rendition lasts as long as the source, within `max(0.25 s, one frame)` by default."""
    _, packets = _packets(files)
    if not packets:
        return CheckOutcome(False, "the rendition has no packets", {})
    start = min(p.pts for p in packets)
    end = max(p.pts + p.duration for p in packets)
    duration = end - start
    frame = statistics.median(p.duration for p in packets)
    tolerance = tolerance_s if tolerance_s is not None else max(MIN_DURATION_TOLERANCE_S, frame)
    difference = duration - source_duration_s
    passed = abs(difference) <= tolerance
    return CheckOutcome(
        passed,
        f"rendition lasts {duration:.3f} s, source {source_duration_s:.3f} s "
        f"({difference:+.3f} s, tolerance {tolerance:.3f} s)",
        {
            "duration_s": round(duration, 6),
            "source_duration_s": source_duration_s,
            "difference_s": round(difference, 6),
            "tolerance_s": tolerance,
        },
    )


def keyframes_at_segment_boundaries(files: Sequence[Path], segment_s: float) -> CheckOutcome:
    """Each media segment starts with a keyframe, at `i * segment_s`, and is no longer.

    Segments are the files after the init segment; every rung cut this way switches at the same
    instants. One self-contained file instead needs a keyframe at every multiple of `segment_s`.
    """
    paths = [Path(f) for f in files]
    if not paths:
        return CheckOutcome(False, "no files given", {})
    kind, packets = _packets(paths)
    if not packets:
        return CheckOutcome(False, "the stream has no packets", {})
    frame = statistics.median(p.duration for p in packets)
    tolerance = frame + EPSILON_S
    if kind == "audio":
        # Audio frames (21 ms of AAC) rarely land on the video's instants, and muxers cut audio
        # a frame or two either side; players need no tighter alignment for audio.
        tolerance = max(AUDIO_FRAMES_TOLERANCE * frame, AUDIO_SEGMENT_TOLERANCE * segment_s)
    t0 = min(p.pts for p in packets)
    end = max(p.pts + p.duration for p in packets)
    has_init = _is_init_segment(paths[0])
    segment_files = paths[1:] if has_init else paths
    problems: list[str] = []
    if not has_init and len(paths) == 1:
        keyframes = [p.pts for p in packets if p.key]
        instants = [t0 + k * segment_s for k in range(math.ceil((end - t0) / segment_s - 1e-6))]
        for instant in instants:
            if not any(abs(k - instant) <= tolerance for k in keyframes):
                problems.append(f"no keyframe at {instant - t0:.3f} s")
        starts = instants
    else:
        starts = []
        offset = paths[0].stat().st_size if has_init else 0
        by_pos = sorted((p for p in packets if p.pos >= 0), key=lambda p: p.pos)
        cursor = 0
        for index, segment in enumerate(segment_files):
            limit = offset + segment.stat().st_size
            while cursor < len(by_pos) and by_pos[cursor].pos < offset:
                cursor += 1
            first = by_pos[cursor] if cursor < len(by_pos) else None
            offset = limit
            if first is None or first.pos >= limit:
                problems.append(f"segment {index + 1} ({segment.name}) holds no packets")
                continue
            starts.append(first.pts)
            if not first.key:
                problems.append(f"segment {index + 1} ({segment.name}) starts with a non-keyframe")
            expected = t0 + index * segment_s
            if abs(first.pts - expected) > tolerance:
                problems.append(
                    f"segment {index + 1} ({segment.name}) starts at {first.pts - t0:.3f} s, "
                    f"not {expected - t0:.3f} s"
                )
        if starts and end - starts[-1] > segment_s + tolerance:
            problems.append(f"last segment lasts {end - starts[-1]:.3f} s, over {segment_s:g} s")
    passed = not problems
    return CheckOutcome(
        passed,
        f"{len(starts)} segments start with keyframes every {segment_s:g} s"
        if passed
        else f"{len(problems)} segment boundary problems: {problems[0]}",
        {"segments": len(starts), "problems": problems, "segment_s": segment_s},
    )


def no_upscaling(
    renditions: Mapping[str, tuple[int, int]],
    source: tuple[int, int],
    *,
    rounding_px: int = 0,
) -> CheckOutcome:
    """No rendition (name -> width, height) is larger than the source's display size.

    `rounding_px` can forgive the pixel a ladder adds when it rounds an odd dimension up to the
    even size H.264 4:2:0 needs (853 wide scaled by `-2`); `plan_ladder` never does, so 0.
    """
    src_w, src_h = source
    larger = {
        name: f"{w}x{h}"
        for name, (w, h) in renditions.items()
        if w > src_w + rounding_px or h > src_h + rounding_px
    }
    if larger:
        return CheckOutcome(
            False,
            f"{len(larger)} renditions exceed the {src_w}x{src_h} source: "
            + ", ".join(f"{n} {d}" for n, d in larger.items()),
            {"upscaled": larger, "source": f"{src_w}x{src_h}"},
        )
    return CheckOutcome(
        True,
        f"all {len(renditions)} renditions fit in the {src_w}x{src_h} source",
        {"source": f"{src_w}x{src_h}"},
    )


def quality_scores(
    source: Path,
    rendition: Sequence[Path],
    *,
    ssim_floor: float = DEFAULT_SSIM_FLOOR,
    psnr_floor: float | None = None,
    max_duration_s: float | None = None,
) -> CheckOutcome:
    """SSIM and PSNR of a video rendition against the source scaled to the rendition's size.

    Both pictures are compared with square pixels from their first timestamps, so a rendition
    that is shifted, stretched or cropped scores low. `max_duration_s` limits the cost on long
    videos by scoring their start only.
    """
    with drm.joined_stream(rendition) as path:
        width, height = _video_size(path)
        graph = (
            "[0:v:0]setpts=PTS-STARTPTS,setsar=1,split[d1][d2];"
            f"[1:v:0]setpts=PTS-STARTPTS,scale={width}:{height}:flags=bicubic,setsar=1,"
            "split[r1][r2];"
            "[d1][r1]ssim;[d2][r2]psnr"
        )
        cmd: list[str] = [tools.ffmpeg(), "-hide_banner", "-nostdin", "-nostats", "-v", "info"]
        cmd += ["-i", str(path), "-i", str(source), "-filter_complex", graph]
        if max_duration_s is not None:
            cmd += ["-t", f"{max_duration_s:.3f}"]
        cmd += ["-f", "null", "-"]
        proc = tools.run(cmd, timeout=CHECK_TIMEOUT_S)
    ssim_match = _SSIM_ALL.findall(proc.stderr)
    psnr_match = _PSNR_AVERAGE.findall(proc.stderr)
    if not ssim_match or not psnr_match:
        return CheckOutcome(False, "ffmpeg reported no SSIM/PSNR (no frames compared?)", {})
    ssim, psnr = float(ssim_match[-1]), float(psnr_match[-1])
    problems = []
    if ssim < ssim_floor:
        problems.append(f"SSIM {ssim:.4f} < {ssim_floor}")
    if psnr_floor is not None and psnr < psnr_floor:
        problems.append(f"PSNR {psnr:.2f} dB < {psnr_floor}")
    return CheckOutcome(
        not problems,
        f"{width}x{height}: SSIM {ssim:.4f}, PSNR {psnr:.2f} dB"
        + (f" ({'; '.join(problems)})" if problems else ""),
        {
            "ssim": ssim,
            "psnr_db": psnr,
            "ssim_floor": ssim_floor,
            "psnr_floor_db": psnr_floor,
            "size": f"{width}x{height}",
        },
    )


def decrypts_to_clear(
    clear_files: Sequence[Path], encrypted_files: Sequence[Path], key: bytes
) -> CheckOutcome:
    """The encrypted stream decrypted with `key` decodes to the same frames as the clear one."""
    clear = drm.clear_frame_hashes(clear_files)
    try:
        decrypted = drm.decrypt_frame_hashes(encrypted_files, key)
    except tools.MediaToolError as exc:
        return CheckOutcome(False, f"the encrypted stream does not decode: {exc}", {})
    if not clear:
        return CheckOutcome(False, "the clear stream has no frames", {})
    mismatch = next(
        (i for i, (a, b) in enumerate(zip(clear, decrypted, strict=False)) if a != b), None
    )
    metadata = {"clear_frames": len(clear), "decrypted_frames": len(decrypted)}
    if mismatch is None and len(clear) == len(decrypted):
        return CheckOutcome(True, f"all {len(clear)} frames decrypt to the clear frames", metadata)
    if mismatch is None:
        return CheckOutcome(
            False, f"{len(decrypted)} frames decrypted, {len(clear)} in the clear", metadata
        )
    return CheckOutcome(
        False,
        f"decrypted frame {mismatch} differs from the clear one",
        {**metadata, "first_mismatch": mismatch},
    )


@dataclass(frozen=True)
class _Packet:
    pts: float
    duration: float
    pos: int
    key: bool


def _packets(files: Sequence[Path]) -> tuple[str, list[_Packet]]:
    """Kind and packets of the first video stream (else the first stream) of a joined stream."""
    with drm.joined_stream(files) as path:
        proc = tools.run(
            [tools.ffprobe(), "-v", "error", "-of", "json"]
            + ["-show_entries", "stream=index,codec_type:" + PACKET_FIELDS, str(path)],
            timeout=CHECK_TIMEOUT_S,
        )
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams", [])
    if not streams:
        return "", []
    chosen = next((s for s in streams if s.get("codec_type") == "video"), streams[0])
    packets = []
    for packet in data.get("packets", []):
        pts = _number(packet.get("pts_time"))
        if packet.get("stream_index") != chosen["index"] or pts is None:
            continue
        pos = str(packet.get("pos", ""))
        packets.append(
            _Packet(
                pts=pts,
                duration=_number(packet.get("duration_time")) or 0.0,
                pos=int(pos) if pos.isdigit() else -1,
                key="K" in packet.get("flags", ""),
            )
        )
    return str(chosen.get("codec_type", "")), packets


def _number(value: object) -> float | None:
    # ffprobe writes "N/A" for unknown values.
    try:
        return float(str(value))
    except ValueError:
        return None


def _is_init_segment(path: Path) -> bool:
    """Whether an MP4 file holds a `moov` and no media (`moof`/`mdat`): a CMAF init segment."""
    boxes = set()
    with path.open("rb") as f:
        while True:
            header = f.read(8)
            if len(header) < 8:
                break
            size, box = int.from_bytes(header[:4], "big"), header[4:8]
            boxes.add(box)
            if size == 1:
                size = int.from_bytes(f.read(8), "big") - 8
            if size < 8:
                break
            f.seek(size - 8, 1)
    return b"moov" in boxes and not boxes & {b"moof", b"mdat"}


def _video_size(path: Path) -> tuple[int, int]:
    proc = tools.run(
        [tools.ffprobe(), "-v", "error", "-select_streams", "v:0", "-of", "json"]
        + ["-show_entries", "stream=width,height", str(path)],
        timeout=CHECK_TIMEOUT_S,
    )
    streams = json.loads(proc.stdout or "{}").get("streams", [])
    if not streams:
        raise tools.MediaToolError([str(path)], -1, "no video stream to score")
    return int(streams[0]["width"]), int(streams[0]["height"])
