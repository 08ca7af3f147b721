"""Isolation between organisations, endpoint by endpoint: an organisation never sees or changes
another's data, whatever ids it guesses.

Two organisations, A ("acme") and B ("bravo"), hold evidence for the same number (consents,
oppositions, attempts, contracts, settings, idempotency keys, audit entries). Every /v1 endpoint has
at least one case in CASES: a request made with B's key, naming A's ids wherever the request takes
an id (reserved attempt, paging cursor, idempotency key). Each case shows what B gets back (B's own
data only) and that every row of A's, in every table, and everything A reads through the API, is the
same afterwards, and that A's decisions are unchanged. A test holds CASES to the app's routes, so a
new endpoint without an isolation case fails here. Keys: none, revoked and under-scoped keys are
refused on every endpoint and write nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.sql import Select
from starlette.routing import Route

from conftest import NPV_CALLER, Api, Tenant
from prospectguard.store import Store, schema

TO = "+33612345678"
WRITTEN = "06 12 34 56 78"  # TO as a person writes it
OTHER = "+33611111111"  # A has an active opposition on it; B has no evidence for it
AT = "2026-12-01T11:00:00+01:00"  # a Tuesday, 11:00 in Paris: within the allowed hours
LATER = datetime(2026, 12, 2, tzinfo=UTC)  # facts read at this instant see every attempt of the seed
A_PROOF = "J'accepte d'être appelé par Acme."
B_PROOF = "J'accepte d'être appelé par Bravo."
A_CALL_KEY = "call-1@pbx"  # idempotency key of A's reserving check of TO
A_OTHER_KEY = "call-2@pbx"  # idempotency key of A's reserving check of OTHER (blocked: opposition)
ATTEMPT_KEY = "att-1"  # idempotency key of an attempt, used by A and by B for different attempts
# Not /v1: no key, no tenant data (the metrics are aggregate counters), or the API's own documentation.
EXCLUDED_PATHS = frozenset({"/healthz", "/metrics", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})


# --- the two organisations ---------------------------------------------------------------------


@dataclass
class World:
    api: Api
    a: Tenant
    b: Tenant
    a_attempt: int  # A's reserved attempt, from its reserving check
    a_answer: dict[str, Any]  # A's answer to that check (idempotency key A_CALL_KEY)
    a_recorded_attempt: int  # A's attempt recorded with ATTEMPT_KEY
    a_attempt_body: dict[str, Any]  # and the request that recorded it
    a_consents: list[int]
    a_oppositions: list[int]  # ids of A's opposition events
    a_ns: list[int]  # A's audit entries' numbers among its own
    b_consents: list[int]
    b_contract: int
    b_oppositions: list[int]
    b_recorded_attempt: int  # B's attempt recorded with ATTEMPT_KEY (another attempt than A's)
    b_attempt_body: dict[str, Any]


def call(api: Api, headers: dict[str, str], method: str, path: str, req: Req) -> httpx.Response:
    response: httpx.Response = api.client.request(method, path, params=req.params, json=req.body, headers=headers)
    return response


def ok(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def consent(api: Api, tenant: Tenant, number: str, proof: str) -> int:
    body = {"number": number, "collected_at": "2026-09-01T10:00:00+02:00", "method": "web form", "proof_text": proof}
    created: int = ok(api.post("/v1/consents", tenant, body))["id"]
    return created


def check(api: Api, tenant: Tenant, to: str = WRITTEN, **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ok(api.post("/v1/check", tenant, {"to": to, "from": NPV_CALLER, "at": AT, **extra}), 200)
    return answer


def codes(answer: dict[str, Any]) -> list[str]:
    return [r["code"] for r in answer["reasons"]]


def opposition_ids(api: Api, tenant: Tenant) -> list[int]:
    return [e["id"] for e in ok(api.get("/v1/oppositions", tenant, limit=1000), 200)["events"]]


def audit_ns(api: Api, tenant: Tenant) -> list[int]:
    return [e["n"] for e in ok(api.get("/v1/audit", tenant, limit=1000), 200)["entries"]]


def audit_hashes(api: Api, tenant: Tenant) -> set[str]:
    return {e["hash"] for e in ok(api.get("/v1/audit", tenant, limit=1000), 200)["entries"]}


def patch_org(api: Api, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = ok(api.client.patch("/v1/org", json=body, headers=tenant.headers), 200)
    return answer


@pytest.fixture
def world(api: Api) -> World:
    a, b = api.tenant("acme"), api.tenant("bravo")
    # A: allowed to call TO (consent; its opposition was lifted), blocked on OTHER (opposition).
    a_consents = [consent(api, a, TO, A_PROOF), consent(api, a, OTHER, A_PROOF)]
    ok(api.post("/v1/oppositions", a, {"number": TO, "at": "2026-10-01T10:00:00+02:00"}))
    ok(api.post("/v1/oppositions/removals", a, {"number": TO, "at": "2026-10-02T10:00:00+02:00"}))
    ok(api.post("/v1/oppositions", a, {"number": OTHER, "at": "2026-10-01T10:00:00+02:00"}))
    attempt = {"to": TO, "at": "2026-11-20T11:00:00+01:00", "outcome": "no_answer", "idempotency_key": ATTEMPT_KEY}
    a_recorded_attempt = ok(api.post("/v1/attempts", a, attempt))["attempt_id"]
    ok(api.post("/v1/contracts", a, {"number": TO, "object": "Box Acme", "start": "2025-01-01"}))
    patch_org(api, a, {"sms_senders": ["ACME"]})
    a_answer = check(api, a, reserve=True, idempotency_key=A_CALL_KEY)
    assert a_answer["decision"] == "allow", a_answer
    assert codes(check(api, a, OTHER, reserve=True, idempotency_key=A_OTHER_KEY)) == ["OPPOSITION"]
    # B: the same number, with evidence of its own: consent, an active opposition, an attempt, a contract.
    b_consents = [consent(api, b, TO, B_PROOF)]
    ok(api.post("/v1/oppositions", b, {"number": TO, "at": "2026-10-05T10:00:00+02:00"}))
    b_attempt = {"to": TO, "at": "2026-11-21T11:00:00+01:00", "outcome": "busy", "idempotency_key": ATTEMPT_KEY}
    b_recorded_attempt = ok(api.post("/v1/attempts", b, b_attempt))["attempt_id"]
    assert b_recorded_attempt != a_recorded_attempt
    b_contract = ok(api.post("/v1/contracts", b, {"number": TO, "object": "Box Bravo", "start": "2025-02-01"}))["id"]
    patch_org(api, b, {"sms_senders": ["BRAVO"]})
    assert codes(check(api, b)) == ["OPPOSITION"]
    return World(
        api,
        a,
        b,
        a_attempt=a_answer["attempt_id"],
        a_answer=a_answer,
        a_recorded_attempt=a_recorded_attempt,
        a_attempt_body=attempt,
        a_consents=a_consents,
        a_oppositions=opposition_ids(api, a),
        a_ns=audit_ns(api, a),
        b_consents=b_consents,
        b_contract=b_contract,
        b_oppositions=opposition_ids(api, b),
        b_recorded_attempt=b_recorded_attempt,
        b_attempt_body=b_attempt,
    )


# --- what an organisation holds: every row of its own, and what it reads through the API ----------


def _rows_query(table: Any, tenant: Tenant) -> Select[Any]:
    """The organisation's rows of `table`; a new table must say whose rows it holds."""
    if "org_id" in table.c:
        return select(table).where(table.c.org_id == tenant.org_id)
    if table is schema.organisations:
        return select(table).where(table.c.id == tenant.org_id)
    if table is schema.audit_log:
        return select(table).where(table.c.org == tenant.name)
    if table is schema.attempt_outcomes:
        mine = select(schema.attempts.c.id).where(schema.attempts.c.org_id == tenant.org_id)
        return select(table).where(table.c.attempt_id.in_(mine))
    if table is schema.bloctel_numbers:
        mine = select(schema.bloctel_snapshots.c.id).where(schema.bloctel_snapshots.c.org_id == tenant.org_id)
        return select(table).where(table.c.snapshot_id.in_(mine))
    raise AssertionError(f"table {table.name}: to which organisation does a row belong? (teach _rows_query)")


def rows_of(store: Store, tenant: Tenant) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the organisation, in every table of the store, by primary key."""
    with store.engine.connect() as conn:
        return {
            table.name: [tuple(r) for r in conn.execute(_rows_query(table, tenant).order_by(*table.primary_key))]
            for table in schema.metadata.sorted_tables
        }


def seen_by(api: Api, tenant: Tenant) -> dict[str, Any]:
    """What the organisation reads through the API, and the facts its decisions rest on."""
    return {
        "consents": {n: ok(api.get("/v1/consents", tenant, number=n), 200) for n in (TO, OTHER)},
        "oppositions": ok(api.get("/v1/oppositions", tenant, limit=1000), 200),
        "org": ok(api.get("/v1/org", tenant), 200),
        "audit": ok(api.get("/v1/audit", tenant, limit=1000), 200),
        "facts": {n: api.store.facts(tenant.org_id, n, LATER).to_json() for n in (TO, OTHER)},
    }


def assert_a_decides_as_before(w: World) -> None:
    """A's own evidence decides A's checks: TO allowed (consent, opposition lifted), OTHER opposed."""
    allowed = check(w.api, w.a)
    assert (allowed["decision"], codes(allowed)) == ("allow", [])
    assert codes(check(w.api, w.a, OTHER)) == ["OPPOSITION"]


# --- the cases: B's requests, naming A's ids wherever a request takes one ------------------------


@dataclass(frozen=True)
class Req:
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    scope: str  # the scope the endpoint needs
    label: str
    request: Callable[[World], Req]  # B's request
    status: int  # B's status
    then: Callable[[World, httpx.Response], None]  # what B's answer shows: B's own data, nothing of A's
    writes: bool  # whether B's request adds rows of B's

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} {self.label}"


def b_check_sees_b_facts_only(w: World, r: httpx.Response) -> None:
    answer = r.json()
    assert (answer["decision"], codes(answer)) == ("block", ["OPPOSITION"])  # B's opposition, not A's removal
    last = w.api.get("/v1/audit", w.b, limit=1000).json()["entries"][-1]
    assert last["org"] == "bravo"
    facts = last["facts"]
    assert [c["id"] for c in facts["consents"]] == w.b_consents
    assert [c["id"] for c in facts["contracts"]] == [w.b_contract]
    assert [a["outcome"] for a in facts["attempts"]] == ["busy"]
    assert [o["active"] for o in facts["oppositions"]] == [True]
    assert facts["org"]["sms_senders"] == ["BRAVO"]


def b_idempotent_check_is_b_own(w: World, r: httpx.Response) -> None:
    answer = r.json()
    assert "replayed" not in answer  # not A's answer replayed: the key is B's to use
    assert answer["attempt_id"] is None
    assert (answer["decision"], codes(answer)) == ("block", ["OPPOSITION"])
    assert answer != w.a_answer
    again = w.api.post(
        "/v1/check", w.b, {"to": WRITTEN, "from": NPV_CALLER, "at": AT, "reserve": True, "idempotency_key": A_CALL_KEY}
    )
    assert ok(again, 200) == {**answer, "replayed": True}


def b_batch_sees_b_facts_only(w: World, r: httpx.Response) -> None:
    first, second = r.json()["decisions"]
    assert codes(first) == ["OPPOSITION"]
    assert "replayed" not in second  # not A's answer to that key (OPPOSITION)
    assert codes(second) == ["NO_CONSENT"]  # OTHER: no consent of B's, and A's opposition is not B's


def b_guessed_attempt_is_unknown(w: World, r: httpx.Response) -> None:
    # The very answer for an id that exists nowhere: B cannot even tell that A's attempt exists.
    assert r.json()["detail"] == [
        {"field": "attempt_id", "message": f"no reserved attempt {w.a_attempt} for this organisation"}
    ]
    unknown = w.api.post("/v1/attempts", w.b, {"attempt_id": w.a_attempt + 10_000, "outcome": "opposed"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["message"] == f"no reserved attempt {w.a_attempt + 10_000} for this organisation"


def b_key_conflicts_with_b_attempt(w: World, r: httpx.Response) -> None:
    # Not a replay of A's attempt (the same request, the same key): B's own use of the key conflicts.
    assert r.json()["detail"] == [
        {"field": "idempotency_key", "message": f"idempotency key {ATTEMPT_KEY!r} was used for a different attempt"}
    ]


def b_replay_is_b_attempt(w: World, r: httpx.Response) -> None:
    assert r.json() == {"attempt_id": w.b_recorded_attempt, "outcome": "busy"}


def b_attempt_is_new(w: World, r: httpx.Response) -> None:
    assert r.json()["attempt_id"] not in (w.a_recorded_attempt, w.a_attempt)
    assert r.json()["outcome"] == "opposed"


def b_consent_history_is_b_own(w: World, r: httpx.Response) -> None:
    events = r.json()
    assert [(e["type"], e["id"], e["proof_text"]) for e in events] == [("consent", w.b_consents[0], B_PROOF)]


def b_consent_history_of_other_is_empty(w: World, r: httpx.Response) -> None:
    assert r.json() == []  # A's consent for OTHER is A's


def b_oppositions_are_b_own(w: World, r: httpx.Response) -> None:
    events = r.json()["events"]
    assert [e["id"] for e in events] == w.b_oppositions
    assert [(e["e164"], e["active"]) for e in events] == [(TO, True)]
    assert not set(w.a_oppositions) & {e["id"] for e in events}


def b_oppositions_after_a_id_are_b_own(w: World, r: httpx.Response) -> None:
    events = r.json()["events"]
    assert [e["id"] for e in events] == [i for i in w.b_oppositions if i > w.a_oppositions[0] - 1]
    assert events  # B's opposition comes after A's: the page is not empty, and holds B's only
    assert r.json()["next_after"] is None


def b_oppositions_after_a_last_id(w: World, r: httpx.Response) -> None:
    events = r.json()["events"]
    assert [e["id"] for e in events] == [i for i in w.b_oppositions if i > w.a_oppositions[-1]]
    assert events


def b_org_is_b_own(w: World, r: httpx.Response) -> None:
    assert r.json() == {"name": "bravo", "caller_numbers": [NPV_CALLER], "sms_senders": ["BRAVO"], "policies_off": []}


def b_org_patch_is_b_own(w: World, r: httpx.Response) -> None:
    assert r.json() == {
        "name": "bravo",
        "caller_numbers": ["+33162000002"],
        "sms_senders": ["ACME"],
        "policies_off": ["CALLER_ID_MASKED"],
    }
    # B's settings now judge B's calls: the number A declares is no longer B's.
    assert sorted(codes(check(w.api, w.b))) == ["CALLER_ID_NOT_ASSIGNED", "OPPOSITION"]


def b_rules_are_the_law(w: World, r: httpx.Response) -> None:
    assert r.json() == ok(w.api.get("/v1/rules", w.a, at="2026-12-01"), 200)  # the law: the same for everyone
    assert r.json()["date"] == "2026-12-01"
    assert r.json()["rules"]


def b_audit_is_b_own(w: World, r: httpx.Response) -> None:
    entries = r.json()["entries"]
    assert entries
    assert not {e["hash"] for e in entries} & audit_hashes(w.api, w.a)
    assert {e["org"] for e in entries} == {"bravo"}
    assert not any(key in e for e in entries for key in ("seq", "prev_hash", "org_seq"))
    for e in entries:
        assert not {c["id"] for c in e["facts"]["consents"]} & set(w.a_consents)


def b_audit_after_a_n_is_b_own(w: World, r: httpx.Response) -> None:
    """`after` counts B's own entries: A's numbers give B its own entries past that count, no more."""
    mine = w.api.get("/v1/audit", w.b, limit=1000).json()["entries"]
    assert r.json()["entries"] == [e for e in mine if e["n"] > w.a_ns[0]]


def b_verify(w: World, r: httpx.Response) -> None:
    assert r.json()["ok"] is True
    assert r.json()["problem"] is None


def created(w: World, r: httpx.Response) -> None:
    assert isinstance(r.json()["id"], int)


def counted(w: World, r: httpx.Response) -> None:
    assert r.json() == {"count": 2}


def check_body(**extra: Any) -> Callable[[World], Req]:
    return lambda w: Req(body={"to": WRITTEN, "from": NPV_CALLER, "at": AT, **extra})


CASES = [
    Case("POST", "/v1/check", "check", "plain", check_body(), 200, b_check_sees_b_facts_only, False),
    Case(
        "POST",
        "/v1/check",
        "check",
        "A's idempotency key",
        check_body(reserve=True, idempotency_key=A_CALL_KEY),
        200,
        b_idempotent_check_is_b_own,
        True,
    ),
    Case(
        "POST",
        "/v1/check/batch",
        "check",
        "A's number and idempotency key",
        lambda w: Req(
            body={
                "contacts": [
                    {"to": WRITTEN, "from": NPV_CALLER, "at": AT},
                    {"to": OTHER, "from": NPV_CALLER, "at": AT, "reserve": True, "idempotency_key": A_OTHER_KEY},
                ]
            }
        ),
        200,
        b_batch_sees_b_facts_only,
        True,
    ),
    Case(
        "POST",
        "/v1/attempts",
        "write",
        "A's reserved attempt_id",
        lambda w: Req(body={"attempt_id": w.a_attempt, "outcome": "opposed"}),
        422,
        b_guessed_attempt_is_unknown,
        False,
    ),
    Case(
        "POST",
        "/v1/attempts",
        "write",
        "A's very attempt and idempotency key",
        lambda w: Req(body=w.a_attempt_body),
        422,
        b_key_conflicts_with_b_attempt,
        False,
    ),
    Case(
        "POST",
        "/v1/attempts",
        "write",
        "B's attempt again, A's idempotency key",
        lambda w: Req(body=w.b_attempt_body),
        201,
        b_replay_is_b_attempt,
        False,
    ),
    Case(
        "POST",
        "/v1/attempts",
        "write",
        "opposed, new key",
        lambda w: Req(
            body={"to": WRITTEN, "at": "2026-11-25T11:00:00+01:00", "outcome": "opposed", "idempotency_key": "att-2"}
        ),
        201,
        b_attempt_is_new,
        True,
    ),
    Case(
        "POST",
        "/v1/consents",
        "write",
        "same number",
        lambda w: Req(
            body={"number": WRITTEN, "collected_at": "2026-09-02T10:00:00+02:00", "method": "call", "proof_text": "oui"}
        ),
        201,
        created,
        True,
    ),
    Case(
        "POST",
        "/v1/consents/withdrawals",
        "write",
        "same number",
        lambda w: Req(body={"number": WRITTEN, "at": "2026-11-01T10:00:00+01:00"}),
        201,
        created,
        True,
    ),
    Case(
        "GET",
        "/v1/consents",
        "write",
        "same number",
        lambda w: Req(params={"number": WRITTEN}),
        200,
        b_consent_history_is_b_own,
        False,
    ),
    Case(
        "GET",
        "/v1/consents",
        "write",
        "A's number only",
        lambda w: Req(params={"number": OTHER}),
        200,
        b_consent_history_of_other_is_empty,
        False,
    ),
    Case(
        "POST",
        "/v1/oppositions",
        "write",
        "same number",
        lambda w: Req(body={"number": WRITTEN, "at": "2026-11-01T10:00:00+01:00"}),
        201,
        created,
        True,
    ),
    Case(
        "POST",
        "/v1/oppositions/removals",
        "write",
        "A's opposed number",
        lambda w: Req(body={"number": OTHER, "at": "2026-11-01T10:00:00+01:00"}),
        201,
        created,
        True,
    ),
    Case(
        "POST",
        "/v1/oppositions/import",
        "write",
        "both numbers",
        lambda w: Req(body={"numbers": [WRITTEN, OTHER], "at": "2026-11-01T10:00:00+01:00"}),
        200,
        counted,
        True,
    ),
    Case(
        "GET",
        "/v1/oppositions",
        "write",
        "from the start",
        lambda w: Req(params={"after": 0}),
        200,
        b_oppositions_are_b_own,
        False,
    ),
    Case(
        "GET",
        "/v1/oppositions",
        "write",
        "after A's first id",
        lambda w: Req(params={"after": w.a_oppositions[0] - 1, "limit": 1000}),
        200,
        b_oppositions_after_a_id_are_b_own,
        False,
    ),
    Case(
        "GET",
        "/v1/oppositions",
        "write",
        "after A's last id, one by one",
        lambda w: Req(params={"after": w.a_oppositions[-1], "limit": 1}),
        200,
        b_oppositions_after_a_last_id,
        False,
    ),
    Case(
        "POST",
        "/v1/contracts",
        "write",
        "same number",
        lambda w: Req(body={"number": WRITTEN, "object": "Box", "start": "2026-01-01"}),
        201,
        created,
        True,
    ),
    Case("GET", "/v1/org", "admin", "own settings", lambda w: Req(), 200, b_org_is_b_own, False),
    Case(
        "PATCH",
        "/v1/org",
        "admin",
        "A's sender name",
        lambda w: Req(
            body={"caller_numbers": ["+33162000002"], "sms_senders": ["ACME"], "policies": {"CALLER_ID_MASKED": False}}
        ),
        200,
        b_org_patch_is_b_own,
        True,
    ),
    Case(
        "GET",
        "/v1/rules",
        "check",
        "the law",
        lambda w: Req(params={"at": "2026-12-01"}),
        200,
        b_rules_are_the_law,
        False,
    ),
    Case(
        "GET",
        "/v1/audit",
        "admin",
        "from the start",
        lambda w: Req(params={"limit": 1000}),
        200,
        b_audit_is_b_own,
        False,
    ),
    Case(
        "GET",
        "/v1/audit",
        "admin",
        "after A's first entry's n",
        lambda w: Req(params={"after": w.a_ns[0], "limit": 1000}),
        200,
        b_audit_after_a_n_is_b_own,
        False,
    ),
    Case("GET", "/v1/audit/verify", "admin", "the chain", lambda w: Req(), 200, b_verify, False),
]


def test_every_endpoint_has_an_isolation_case(api: Api) -> None:
    served = set()
    for route in api.client.app.routes:
        assert isinstance(route, Route), f"{route!r}: not an HTTP route, teach this test"
        path = route.path
        if path in EXCLUDED_PATHS:
            continue
        assert path.startswith("/v1/"), f"{path}: neither a /v1 endpoint nor explicitly excluded"
        methods = set(route.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")
        assert methods, f"{path}: a route without methods"
        served |= {(method, path) for method in methods}
    covered = {(case.method, case.path) for case in CASES}
    assert sorted(served - covered) == [], "endpoints without an isolation case in CASES"
    assert sorted(covered - served) == [], "cases for endpoints the app does not serve"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_b_neither_sees_nor_changes_a_data(world: World, case: Case) -> None:
    api = world.api
    a_rows, a_sees = rows_of(api.store, world.a), seen_by(api, world.a)
    b_rows = rows_of(api.store, world.b)
    r = call(api, world.b.headers, case.method, case.path, case.request(world))
    assert r.status_code == case.status, r.text
    case.then(world, r)
    assert rows_of(api.store, world.a) == a_rows, "B's request changed a row of A's"
    assert seen_by(api, world.a) == a_sees, "B's request changed what A reads"
    changed = {name for name, rows in rows_of(api.store, world.b).items() if rows != b_rows[name]}
    if case.writes:
        assert changed, "B's request wrote nothing: the case proves nothing"
    else:
        assert changed <= {"audit_log"}, f"a read or a refused request wrote {changed}"
    assert_a_decides_as_before(world)


# --- guessed ids -------------------------------------------------------------------------------


def test_b_cannot_report_the_outcome_of_a_reserved_attempt(world: World) -> None:
    api, a, b = world.api, world.a, world.b
    for outcome in ("refused", "opposed", "answered"):
        r = api.post("/v1/attempts", b, {"attempt_id": world.a_attempt, "outcome": outcome})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["field"] == "attempt_id"
    (reserved,) = [x for x in api.store.facts(a.org_id, TO, LATER).attempts if x.outcome == "reserved"]
    assert reserved.at == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert codes(check(api, a, at="2026-12-02T11:00:00+01:00")) == []  # no refusal pause: B reported nothing
    # A reports its own attempt; B still cannot (nor learn that it now has an outcome).
    assert ok(api.post("/v1/attempts", a, {"attempt_id": world.a_attempt, "outcome": "refused"})) == {
        "attempt_id": world.a_attempt,
        "outcome": "refused",
    }
    again = api.post("/v1/attempts", b, {"attempt_id": world.a_attempt, "outcome": "answered"})
    assert again.json()["detail"] == [
        {"field": "attempt_id", "message": f"no reserved attempt {world.a_attempt} for this organisation"}
    ]
    assert codes(check(api, a, at="2026-12-02T11:00:00+01:00")) == ["REFUSAL_COOLDOWN"]
    assert codes(check(api, b, at="2026-12-02T11:00:00+01:00")) == ["OPPOSITION"]  # no pause for B
    # And the other way round: A cannot report B's reserved attempt.
    ok(api.post("/v1/oppositions/removals", b, {"number": TO, "at": "2026-11-01T10:00:00+01:00"}))
    b_attempt = check(api, b, reserve=True)["attempt_id"]
    assert isinstance(b_attempt, int)
    assert api.post("/v1/attempts", a, {"attempt_id": b_attempt, "outcome": "opposed"}).status_code == 422
    assert [x.outcome for x in api.store.facts(b.org_id, TO, LATER).attempts] == ["busy", "reserved"]
    assert [e["active"] for e in ok(api.get("/v1/oppositions", b), 200)["events"]] == [True, False]


def test_idempotency_keys_are_per_organisation(api: Api) -> None:
    a, b = api.tenant("acme"), api.tenant("bravo")
    for tenant in (a, b):
        consent(api, tenant, TO, A_PROOF if tenant is a else B_PROOF)
    a_first = check(api, a, reserve=True, idempotency_key="call-9")
    b_first = check(api, b, reserve=True, idempotency_key="call-9", at="2026-12-01T11:30:00+01:00")  # another request
    assert a_first["decision"] == b_first["decision"] == "allow"
    assert "replayed" not in b_first  # neither A's answer nor a 409 for A's use of the key
    assert a_first["attempt_id"] != b_first["attempt_id"]
    assert check(api, a, reserve=True, idempotency_key="call-9") == {**a_first, "replayed": True}
    b_again = check(api, b, reserve=True, idempotency_key="call-9", at="2026-12-01T11:30:00+01:00")
    assert b_again == {**b_first, "replayed": True}
    assert [x.outcome for x in api.store.facts(a.org_id, TO, LATER).attempts] == ["reserved"]
    assert [x.at.minute for x in api.store.facts(b.org_id, TO, LATER).attempts] == [30]
    # A batch contact carries the key too: still B's own.
    batch = {"contacts": [{"to": TO, "from": NPV_CALLER, "at": AT, "reserve": True, "idempotency_key": "call-10"}]}
    (a_batch,) = ok(api.post("/v1/check/batch", a, batch), 200)["decisions"]
    (b_batch,) = ok(api.post("/v1/check/batch", b, batch), 200)["decisions"]
    assert "replayed" not in b_batch
    assert {a_batch["attempt_id"], b_batch["attempt_id"]} & {a_first["attempt_id"], b_first["attempt_id"]} == set()
    assert a_batch["attempt_id"] != b_batch["attempt_id"]
    # Attempts: the same key names each organisation's own attempt.
    a_attempt = {"to": TO, "at": "2026-11-20T11:00:00+01:00", "outcome": "no_answer", "idempotency_key": "k"}
    b_attempt = {"to": TO, "at": "2026-11-21T15:00:00+01:00", "outcome": "refused", "idempotency_key": "k"}
    a_id = ok(api.post("/v1/attempts", a, a_attempt))["attempt_id"]
    b_id = ok(api.post("/v1/attempts", b, b_attempt))["attempt_id"]
    assert a_id != b_id
    assert ok(api.post("/v1/attempts", a, a_attempt))["attempt_id"] == a_id
    assert ok(api.post("/v1/attempts", b, b_attempt))["attempt_id"] == b_id
    assert [x.outcome for x in api.store.facts(a.org_id, TO, LATER).attempts] == ["no_answer", "reserved", "reserved"]
    assert [x.outcome for x in api.store.facts(b.org_id, TO, LATER).attempts] == ["refused", "reserved", "reserved"]


def test_a_request_cannot_name_another_organisation(world: World) -> None:
    """Bodies refuse unknown keys (org, org_id): 422, nothing written; query parameters other than the
    endpoint's are ignored: the answer is the caller's own."""
    api, a, b = world.api, world.a, world.b
    a_rows = rows_of(api.store, a)
    for case in CASES:
        req = case.request(world)
        if req.body is not None:
            for name, value in (("org_id", a.org_id), ("org", "acme")):
                r = call(api, b.headers, case.method, case.path, Req(req.params, {**req.body, name: value}))
                assert r.status_code == 422, f"{case.id}: {r.text}"
                assert {d["field"] for d in r.json()["detail"]} == {name}, case.id
        else:
            plain = call(api, b.headers, case.method, case.path, req)
            naming = Req({**(req.params or {}), "org_id": a.org_id, "org": "acme"})
            assert call(api, b.headers, case.method, case.path, naming).json() == plain.json(), case.id
    assert rows_of(api.store, a) == a_rows
    entries = ok(api.get("/v1/audit", b, limit=1000, org="acme", org_id=a.org_id), 200)["entries"]
    assert {e["org"] for e in entries} == {"bravo"}
    assert_a_decides_as_before(world)


# --- one organisation's evidence decides its own checks only -----------------------------------


def test_an_opposition_blocks_its_organisation_only(api: Api) -> None:
    a, b = api.tenant("acme"), api.tenant("bravo")
    for tenant in (a, b):
        consent(api, tenant, TO, A_PROOF if tenant is a else B_PROOF)
    assert check(api, a)["decision"] == check(api, b)["decision"] == "allow"
    ok(api.post("/v1/oppositions", a, {"number": WRITTEN, "at": "2026-11-01T10:00:00+01:00"}))
    blocked = check(api, a)
    assert (blocked["decision"], codes(blocked)) == ("block", ["OPPOSITION"])
    allowed = check(api, b)
    assert (allowed["decision"], codes(allowed)) == ("allow", [])
    contacts = {"contacts": [{"to": TO, "from": NPV_CALLER, "at": AT}, {"to": WRITTEN, "from": NPV_CALLER, "at": AT}]}
    assert [codes(d) for d in ok(api.post("/v1/check/batch", a, contacts), 200)["decisions"]] == [["OPPOSITION"]] * 2
    assert [codes(d) for d in ok(api.post("/v1/check/batch", b, contacts), 200)["decisions"]] == [[], []]
    # B lifting "its" opposition, withdrawing or recording an opposed call does not touch A's.
    ok(api.post("/v1/oppositions/removals", b, {"number": TO, "at": "2026-11-02T10:00:00+01:00"}))
    assert codes(check(api, a)) == ["OPPOSITION"]
    ok(api.post("/v1/attempts", b, {"to": TO, "at": "2026-11-03T10:00:00+01:00", "outcome": "opposed"}))
    assert sorted(codes(check(api, b))) == ["CONSENT_WITHDRAWN", "OPPOSITION"]
    ok(api.post("/v1/oppositions/removals", a, {"number": TO, "at": "2026-11-04T10:00:00+01:00"}))
    assert (check(api, a)["decision"], codes(check(api, a))) == ("allow", [])  # B's opposed call is B's


# --- keys ------------------------------------------------------------------------------------------


def test_no_key_or_a_bad_one_is_a_401_everywhere(world: World) -> None:
    api = world.api
    before = {t.name: rows_of(api.store, t) for t in (world.a, world.b)}
    bad = [
        {},
        {"Authorization": "Bearer pg_00000000_guessed"},
        {"Authorization": f"Basic {world.b.key}"},
        {"Authorization": world.b.key},
    ]
    for case in CASES:
        for headers in bad:
            r = call(api, headers, case.method, case.path, case.request(world))
            assert r.status_code == 401, f"{case.id} {headers}: {r.text}"
            assert r.headers["WWW-Authenticate"] == "Bearer"
    assert {t.name: rows_of(api.store, t) for t in (world.a, world.b)} == before


def test_a_revoked_key_is_a_401_everywhere(world: World) -> None:
    api, a, b = world.api, world.a, world.b
    key = api.tenant("bravo").key  # a second admin key of B's
    prefix = key.split("_")[1]
    assert api.store.revoke_key(prefix, at=datetime.now(UTC), org_id=a.org_id) == 0  # not A's key to revoke
    assert ok(api.client.get("/v1/org", headers={"Authorization": f"Bearer {key}"}), 200)["name"] == "bravo"
    assert api.store.revoke_key(prefix, at=datetime.now(UTC), org_id=b.org_id) == 1
    before = {t.name: rows_of(api.store, t) for t in (a, b)}
    for case in CASES:
        r = call(api, {"Authorization": f"Bearer {key}"}, case.method, case.path, case.request(world))
        assert r.status_code == 401, f"{case.id}: {r.text}"
        assert r.json() == {"detail": "unknown or revoked API key"}
    assert {t.name: rows_of(api.store, t) for t in (a, b)} == before
    # B's other key and A's keys still work.
    assert ok(api.get("/v1/org", b), 200)["name"] == "bravo"
    assert_a_decides_as_before(world)


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [(("check",), {"check"}), (("write",), {"write"}), (("check", "write"), {"check", "write"})],
)
def test_a_key_without_the_scope_is_a_403_and_writes_nothing(
    world: World, scopes: tuple[str, ...], allowed: set[str]
) -> None:
    api = world.api
    limited = api.tenant("bravo", scopes=scopes)
    assert limited.org_id == world.b.org_id
    for case in CASES:
        before = {t.name: rows_of(api.store, t) for t in (world.a, world.b)}
        r = call(api, limited.headers, case.method, case.path, case.request(world))
        if case.scope in allowed:
            assert r.status_code == case.status, f"{case.id}: {r.text}"
        else:
            assert r.status_code == 403, f"{case.id}: {r.text}"
            assert r.json() == {"detail": f"this key lacks the {case.scope!r} scope"}
            assert {t.name: rows_of(api.store, t) for t in (world.a, world.b)} == before, case.id
    assert_a_decides_as_before(world)


# --- found: the audit chain is shared ------------------------------------------------------------


def test_audit_verify_does_not_reveal_another_organisations_activity(world: World) -> None:
    api, a, b = world.api, world.a, world.b
    before = ok(api.get("/v1/audit/verify", b), 200)
    for _ in range(3):
        check(api, a)
    after = ok(api.get("/v1/audit/verify", b), 200)
    assert after["ok"] is True
    assert after == before, f"B's verify answer changes with A's checks: {before} -> {after}"
    check(api, b)
    mine = ok(api.get("/v1/audit/verify", b), 200)
    assert mine["entries"] == before["entries"] + 1 and mine["head"] != before["head"]


def test_b_audit_entries_do_not_reveal_a_entries(world: World) -> None:
    api, a, b = world.api, world.a, world.b
    check(api, b)
    for _ in range(3):
        check(api, a)
    check(api, b)
    first, second = ok(api.get("/v1/audit", b, limit=1000), 200)["entries"][-2:]
    a_hashes = {e["hash"] for e in ok(api.get("/v1/audit", a, limit=1000), 200)["entries"]}
    assert not {"seq", "prev_hash", "org_seq"} & set(second), "B's entry shows the shared chain's seq or links"
    assert not any(h in json.dumps(second) for h in a_hashes), "B's entry names the hash of an entry of A"
    assert second["n"] - first["n"] == 1, f"{second['n'] - first['n'] - 1} decisions of others in between"
