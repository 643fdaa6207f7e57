"""A viewer's ratings and playlists as their data export gives them."""

from __future__ import annotations

from uuid import UUID

from api.schemas.community import PlaylistExport, PlaylistItemPlace, RatingExport
from storage.catalog import Catalog
from storage.catalog.ratings import DISLIKE, LIKE

RATING_NAMES = {LIKE: "like", DISLIKE: "dislike"}


def ratings(catalog: Catalog, user_id: UUID) -> list[RatingExport]:
    return [
        RatingExport.model_validate(
            {"video_id": r.video_id, "value": RATING_NAMES[r.value], "rated_at": r.rated_at}
        )
        for r in catalog.list_ratings_by_user(user_id)
    ]


def playlists(catalog: Catalog, user_id: UUID) -> list[PlaylistExport]:
    exported: list[PlaylistExport] = []
    while True:
        page = catalog.list_playlists(user_id, limit=100, offset=len(exported))
        exported.extend(
            PlaylistExport(
                id=p.id,
                kind=p.kind,
                title=p.title,
                description=p.description,
                visibility=p.visibility,
                created_at=p.created_at,
                items=[
                    PlaylistItemPlace(
                        video_id=e.item.video_id, position=e.item.position, added_at=e.item.added_at
                    )
                    for e in catalog.list_playlist_entries(p.id)
                ],
            )
            for p in page
        )
        if len(page) < 100:
            return exported
