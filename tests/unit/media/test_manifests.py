"""Pure parsing of DASH MPDs and HLS playlists into the URIs they reference."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from media.manifests import (
    ManifestError,
    fill_template,
    is_master_playlist,
    mpd_streams,
    parse_iso_duration,
    parse_master_playlist,
    parse_media_playlist,
    parse_mpd,
)

MPD_HEAD = '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"'

FFMPEG_MPD = (
    MPD_HEAD
    + """ mediaPresentationDuration="PT4.0S">
  <Period id="0" start="PT0.0S">
    <AdaptationSet id="0" contentType="video">
      <Representation id="0" mimeType="video/mp4" bandwidth="756456" width="320" height="180"
          codecs="avc1.42c00d">
        <SegmentTemplate timescale="15360" initialization="init-$RepresentationID$.m4s"
            media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
          <SegmentTimeline><S t="0" d="30720" r="1" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio">
      <Representation id="1" mimeType="audio/mp4" bandwidth="64000">
        <SegmentTemplate timescale="48000" initialization="init-$RepresentationID$.m4s"
            media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
          <SegmentTimeline><S t="0" d="95232" /><S d="96256" /><S d="512" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>"""
)


def test_ffmpeg_style_mpd_expands_number_templates() -> None:
    video, audio = parse_mpd(FFMPEG_MPD)

    assert (video.id, video.content_type, video.width, video.height) == ("0", "video", 320, 180)
    assert (video.codecs, audio.codecs) == ("avc1.42c00d", "")
    assert video.init == "init-0.m4s"
    assert video.media == ("chunk-0-00001.m4s", "chunk-0-00002.m4s")
    assert audio.content_type == "audio" and audio.bandwidth == 64000
    assert audio.uris == [
        "init-1.m4s",
        "chunk-1-00001.m4s",
        "chunk-1-00002.m4s",
        "chunk-1-00003.m4s",
    ]


def test_template_on_the_adaptation_set_with_time_and_bandwidth() -> None:
    mpd = (
        MPD_HEAD
        + """ mediaPresentationDuration="PT6S">
      <BaseURL>media/</BaseURL>
      <Period>
        <AdaptationSet mimeType="video/mp4">
          <SegmentTemplate timescale="1000" initialization="$RepresentationID$/init.mp4"
              media="$RepresentationID$/$Bandwidth$-$Time$.m4s">
            <SegmentTimeline><S t="100" d="2000" r="2" /></SegmentTimeline>
          </SegmentTemplate>
          <Representation id="hd" bandwidth="5000" />
          <Representation id="sd" bandwidth="1000" />
        </AdaptationSet>
      </Period>
    </MPD>"""
    )

    hd, sd = parse_mpd(mpd)

    assert hd.content_type == "video"
    assert hd.init == "media/hd/init.mp4"
    assert hd.media == ("media/hd/5000-100.m4s", "media/hd/5000-2100.m4s", "media/hd/5000-4100.m4s")
    assert sd.media[0] == "media/sd/1000-100.m4s"


def test_representation_template_overrides_the_adaptation_set() -> None:
    mpd = (
        MPD_HEAD
        + """ mediaPresentationDuration="PT4S"><Period><AdaptationSet contentType="audio">
          <SegmentTemplate timescale="1" duration="2" media="a/$Number$.m4s" startNumber="0" />
          <Representation id="a"><SegmentTemplate startNumber="7" /></Representation>
        </AdaptationSet></Period></MPD>"""
    )

    (rep,) = parse_mpd(mpd)

    assert rep.init is None
    assert rep.media == ("a/7.m4s", "a/8.m4s")


def test_duration_template_counts_segments_from_the_period() -> None:
    mpd = (
        MPD_HEAD
        + """ mediaPresentationDuration="PT1M0.5S"><Period>
          <AdaptationSet contentType="video"><Representation id="v">
            <SegmentTemplate timescale="90000" duration="540000" media="s$Number%03d$.m4s" />
          </Representation></AdaptationSet></Period></MPD>"""
    )

    (rep,) = parse_mpd(mpd)

    # 60.5 s in 6 s segments: 11 segments, the last one short.
    assert len(rep.media) == 11
    assert rep.media[0] == "s001.m4s" and rep.media[-1] == "s011.m4s"


def test_open_ended_repeat_runs_to_the_end_of_the_period() -> None:
    mpd = (
        MPD_HEAD
        + """ mediaPresentationDuration="PT7S"><Period>
          <AdaptationSet contentType="video"><Representation id="v">
            <SegmentTemplate timescale="10" media="$Time$.m4s">
              <SegmentTimeline><S t="0" d="20" r="-1" /></SegmentTimeline>
            </SegmentTemplate>
          </Representation></AdaptationSet></Period></MPD>"""
    )

    (rep,) = parse_mpd(mpd)

    assert rep.media == ("0.m4s", "20.m4s", "40.m4s", "60.m4s")


def test_packager_style_mpd_with_content_protection() -> None:
    mpd = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" '
        'type="static" mediaPresentationDuration="PT4S"><Period id="0">'
        '<AdaptationSet id="0" contentType="video">'
        '<ContentProtection value="cbcs" schemeIdUri="urn:mpeg:dash:mp4protection:2011" '
        'cenc:default_KID="01234567-89ab-cdef-0123-456789abcdef"/>'
        '<Representation id="0" bandwidth="797024" width="320" height="180">'
        '<SegmentTemplate timescale="15360" initialization="v0/init.mp4" '
        'media="v0/$Number$.m4s" startNumber="1">'
        '<SegmentTimeline><S t="0" d="30720" r="1"/></SegmentTimeline>'
        "</SegmentTemplate></Representation></AdaptationSet></Period></MPD>"
    )

    (rep,) = parse_mpd(mpd)

    assert rep.uris == ["v0/init.mp4", "v0/1.m4s", "v0/2.m4s"]


def test_segment_list_and_single_file_representations() -> None:
    mpd = (
        MPD_HEAD
        + """ mediaPresentationDuration="PT4S"><Period>
          <AdaptationSet mimeType="video/mp4">
            <Representation id="list">
              <SegmentList><Initialization sourceURL="list/init.mp4" />
                <SegmentURL media="list/a.m4s" /><SegmentURL media="list/b.m4s" />
              </SegmentList>
            </Representation>
            <Representation id="single"><BaseURL>single/video.mp4</BaseURL>
              <SegmentBase indexRange="800-900" />
            </Representation>
          </AdaptationSet></Period></MPD>"""
    )

    listed, single = parse_mpd(mpd)

    assert listed.uris == ["list/init.mp4", "list/a.m4s", "list/b.m4s"]
    assert single.uris == ["single/video.mp4"]


@pytest.mark.parametrize(
    "text",
    [
        "not xml <",
        '<MPD xmlns="urn:other"/>',
        MPD_HEAD + '><Period><AdaptationSet><Representation id="x">'
        '<SegmentTemplate media="$Number$.m4s" duration="2" />'
        "</Representation></AdaptationSet></Period></MPD>",
    ],
)
def test_unusable_mpds_raise(text: str) -> None:
    with pytest.raises(ManifestError):
        parse_mpd(text)


def test_fill_template_identifiers() -> None:
    assert fill_template("$RepresentationID$_$Number%05d$", representation_id="a", number=7) == (
        "a_00007"
    )
    assert fill_template("$$x$Time$", representation_id="a", time=90) == "$x90"
    with pytest.raises(ManifestError):
        fill_template("$Number$", representation_id="a")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT4.0S", 4.0), ("PT1H2M3.5S", 3723.5), ("P1DT1S", 86401.0), ("PT0S", 0.0)],
)
def test_iso_durations(text: str, seconds: float) -> None:
    assert parse_iso_duration(text) == seconds


@pytest.mark.parametrize("text", ["4S", "P", "PT", "PTxS"])
def test_bad_iso_durations_raise(text: str) -> None:
    with pytest.raises(ManifestError):
        parse_iso_duration(text)


def test_mpd_streams_are_the_local_files_of_audio_and_video(tmp_path: Path) -> None:
    mpd = (
        MPD_HEAD
        + """ mediaPresentationDuration="PT4S"><Period>
          <AdaptationSet contentType="video"><Representation id="hd 1">
            <SegmentList><Initialization sourceURL="hd%201/init.mp4" />
              <SegmentURL media="hd%201/a.m4s" /></SegmentList>
          </Representation></AdaptationSet>
          <AdaptationSet contentType="text"><Representation id="en">
            <BaseURL>en.vtt</BaseURL></Representation></AdaptationSet>
          <AdaptationSet contentType="audio"><Representation id="a">
            <BaseURL>audio.mp4</BaseURL></Representation></AdaptationSet>
        </Period></MPD>"""
    )
    (tmp_path / "manifest.mpd").write_text(mpd)

    video, audio = mpd_streams(tmp_path / "manifest.mpd")

    assert (video.kind, video.name) == ("video", "video_hd_1")
    assert video.files == [tmp_path / "hd 1" / "init.mp4", tmp_path / "hd 1" / "a.m4s"]
    assert (audio.kind, audio.name, audio.files) == ("audio", "audio_a", [tmp_path / "audio.mp4"])


# --- HLS ------------------------------------------------------------------------------------------

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,URI="media_2.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=783702,RESOLUTION=320x180,CODECS="avc1.42c00d,mp4a.40.2",AUDIO="audio"
media_0.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=66250,RESOLUTION=256x144,CODECS="avc1.42c00c,mp4a.40.2",AUDIO="audio"
low/media_1.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1000,URI="iframes.m3u8"
"""


def test_master_playlist_lists_variants_renditions_and_iframes() -> None:
    master = parse_master_playlist(MASTER)

    assert is_master_playlist(MASTER)
    assert master.variants == ("media_0.m3u8", "low/media_1.m3u8")
    assert master.renditions == ("media_2.m3u8",)
    assert master.iframe_playlists == ("iframes.m3u8",)
    assert master.playlists == ["media_0.m3u8", "low/media_1.m3u8", "media_2.m3u8", "iframes.m3u8"]


def test_master_with_audio_groups_names_each_rendition_playlist_once() -> None:
    # Two audio groups (one per bit rate family) sharing the English track, a muxed-in
    # commentary without a URI of its own, and subtitles.
    text = """#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac-lo",NAME="English",LANGUAGE="en",URI="audio/en.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac-hi",NAME="English",LANGUAGE="en",URI="audio/en.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac-hi",NAME="Deutsch",LANGUAGE="de",URI="audio/de.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac-hi",NAME="Commentary",LANGUAGE="en"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",URI="subs/en.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=400000,CODECS="avc1.4d401e,mp4a.40.2",AUDIO="aac-lo",SUBTITLES="subs"
video/360p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=3000000,CODECS="avc1.640028,mp4a.40.2",AUDIO="aac-hi",SUBTITLES="subs"
video/1080p.m3u8
"""

    master = parse_master_playlist(text)

    assert master.variants == ("video/360p.m3u8", "video/1080p.m3u8")
    assert master.renditions == ("audio/en.m3u8", "audio/de.m3u8", "subs/en.m3u8")
    assert master.iframe_playlists == ()


def test_a_master_of_iframe_playlists_only_is_a_master() -> None:
    text = '#EXTM3U\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1000,URI="iframes.m3u8"\n'

    assert is_master_playlist(text)
    assert parse_master_playlist(text).playlists == ["iframes.m3u8"]


MEDIA = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="v0/init.mp4"
#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,ASNF,Z4mr",IV=0xa8df,KEYFORMAT="identity"
#EXTINF:2.000,
v0/1.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-27T08:44:13.000+0000
#EXTINF:1.5,title
v0/2.m4s
#EXT-X-ENDLIST
"""


def test_media_playlist_segments_map_and_keys() -> None:
    media = parse_media_playlist(MEDIA)

    assert not is_master_playlist(MEDIA)
    assert media.segments == ("v0/1.m4s", "v0/2.m4s")
    assert media.maps == ("v0/init.mp4",)
    assert media.uris == ["v0/init.mp4", "v0/1.m4s", "v0/2.m4s"]
    assert media.durations == (2.0, 1.5)
    assert media.ended
    (key,) = media.keys
    # Attribute names as the playlist spells them; a comma inside a quoted URI stays in it.
    assert key == {
        "METHOD": "SAMPLE-AES",
        "URI": "data:text/plain;base64,ASNF,Z4mr",
        "IV": "0xa8df",
        "KEYFORMAT": "identity",
    }


def test_byte_ranges_of_one_file_name_it_once() -> None:
    text = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MAP:URI="video.mp4",BYTERANGE="812@0"
#EXTINF:2.0,
#EXT-X-BYTERANGE:40000@812
video.mp4
#EXTINF:2.0,
#EXT-X-BYTERANGE:38000
video.mp4
#EXTINF:0.5,
#EXT-X-BYTERANGE:9000
video.mp4
"""

    media = parse_media_playlist(text)

    assert media.segments == ("video.mp4",) * 3
    assert media.durations == (2.0, 2.0, 0.5)
    assert media.maps == ("video.mp4",)
    assert media.uris == ["video.mp4"]
    assert not media.ended  # no EXT-X-ENDLIST: a live playlist


def test_key_rotation_lists_each_key_once_in_order() -> None:
    text = """#EXTM3U
#EXT-X-TARGETDURATION:6
#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/1",IV=0x01
#EXTINF:6,
a.ts
#EXTINF:6,
b.ts
#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/2",IV=0x02
#EXTINF:6,
c.ts
#EXT-X-KEY:METHOD=NONE
#EXTINF:6,
d.ts
#EXT-X-ENDLIST
"""

    media = parse_media_playlist(text)

    assert [(k["METHOD"], k.get("URI")) for k in media.keys] == [
        ("AES-128", "https://keys.example/1"),
        ("AES-128", "https://keys.example/2"),
        ("NONE", None),
    ]
    assert media.segments == ("a.ts", "b.ts", "c.ts", "d.ts")


def test_a_clear_playlist_has_no_keys() -> None:
    media = parse_media_playlist("#EXTM3U\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n")

    assert media.keys == () and media.maps == ()


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        (parse_media_playlist, ""),
        (parse_media_playlist, "no header\nseg.ts\n"),
        (parse_media_playlist, "#EXTM3U\nseg.ts\n"),  # a segment without EXTINF
        (parse_media_playlist, "#EXTM3U\n#EXTINF:2,\na.ts\nb.ts\n"),  # the second one
        (parse_media_playlist, "#EXTM3U\n#EXTINF:2,\na.ts\n#EXTINF:2,\n"),  # EXTINF, no URI
        (parse_media_playlist, "#EXTM3U\n#EXTINF:two,\na.ts\n"),
        (parse_media_playlist, "#EXTM3U\n#EXT-X-MAP:BYTERANGE=10\n"),
        (parse_media_playlist, "#EXTM3U\n#EXT-X-KEY:METHOD\n#EXTINF:2,\na.ts\n"),
        (parse_master_playlist, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n"),
        (
            parse_master_playlist,
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\nb.m3u8\n",
        ),
        (parse_master_playlist, "#EXTM3U\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1\n"),
        (parse_master_playlist, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=lots\nv.m3u8\n"),
    ],
)
def test_malformed_playlists_raise(parser: Callable[[str], object], text: str) -> None:
    with pytest.raises(ManifestError):
        parser(text)
