"""Caption files in, normalised WebVTT out: the formats, the fixes and the refusals."""

from __future__ import annotations

import pytest

from media.captions import (
    MAX_CAPTION_BYTES,
    CaptionError,
    Cue,
    normalise,
    parse_captions,
    to_webvtt,
    with_text_master,
    with_text_mpd,
)

VTT = """WEBVTT

NOTE a comment the normalised file leaves out

intro
00:00:04.000 --> 00:00:05.500 align:start
Second

00:01.000 --> 00:02.000
<i>First</i>
line two
"""

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello
world

2
00:00:03,250 --> 00:00:04,000
Again
"""


def test_webvtt_is_sorted_by_time_and_keeps_its_markup() -> None:
    track = parse_captions(VTT.encode())
    assert track.format == "vtt"
    assert track.cues == (
        Cue(1.0, 2.0, "<i>First</i>\nline two"),
        Cue(4.0, 5.5, "Second"),
    )
    assert track.webvtt == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<i>First</i>\nline two\n\n"
        "00:00:04.000 --> 00:00:05.500\nSecond\n"
    )


def test_srt_becomes_webvtt_whatever_the_file_is_called() -> None:
    track = parse_captions(SRT.encode())
    assert track.format == "srt"
    assert track.webvtt == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello\nworld\n\n"
        "00:00:03.250 --> 00:00:04.000\nAgain\n"
    )


def test_a_byte_order_mark_and_crlf_line_ends_are_read() -> None:
    data = "\ufeff" + SRT.replace("\n", "\r\n")
    assert parse_captions(data.encode()).cues[0] == Cue(1.0, 2.5, "Hello\nworld")


def test_overlapping_cues_are_kept_in_start_order() -> None:
    data = (
        "WEBVTT\n\n00:00:02.000 --> 00:00:06.000\nlong\n\n"
        "00:00:01.000 --> 00:00:03.000\nearly\n\n00:00:02.000 --> 00:00:02.500\nshort\n"
    )
    cues = parse_captions(data.encode()).cues
    assert [(c.start_s, c.end_s, c.text) for c in cues] == [
        (1.0, 3.0, "early"),
        (2.0, 2.5, "short"),
        (2.0, 6.0, "long"),
    ]


def test_a_bad_timestamp_is_refused_with_its_line() -> None:
    data = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\n00:00:0x.000 --> 00:00:03.000\nbad\n"
    with pytest.raises(CaptionError) as refused:
        parse_captions(data.encode())
    assert refused.value.line == 6
    assert "not a valid cue timing" in refused.value.reason
    assert str(refused.value).startswith("line 6: ")


def test_a_bad_srt_time_is_refused_with_its_line_not_read_as_zero() -> None:
    data = SRT.replace("00:00:04,000", "00:00:4,000")
    with pytest.raises(CaptionError) as refused:
        parse_captions(data.encode())
    assert refused.value.line == 7


def test_a_cue_ending_before_it_starts_is_refused_with_its_line() -> None:
    data = "WEBVTT\n\n00:00:03.000 --> 00:00:02.000\nbackwards\n"
    with pytest.raises(CaptionError) as refused:
        parse_captions(data.encode())
    assert (refused.value.line, refused.value.reason) == (3, "the cue ends before it starts")


def test_cues_past_the_end_are_clipped_and_one_starting_after_it_refused() -> None:
    data = "WEBVTT\n\n00:00:01.000 --> 00:00:09.000\nruns over\n"
    assert parse_captions(data.encode(), duration_s=8.0).cues == (Cue(1.0, 8.0, "runs over"),)
    late = data + "\n00:00:08.500 --> 00:00:09.000\ntoo late\n"
    with pytest.raises(CaptionError) as refused:
        parse_captions(late.encode(), duration_s=8.0)
    assert refused.value.line == 6
    assert "after the video ends" in refused.value.reason


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        (b"", 0, "the file is empty"),
        (b"hello there\n", 1, "not a caption file"),
        (b"WEBVTT\n\nno cues at all\n", 0, "no cue"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\xff\xfe\n", 4, "not UTF-8"),
        (b"x" * (MAX_CAPTION_BYTES + 1), 0, "larger than"),
    ],
)
def test_what_is_not_a_caption_file_is_refused(data: bytes, line: int, reason: str) -> None:
    with pytest.raises(CaptionError) as refused:
        parse_captions(data)
    assert refused.value.line == line
    assert reason in refused.value.reason


def test_cue_text_cannot_end_a_cue_or_fake_a_timing_line() -> None:
    cues = normalise([Cue(0.0, 1.0, "a --> b\n\n  c ")])
    assert cues == [Cue(0.0, 1.0, "a -> b\nc")]
    assert parse_captions(to_webvtt(cues).encode()).cues == tuple(cues)


MASTER = (
    "#EXTM3U\n#EXT-X-VERSION:7\n"
    '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",URI="media_2.m3u8"\n'
    '#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="avc1.64001f,mp4a.40.2",AUDIO="audio"\n'
    "media_0.m3u8\n"
    '#EXT-X-STREAM-INF:BANDWIDTH=400000,CODECS="avc1.64001e,mp4a.40.2",AUDIO="audio"\n'
    "media_1.m3u8\n"
)
SUBS = (
    '#EXT-X-MEDIA:TYPE=SUBTITLES,URI="captions/0-en.m3u8",GROUP-ID="subtitles",'
    'LANGUAGE="en",NAME="English",DEFAULT=NO,AUTOSELECT=YES'
)


def test_the_master_playlist_names_the_subtitles_once_and_replaces_them() -> None:
    merged = with_text_master(MASTER, [SUBS])
    lines = merged.splitlines()
    assert lines.count(SUBS) == 1
    variants = [line for line in lines if line.startswith("#EXT-X-STREAM-INF")]
    assert all(line.endswith(',SUBTITLES="subtitles"') for line in variants)
    assert lines.index(SUBS) < lines.index(variants[0])
    assert with_text_master(merged, [SUBS]) == merged
    assert with_text_master(merged, []) == MASTER


MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT8S">
  <Period id="0" start="PT0.0S">
    <AdaptationSet id="0" contentType="video">
      <Representation id="0" bandwidth="1"/>
    </AdaptationSet>
  </Period>
</MPD>
"""
TEXT_SET = (
    '<AdaptationSet id="1000" contentType="text" lang="en">\n'
    '      <Representation id="text-0" bandwidth="444" mimeType="text/vtt"/>\n'
    "    </AdaptationSet>"
)


def test_the_mpd_has_the_text_adaptation_sets_once_and_replaces_them() -> None:
    merged = with_text_mpd(MPD, [TEXT_SET])
    assert merged.count('contentType="text"') == 1
    assert merged.index('contentType="video"') < merged.index('contentType="text"')
    assert merged.index('contentType="text"') < merged.index("</Period>")
    assert with_text_mpd(merged, [TEXT_SET]) == merged
    assert with_text_mpd(merged, []) == MPD
