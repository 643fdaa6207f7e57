"""Caption tracks packaged by Shaka Packager and merged into a real ladder's manifests, clear
and encrypted: players find one subtitle rendition and one text AdaptationSet per language, and
every file they name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from media import captions, checks, manifests
from reelflow import layout
from tests.fixtures.media_drm import SEGMENT_S, ClearLadder, EncryptedLadder

ENGLISH = "WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nHello\n\n00:00:02.500 --> 00:00:03.900\nBye\n"
FRENCH = "1\n00:00:01,000 --> 00:00:03,000\nBonjour\n"


def _tracks(directory: Path) -> list[captions.TextInput]:
    inputs = []
    for language, label, text in (("en", "English", ENGLISH), ("fr", "Français", FRENCH)):
        path = directory / f"{language}.vtt"
        path.write_text(captions.parse_captions(text.encode(), 4.0).webvtt)
        inputs.append(captions.TextInput(path, language, label))
    return inputs


def _captioned(package_dir: Path, text: captions.TextPackage, target: Path) -> Path:
    """A copy of a package with the text tracks merged in, as publishing makes it."""
    shutil.copytree(package_dir, target)
    shutil.copytree(text.out_dir / captions.CAPTIONS_DIR, target / captions.CAPTIONS_DIR)
    master = target / layout.HLS_MASTER_NAME
    master.write_text(captions.with_text_master(master.read_text(), text.media_lines))
    mpd = target / layout.MPD_NAME
    mpd.write_text(captions.with_text_mpd(mpd.read_text(), text.adaptation_sets))
    return target


@pytest.fixture(scope="module")
def text_package(tmp_path_factory: pytest.TempPathFactory) -> captions.TextPackage:
    directory = tmp_path_factory.mktemp("captions")
    return captions.package_text(_tracks(directory), directory / "text", segment_s=SEGMENT_S)


def test_each_language_is_a_subtitle_playlist_and_a_text_adaptation_set(
    text_package: captions.TextPackage,
) -> None:
    assert len(text_package.media_lines) == 2
    assert 'LANGUAGE="fr",NAME="Français"' in text_package.media_lines[1]
    assert all('GROUP-ID="subtitles"' in line for line in text_package.media_lines)
    assert [a.count('contentType="text"') for a in text_package.adaptation_sets] == [1, 1]
    # Players name DASH text tracks by their Label, HLS ones by NAME.
    assert "<Label>Français</Label>" in text_package.adaptation_sets[1]
    assert all(name.startswith("captions/") for name in text_package.files)
    # The cues reach the segments that cover their times, on the media timeline: no
    # timestamp map moves them.
    first = (text_package.out_dir / "captions/0-en/1.vtt").read_text()
    assert "X-TIMESTAMP-MAP" not in first
    assert "00:00:00.500 --> 00:00:01.500" in first and "Hello" in first


def test_the_clear_ladder_with_captions_resolves(
    clear_ladder: ClearLadder, text_package: captions.TextPackage, tmp_path: Path
) -> None:
    package = _captioned(clear_ladder.result.out_dir, text_package, tmp_path / "stream")
    resolved = checks.manifests_resolve(package)
    assert resolved.passed, resolved.description

    master_text = (package / layout.HLS_MASTER_NAME).read_text()
    master = manifests.parse_master_playlist(master_text)
    assert {"captions/0-en.m3u8", "captions/1-fr.m3u8"} <= set(master.renditions)
    assert master_text.count(',SUBTITLES="subtitles"') == len(master.variants)
    english = manifests.parse_media_playlist((package / "captions/0-en.m3u8").read_text())
    assert english.ended and english.uris[0] == "0-en/1.vtt"

    reps = manifests.parse_mpd((package / layout.MPD_NAME).read_text())
    text = [rep for rep in reps if rep.content_type == "text"]
    assert [rep.id for rep in text] == ["text-0", "text-1"]
    assert len({rep.id for rep in reps}) == len(reps)
    assert all((package / uri).is_file() for rep in text for uri in rep.uris)
    # The video and audio streams are the encoder's, untouched.
    media = [rep for rep in reps if rep.content_type != "text"]
    assert len(media) == len(clear_ladder.streams)


def test_encrypted_packages_take_the_same_clear_text_tracks(
    encrypted_ladder: EncryptedLadder, text_package: captions.TextPackage, tmp_path: Path
) -> None:
    package = _captioned(encrypted_ladder.package.out_dir, text_package, tmp_path / "cmaf")
    resolved = checks.manifests_resolve(package)
    assert resolved.passed, resolved.description
    mpd = (package / layout.MPD_NAME).read_text()
    assert mpd.count('contentType="text"') == 2
    # Keys protect the media only: the text sets carry no ContentProtection.
    for block in text_package.adaptation_sets:
        assert "ContentProtection" not in block
    master = manifests.parse_master_playlist((package / layout.HLS_MASTER_NAME).read_text())
    assert "captions/1-fr.m3u8" in master.renditions
