"""Check outcomes of several renditions combined into one Dagster check result."""

from __future__ import annotations

from assets.transcode import check_result, combine
from media.checks import CheckOutcome


def test_renditions_that_all_pass_pass_together_with_each_ones_figures() -> None:
    result = combine(
        {
            "r234": CheckOutcome(True, "ok", {"ssim": 0.97, "psnr": 41.2}),
            "r360": CheckOutcome(True, "ok", {"ssim": 0.98}),
        }
    )
    assert result.passed
    assert result.description == "2 renditions pass"
    assert {name: entry.value for name, entry in result.metadata.items()} == {
        "r234.ssim": 0.97,
        "r234.psnr": 41.2,
        "r360.ssim": 0.98,
    }


def test_one_failing_rendition_fails_the_check_and_is_named() -> None:
    result = combine(
        {
            "r234": CheckOutcome(True, "ok", {"ssim": 0.97}),
            "r360": CheckOutcome(False, "SSIM 0.81 under the floor 0.90", {"ssim": 0.81}),
            "audio": CheckOutcome(False, "decoding stopped at 1.2 s"),
        }
    )
    assert not result.passed
    assert result.description == (
        "r360: SSIM 0.81 under the floor 0.90; audio: decoding stopped at 1.2 s"
    )
    assert result.metadata["r360.ssim"].value == 0.81


def test_a_single_outcome_keeps_its_verdict_text_and_figures() -> None:
    result = check_result(CheckOutcome(False, "rung r720 is larger than the source", {"px": 8}))
    assert (result.passed, result.description) == (False, "rung r720 is larger than the source")
    assert result.metadata["px"].value == 8
