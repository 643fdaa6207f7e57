"""Catalog: users, videos, stream assets, DRM keys, plans, subscriptions, comments, uploads.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Enumerations are text columns with named CHECK constraints rather than PostgreSQL enum types:
a later revision can widen or narrow a CHECK in one transaction, whereas enum values can never
be removed.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.migrate import execute_all

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


UPGRADE = (
    """
    CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.updated_at := now();
        RETURN NEW;
    END
    $$
    """,
    # array_to_string is only STABLE (it formats any element type), which a generated column
    # refuses; for text[] it is immutable, and this wrapper says so.
    """
    CREATE FUNCTION video_tags_text(tags text[]) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN array_to_string(tags, ' ')
    """,
    """
    CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL
            CONSTRAINT users_email_check
            CHECK (position('@' IN email) > 1 AND char_length(email) <= 320),
        -- NULL once the account is erased: no password can match it.
        password_hash text,
        subscription_status text NOT NULL DEFAULT 'none'
            CONSTRAINT users_subscription_status_check
            CHECK (subscription_status IN ('none', 'active', 'past_due', 'canceled')),
        profile_data jsonb NOT NULL DEFAULT '{}'
            CONSTRAINT users_profile_data_check CHECK (jsonb_typeof(profile_data) = 'object'),
        role text NOT NULL DEFAULT 'viewer'
            CONSTRAINT users_role_check CHECK (role IN ('viewer', 'creator', 'admin')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
    )
    """,
    "CREATE UNIQUE INDEX users_email_key ON users (lower(email))",
    """
    CREATE TABLE videos (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        title text NOT NULL
            CONSTRAINT videos_title_check CHECK (title ~ '\\S' AND char_length(title) <= 300),
        description text NOT NULL DEFAULT ''
            CONSTRAINT videos_description_check CHECK (char_length(description) <= 10000),
        tags text[] NOT NULL DEFAULT '{}'
            CONSTRAINT videos_tags_check CHECK (array_position(tags, NULL) IS NULL),
        -- Accounts are anonymised, not deleted; deleting one that still owns videos is a bug.
        uploaded_by_user_id uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
        duration_s double precision CONSTRAINT videos_duration_s_check CHECK (duration_s > 0),
        encoding_status text NOT NULL DEFAULT 'pending'
            CONSTRAINT videos_encoding_status_check
            CHECK (encoding_status IN ('pending', 'uploading', 'processing', 'ready', 'failed')),
        failure_reason text,
        thumbnail_url text,
        visibility text NOT NULL DEFAULT 'private'
            CONSTRAINT videos_visibility_check
            CHECK (visibility IN ('public', 'unlisted', 'private', 'premium')),
        published_version text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        search_vector tsvector NOT NULL GENERATED ALWAYS AS (
            setweight(to_tsvector('english', title), 'A')
            || setweight(to_tsvector('english', coalesce(video_tags_text(tags), '')), 'B')
            || setweight(to_tsvector('english', description), 'C')
        ) STORED,
        CONSTRAINT videos_failure_reason_check
            CHECK (failure_reason IS NULL OR encoding_status = 'failed'),
        CONSTRAINT videos_published_check
            CHECK ((published_version IS NULL) = (published_at IS NULL)),
        -- A video can be published and re-processing, but never ready with nothing to play.
        CONSTRAINT videos_ready_check
            CHECK (encoding_status <> 'ready' OR published_version IS NOT NULL)
    )
    """,
    "CREATE INDEX videos_title_idx ON videos (title)",
    "CREATE INDEX videos_uploaded_by_user_id_idx ON videos (uploaded_by_user_id, created_at DESC)",
    "CREATE INDEX videos_search_vector_idx ON videos USING gin (search_vector)",
    "CREATE INDEX videos_tags_idx ON videos USING gin (tags)",
    # Few videos wait for ingest at any time; this keeps the sensor's query off the whole table.
    """
    CREATE INDEX videos_awaiting_ingest_idx ON videos (id)
    WHERE encoding_status IN ('pending', 'uploading')
    """,
    """
    CREATE TABLE drm_keys (
        key_id uuid PRIMARY KEY,
        video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
        wrapped_content_key bytea NOT NULL,
        scheme text NOT NULL
            CONSTRAINT drm_keys_scheme_check CHECK (scheme IN ('cenc', 'cbcs', 'aes-128')),
        created_at timestamptz NOT NULL DEFAULT now(),
        -- Target of stream_assets' composite key: an asset may only use its own video's keys.
        CONSTRAINT drm_keys_key_id_video_id_key UNIQUE (key_id, video_id)
    )
    """,
    "CREATE INDEX drm_keys_video_id_idx ON drm_keys (video_id)",
    """
    CREATE TABLE stream_assets (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
        version text NOT NULL CONSTRAINT stream_assets_version_check CHECK (version <> ''),
        resolution text NOT NULL,
        width integer NOT NULL CONSTRAINT stream_assets_width_check CHECK (width > 0),
        height integer NOT NULL CONSTRAINT stream_assets_height_check CHECK (height > 0),
        bitrate integer NOT NULL CONSTRAINT stream_assets_bitrate_check CHECK (bitrate > 0),
        codec text NOT NULL CONSTRAINT stream_assets_codec_check CHECK (codec <> ''),
        format text NOT NULL
            CONSTRAINT stream_assets_format_check CHECK (format IN ('hls', 'dash')),
        cdn_url text NOT NULL,
        drm_key_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT stream_assets_resolution_check
            CHECK (resolution = width::text || 'x' || height::text),
        CONSTRAINT stream_assets_drm_key_fkey FOREIGN KEY (drm_key_id, video_id)
            REFERENCES drm_keys (key_id, video_id),
        -- Leads with video_id, so it is also the index for "assets of a video".
        CONSTRAINT stream_assets_rendition_key UNIQUE (video_id, version, format, resolution)
    )
    """,
    "CREATE INDEX stream_assets_drm_key_id_idx ON stream_assets (drm_key_id)",
    """
    CREATE TABLE plans (
        id text PRIMARY KEY CONSTRAINT plans_id_check CHECK (id ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
        name text NOT NULL CONSTRAINT plans_name_check CHECK (name ~ '\\S'),
        price_cents integer NOT NULL CONSTRAINT plans_price_cents_check CHECK (price_cents >= 0),
        -- ISO 4217, lower-case as Stripe writes it.
        currency text NOT NULL CONSTRAINT plans_currency_check CHECK (currency ~ '^[a-z]{3}$'),
        interval text NOT NULL
            CONSTRAINT plans_interval_check CHECK (interval IN ('day', 'week', 'month', 'year')),
        stripe_price_id text CONSTRAINT plans_stripe_price_id_key UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE subscriptions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        -- Billing records outlive accounts; erasing a user anonymises it instead.
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
        plan_id text NOT NULL REFERENCES plans (id) ON DELETE RESTRICT,
        status text NOT NULL DEFAULT 'incomplete'
            CONSTRAINT subscriptions_status_check
            CHECK (status IN ('incomplete', 'active', 'past_due', 'canceled')),
        start_date timestamptz NOT NULL DEFAULT now(),
        end_date timestamptz,
        auto_renew boolean NOT NULL DEFAULT true,
        payment_method_id text,
        provider_customer_id text,
        provider_subscription_id text NOT NULL
            CONSTRAINT subscriptions_provider_subscription_id_key UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT subscriptions_dates_check CHECK (end_date IS NULL OR end_date >= start_date)
    )
    """,
    "CREATE INDEX subscriptions_user_id_idx ON subscriptions (user_id, start_date DESC)",
    "CREATE INDEX subscriptions_plan_id_idx ON subscriptions (plan_id)",
    """
    CREATE TABLE comments (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
        -- NULL for comments of an erased account: the text stays, the author goes.
        user_id uuid REFERENCES users (id) ON DELETE SET NULL,
        text text NOT NULL
            CONSTRAINT comments_text_check CHECK (text ~ '\\S' AND char_length(text) <= 5000),
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # (created_at, id) is the keyset cursor of a comment page, newest first.
    """
    CREATE INDEX comments_video_id_created_at_idx
    ON comments (video_id, created_at DESC, id DESC)
    """,
    "CREATE INDEX comments_user_id_idx ON comments (user_id)",
    """
    CREATE TABLE uploads (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
        object_key text NOT NULL CONSTRAINT uploads_object_key_key UNIQUE,
        size_bytes bigint NOT NULL CONSTRAINT uploads_size_bytes_check CHECK (size_bytes > 0),
        received_bytes bigint NOT NULL DEFAULT 0,
        status text NOT NULL DEFAULT 'initiated'
            CONSTRAINT uploads_status_check
            CHECK (status IN ('initiated', 'receiving', 'completed', 'aborted', 'expired')),
        content_type text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        completed_at timestamptz,
        s3_upload_id text,
        CONSTRAINT uploads_received_bytes_check CHECK (received_bytes BETWEEN 0 AND size_bytes),
        CONSTRAINT uploads_expires_at_check CHECK (expires_at > created_at),
        CONSTRAINT uploads_completed_check CHECK (
            (status = 'completed') = (completed_at IS NOT NULL)
            AND (status <> 'completed' OR received_bytes = size_bytes)
        )
    )
    """,
    # With videos_awaiting_ingest_idx, serves the ingest sensor: the latest upload of each
    # video that waits for ingest, and whether it is completed.
    "CREATE INDEX uploads_video_id_idx ON uploads (video_id, created_at DESC)",
    # A new upload supersedes the open one; two open uploads of one video would race to ingest.
    """
    CREATE UNIQUE INDEX uploads_one_open_per_video_key ON uploads (video_id)
    WHERE status IN ('initiated', 'receiving')
    """,
    """
    CREATE INDEX uploads_open_expires_at_idx ON uploads (expires_at)
    WHERE status IN ('initiated', 'receiving')
    """,
    *(
        f"""
        CREATE TRIGGER {table}_set_updated_at BEFORE UPDATE ON {table}
        FOR EACH ROW EXECUTE FUNCTION set_updated_at()
        """
        for table in ("users", "videos", "plans", "subscriptions")
    ),
)

DOWNGRADE = (
    "DROP TABLE uploads",
    "DROP TABLE comments",
    "DROP TABLE subscriptions",
    "DROP TABLE plans",
    "DROP TABLE stream_assets",
    "DROP TABLE drm_keys",
    "DROP TABLE videos",
    "DROP TABLE users",
    "DROP FUNCTION video_tags_text(text[])",
    "DROP FUNCTION set_updated_at()",
)


def upgrade() -> None:
    execute_all(UPGRADE)


def downgrade() -> None:
    execute_all(DOWNGRADE)
