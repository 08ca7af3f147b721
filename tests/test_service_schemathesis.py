"""Schemathesis against our own OpenAPI: generated requests for every operation must never produce a
server error, and every answer must match the documented schema, status codes and content type.
Bounded examples per operation, so that it runs in `make test`.

Not checked: that every schema-valid request is accepted, and every invalid one refused. Phone
numbers are checked against the numbering plan, which no JSON Schema pattern can say, and instants
take more ISO 8601 writings than `date-time`; both are documented in the fields' descriptions."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from prospectguard.service.app import create_app
from prospectguard.store import Store

_DIR = tempfile.TemporaryDirectory(prefix="prospectguard-schemathesis-")
STORE = Store.open(f"sqlite:///{Path(_DIR.name) / 'store.db'}")
_ORG = STORE.org_id("acme")
STORE.set_org(_ORG, caller_numbers=["+33162000001"], at=datetime(2026, 1, 1, tzinfo=UTC))
HEADERS = {"Authorization": f"Bearer {STORE.create_key(_ORG, ['admin'], 'schemathesis')}"}
APP = create_app(STORE)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_answers_match_the_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=HEADERS, excluded_checks=[positive_data_acceptance, negative_data_rejection])
