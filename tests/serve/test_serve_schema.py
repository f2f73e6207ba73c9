"""Property-based run against the generated OpenAPI schema (schemathesis): no 5xx, no schema violation.

Positive (schema-valid) and negative (schema-breaking) requests for every
operation, bounded examples, derandomized so the run is the same every time.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

schemathesis = pytest.importorskip("schemathesis")

from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from recfair.serve import ServeSettings, create_app, open_served  # noqa: E402

from .conftest import KEY  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
AUTH = {"Authorization": f"Bearer {KEY}"}
EXAMPLES = int(os.environ.get("RECFAIR_SCHEMA_EXAMPLES", "12"))  # bounded: fast in `make test`


@pytest.fixture(scope="module")
def api_schema(study_dir, tmp_path_factory):
    app = create_app(open_served(study_dir, "bpr0"),
                     ServeSettings(api_key=KEY, state_dir=tmp_path_factory.mktemp("state")))
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)


def _operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


def test_every_route_is_in_the_schema(api_schema):
    labels = {op.label for op in _operations(api_schema)}
    assert {"POST /recommend", "POST /recommend/batch", "GET /items/{item_id}", "GET /users/{user_id}",
            "GET /audit", "GET /health", "GET /ready", "GET /metrics", "POST /admin/reload",
            "GET /admin/exposure", "POST /admin/exposure/reset"} <= labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(api_schema, mode):
    failures = []
    for op in _operations(api_schema):
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers=AUTH, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # negative mode: an operation whose every input is valid (no body, free-text path)
            continue
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{op.label}: {exc}")
    assert not failures, "\n\n".join(failures)
