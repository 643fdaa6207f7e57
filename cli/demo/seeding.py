"""The demo's data: accounts, the plan, the library of clips and generated watch events.

Every function here is safe to repeat: what exists is found again (accounts by email, videos by
title, days by the subscriber's events) and kept.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

from api.security import hash_password, verify_password
from media.samples import make_clip
from reelflow.settings import PROJECT_ROOT
from storage.catalog import (
    BillingInterval,
    Catalog,
    EncodingStatus,
    NotFound,
    Role,
    SubscriptionStatus,
    UploadStatus,
    User,
    Visibility,
)
from storage.history import History
from storage.objects import ObjectStore
from storage.seed import Report, SeedVideo, reports_as, user_reports, write_reports
from storage.uploads import source_key

DEMO_PASSWORD = "reelflow-demo"
REAL_MEDIA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "media"
MEDIA_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm"})
DEMO_PLAN = "premium-monthly"
# The tastes of the generated viewers: each watches the videos of one audience.
ENGINEERS = "engineers"
ART_LOVERS = "art lovers"
DEFAULT_DAYS = 3
# Enough returning viewers for the recommendation model to be evaluated on (and promoted).
DEFAULT_VIEWERS = 150
# A demo viewer is the busiest of this many generated ones: it watches something every day.
DEMO_BUSIEST = 64
# Seeds of the generated events: an audience's viewers get VIEWERS_SEED plus its number; a demo
# viewer's day gets DEMO_VIEWERS_SEED plus twice the day's place in the window (plus one for
# the free viewer). Never the date: what the demo and its tests generate is the same every day.
VIEWERS_SEED = 1_000
DEMO_VIEWERS_SEED = 2_000


# Accounts


@dataclass(frozen=True)
class DemoAccount:
    """A demo account: its email, role and what it shows."""

    key: str
    email: str
    role: Role
    what: str


DEMO_ACCOUNTS = (
    DemoAccount("subscriber", "subscriber@example.com", Role.VIEWER, "plays all, premium included"),
    DemoAccount("viewer", "viewer@example.com", Role.VIEWER, "free: public videos only"),
    DemoAccount("creator", "creator@example.com", Role.CREATOR, "owns the demo videos, uploads"),
    DemoAccount("admin", "admin@example.com", Role.ADMIN, "moderation, plans, every video"),
)  # fmt: skip


@dataclass(frozen=True)
class DemoUsers:
    """The demo accounts, and what `seed_users` had to create or repair for them."""

    subscriber: User
    viewer: User
    creator: User
    admin: User
    changes: tuple[str, ...]


def seed_users(catalog: Catalog, password: str = DEMO_PASSWORD) -> DemoUsers:
    """The demo accounts with `password`; the subscriber holds an active subscription.

    Existing accounts are kept; only a role or password that no longer matches is set again,
    so the printed credentials always work.
    """
    users: dict[str, User] = {}
    changes: list[str] = []
    for account in DEMO_ACCOUNTS:
        try:
            user = catalog.get_user_by_email(account.email)
        except NotFound:
            user = catalog.create_user(
                account.email,
                hash_password(password),
                role=account.role,
                profile_data={"display_name": f"Demo {account.key}"},
            )
            changes.append(f"created {account.email}")
        if user.role != account.role or not verify_password(user.password_hash, password):
            user = catalog.update_user(
                user.id, role=account.role, password_hash=hash_password(password)
            )
            changes.append(f"reset {account.email}")
        users[account.key] = user

    subscriber = users["subscriber"]
    if catalog.get_active_subscription(subscriber.id) is None:
        _ensure_plan(catalog)
        # Entitlement is the catalog's state (see api/billing.py): granted directly, as the
        # webhook of a paid Stripe subscription would.
        catalog.create_subscription(
            subscriber.id,
            DEMO_PLAN,
            f"sub_demo_{secrets.token_hex(8)}",
            status=SubscriptionStatus.ACTIVE,
            end_date=datetime.now(UTC) + timedelta(days=365),
        )
        users["subscriber"] = catalog.get_user(subscriber.id)
        changes.append(f"subscribed {subscriber.email} to {DEMO_PLAN}")
    return DemoUsers(**users, changes=tuple(changes))


def _ensure_plan(catalog: Catalog) -> None:
    try:
        catalog.get_plan(DEMO_PLAN)
    except NotFound:
        catalog.upsert_plan(
            DEMO_PLAN,
            name="Premium",
            price_cents=999,
            currency="usd",
            interval=BillingInterval.MONTH,
        )


# Library


@dataclass(frozen=True)
class DemoClip:
    """A video of the demo library: a synthetic clip (ffmpeg lavfi source) or a real file."""

    title: str
    description: str
    tags: tuple[str, ...]
    visibility: Visibility = Visibility.PUBLIC
    pattern: str = "testsrc2"
    width: int = 1280
    height: int = 720
    duration_s: float = 12.0
    source: Path | None = None
    # The generated viewers who watch it (a taste the recommendation model can learn).
    audience: str = ENGINEERS

    def file(self, clips_dir: Path) -> Path:
        """The source to upload: the real file, or the synthetic clip made now."""
        if self.source is not None:
            return self.source
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        return make_clip(
            clips_dir / f"{slug}.mp4",
            width=self.width,
            height=self.height,
            duration_s=self.duration_s,
            pattern=self.pattern,
        )


SYNTHETIC_CLIPS = (
    DemoClip(
        "Test Card in Motion",
        "ffmpeg's testsrc2 card, moving, with a tone on each stereo channel.",
        ("test-card", "synthetic"),
    ),
    DemoClip(
        "SMPTE HD Colour Bars",
        "The HD colour bars every broadcast engineer knows, for checking a player's colours.",
        ("colour-bars", "synthetic"),
        pattern="smptehdbars",
        duration_s=10.0,
    ),
    DemoClip(
        "Rule 110",
        "An elementary cellular automaton, Wolfram's rule 110, growing down the screen.",
        ("cellular-automaton", "synthetic"),
        pattern="cellauto=rule=110",
        width=640,
        height=360,
        duration_s=16.0,
        audience=ART_LOVERS,
    ),
    DemoClip(
        "Mandelbrot Zoom",
        "A dive into the Mandelbrot set. Premium: encrypted, played with a subscription.",
        ("fractal", "synthetic", "premium"),
        visibility=Visibility.PREMIUM,
        pattern="mandelbrot",
        width=854,
        height=480,
        duration_s=15.0,
        audience=ART_LOVERS,
    ),
)

# The clips known to be in ../shared/data/media; any other file is named after itself.
REAL_CLIPS = {
    "bigbuckbunny": DemoClip(
        "Big Buck Bunny (opening)",
        "The first seconds of the Blender Foundation's open movie, with 5.1 sound.",
        ("animation", "open-movie"),
        audience=ART_LOVERS,
    ),
    "carphone_pristine": DemoClip(
        "Carphone",
        "The classic QCIF test sequence of video coding research: a man talking in a car.",
        ("test-sequence", "qcif"),
    ),
}


def demo_clips(real_media_dir: Path | None = REAL_MEDIA_DIR) -> list[DemoClip]:
    """The synthetic clips, then every video file of `real_media_dir` when it exists."""
    clips = list(SYNTHETIC_CLIPS)
    if real_media_dir is None or not real_media_dir.is_dir():
        return clips
    for path in sorted(real_media_dir.iterdir()):
        if path.suffix.lower() not in MEDIA_SUFFIXES or not path.is_file():
            continue
        known = REAL_CLIPS.get(path.stem)
        clip = known or DemoClip(
            path.stem.replace("_", " ").title(), f"A real clip ({path.name}).", ("real",)
        )
        clips.append(replace(clip, source=path))
    return clips


@dataclass(frozen=True)
class LibraryVideo:
    """A video of the demo library, and whether `seed_library` created or uploaded it now."""

    video_id: UUID
    title: str
    visibility: Visibility
    audience: str
    created: bool
    uploaded: bool


def seed_library(
    catalog: Catalog,
    store: ObjectStore,
    creator: User,
    clips: Sequence[DemoClip],
    clips_dir: Path,
) -> list[LibraryVideo]:
    """One video per clip, owned by `creator` and found again by title.

    A video without a completed upload gets one: the source stored and the upload completed,
    as the upload API leaves it, so that the media lifecycle (or the upload sensor) ingests it.
    """
    existing = {video.title: video for video in catalog.list_videos_by_user(creator.id, limit=1000)}
    library = []
    for clip in clips:
        video = existing.get(clip.title)
        created = video is None
        if video is None:
            video = catalog.create_video(
                creator.id,
                clip.title,
                description=clip.description,
                tags=clip.tags,
                visibility=clip.visibility,
            )
        uploaded = _needs_upload(catalog, video.id, video.encoding_status)
        if uploaded:
            _upload(catalog, store, video.id, clip.file(clips_dir))
        library.append(
            LibraryVideo(video.id, clip.title, clip.visibility, clip.audience, created, uploaded)
        )
    return library


def _needs_upload(catalog: Catalog, video_id: UUID, status: EncodingStatus) -> bool:
    if status == EncodingStatus.PENDING:
        return True
    if status != EncodingStatus.UPLOADING:
        # Processing, ready or failed: the video has its completed upload.
        return False
    return catalog.latest_upload(video_id).status != UploadStatus.COMPLETED


def _upload(catalog: Catalog, store: ObjectStore, video_id: UUID, source: Path) -> None:
    key = source_key(video_id)
    size = source.stat().st_size
    upload = catalog.create_upload(
        video_id, object_key=key, size_bytes=size, content_type="video/mp4"
    )
    store.put_file(key, source, "video/mp4")
    catalog.record_received(upload.id, size)
    catalog.complete_upload(upload.id)


# Watch events


@dataclass(frozen=True)
class WatchableVideo:
    """A published video of the library, as the watch events need it."""

    video: SeedVideo
    visibility: Visibility
    audience: str


def watch_reports(
    subscriber: UUID,
    viewer: UUID,
    videos: Sequence[WatchableVideo],
    days: Sequence[date],
    viewers: int = DEFAULT_VIEWERS,
) -> list[list[Report]]:
    """The generated reports of `days`, one list per viewer, each in time order.

    The generated viewers come back day after day, as real ones do, and each watches only the
    videos of one audience: tastes the recommendation model learns and is promoted on. (With a
    handful of videos, the generator's favourite topic, which leaves a fifth of the picks to
    the whole catalogue, lets popularity tie the model on some days.) The `subscriber` watches
    every video each day, the free `viewer` those that are not premium. The reports depend on
    the arguments only, not on the dates of `days`: the same window a week later gets the same
    reports a week later.
    """
    ordered = sorted(days)
    audiences = sorted({video.audience for video in videos})
    histories: list[list[Report]] = []
    for number, audience in enumerate(audiences):
        liked = [video.video for video in videos if video.audience == audience]
        share = viewers // len(audiences) + (number < viewers % len(audiences))
        if share:
            histories.extend(user_reports(share, liked, ordered, seed=VIEWERS_SEED + number))
    everything = [video.video for video in videos]
    free = [video.video for video in videos if video.visibility != Visibility.PREMIUM]
    for place, day in enumerate(ordered):
        seed = DEMO_VIEWERS_SEED + 2 * place
        # The busiest of many: a demo viewer watches something every day.
        histories.append(reports_as(subscriber, everything, [day], seed, DEMO_BUSIEST))
        if free:
            histories.append(reports_as(viewer, free, [day], seed + 1, DEMO_BUSIEST))
    return histories


def seed_watch_events(
    history: History,
    users: DemoUsers,
    videos: Sequence[WatchableVideo],
    days: Sequence[date],
    viewers: int = DEFAULT_VIEWERS,
) -> dict[date, int]:
    """The `watch_reports` of the days of `days` without the demo's; the events written, per day.

    A day with the subscriber's events is left alone, whatever else was written on it.
    """
    if not videos:
        return {}
    missing = {day for day in days if not _subscriber_watched(history, users, day)}
    if not missing:
        return {}
    histories = [
        [report for report in reports if report.at.date() in missing]
        for reports in watch_reports(users.subscriber.id, users.viewer.id, videos, days, viewers)
    ]
    # Viewers in parallel, each one's reports in order, as `seed_events` writes them.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda reports: write_reports(history, reports), histories))
    counts = Counter(report.at.date() for reports in histories for report in reports)
    return {day: counts[day] for day in sorted(missing)}


def _subscriber_watched(history: History, users: DemoUsers, day: date) -> bool:
    if not history.count_events_for_day(day):
        return False
    return any(event.user_id == users.subscriber.id for event in history.events_for_day(day))


def watchable_videos(catalog: Catalog, library: Sequence[LibraryVideo]) -> list[WatchableVideo]:
    """The published videos of the library, with their durations."""
    published = catalog.get_videos([video.video_id for video in library])
    return [
        WatchableVideo(
            SeedVideo(video.video_id, float(found.duration_s)), video.visibility, video.audience
        )
        for video in library
        if (found := published.get(video.video_id)) is not None
        and found.encoding_status == EncodingStatus.READY
        and found.duration_s is not None
    ]
