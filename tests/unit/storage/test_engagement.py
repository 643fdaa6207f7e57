"""Pure parts of the viewing aggregates: trending scores, pseudonyms, windows."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pandas as pd
import pytest

from storage.engagement import pseudonym, pseudonym_key, pseudonymise, trending_scores, window

DAY = date(2026, 11, 10)


def test_trending_decays_views_by_age_and_ignores_days_outside_the_window() -> None:
    engagement = pd.DataFrame(
        {
            "day": [DAY, date(2026, 11, 8), date(2026, 11, 4), date(2026, 11, 3), DAY, DAY],
            "video_id": ["a", "b", "b", "c", "d", "e"],
            "views": [3, 8, 1, 100, 0, 2],
        }
    )
    ranking = trending_scores(engagement, DAY, window_days=7, half_life_days=2.0)
    # b: 8 views two days old (one half-life) = 4, plus 1 view six days old = 1/8.
    # c is seven days old: outside the window. d has no views. a and e tie-break by id.
    assert ranking.to_dict("records") == [
        {"rank": 1, "video_id": "b", "score": 4.125, "window_views": 9},
        {"rank": 2, "video_id": "a", "score": 3.0, "window_views": 3},
        {"rank": 3, "video_id": "e", "score": 2.0, "window_views": 2},
    ]


def test_trending_of_future_days_is_not_counted() -> None:
    engagement = pd.DataFrame({"day": [date(2026, 11, 11)], "video_id": ["a"], "views": [5]})
    assert trending_scores(engagement, DAY).empty


def test_ties_are_broken_by_video_id_whatever_the_input_order() -> None:
    engagement = pd.DataFrame({"day": [DAY] * 3, "video_id": ["z", "m", "a"], "views": [1] * 3})
    assert list(trending_scores(engagement, DAY)["video_id"]) == ["a", "m", "z"]


def test_pseudonyms_are_stable_keyed_and_not_the_id() -> None:
    user = uuid4()
    key = pseudonym_key("secret-one")
    assert pseudonym(user, key) == pseudonym(str(user).upper(), key)
    assert len(pseudonym(user, key)) == 32 and str(user.hex) not in pseudonym(user, key)
    assert pseudonym(user, key) != pseudonym(user, pseudonym_key("secret-two"))
    assert pseudonym(user, key) != pseudonym(uuid4(), key)
    assert pseudonymise([user, user], key) == [pseudonym(user, key)] * 2
    # The derived key is not the secret itself.
    assert pseudonym_key("secret-one") != b"secret-one"


def test_known_pseudonym_value() -> None:
    # Pinned: a change here changes every pseudonym analysts have stored.
    key = pseudonym_key("k")
    assert pseudonym(UUID(int=0), key) == pseudonym(UUID(int=0), pseudonym_key(b"k"))
    assert pseudonym(UUID(int=0), key) == "5bc0004ddac5098ecbd04297271dd66b"


def test_window_and_bad_arguments() -> None:
    assert window(DAY, 3) == [date(2026, 11, 8), date(2026, 11, 9), DAY]
    with pytest.raises(ValueError):
        window(DAY, 0)
    with pytest.raises(ValueError):
        pseudonym_key("")
