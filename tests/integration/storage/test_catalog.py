"""The catalog repository against a real, freshly migrated PostgreSQL database."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID, uuid4

import psycopg
import pytest

from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import (
    BillingInterval,
    Catalog,
    CommentCursor,
    Conflict,
    DrmKeyConflict,
    DrmScheme,
    EmailTaken,
    EncodingStatus,
    InvalidState,
    InvalidValue,
    NewStreamAsset,
    NotFound,
    Role,
    StreamFormat,
    SubscriptionExists,
    SubscriptionStatus,
    UploadStatus,
    User,
    UserSubscriptionStatus,
    Video,
    Visibility,
)
from storage.crypto import KeyUnwrapError

MASTER = "test-drm-master-secret"


@pytest.fixture
def creator(catalog: Catalog) -> User:
    return catalog.create_user("creator@example.com", "argon2-hash", role=Role.CREATOR)


@pytest.fixture
def video(catalog: Catalog, creator: User) -> Video:
    return catalog.create_video(creator.id, "Big Buck Bunny", description="A rabbit's day")


def renditions(version: str, drm_key_id: UUID | None = None) -> list[NewStreamAsset]:
    return [
        NewStreamAsset(
            width=width,
            height=height,
            bitrate=bitrate,
            codec="avc1.64001f",
            format=fmt,
            cdn_url=f"https://cdn.example/{version}/{fmt}/{height}.m3u8",
            drm_key_id=drm_key_id,
        )
        for width, height, bitrate in ((1280, 720, 3_000_000), (640, 360, 800_000))
        for fmt in (StreamFormat.HLS, StreamFormat.DASH)
    ]


def publish(catalog: Catalog, video: Video, version: str = "v1") -> Video:
    return catalog.publish_video(
        video.id, version, renditions(version), f"https://cdn.example/{version}/poster.jpg", 5.3
    )


def test_catalog_from_settings(settings: Settings, catalog_dsn: str) -> None:
    configured = settings.model_copy(update={"postgres_dsn": catalog_dsn, "postgres_pool_max": 2})

    with connect.catalog(configured) as catalog:
        user = catalog.create_user("settings@example.com", "hash")
        assert catalog.get_user(user.id) == user


# Users


def test_create_and_read_user(catalog: Catalog) -> None:
    user = catalog.create_user("Ann@Example.com", "hash", profile_data={"name": "Ann"})

    assert user.role is Role.VIEWER
    assert user.subscription_status is UserSubscriptionStatus.NONE
    assert user.profile_data == {"name": "Ann"}
    assert user.deleted_at is None
    assert catalog.get_user(user.id) == user
    assert catalog.get_user_by_email("ann@example.COM") == user
    assert "hash" not in repr(user)


def test_enums_are_stored_as_their_values(catalog: Catalog, catalog_dsn: str) -> None:
    user = catalog.create_user("admin@example.com", "hash", role=Role.ADMIN)

    with psycopg.connect(catalog_dsn) as conn:
        row = conn.execute("SELECT role FROM users WHERE id = %s", (user.id,)).fetchone()
    assert row == ("admin",)


def test_email_is_unique_regardless_of_case(catalog: Catalog) -> None:
    catalog.create_user("A@x.com", "hash")

    with pytest.raises(EmailTaken):
        catalog.create_user("a@X.com", "other-hash")


def test_unknown_user_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound):
        catalog.get_user(uuid4())
    with pytest.raises(NotFound):
        catalog.get_user_by_email("nobody@example.com")


def test_update_user(catalog: Catalog) -> None:
    user = catalog.create_user("ann@example.com", "hash")
    catalog.create_user("bob@example.com", "hash")

    updated = catalog.update_user(
        user.id, email="ann@new.example", role=Role.CREATOR, profile_data={"bio": "films"}
    )

    assert (updated.email, updated.role, updated.profile_data) == (
        "ann@new.example",
        Role.CREATOR,
        {"bio": "films"},
    )
    assert updated.password_hash == "hash"
    assert updated.updated_at > user.updated_at
    assert catalog.get_user(user.id) == updated
    with pytest.raises(EmailTaken):
        catalog.update_user(user.id, email="BOB@example.com")
    with pytest.raises(NotFound):
        catalog.update_user(uuid4(), role=Role.ADMIN)


def test_invalid_email_is_refused(catalog: Catalog) -> None:
    with pytest.raises(InvalidValue, match="users_email_check"):
        catalog.create_user("not-an-address", "hash")


def test_soft_delete_keeps_the_data(catalog: Catalog) -> None:
    user = catalog.create_user("ann@example.com", "hash", profile_data={"name": "Ann"})

    deleted = catalog.soft_delete_user(user.id)

    assert deleted.deleted_at is not None
    assert (deleted.email, deleted.profile_data) == (user.email, user.profile_data)
    with pytest.raises(NotFound):
        catalog.update_user(user.id, role=Role.ADMIN)


def test_erase_user_anonymises_account_and_comments(
    catalog: Catalog, creator: User, video: Video
) -> None:
    viewer = catalog.create_user("ann@example.com", "hash", profile_data={"name": "Ann"})
    comment = catalog.add_comment(video.id, viewer.id, "Lovely rabbit")
    other = catalog.add_comment(video.id, creator.id, "Thanks")

    erased = catalog.erase_user(viewer.id)

    assert "ann" not in erased.email
    assert erased.password_hash is None
    assert erased.profile_data == {}
    assert erased.deleted_at is not None
    with pytest.raises(NotFound):
        catalog.get_user_by_email("ann@example.com")
    comments = {c.id: c for c in catalog.list_comments(video.id)}
    assert comments[comment.id].user_id is None
    assert comments[comment.id].text == "Lovely rabbit"
    assert comments[other.id].user_id == creator.id
    with pytest.raises(InvalidState):
        catalog.add_comment(video.id, viewer.id, "still here?")
    again = catalog.erase_user(viewer.id)
    assert again.model_dump(exclude={"updated_at"}) == erased.model_dump(exclude={"updated_at"})
    # The address is free again for a new account.
    assert catalog.create_user("ann@example.com", "hash").id != viewer.id


# Videos


def test_create_read_update_video(catalog: Catalog, creator: User) -> None:
    video = catalog.create_video(
        creator.id, "  Sintel  ", description="A girl and a dragon", tags=["Fantasy", " fantasy"]
    )

    assert video.title == "Sintel"
    assert video.tags == ("fantasy",)
    assert video.encoding_status is EncodingStatus.PENDING
    assert video.visibility is Visibility.PRIVATE
    assert video.published_version is None
    assert catalog.get_video(video.id) == video

    updated = catalog.update_video(
        video.id, title="Sintel (2010)", tags=["animation", "Blender"], visibility=Visibility.PUBLIC
    )

    assert (updated.title, updated.tags, updated.visibility) == (
        "Sintel (2010)",
        ("animation", "blender"),
        Visibility.PUBLIC,
    )
    assert updated.description == "A girl and a dragon"
    assert updated.updated_at > video.updated_at
    assert catalog.get_video(video.id) == updated


def test_video_needs_an_existing_uploader_and_a_title(catalog: Catalog, creator: User) -> None:
    with pytest.raises(NotFound):
        catalog.create_video(uuid4(), "Orphan")
    with pytest.raises(InvalidValue):
        catalog.create_video(creator.id, "   ")
    with pytest.raises(NotFound):
        catalog.get_video(uuid4())


def test_list_videos_by_user_newest_first(catalog: Catalog, creator: User) -> None:
    other = catalog.create_user("other@example.com", "hash", role=Role.CREATOR)
    first = catalog.create_video(creator.id, "First")
    second = catalog.create_video(creator.id, "Second")
    catalog.create_video(other.id, "Not mine")

    assert [v.id for v in catalog.list_videos_by_user(creator.id)] == [second.id, first.id]
    assert [v.id for v in catalog.list_videos_by_user(creator.id, limit=1, offset=1)] == [first.id]


def test_set_encoding_status_keeps_failure_reason_with_failed(
    catalog: Catalog, video: Video
) -> None:
    failed = catalog.set_encoding_status(video.id, EncodingStatus.FAILED, "no video stream")
    assert (failed.encoding_status, failed.failure_reason) == (
        EncodingStatus.FAILED,
        "no video stream",
    )

    processing = catalog.set_encoding_status(video.id, EncodingStatus.PROCESSING)
    assert (processing.encoding_status, processing.failure_reason) == (
        EncodingStatus.PROCESSING,
        None,
    )

    with pytest.raises(InvalidValue):
        catalog.set_encoding_status(video.id, EncodingStatus.FAILED)
    with pytest.raises(InvalidValue):
        catalog.set_encoding_status(video.id, EncodingStatus.PROCESSING, "why?")
    with pytest.raises(InvalidValue, match="videos_ready_check"):
        catalog.set_encoding_status(video.id, EncodingStatus.READY)
    with pytest.raises(NotFound):
        catalog.set_encoding_status(uuid4(), EncodingStatus.PROCESSING)


# Search


def public_published(
    catalog: Catalog, creator: User, title: str, description: str = "", tags: Sequence[str] = ()
) -> Video:
    video = catalog.create_video(
        creator.id, title, description=description, tags=tags, visibility=Visibility.PUBLIC
    )
    return publish(catalog, video)


def test_search_finds_a_word_of_the_description(catalog: Catalog, creator: User) -> None:
    bunny = public_published(catalog, creator, "Bunny", description="A giant rabbit in a meadow")
    public_published(catalog, creator, "Dragon", description="A girl raises a dragon")

    assert [v.id for v in catalog.search_videos("meadow")] == [bunny.id]


def test_search_stems_words(catalog: Catalog, creator: User) -> None:
    runner = public_published(catalog, creator, "Morning", description="She goes running")

    assert [v.id for v in catalog.search_videos("run")] == [runner.id]
    assert [v.id for v in catalog.search_videos("runs")] == [runner.id]


def test_search_ranks_title_above_tags_above_description(catalog: Catalog, creator: User) -> None:
    in_description = public_published(
        catalog, creator, "Meadow", description="The dragon sleeps here"
    )
    in_title = public_published(catalog, creator, "Dragon Tales", description="Fire and wings")
    in_tags = public_published(catalog, creator, "Wings", tags=["dragon"])

    found = catalog.search_videos("dragons")

    assert [v.id for v in found] == [in_title.id, in_tags.id, in_description.id]


def test_search_filters_by_visibility_and_publication(catalog: Catalog, creator: User) -> None:
    public = public_published(catalog, creator, "Rabbit public")
    premium = catalog.create_video(creator.id, "Rabbit premium", visibility=Visibility.PREMIUM)
    premium = publish(catalog, premium)
    catalog.create_video(creator.id, "Rabbit private")
    catalog.create_video(creator.id, "Rabbit unpublished", visibility=Visibility.PUBLIC)

    assert {v.id for v in catalog.search_videos("rabbit")} == {public.id}
    both = catalog.search_videos("rabbit", visibilities=[Visibility.PUBLIC, Visibility.PREMIUM])
    assert {v.id for v in both} == {public.id, premium.id}
    unpublished = catalog.search_videos("rabbit", published_only=False)
    assert {v.title for v in unpublished} == {"Rabbit public", "Rabbit unpublished"}


def test_search_by_tags_and_blank_query(catalog: Catalog, creator: User) -> None:
    comedy = public_published(catalog, creator, "Laughs", tags=["comedy", "short"])
    public_published(catalog, creator, "Tears", tags=["drama", "short"])

    assert [v.id for v in catalog.search_videos("", tags=["Comedy"])] == [comedy.id]
    assert len(catalog.search_videos("  ", tags=["short"])) == 2
    assert catalog.search_videos("laughs", tags=["drama"]) == []
    assert len(catalog.search_videos("", limit=1)) == 1


def test_search_accepts_web_search_syntax(catalog: Catalog, creator: User) -> None:
    public_published(catalog, creator, "Cats", description="cats and dogs")
    dogs = public_published(catalog, creator, "Dogs", description="dogs barking")

    assert [v.id for v in catalog.search_videos("dog -cats")] == [dogs.id]
    assert [v.id for v in catalog.search_videos('"dogs barking"')] == [dogs.id]
    assert catalog.search_videos('"unclosed quote') == []


# Publishing


def test_publishing_the_same_version_twice_keeps_one_set_of_assets(
    catalog: Catalog, video: Video, catalog_dsn: str
) -> None:
    first = publish(catalog, video, "v1")
    again = publish(catalog, video, "v1")

    assert again.published_version == "v1"
    assert again.encoding_status is EncodingStatus.READY
    assert again.published_at == first.published_at
    assets = catalog.list_stream_assets(video.id)
    assert len(assets) == 4
    assert {(a.format, a.resolution) for a in assets} == {
        (fmt, res) for fmt in StreamFormat for res in ("1280x720", "640x360")
    }
    with psycopg.connect(catalog_dsn) as conn:
        count = conn.execute("SELECT count(*) FROM stream_assets").fetchone()
    assert count == (4,)


def test_a_new_version_switches_the_assets(catalog: Catalog, video: Video) -> None:
    publish(catalog, video, "v1")

    published = catalog.publish_video(
        video.id,
        "v2",
        renditions("v2")[:1],
        "https://cdn.example/v2/poster.jpg",
        5.4,
    )

    assert published.published_version == "v2"
    assert published.thumbnail_url == "https://cdn.example/v2/poster.jpg"
    assert published.duration_s == 5.4
    assets = catalog.list_stream_assets(video.id)
    assert [(a.version, a.cdn_url) for a in assets] == [
        ("v2", "https://cdn.example/v2/hls/720.m3u8")
    ]


def test_a_failed_publish_leaves_the_previous_version_whole(
    catalog: Catalog, creator: User, video: Video, catalog_dsn: str
) -> None:
    publish(catalog, video, "v1")
    before = catalog.list_stream_assets(video.id)
    other_video = catalog.create_video(creator.id, "Other")
    foreign_key = catalog.put_drm_key(
        other_video.id, uuid4(), os.urandom(16), DrmScheme.CENC, MASTER
    )

    with pytest.raises(InvalidValue, match="DRM key"):
        catalog.publish_video(
            video.id, "v2", renditions("v2", foreign_key.key_id), "https://x/p.jpg", 5.0
        )

    assert catalog.get_video(video.id).published_version == "v1"
    assert catalog.list_stream_assets(video.id) == before
    with psycopg.connect(catalog_dsn) as conn:
        v2_rows = conn.execute("SELECT count(*) FROM stream_assets WHERE version = 'v2'")
        assert v2_rows.fetchone() == (0,)


def test_publish_refuses_empty_or_repeated_renditions(catalog: Catalog, video: Video) -> None:
    with pytest.raises(InvalidValue):
        catalog.publish_video(video.id, "v1", [], "https://x/p.jpg", 5.0)
    with pytest.raises(InvalidValue, match="repeat"):
        catalog.publish_video(video.id, "v1", renditions("v1") * 2, "https://x/p.jpg", 5.0)
    with pytest.raises(NotFound):
        catalog.publish_video(uuid4(), "v1", renditions("v1"), "https://x/p.jpg", 5.0)


def test_stream_assets_of_an_unpublished_video(catalog: Catalog, video: Video) -> None:
    assert catalog.list_stream_assets(video.id) == []
    with pytest.raises(NotFound):
        catalog.list_stream_assets(uuid4())


def test_deleting_a_video_removes_what_belongs_to_it(
    catalog: Catalog, creator: User, video: Video, catalog_dsn: str
) -> None:
    catalog.create_upload(
        video.id, object_key="uploads/x/source", size_bytes=10, content_type="video/mp4"
    )
    key = catalog.put_drm_key(video.id, uuid4(), os.urandom(16), DrmScheme.CBCS, MASTER)
    catalog.publish_video(video.id, "v1", renditions("v1", key.key_id), "https://x/p.jpg", 5.0)
    catalog.add_comment(video.id, creator.id, "first")

    with psycopg.connect(catalog_dsn) as conn:
        conn.execute("DELETE FROM videos WHERE id = %s", (video.id,))
        counts = [
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            for table in ("stream_assets", "drm_keys", "comments", "uploads")
        ]
    assert counts == [(0,)] * 4


# DRM keys


def test_drm_key_roundtrip(catalog: Catalog, video: Video, catalog_dsn: str) -> None:
    key_id, content_key = uuid4(), os.urandom(16)

    stored = catalog.put_drm_key(video.id, key_id, content_key, DrmScheme.CENC, MASTER)

    assert (stored.key_id, stored.video_id, stored.scheme) == (key_id, video.id, DrmScheme.CENC)
    unwrapped = catalog.get_drm_key(key_id, MASTER)
    assert unwrapped.content_key == content_key
    assert unwrapped.video_id == video.id
    assert content_key.hex() not in repr(unwrapped)
    assert catalog.keys_for_video(video.id) == [stored]
    with psycopg.connect(catalog_dsn) as conn:
        row = conn.execute("SELECT wrapped_content_key FROM drm_keys").fetchone()
    assert row is not None and content_key not in row[0]


def test_drm_key_with_a_wrong_master_key_fails(catalog: Catalog, video: Video) -> None:
    key_id = uuid4()
    catalog.put_drm_key(video.id, key_id, os.urandom(16), DrmScheme.CENC, MASTER)

    with pytest.raises(KeyUnwrapError):
        catalog.get_drm_key(key_id, "another-master-secret")


def test_drm_key_moved_to_another_video_fails(
    catalog: Catalog, creator: User, video: Video, catalog_dsn: str
) -> None:
    key_id = uuid4()
    catalog.put_drm_key(video.id, key_id, os.urandom(16), DrmScheme.CENC, MASTER)
    other = catalog.create_video(creator.id, "Other")

    with psycopg.connect(catalog_dsn) as conn:
        conn.execute("UPDATE drm_keys SET video_id = %s WHERE key_id = %s", (other.id, key_id))

    with pytest.raises(KeyUnwrapError):
        catalog.get_drm_key(key_id, MASTER)


def test_storing_a_drm_key_again(catalog: Catalog, creator: User, video: Video) -> None:
    key_id, content_key = uuid4(), os.urandom(16)
    first = catalog.put_drm_key(video.id, key_id, content_key, DrmScheme.CBCS, MASTER)

    assert catalog.put_drm_key(video.id, key_id, content_key, DrmScheme.CBCS, MASTER) == first
    with pytest.raises(DrmKeyConflict):
        catalog.put_drm_key(video.id, key_id, os.urandom(16), DrmScheme.CBCS, MASTER)
    with pytest.raises(DrmKeyConflict):
        catalog.put_drm_key(video.id, key_id, content_key, DrmScheme.CENC, MASTER)
    other = catalog.create_video(creator.id, "Other")
    with pytest.raises(DrmKeyConflict):
        catalog.put_drm_key(other.id, key_id, content_key, DrmScheme.CBCS, MASTER)
    assert catalog.get_drm_key(key_id, MASTER).content_key == content_key


def test_drm_key_needs_an_existing_video(catalog: Catalog) -> None:
    with pytest.raises(NotFound):
        catalog.put_drm_key(uuid4(), uuid4(), os.urandom(16), DrmScheme.CENC, MASTER)
    with pytest.raises(NotFound):
        catalog.get_drm_key(uuid4(), MASTER)


# Plans and subscriptions


def test_upsert_plan(catalog: Catalog) -> None:
    created = catalog.upsert_plan(
        "premium-monthly",
        name="Premium",
        price_cents=999,
        currency="EUR",
        interval=BillingInterval.MONTH,
    )
    updated = catalog.upsert_plan(
        "premium-monthly",
        name="Premium",
        price_cents=1099,
        currency="eur",
        interval=BillingInterval.MONTH,
        stripe_price_id="price_123",
    )

    assert created.currency == "eur"
    assert (updated.price_cents, updated.stripe_price_id) == (1099, "price_123")
    assert catalog.get_plan("premium-monthly") == updated
    assert catalog.list_plans() == [updated]
    with pytest.raises(InvalidValue):
        catalog.upsert_plan(
            "Bad Id", name="x", price_cents=1, currency="eur", interval=BillingInterval.YEAR
        )
    with pytest.raises(NotFound):
        catalog.get_plan("basic")


@pytest.fixture
def plan_id(catalog: Catalog) -> str:
    plan = catalog.upsert_plan(
        "premium-monthly",
        name="Premium",
        price_cents=999,
        currency="eur",
        interval=BillingInterval.MONTH,
    )
    return plan.id


def test_subscription_status_keeps_the_user_in_step(catalog: Catalog, plan_id: str) -> None:
    user = catalog.create_user("ann@example.com", "hash")

    subscription = catalog.create_subscription(
        user.id, plan_id, "sub_1", provider_customer_id="cus_1"
    )
    assert subscription.status is SubscriptionStatus.INCOMPLETE
    assert catalog.get_user(user.id).subscription_status is UserSubscriptionStatus.NONE
    assert catalog.get_active_subscription(user.id) is None

    active = catalog.update_subscription_status("sub_1", SubscriptionStatus.ACTIVE)
    assert catalog.get_user(user.id).subscription_status is UserSubscriptionStatus.ACTIVE
    assert catalog.get_active_subscription(user.id) == active

    catalog.update_subscription_status("sub_1", SubscriptionStatus.PAST_DUE)
    assert catalog.get_user(user.id).subscription_status is UserSubscriptionStatus.PAST_DUE
    assert catalog.get_active_subscription(user.id) is None

    canceled = catalog.update_subscription_status(
        "sub_1", SubscriptionStatus.CANCELED, end_date=subscription.start_date, auto_renew=False
    )
    assert (canceled.end_date, canceled.auto_renew) == (subscription.start_date, False)
    assert catalog.get_user(user.id).subscription_status is UserSubscriptionStatus.CANCELED

    renewed = catalog.create_subscription(
        user.id, plan_id, "sub_2", status=SubscriptionStatus.ACTIVE
    )
    assert catalog.get_user(user.id).subscription_status is UserSubscriptionStatus.ACTIVE
    assert catalog.get_active_subscription(user.id) == renewed
    assert catalog.get_subscription("sub_1") == canceled


def test_subscription_errors(catalog: Catalog, plan_id: str) -> None:
    user = catalog.create_user("ann@example.com", "hash")
    catalog.create_subscription(user.id, plan_id, "sub_1")

    with pytest.raises(SubscriptionExists):
        catalog.create_subscription(user.id, plan_id, "sub_1")
    with pytest.raises(NotFound):
        catalog.create_subscription(user.id, "no-such-plan", "sub_2")
    with pytest.raises(NotFound):
        catalog.create_subscription(uuid4(), plan_id, "sub_3")
    with pytest.raises(NotFound):
        catalog.update_subscription_status("sub_unknown", SubscriptionStatus.ACTIVE)


# Comments


def test_comments_page_newest_first(catalog: Catalog, creator: User, video: Video) -> None:
    added = [catalog.add_comment(video.id, creator.id, f"comment {i}") for i in range(5)]

    first_page = catalog.list_comments(video.id, limit=2)
    cursor = CommentCursor.decode(first_page[-1].cursor.encode())
    second_page = catalog.list_comments(video.id, limit=2, before=cursor)
    last_page = catalog.list_comments(video.id, limit=2, before=second_page[-1].cursor)

    pages = [c.id for c in first_page + second_page + last_page]
    assert pages == [c.id for c in reversed(added)]


def test_comment_rules(catalog: Catalog, creator: User, video: Video) -> None:
    with pytest.raises(InvalidValue):
        catalog.add_comment(video.id, creator.id, " \n\t")
    with pytest.raises(InvalidValue):
        catalog.add_comment(video.id, creator.id, "x" * 5001)
    with pytest.raises(NotFound):
        catalog.add_comment(uuid4(), creator.id, "hello")
    with pytest.raises(NotFound):
        catalog.add_comment(video.id, uuid4(), "hello")
    with pytest.raises(InvalidValue):
        CommentCursor.decode("not-a-cursor")
    assert catalog.add_comment(video.id, creator.id, "x" * 5000).text == "x" * 5000


def test_delete_comment(catalog: Catalog, creator: User, video: Video) -> None:
    kept = catalog.add_comment(video.id, creator.id, "keep")
    gone = catalog.add_comment(video.id, creator.id, "remove")

    catalog.delete_comment(gone.id)

    assert catalog.list_comments(video.id) == [kept]
    with pytest.raises(NotFound):
        catalog.delete_comment(gone.id)


# Uploads


def test_upload_lifecycle(catalog: Catalog, video: Video) -> None:
    upload = catalog.create_upload(
        video.id,
        object_key=f"uploads/{video.id}/source",
        size_bytes=1000,
        content_type="video/mp4",
        s3_upload_id="mpu-1",
    )
    assert upload.status is UploadStatus.INITIATED
    assert upload.expires_at > upload.created_at
    assert catalog.get_video(video.id).encoding_status is EncodingStatus.UPLOADING

    assert catalog.record_received(upload.id, 400).status is UploadStatus.RECEIVING
    # A late report of an earlier offset does not move the count back.
    assert catalog.record_received(upload.id, 100).received_bytes == 400
    with pytest.raises(InvalidState, match="400 of 1000"):
        catalog.complete_upload(upload.id)
    with pytest.raises(InvalidValue):
        catalog.record_received(upload.id, 1001)
    assert catalog.list_completed_uploads_pending_ingest() == []

    catalog.record_received(upload.id, 1000)
    completed = catalog.complete_upload(upload.id)

    assert completed.status is UploadStatus.COMPLETED
    assert completed.completed_at is not None
    assert catalog.get_upload(upload.id) == completed
    assert catalog.get_video(video.id).encoding_status is EncodingStatus.UPLOADING
    assert catalog.list_completed_uploads_pending_ingest() == [completed]
    with pytest.raises(InvalidState, match="completed"):
        catalog.complete_upload(upload.id)
    with pytest.raises(InvalidState):
        catalog.record_received(upload.id, 1000)

    catalog.set_encoding_status(video.id, EncodingStatus.PROCESSING)
    assert catalog.list_completed_uploads_pending_ingest() == []
    with pytest.raises(InvalidState, match="processing"):
        catalog.create_upload(
            video.id, object_key="uploads/again", size_bytes=1, content_type="video/mp4"
        )


def test_a_new_upload_supersedes_the_open_one(catalog: Catalog, video: Video) -> None:
    old = catalog.create_upload(
        video.id, object_key="uploads/a", size_bytes=10, content_type="video/mp4"
    )
    new = catalog.create_upload(
        video.id, object_key="uploads/b", size_bytes=10, content_type="video/mp4"
    )

    assert catalog.get_upload(old.id).status is UploadStatus.ABORTED
    assert catalog.get_upload(new.id).status is UploadStatus.INITIATED
    with pytest.raises(InvalidState):
        catalog.record_received(old.id, 5)
    with pytest.raises(Conflict):
        catalog.create_upload(
            video.id, object_key="uploads/b", size_bytes=10, content_type="video/mp4"
        )


def test_abort_upload_returns_the_video_to_pending(catalog: Catalog, video: Video) -> None:
    upload = catalog.create_upload(
        video.id, object_key="uploads/a", size_bytes=10, content_type="video/mp4"
    )

    aborted = catalog.abort_upload(upload.id)

    assert aborted.status is UploadStatus.ABORTED
    assert catalog.get_video(video.id).encoding_status is EncodingStatus.PENDING
    with pytest.raises(InvalidState, match="aborted"):
        catalog.abort_upload(upload.id)
    with pytest.raises(NotFound):
        catalog.abort_upload(uuid4())


def test_expired_uploads(catalog: Catalog, video: Video) -> None:
    upload = catalog.create_upload(
        video.id,
        object_key="uploads/a",
        size_bytes=10,
        content_type="video/mp4",
        ttl=timedelta(milliseconds=50),
    )
    time.sleep(0.1)

    with pytest.raises(InvalidState, match="expired"):
        catalog.record_received(upload.id, 10)

    expired = catalog.expire_uploads()

    assert [(u.id, u.status) for u in expired] == [(upload.id, UploadStatus.EXPIRED)]
    assert catalog.get_video(video.id).encoding_status is EncodingStatus.PENDING
    assert catalog.expire_uploads() == []


def test_pending_ingest_is_the_latest_completed_upload_of_waiting_videos(
    catalog: Catalog, creator: User, video: Video
) -> None:
    def upload_completely(target: Video, key: str) -> UUID:
        upload = catalog.create_upload(
            target.id, object_key=key, size_bytes=10, content_type="video/mp4"
        )
        catalog.record_received(upload.id, 10)
        return catalog.complete_upload(upload.id).id

    first = upload_completely(video, "uploads/1")
    catalog.set_encoding_status(video.id, EncodingStatus.FAILED, "corrupt source")
    other = catalog.create_video(creator.id, "Other")
    other_upload = upload_completely(other, "uploads/other")

    # A failed ingest is not retried by itself.
    assert [u.id for u in catalog.list_completed_uploads_pending_ingest()] == [other_upload]

    retry = catalog.create_upload(
        video.id, object_key="uploads/2", size_bytes=10, content_type="video/mp4"
    )
    # The new upload is still open: the earlier completed one must not be ingested instead.
    assert [u.id for u in catalog.list_completed_uploads_pending_ingest()] == [other_upload]

    catalog.record_received(retry.id, 10)
    catalog.complete_upload(retry.id)

    pending = [u.id for u in catalog.list_completed_uploads_pending_ingest()]
    assert pending == [other_upload, retry.id]
    assert first not in pending
