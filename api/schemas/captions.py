"""Request and response bodies of caption tracks."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CaptionTrackPublic(BaseModel):
    """A caption track as a video's metadata lists it."""

    language: str = Field(description="BCP 47 language tag", examples=["en", "pt-BR"])
    label: str = Field(description="the name players show in their captions menu")


class CaptionPublic(CaptionTrackPublic):
    """A caption track of a video, normalised to WebVTT."""

    cues: int
    revision: int = Field(description="1 for the first upload, one more for each replacement")
    updated_at: datetime
