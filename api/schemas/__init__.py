"""Request and response bodies of the API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, field_validator


def text_problem(value: Any) -> str | None:
    """Why a string somewhere in `value` (a key too) cannot be stored, or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "text must not contain NUL characters"
        try:
            value.encode()
        except UnicodeEncodeError:
            return "text must be valid Unicode (no lone surrogates)"
        return None
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    return next((p for p in map(text_problem, items) if p is not None), None)


class StorableRequest(BaseModel):
    """A request body whose text can all be stored.

    JSON can carry text that PostgreSQL refuses to store (NUL) or UTF-8 cannot encode; caught
    here it is a 422 naming the field instead of a 500 from the database or the hasher.
    """

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value
