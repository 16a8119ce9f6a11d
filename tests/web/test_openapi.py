"""Property tests from the published OpenAPI spec (schemathesis): every GET route, generated inputs, no 5xx,
documented status codes, content types and bodies that match the spec."""

from __future__ import annotations

from typing import Any

import pytest

from websample import TEST_HOSTS, Sample

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_get_routes_follow_the_spec(web_sample: Sample) -> None:
    """Each GET operation gets its own bounded batch of generated requests."""
    from hypothesis import given

    from chronicon.web import create_app

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(web_sample.library, allowed_hosts=TEST_HOSTS))
    tested = []
    for result in schema.include(method="GET").get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        check()
        tested.append(operation.path)
    assert {"/api/search", "/api/browse", "/api/assets/{asset_id}/original", "/api/stats"} <= set(tested)


def test_spec_documents_errors_and_plugin_filters(web_sample: Sample) -> None:
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    with TestClient(create_app(web_sample.library, allowed_hosts=TEST_HOSTS)) as client:
        spec = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    search = spec["paths"]["/api/search"]["get"]
    assert {"200", "400", "401", "503"} <= set(search["responses"]) and "422" not in search["responses"]
    names = {p["name"] for p in search["parameters"]}
    assert {"q", "kind", "after", "before", "camera", "label", "under", "has_speech", "limit"} <= names
    assert set(web_sample.library.search_filters) <= names
    original = spec["paths"]["/api/assets/{asset_id}/original"]["get"]
    assert {"200", "206", "403", "404", "416"} <= set(original["responses"])


def test_responses_match_the_published_component_schemas(web_sample: Sample) -> None:
    """Real responses validated against the schemas /openapi.json publishes (the REST contract)."""
    import jsonschema_rs
    from fastapi.testclient import TestClient

    from chronicon.schemas import SCHEMA_VERSION
    from chronicon.web import create_app

    with TestClient(create_app(web_sample.library, allowed_hosts=TEST_HOSTS)) as client:
        spec = client.get("/openapi.json").json()
        bodies = {
            "SearchResults": [client.get("/api/search", params={"q": q}).json() for q in ("a cat", "a rocket")],
            "BrowseResults": [client.get("/api/browse").json()],
            "Stats": [client.get("/api/stats").json()],
            "ScanStatus": [client.get("/api/scan").json()],
            "Meta": [client.get("/api/meta").json()],
        }
    assert spec["paths"]["/api/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Stats"
    }
    for name, samples in bodies.items():
        validator = jsonschema_rs.validator_for(
            {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        )
        for body in samples:
            errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(body)]
            assert not errors, f"{name}: {errors}"
    assert {h["kind"] for b in bodies["SearchResults"] for h in b["results"]} == {"image", "video"}
    assert bodies["Stats"][0]["schema_version"] == SCHEMA_VERSION and bodies["Stats"][0]["vectors"]
    broken = {**bodies["Stats"][0], "assets": "many"}
    assert not jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/Stats", "components": spec["components"]}
    ).is_valid(broken)
