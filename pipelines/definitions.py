"""The Reelflow code location: every asset, with the resources of the configured deployment."""

from __future__ import annotations

from dagster import Definitions, load_assets_from_modules

from assets import engagement
from pipelines.resources import resources_for
from reelflow.settings import Settings


def build_definitions(settings: Settings) -> Definitions:
    return Definitions(
        assets=load_assets_from_modules([engagement]),
        resources=resources_for(settings),
    )


defs = build_definitions(Settings())
