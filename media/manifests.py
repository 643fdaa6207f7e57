"""Manifest parsing: DASH MPDs and HLS playlists, text in, the URIs they reference out.

The parsers are pure and cover what our packagers write and a little more. DASH:
`SegmentTemplate` (`$RepresentationID$`, `$Number%05d$`, `$Time$`, `$Bandwidth$`) with or
without `SegmentTimeline`, `SegmentList`, `BaseURL`. HLS is read by the `m3u8` package: master
playlists (`EXT-X-STREAM-INF`, `EXT-X-MEDIA`, `EXT-X-I-FRAME-STREAM-INF`) and media playlists
(segments, byte ranges, `EXT-X-MAP`, `EXT-X-KEY`). m3u8 passes over some malformed input
without a word (a missing `#EXTM3U`, a segment without `EXTINF`, a variant without its URI
line); those raise `ManifestError` here, like anything else we cannot read.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin

import m3u8

from media import drm

DASH_NS = "urn:mpeg:dash:schema:mpd:2011"
_NS = {"mpd": DASH_NS}
_TEMPLATE_TOKEN = re.compile(r"\$(RepresentationID|Number|Time|Bandwidth)(%0?\d*[dxX])?\$|\$\$")
_ISO_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_VARIANT_TAGS = ("#EXT-X-STREAM-INF", "#EXT-X-I-FRAME-STREAM-INF")


class ManifestError(ValueError):
    """A manifest that cannot be parsed."""


# --- DASH -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MpdRepresentation:
    """One Representation of an MPD with its segment URIs expanded, relative to the MPD."""

    id: str
    content_type: str  # "video", "audio", "text" or "" when the MPD does not say
    bandwidth: int | None
    width: int | None
    height: int | None
    codecs: str  # RFC 6381 codecs string, "" when the MPD does not say
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
                found = template.find("mpd:SegmentTimeline", _NS)
                timeline = found if found is not None else timeline
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
        codecs=rep.get("codecs") or aset.get("codecs") or "",
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
    """Segments, init maps and keys of an HLS media playlist; URIs relative to it.

    `segments` has one URI per segment, so a file cut in byte ranges appears once per range;
    `keys` holds the attributes of each distinct `EXT-X-KEY` (`METHOD`, `URI`, `IV`, ...).
    """

    segments: tuple[str, ...]
    maps: tuple[str, ...]
    keys: tuple[dict[str, str], ...]
    durations: tuple[float, ...]
    ended: bool

    @property
    def uris(self) -> list[str]:
        """Every file the playlist names, each once, init maps first, in playback order."""
        return list(dict.fromkeys([*self.maps, *self.segments]))


def is_master_playlist(text: str) -> bool:
    """Whether an M3U8 text is a master playlist (it lists variants) rather than a media one."""
    return any(line.strip().startswith(_VARIANT_TAGS) for line in text.splitlines())


def parse_master_playlist(text: str) -> MasterPlaylist:
    """The variant, rendition and I-frame playlist URIs of an HLS master playlist."""
    data, lines = _m3u8(text)
    variants = tuple(playlist["uri"] for playlist in data["playlists"])
    if len(variants) != sum(line.startswith("#EXT-X-STREAM-INF:") for line in lines):
        raise ManifestError("EXT-X-STREAM-INF without a URI line")
    renditions = dict.fromkeys(media["uri"] for media in data["media"] if media.get("uri"))
    iframes = tuple(playlist["uri"] for playlist in data["iframe_playlists"])
    return MasterPlaylist(variants, tuple(renditions), iframes)


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Segment URIs, `EXT-X-MAP` URIs, `EXT-X-KEY` attributes and durations of a media playlist."""
    data, lines = _m3u8(text)
    segments = data["segments"]
    # m3u8 drops a URI line that no EXTINF announced, and keeps an EXTINF that no URI follows.
    uri_lines = sum(not line.startswith("#") for line in lines)
    timed = [s for s in segments if "uri" in s and "duration" in s]
    if len(timed) != len(segments) or len(segments) != uri_lines:
        extinfs = sum("duration" in s for s in segments)
        raise ManifestError(f"{uri_lines} segments but {extinfs} EXTINF tags")
    maps = [segment_map.get("uri") for segment_map in data["segment_map"]]
    if not all(maps):
        raise ManifestError("EXT-X-MAP without URI")
    return MediaPlaylist(
        segments=tuple(s["uri"] for s in segments),
        maps=tuple(dict.fromkeys(maps)),
        keys=tuple(_attributes(key) for key in data["keys"] if key),
        durations=tuple(s["duration"] for s in segments),
        ended=data["is_endlist"],
    )


def _m3u8(text: str) -> tuple[dict[str, Any], list[str]]:
    """m3u8's reading of a playlist, and its non-blank lines."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ManifestError("not an M3U8 playlist (no #EXTM3U header)")
    try:
        return m3u8.parse(text), lines
    except (ValueError, LookupError) as exc:
        # m3u8 lets int(), float() and missing attributes fail as they come.
        raise ManifestError(f"unreadable playlist: {exc}") from exc


def _attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    """An attribute list as the playlist spells it: m3u8 writes `KEYFORMAT` as `keyformat`."""
    return {name.upper().replace("_", "-"): str(value) for name, value in attributes.items()}
