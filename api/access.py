"""Who may see and play a video: the visibility rules, in one place.

- public: anyone; unlisted: anyone who has the id (listings leave it out);
- private: its owner and admins. Everyone else gets 404, never 403, so a private video's
  existence does not leak;
- premium: anyone sees the metadata; playback and licences need an active subscription whose
  paid period has not ended (beyond `RENEWAL_GRACE`, the time a renewal takes to be paid and
  reported), or being the owner or an admin;
- taken down: 404 for everyone but admins, and no playback or licence for anyone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from api.errors import ApiError, not_found
from api.public_reads import PublicReads
from storage.catalog import Catalog, NotFound, Role, User, UserSubscriptionStatus, Video, Visibility

# Stripe charges a renewal at the period's end and reports it when paid, retries included.
RENEWAL_GRACE = timedelta(days=1)


def is_admin(user: User | None) -> bool:
    return user is not None and user.role == Role.ADMIN


def is_owner(video: Video, user: User | None) -> bool:
    return user is not None and video.uploaded_by_user_id == user.id


def can_see(video: Video, user: User | None) -> bool:
    """The caller may read the video's metadata."""
    if is_admin(user):
        return True
    if video.taken_down_at is not None:
        return False
    if video.visibility == Visibility.PRIVATE:
        return is_owner(video, user)
    return True


def can_manage(video: Video, user: User | None) -> bool:
    """The caller may edit or delete the video: its owner (unless taken down) or an admin."""
    return can_see(video, user) and (is_owner(video, user) or is_admin(user))


def can_play(video: Video, user: User | None) -> bool:
    """The caller may get playback URLs and content keys of the video."""
    if video.taken_down_at is not None or not can_see(video, user):
        return False
    if video.visibility == Visibility.PREMIUM:
        return is_owner(video, user) or is_admin(user) or (user is not None and is_subscribed(user))
    return True


def is_subscribed(user: User, now: datetime | None = None) -> bool:
    """An active subscription, paid for now: an `invoice.paid` that never comes for the next
    period ends it once the grace has passed, without any event."""
    if user.subscription_status != UserSubscriptionStatus.ACTIVE:
        return False
    until = user.subscribed_until
    return until is None or (now or datetime.now(UTC)) < until + RENEWAL_GRACE


def visible_video_or_404(
    catalog: Catalog, video_id: UUID, user: User | None, reads: PublicReads | None = None
) -> Video:
    """The video if the caller may see it; the same 404 whether it is hidden or missing. With
    `reads`, its row may come from the shared cache (hot routes)."""
    try:
        if reads is None:
            video = catalog.get_video(video_id)
        else:
            video = reads.video_row(video_id, lambda: catalog.get_video(video_id))
    except NotFound:
        raise not_found("video") from None
    if not can_see(video, user):
        raise not_found("video")
    return video


def require_playback(video: Video, user: User | None) -> None:
    """Raise the error that tells a caller who can see `video` why they may not play it."""
    if can_play(video, user):
        return
    if video.taken_down_at is not None:
        raise ApiError(403, "taken_down", "the video was taken down")
    if user is None:
        raise ApiError(
            401,
            "unauthorized",
            "sign in to play this video",
            headers={"WWW-Authenticate": "Bearer"},
        )
    raise ApiError(403, "not_entitled", "playing this video needs an active subscription")


def require_manage(video: Video, user: User | None) -> None:
    """Raise 403 unless the caller, who can see `video`, may edit or delete it."""
    if not can_manage(video, user):
        raise ApiError(403, "forbidden", "only the video's owner or an admin may change it")
