"""Property-based fuzzing of the OpenAPI document: no request gets a 5xx, and every documented
answer matches its documented schema.

Schemathesis generates requests from the app's own schema (valid ones and near misses, plus
hostile text in every string) and sends them in-process (ASGI) to an app on a fresh catalog and
object store, signed in as an ordinary viewer. The run is seeded, derandomised and bounded (25
examples per operation, about half a minute), so CI finds the same cases every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.main import create_app
from reelflow.settings import Settings
from storage.catalog import Catalog, Visibility
from tests.fixtures.api_module import bearer, isolated_api_settings, new_user

# Text that has broken APIs before: NUL (PostgreSQL refuses it), SQL, HTML, bidi controls.
HOSTILE_TEXT = ["\x00", "a\x00b", "' OR 1=1; --", "<script>alert(1)</script>", "\u202e", "%00"]
HOSTILE = {"dictionary": "hostile", "probability": 0.2}


def _is_text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" or any(_is_text(s) for s in schema.get("anyOf", ()))


def _is_text_list(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "array":
        return _is_text(schema.get("items", {}))
    return any(_is_text_list(s) for s in schema.get("anyOf", ()))


def body_text_fields(document: dict[str, Any]) -> list[str]:
    """Dictionary bindings (`body.title`, `body.tags[*]`) for every text field of a JSON body.

    Schemathesis binds dictionaries to query and path strings by type, but body fields only by
    name; reading the names from the document keeps new fields covered.
    """
    components = document.get("components", {}).get("schemas", {})
    fields = set()
    for operations in document["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            if "$ref" in schema:
                schema = components[schema["$ref"].rsplit("/", 1)[-1]]
            for name, field in schema.get("properties", {}).items():
                if _is_text(field):
                    fields.add(f"body.{name}")
                elif _is_text_list(field):
                    fields.add(f"body.{name}[*]")
    return sorted(fields)


# The schema is read at import, not from a fixture, because Schemathesis' fixture loader
# (`schemathesis.pytest.from_fixture`) fails on pytest 9. The document does not depend on the
# deployment, so any settings give the same one; requests go to `fuzzed.app`, on the module's
# own database.
DOCUMENT = create_app(Settings()).openapi()
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260401,
        "dictionaries": {"hostile": {"values": HOSTILE_TEXT}},
        "parameters": {field: HOSTILE for field in body_text_fields(DOCUMENT)},
        "generation": {
            "dictionaries": {"string": HOSTILE},
            "max-examples": 25,
            "deterministic": True,
            # No example database: a case found once must not change what later runs try.
            "database": "none",
            # The bearer header is ours; generated ones would only ever be refused.
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
CHECKS = [not_a_server_error, response_schema_conformance]


@dataclass
class Fuzzed:
    settings: Settings
    catalog: Catalog
    app: FastAPI
    headers: dict[str, str]
    video_id: UUID

    def spendable_headers(self) -> dict[str, str]:
        """A new viewer each call, for operations that use their caller up."""
        return bearer(self.catalog, self.settings, new_user(self.catalog))


@pytest.fixture(scope="module")
def fuzzed(
    dev_stack: Settings,
    migrated_template: str,
    api_keyspace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Fuzzed]:
    directory = tmp_path_factory.mktemp("fuzz")
    with (
        isolated_api_settings(dev_stack, migrated_template, api_keyspace, directory) as settings,
        Catalog(settings.postgres_dsn, max_size=2) as catalog,
    ):
        # The viewer's own public video, with a comment by someone else.
        viewer = new_user(catalog)
        video = catalog.create_video(viewer.id, "Fuzzed", visibility=Visibility.PUBLIC)
        catalog.add_comment(video.id, new_user(catalog).id, "first")
        headers = bearer(catalog, settings, viewer)
        yield Fuzzed(settings, catalog, create_app(settings), headers, video.id)


def _even_uuid(text: str) -> bool:
    try:
        return UUID(text).int % 2 == 0
    except ValueError:
        return False


# Erasing the account spends its caller; everything else runs as the module's one viewer.
SPENDS_CALLER = {("DELETE", "/api/v1/users/me")}


@schema.parametrize()
def test_no_server_errors(case: Case, fuzzed: Fuzzed) -> None:
    spends = (case.method.upper(), case.path) in SPENDS_CALLER
    video_id = (case.path_parameters or {}).get("video_id")
    if case.method.upper() != "DELETE" and isinstance(video_id, str) and _even_uuid(video_id):
        # Random ids only ever reach the 404 branch: half of them are pointed at the viewer's
        # own video, so that the generated bodies reach the catalog.
        case.path_parameters["video_id"] = str(fuzzed.video_id)
    headers: dict[str, Any] = fuzzed.spendable_headers() if spends else fuzzed.headers
    case.call_and_validate(app=fuzzed.app, headers=headers, checks=CHECKS)
