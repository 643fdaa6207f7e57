"""The errors the catalog raises on purpose; the API maps each family to one HTTP status."""

from __future__ import annotations


class CatalogError(Exception):
    """Base of the errors the catalog raises on purpose."""


class NotFound(CatalogError, LookupError):
    """The addressed row does not exist."""


class Conflict(CatalogError):
    """The change would collide with an existing row."""


class EmailTaken(Conflict):
    """Another account uses this email address (in any letter case)."""


class UploadQuotaExceeded(Conflict):
    """The account has as many open uploads, or as many bytes on their way, as it may."""


class SubscriptionExists(Conflict):
    """A subscription with this provider id is already recorded."""


class DrmKeyConflict(Conflict):
    """The key id is already stored with another video, scheme or content key."""


class InvalidState(CatalogError):
    """The row is not in a state that allows this transition."""


class InvalidValue(CatalogError, ValueError):
    """An argument breaks a rule of the catalog (a CHECK constraint or its Python twin)."""
