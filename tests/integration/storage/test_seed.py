"""Seeded watch events are written through the history code, as the API writes reports."""

from __future__ import annotations

from datetime import date

from storage.history import History
from storage.seed import make_videos, seed_events

SEED_DAY = date(2026, 11, 8)


def test_seeded_events_go_through_the_history_code(history: History) -> None:
    videos = make_videos(5, seed=3)
    summary = seed_events(
        history, users=8, videos=videos, days=1, last_day=SEED_DAY, seed=3, workers=4
    )
    assert summary.first_day == summary.last_day == SEED_DAY
    assert summary.reports == history.count_events_for_day(SEED_DAY) > 0
    users = {event.user_id for event in history.events_for_day(SEED_DAY)}
    # Progress and "continue watching" are written alongside each event, as for the API.
    assert all(history.history(user) for user in users)
