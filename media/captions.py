"""Caption tracks: WebVTT or SRT in, one normalised WebVTT out, and packaged for HLS and DASH.

An uploaded file is recognised by its content (a `WEBVTT` header, else SRT), parsed by
webvtt-py or pysrt, and checked line by line first: both libraries pass over a malformed timing
line without a word (webvtt-py drops the cue, pysrt reads a bad time as 0), and the creator
needs to know which line to fix. Normalised means UTF-8, cues sorted by start, each ending
after it starts, none starting at or after the video's end, those running past it clipped.

Packaged means Shaka Packager's segmented WebVTT: one HLS media playlist and one DASH text
AdaptationSet per language, merged into the video's own master playlist and MPD, so one
published version carries the streams and their captions. Text is never encrypted, so the same
tracks go beside clear and protected packages alike.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import pysrt
import webvtt

from media import tools

MAX_CAPTION_BYTES = 1024 * 1024
MAX_CUES = 20_000
# Cues are written with millisecond timings; shorter than that is no cue at all.
MIN_CUE_S = 0.001
TEXT_GROUP = "subtitles"
CAPTIONS_DIR = "captions"
PACKAGER_TIMEOUT_S = 120.0

_VTT_TIME = r"(?:(\d{1,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_SRT_TIME = r"(\d{1,}):([0-5]\d):([0-5]\d)[,.](\d{1,3})"
_VTT_TIMING = re.compile(rf"^{_VTT_TIME}[ \t]+-->[ \t]+{_VTT_TIME}(?:[ \t]+.*)?$")
_SRT_TIMING = re.compile(rf"^{_SRT_TIME}[ \t]*-->[ \t]*{_SRT_TIME}(?:[ \t]+.*)?$")
_TEXT_ADAPTATION_SET = re.compile(
    r"[ \t]*<AdaptationSet\b[^>]*\bcontentType=\"text\"[^>]*>.*?</AdaptationSet>[ \t]*\n?",
    re.DOTALL,
)


class CaptionError(ValueError):
    """A caption file that cannot be used: `line` is the 1-based line at fault (0: the file)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class CaptionTrack:
    """A normalised track: its cues in order and the WebVTT text that holds them."""

    cues: tuple[Cue, ...]
    format: str  # what was uploaded: "vtt" or "srt"

    @property
    def webvtt(self) -> str:
        return to_webvtt(self.cues)


def parse_captions(
    data: bytes, duration_s: float | None = None, *, max_bytes: int = MAX_CAPTION_BYTES
) -> CaptionTrack:
    """Read a WebVTT or SRT file (recognised by content) into a normalised track.

    With `duration_s`, a cue starting at or after the end is refused and one running past the
    end is clipped to it.
    """
    if len(data) > max_bytes:
        raise CaptionError(0, f"the file is larger than {max_bytes} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CaptionError(line, "the file is not UTF-8 text") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise CaptionError(0, "the file is empty")
    lines = text.split("\n")
    if lines[0].startswith("WEBVTT") and lines[0][6:7] in ("", " ", "\t"):
        _check_timings(lines, _VTT_TIMING, duration_s)
        cues = _vtt_cues(text)
        fmt = "vtt"
    elif _looks_like_srt(lines):
        _check_timings(lines, _SRT_TIMING, duration_s)
        cues = _srt_cues(text)
        fmt = "srt"
    else:
        raise CaptionError(1, "neither a WebVTT header nor an SRT cue: not a caption file")
    return CaptionTrack(tuple(normalise(cues, duration_s)), fmt)


def _looks_like_srt(lines: Sequence[str]) -> bool:
    first = next((line.strip() for line in lines if line.strip()), "")
    return first.isdigit() or "-->" in first


def _check_timings(lines: Sequence[str], timing: re.Pattern[str], duration_s: float | None) -> None:
    """Every line naming a cue's times is well formed, and each cue starts before it ends and
    before the video does."""
    cues = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if "-->" not in line:
            continue
        match = timing.match(line)
        if match is None:
            raise CaptionError(number, f"not a valid cue timing: {line[:80]!r}")
        groups = match.groups()
        start, end = _seconds(groups[:4]), _seconds(groups[4:])
        if end <= start:
            raise CaptionError(number, "the cue ends before it starts")
        if duration_s is not None and start >= duration_s:
            raise CaptionError(number, _after_end(start, duration_s))
        cues += 1
        if cues > MAX_CUES:
            raise CaptionError(number, f"more than {MAX_CUES} cues")
    if not cues:
        raise CaptionError(0, "the file holds no cue")


def _seconds(parts: Sequence[str | None]) -> float:
    hours, minutes, seconds, fraction = parts
    milliseconds = int((fraction or "0").ljust(3, "0"))
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0) + milliseconds / 1000


def _timestamp_seconds(stamp: str) -> float:
    match = re.fullmatch(_VTT_TIME, stamp.strip())
    assert match is not None, stamp
    return _seconds(match.groups())


def _vtt_cues(text: str) -> list[Cue]:
    try:
        parsed = webvtt.from_buffer(io.StringIO(text))
    except webvtt.errors.MalformedFileError as exc:
        raise CaptionError(0, f"not a valid WebVTT file: {exc}") from None
    return [
        Cue(_timestamp_seconds(c.start), _timestamp_seconds(c.end), c.raw_text)
        for c in parsed.captions
    ]


def _srt_cues(text: str) -> list[Cue]:
    try:
        items = pysrt.from_string(text, error_handling=pysrt.ERROR_RAISE)
    except pysrt.Error as exc:
        raise CaptionError(_srt_error_line(exc), "not a valid SRT cue") from None
    return [Cue(i.start.ordinal / 1000, i.end.ordinal / 1000, i.text) for i in items]


def _srt_error_line(exc: Exception) -> int:
    # pysrt names the index of the item that failed, not its line.
    found = re.search(r"\d+", str(exc))
    return int(found.group()) if found else 0


def normalise(cues: Sequence[Cue], duration_s: float | None = None) -> list[Cue]:
    """Cues sorted by time (overlaps kept: WebVTT shows them together), clipped to the video."""
    kept = []
    for cue in sorted(cues, key=lambda c: (c.start_s, c.end_s)):
        text = _cue_text(cue.text)
        if not text:
            continue
        end = cue.end_s
        if duration_s is not None:
            if cue.start_s >= duration_s:
                raise CaptionError(0, _after_end(cue.start_s, duration_s))
            end = min(end, duration_s)
        if cue.start_s < 0 or end - cue.start_s < MIN_CUE_S:
            continue
        kept.append(Cue(cue.start_s, end, text))
    if not kept:
        raise CaptionError(0, "the file holds no cue with text")
    return kept


def _after_end(start_s: float, duration_s: float) -> str:
    return f"the cue starts at {start_s:.3f} s, after the video ends ({duration_s:.3f} s)"


def _cue_text(text: str) -> str:
    # A blank line would end the cue, and an arrow would read as a timing line.
    lines = [line.strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line).replace("-->", "->")


def to_webvtt(cues: Sequence[Cue]) -> str:
    """The WebVTT file of `cues`."""
    blocks = ["WEBVTT"]
    blocks += [f"{_stamp(c.start_s)} --> {_stamp(c.end_s)}\n{c.text}" for c in cues]
    return "\n\n".join(blocks) + "\n"


def _stamp(seconds: float) -> str:
    total_ms = round(seconds * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


# --- packaging ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextInput:
    """A normalised WebVTT file to package, with its BCP 47 language and menu label."""

    path: Path
    language: str
    label: str


@dataclass(frozen=True)
class TextPackage:
    """Packaged text tracks under `out_dir/captions/`: the lines and elements that name them in
    a master playlist and an MPD, and every file, relative to `out_dir`."""

    out_dir: Path
    media_lines: tuple[str, ...]
    adaptation_sets: tuple[str, ...]
    files: tuple[str, ...]


def package_text(tracks: Sequence[TextInput], out_dir: Path, *, segment_s: float) -> TextPackage:
    """Segment each track's WebVTT for HLS and DASH in one Shaka Packager run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    descriptors = []
    for index, track in enumerate(tracks):
        name = f"{CAPTIONS_DIR}/{_track_name(index, track.language)}"
        fields = [
            f"in={track.path}",
            "stream=text",
            f"language={track.language}",
            f"segment_template={out_dir / name}/$Number$.vtt",
            f"playlist_name={name}.m3u8",
            f"hls_group_id={TEXT_GROUP}",
            f"hls_name={track.label.replace(',', ' ').replace(chr(34), chr(39))}",
        ]
        descriptors.append(",".join(fields))
    cmd = [tools.packager(), *descriptors]
    cmd += ["--segment_duration", f"{segment_s:.3f}", "--generate_static_live_mpd"]
    # Media timestamps start at 0: the cues' MPEG-TS mapping must not shift them.
    cmd += ["--transport_stream_timestamp_offset_ms", "0", "--hls_playlist_type", "VOD"]
    # Beside the tracks, so that the URIs Packager writes are relative to the package's root,
    # where the video's own manifests are.
    cmd += ["--mpd_output", str(out_dir / "text.mpd")]
    cmd += ["--hls_master_playlist_output", str(out_dir / "text.m3u8")]
    tools.run(cmd, timeout=PACKAGER_TIMEOUT_S)
    master = (out_dir / "text.m3u8").read_text()
    mpd = (out_dir / "text.mpd").read_text()
    (out_dir / "text.m3u8").unlink()
    (out_dir / "text.mpd").unlink()
    media_lines = tuple(
        line for line in master.splitlines() if line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")
    )
    sets = [m.group(0).strip() for m in _TEXT_ADAPTATION_SET.finditer(mpd)]
    if len(media_lines) != len(tracks) or len(sets) != len(tracks):
        raise tools.MediaToolError(cmd, 0, "Shaka Packager left out a text track")
    adaptation_sets = tuple(
        _renumbered(block, index, track)
        for index, (block, track) in enumerate(zip(sets, tracks, strict=True))
    )
    files = tuple(
        sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    )
    return TextPackage(out_dir, media_lines, adaptation_sets, files)


def _track_name(index: int, language: str) -> str:
    return f"{index}-{language}"


def _renumbered(block: str, index: int, track: TextInput) -> str:
    # Ids of their own, clear of the ones the video and audio sets use.
    block = re.sub(r'<AdaptationSet id="\d+"', f'<AdaptationSet id="{1000 + index}"', block)
    block = re.sub(r'<Representation id="\d+"', f'<Representation id="text-{index}"', block)
    # Packager names the language only; players show the Label in their menus.
    opening = block.index(">") + 1
    return f"{block[:opening]}\n      <Label>{escape(track.label)}</Label>{block[opening:]}"


def with_text_master(master: str, media_lines: Sequence[str]) -> str:
    """`master` with exactly these subtitle renditions, every variant pointing at them."""
    lines = [
        line for line in master.splitlines() if not line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")
    ]
    out = []
    for line in lines:
        if line.startswith("#EXT-X-STREAM-INF:"):
            line = re.sub(r',SUBTITLES="[^"]*"', "", line)
            if media_lines:
                line += f',SUBTITLES="{TEXT_GROUP}"'
        out.append(line)
    if media_lines:
        first_variant = next(
            (i for i, line in enumerate(out) if line.startswith("#EXT-X-STREAM-INF:")), len(out)
        )
        out[first_variant:first_variant] = list(media_lines)
    return "\n".join(out) + "\n"


def with_text_mpd(mpd: str, adaptation_sets: Sequence[str]) -> str:
    """`mpd` with exactly these text AdaptationSets in its (single) Period."""
    stripped = _TEXT_ADAPTATION_SET.sub("", mpd)
    if not adaptation_sets:
        return stripped
    insert = "".join(f"    {block}\n" for block in adaptation_sets)
    head, found, tail = stripped.rpartition("</Period>")
    if not found:
        raise ValueError("the MPD has no Period")
    return head.rstrip(" ") + insert + "  " + found + tail
