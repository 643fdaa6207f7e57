"""Realistic watch events for demos, tests and benchmarks (`reelflow seed events`).

Viewers and videos follow the skews of real platforms: video popularity is a power law (a few
videos get most views), viewers favour the videos of one topic when videos have topics, viewer
activity is heavy-tailed (most viewers watch a little, a few watch a lot), sessions start mostly
in the evening and chain a few videos, and a watch either runs to the end or is abandoned
part-way, with pauses and forward seeks. A viewer coming back to an unfinished video resumes
where they stopped.

Reports go through `History.record_watch`, exactly as the API writes them, so progress,
"continue watching" and the day index are consistent with the events. The same seed gives the
same reports (ids and times included); only Cassandra's event ids differ.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from storage.history import History

# Players report every 10 s of playback (and on start, pause, resume, seek and end).
REPORT_INTERVAL_S = 10.0
ZIPF_EXPONENT = 1.1
# Share of a viewer's picks from their favourite topic, when the videos have several topics.
FAVOURITE_TOPIC_SHARE = 0.8
FULL_WATCH_PROBABILITY = 0.3
PAUSE_PROBABILITY = 0.03
SEEK_PROBABILITY = 0.02
MAX_VIDEOS_PER_SESSION = 5
MEDIAN_DURATION_S = 300.0
MIN_DURATION_S = 15.0
MAX_DURATION_S = 3 * 3600.0
# Share of sessions starting in each UTC hour: quiet at night, peaking in the evening.
HOURLY_WEIGHTS = (2, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 5, 6, 5, 5, 5, 6, 7, 9, 11, 12, 11, 8, 4)
CLIENTS = ("web", "ios", "android", "tv")


@dataclass(frozen=True)
class SeedVideo:
    """A video the generated viewers watch."""

    video_id: UUID
    duration_s: float
    topic: str = ""
    """What the video is about (its first tag): viewers favour the videos of one topic."""


@dataclass(frozen=True)
class Report:
    """One player report, in the arguments of `History.record_watch`."""

    user_id: UUID
    video_id: UUID
    session_id: UUID
    position_s: float
    duration_s: float
    watched_delta_s: float
    event_type: str
    at: datetime
    client: str


@dataclass(frozen=True)
class SeedSummary:
    """What `seed_events` wrote."""

    reports: int
    users: int
    videos: int
    first_day: date
    last_day: date


def make_videos(count: int, seed: int = 0) -> list[SeedVideo]:
    """`count` videos with log-normal durations (median 5 minutes, 15 s to 3 h)."""
    rng = random.Random(f"videos-{seed}")
    return [
        SeedVideo(
            _uuid(rng),
            round(
                min(MAX_DURATION_S, max(MIN_DURATION_S, rng.lognormvariate(math.log(300), 0.9))), 1
            ),
        )
        for _ in range(count)
    ]


def days_ending(last_day: date, days: int) -> list[date]:
    """The `days` consecutive days ending on `last_day`, oldest first."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    return [last_day - timedelta(days=n) for n in range(days - 1, -1, -1)]


def user_reports(
    users: int, videos: Sequence[SeedVideo], days: Sequence[date], seed: int = 0
) -> Iterator[list[Report]]:
    """Each viewer's reports over `days`, one list per viewer, in time order.

    Reports that would fall after the last day (a session running past its midnight) are left
    out, so every report lands on one of `days`.
    """
    if users < 1 or not videos or not days:
        raise ValueError("need at least one user, one video and one day")
    rng = random.Random(f"reports-{seed}")
    ranks = list(range(len(videos)))
    rng.shuffle(ranks)
    # Zipf: the video of popularity rank r is watched in proportion to 1 / r ** s.
    weights = [1.0 / (r + 1) ** ZIPF_EXPONENT for r in ranks]
    cum_weights = list(itertools.accumulate(weights))
    # Per topic, the same Zipf weights restricted to its videos: tastes a model can learn.
    topics: dict[str, list[int]] = {}
    for index, video in enumerate(videos):
        topics.setdefault(video.topic, []).append(index)
    by_topic = {
        topic: (indexes, list(itertools.accumulate(weights[i] for i in indexes)))
        for topic, indexes in sorted(topics.items())
    }
    end = datetime.combine(max(days) + timedelta(days=1), datetime.min.time(), UTC)
    for _ in range(users):
        user_id = _uuid(rng)
        client = rng.choice(CLIENTS)
        # One topic only (or none): everyone draws from the whole catalogue, as before.
        favourite = by_topic[rng.choice(sorted(by_topic))] if len(by_topic) > 1 else None
        # Heavy-tailed activity: sessions a day average about one, a few viewers binge.
        rate = min(6.0, 0.3 * rng.paretovariate(1.5))
        resume: dict[UUID, float] = {}
        reports: list[Report] = []
        for day in sorted(days):
            starts = sorted(_session_start(rng, day) for _ in range(_poisson(rng, rate)))
            clock = datetime.combine(day, datetime.min.time(), UTC)
            for start in starts:
                clock = max(clock, start)
                session_id = _uuid(rng)
                for _ in range(min(MAX_VIDEOS_PER_SESSION, 1 + _geometric(rng, 0.5))):
                    if favourite is not None and rng.random() < FAVOURITE_TOPIC_SHARE:
                        indexes, topic_weights = favourite
                        index = rng.choices(indexes, cum_weights=topic_weights)[0]
                    else:
                        index = rng.choices(range(len(videos)), cum_weights=cum_weights)[0]
                    video = videos[index]
                    clock = _watch(rng, reports, user_id, session_id, video, client, clock, resume)
                    clock += timedelta(seconds=rng.uniform(2, 20))
        yield [report for report in reports if report.at < end]


def generate_reports(
    users: int, videos: Sequence[SeedVideo], days: Sequence[date], seed: int = 0
) -> Iterator[Report]:
    """Every report of `user_reports`, viewer after viewer."""
    for reports in user_reports(users, videos, days, seed):
        yield from reports


def seed_events(
    history: History,
    *,
    users: int,
    videos: int | Sequence[SeedVideo],
    days: int,
    last_day: date | None = None,
    seed: int = 0,
    workers: int = 16,
) -> SeedSummary:
    """Write generated watch events for `days` days ending on `last_day` (default: yesterday).

    `videos` is a count of new random videos, or the videos to watch (catalog videos, so that
    trending rows can reference them). Viewers are written in parallel, each viewer's reports
    in order, so progress and history end as a player would have left them.
    """
    catalogue = make_videos(videos, seed) if isinstance(videos, int) else list(videos)
    last = last_day or datetime.now(UTC).date() - timedelta(days=1)
    span = days_ending(last, days)
    written = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Bounded batches keep memory flat however many viewers are generated.
        for batch in _batched(user_reports(users, catalogue, span, seed), workers * 4):
            written += sum(pool.map(lambda reports: write_reports(history, reports), batch))
    return SeedSummary(written, users, len(catalogue), span[0], span[-1])


def write_reports(history: History, reports: Sequence[Report]) -> int:
    """Send reports through `History.record_watch`, in order; how many were written."""
    for report in reports:
        history.record_watch(
            report.user_id,
            report.video_id,
            report.position_s,
            report.duration_s,
            watched_delta_s=report.watched_delta_s,
            session_id=report.session_id,
            event_type=report.event_type,
            at=report.at,
            client=report.client,
        )
    return len(reports)


def reports_as(
    user_id: UUID,
    videos: Sequence[SeedVideo],
    days: Sequence[date],
    seed: int = 0,
    candidates: int = 32,
) -> list[Report]:
    """The reports of the busiest of `candidates` generated viewers, made by `user_id` instead.

    Gives a known account (a demo viewer) a realistic history: one generated viewer alone often
    watches nothing on a given day, the busiest of many seldom does.
    """
    busiest = max(user_reports(candidates, videos, days, seed), key=len)
    return [replace(report, user_id=user_id) for report in busiest]


def catalog_videos(conn: Any, limit: int) -> list[SeedVideo]:
    """Up to `limit` published videos of the catalog (a psycopg connection), oldest first; the
    topic of each is its first tag."""
    rows = conn.execute(
        "SELECT id, duration_s, tags FROM videos WHERE encoding_status = 'ready' "
        "AND duration_s IS NOT NULL ORDER BY published_at, id LIMIT %s",
        (limit,),
    ).fetchall()
    return [
        SeedVideo(video_id, float(duration_s), tags[0] if tags else "")
        for video_id, duration_s, tags in rows
    ]


def _watch(
    rng: random.Random,
    reports: list[Report],
    user_id: UUID,
    session_id: UUID,
    video: SeedVideo,
    client: str,
    clock: datetime,
    resume: dict[UUID, float],
) -> datetime:
    """Append one watch of `video` starting at `clock`; the time playback stopped."""
    duration = video.duration_s
    position = resume.pop(video.video_id, 0.0)
    full = rng.random() < FULL_WATCH_PROBABILITY
    stop = duration if full else position + (duration - position) * rng.betavariate(0.8, 1.8)
    stop = min(duration, max(stop, position + 1.0))

    def report(event_type: str, delta: float) -> None:
        reports.append(
            Report(
                user_id,
                video.video_id,
                session_id,
                round(position, 3),
                duration,
                round(delta, 3),
                event_type,
                clock,
                client,
            )
        )

    report("start", 0.0)
    while position < stop:
        step = max(0.001, min(REPORT_INTERVAL_S, stop - position))
        position += step
        clock += timedelta(seconds=step)
        if position >= stop:
            report("ended" if full else "pause", step)
        elif rng.random() < PAUSE_PROBABILITY:
            report("pause", step)
            clock += timedelta(seconds=rng.uniform(5, 300))
            report("resume", 0.0)
        elif rng.random() < SEEK_PROBABILITY and position + 61.0 < stop:
            # Forward seeks stay short of the stop so that the watch still ends with a report.
            report("progress", step)
            position += rng.uniform(10, 60)
            clock += timedelta(milliseconds=200)
            report("seek", 0.0)
        else:
            report("progress", step)
    if not full and position < duration * 0.95:
        resume[video.video_id] = position
    return clock


def _session_start(rng: random.Random, day: date) -> datetime:
    hour = rng.choices(range(24), weights=HOURLY_WEIGHTS)[0]
    midnight = datetime.combine(day, datetime.min.time(), UTC)
    return midnight + timedelta(hours=hour, seconds=rng.uniform(0, 3600))


def _poisson(rng: random.Random, rate: float) -> int:
    # Knuth's method: fine for the small rates used here.
    limit, count, product = math.exp(-rate), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _geometric(rng: random.Random, p: float) -> int:
    count = 0
    while rng.random() > p:
        count += 1
    return count


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def _batched(items: Iterator[list[Report]], size: int) -> Iterator[list[list[Report]]]:
    while batch := list(itertools.islice(items, size)):
        yield batch
