"""The HTTP API on both stores: the same decisions as the CLI, reserve and idempotency, attempts,
evidence, bad input, fail closed. Isolation between organisations: test_service_isolation.py;
caps under concurrency across processes: test_service_concurrency.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import NPV_CALLER, Api, Tenant
from prospectguard.gate import Gate
from prospectguard.inputs import instant
from prospectguard.model import Channel, ContactRequest, Sector
from prospectguard.service.app import create_app
from prospectguard.service.schemas import MAX_BATCH
from prospectguard.store import Store

TUESDAY_11 = "2026-12-01T11:00:00+01:00"
TO = "+33612345678"


def consent(api: Api, tenant: Tenant, number: str = TO) -> None:
    r = api.post(
        "/v1/consents",
        tenant,
        {
            "number": number,
            "collected_at": "2026-09-01T10:00:00+02:00",
            "method": "web form",
            "proof_text": "J'accepte d'être appelé",
        },
    )
    assert r.status_code == 201, r.text


def check(api: Api, tenant: Tenant, **body: Any) -> Any:
    payload = {"to": TO, "from": NPV_CALLER, "at": TUESDAY_11, **body}
    return api.post("/v1/check", tenant, payload)


def codes(answer: dict[str, Any]) -> list[str]:
    return [r["code"] for r in answer["reasons"]]


CONTACTS = [
    {"to": TO},
    {"to": "06 12 34 56 78", "at": "2026-12-01T13:30"},  # lunch break
    {"to": TO, "at": "2026-12-05T11:00:00+01:00"},  # Saturday
    {"to": "+262 692 12 34 56"},  # Réunion: 14:00 there
    {"to": "06 11 11 11 11"},  # no consent
    {"to": TO, "from": None},  # masked
    {"to": TO, "from": "06 98 76 54 32"},  # a mobile as caller ID
    {"to": TO, "sector": "energy_renovation"},
    {"to": TO, "channel": "sms", "from": "ACME", "automated": True, "message": "Promo -20%"},
    {"to": "3615"},
    {"to": "+44 7700 900123", "postcode": "75011"},
]


@pytest.mark.parametrize("contact", CONTACTS, ids=[json.dumps(c, ensure_ascii=False) for c in CONTACTS])
def test_a_check_answers_what_the_gate_answers(api: Api, contact: dict[str, Any]) -> None:
    acme = api.tenant("acme")
    consent(api, acme)
    consent(api, acme, "+262692123456")
    body = {"from": NPV_CALLER, "at": TUESDAY_11, **contact}
    r = api.post("/v1/check", acme, body)
    assert r.status_code == 200, r.text
    req = ContactRequest(
        to=body["to"],
        at=instant(body["at"], "at"),
        channel=Channel(body.get("channel", "voice")),
        caller=body["from"],
        automated=body.get("automated", False),
        sector=Sector(body.get("sector", "general")),
        message=body.get("message"),
        postcode=body.get("postcode"),
    )
    expected = Gate(api.store, "acme").check(req).to_json()
    assert r.json() == expected


def test_reserve_counts_at_once_and_the_fifth_is_capped(api: Api) -> None:
    acme = api.tenant("acme")
    consent(api, acme)
    ids = []
    for minute in range(4):
        r = check(api, acme, reserve=True, at=f"2026-12-01T11:0{minute}:00+01:00")
        assert r.json()["decision"] == "allow", r.text
        ids.append(r.json()["attempt_id"])
    assert len(set(ids)) == 4 and all(isinstance(i, int) for i in ids)
    fifth = check(api, acme, reserve=True, at="2026-12-01T11:05:00+01:00").json()
    assert fifth["decision"] == "block"
    assert codes(fifth) == ["FREQUENCY_CAP"]
    assert fifth["attempt_id"] is None
    assert fifth["next_allowed_at"] is not None
    attempts = api.store.facts(acme.org_id, TO, datetime(2026, 12, 2, tzinfo=UTC)).attempts
    assert [a.outcome for a in attempts] == ["reserved"] * 4
    # A plain check does not count.
    assert check(api, api.tenant("other")).json()["decision"] == "block"  # other has no consent
    assert len(api.store.facts(acme.org_id, TO, datetime(2026, 12, 2, tzinfo=UTC)).attempts) == 4


def test_idempotency_key_replays_the_first_answer_and_counts_once(api: Api) -> None:
    acme = api.tenant("acme")
    consent(api, acme)
    first = check(api, acme, reserve=True, idempotency_key="call-1@pbx").json()
    again = check(api, acme, reserve=True, idempotency_key="call-1@pbx").json()
    assert first["decision"] == "allow"
    assert again == {**first, "replayed": True}
    assert len(api.store.facts(acme.org_id, TO, datetime(2026, 12, 2, tzinfo=UTC)).attempts) == 1
    reused = check(api, acme, reserve=True, idempotency_key="call-1@pbx", at="2026-12-01T12:00:00+01:00")
    assert reused.status_code == 409
    assert "different request" in reused.json()["detail"]
    # A blocked first answer is replayed too.
    blocked = check(api, acme, to="06 11 11 11 11", reserve=True, idempotency_key="call-2").json()
    assert codes(blocked) == ["NO_CONSENT"]
    consent(api, acme, "+33611111111")
    assert check(api, acme, to="06 11 11 11 11", reserve=True, idempotency_key="call-2").json() == {
        **blocked,
        "replayed": True,
    }


def test_outcome_of_a_reserved_attempt(api: Api) -> None:
    acme = api.tenant("acme")
    consent(api, acme)
    attempt_id = check(api, acme, reserve=True).json()["attempt_id"]
    r = api.post("/v1/attempts", acme, {"attempt_id": attempt_id, "outcome": "refused"})
    assert r.status_code == 201, r.text
    assert r.json() == {"attempt_id": attempt_id, "outcome": "refused"}
    # The same report again is a no-op; another outcome is refused.
    assert api.post("/v1/attempts", acme, {"attempt_id": attempt_id, "outcome": "refused"}).status_code == 201
    other = api.post("/v1/attempts", acme, {"attempt_id": attempt_id, "outcome": "answered"})
    assert other.status_code == 422
    assert other.json()["detail"][0]["field"] == "outcome"
    later = check(api, acme, at="2026-12-02T11:00:00+01:00").json()
    assert codes(later) == ["REFUSAL_COOLDOWN"]  # B4: 60 days after a refusal
    missing = api.post("/v1/attempts", acme, {"attempt_id": attempt_id + 1000, "outcome": "answered"})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["field"] == "attempt_id"


def test_opposed_outcome_records_an_opposition(api: Api) -> None:
    acme = api.tenant("acme")
    consent(api, acme)
    attempt_id = check(api, acme, reserve=True).json()["attempt_id"]
    assert api.post("/v1/attempts", acme, {"attempt_id": attempt_id, "outcome": "opposed"}).status_code == 201
    later = check(api, acme, at="2026-12-08T11:00:00+01:00").json()
    assert "OPPOSITION" in codes(later)
    assert "CONSENT_WITHDRAWN" in codes(later)
    history = api.get("/v1/consents", acme, number="06 12 34 56 78").json()
    assert [e["type"] for e in history] == ["consent", "withdrawal"]


def test_new_attempts_count_toward_the_cap(api: Api) -> None:
    acme = api.tenant("acme")
    consent(api, acme)
    for day in (20, 21, 22, 23):
        r = api.post(
            "/v1/attempts",
            acme,
            {"to": "06 12 34 56 78", "at": f"2026-11-{day}T11:00:00+01:00", "outcome": "no_answer"},
        )
        assert r.status_code == 201, r.text
    assert codes(check(api, acme).json()) == ["FREQUENCY_CAP"]
    both = api.post("/v1/attempts", acme, {"to": TO, "attempt_id": 1, "outcome": "busy"})
    assert both.status_code == 422
    neither = api.post("/v1/attempts", acme, {"outcome": "busy"})
    assert neither.status_code == 422
    assert neither.json()["detail"][0]["field"] == "to"


def test_batch_answers_in_order(api: Api) -> None:
    acme = api.tenant("acme")
    consent(api, acme)
    contacts = [
        {"to": TO, "from": NPV_CALLER, "at": TUESDAY_11},
        {"to": "06 11 11 11 11", "from": NPV_CALLER, "at": TUESDAY_11},
    ]
    r = api.post("/v1/check/batch", acme, {"contacts": contacts * 3})
    assert r.status_code == 200, r.text
    got = [d["decision"] for d in r.json()["decisions"]]
    assert got == ["allow", "block"] * 3
    assert codes(r.json()["decisions"][1]) == ["NO_CONSENT"]


def test_batch_length_and_body_size_are_bounded(api: Api) -> None:
    acme = api.tenant("acme")
    too_many = api.post("/v1/check/batch", acme, {"contacts": [{"to": TO}] * (MAX_BATCH + 1)})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["field"] == "contacts"
    huge = api.client.post("/v1/check", content=b'{"to": "' + b"0" * (5 * 1024 * 1024) + b'"}', headers=acme.headers)
    assert huge.status_code == 413

    def streamed() -> Iterator[bytes]:  # chunked, no Content-Length: refused as it streams in
        yield b'{"number": "'
        yield from [b"0" * 65536] * 80
        yield b'"}'

    for path in ("/v1/consents", "/v1/oppositions", "/v1/check/batch"):
        answer = api.client.post(path, content=streamed(), headers=acme.headers)
        assert (answer.status_code, answer.json()) == (413, {"detail": "request body larger than 4194304 bytes"})
    empty = api.post("/v1/check/batch", acme, {"contacts": []})
    assert empty.status_code == 422


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"to": "06 12 34 56 78", "colour": "red"}, "colour", "Extra inputs"),
        ({"to": "not a number"}, "to", "not written like a phone number"),
        ({"to": TO, "at": "tomorrow"}, "at", "ISO 8601"),
        ({"to": TO, "at": "3026-01-01T10:00"}, "at", "out of range"),
        ({"to": TO, "channel": "fax"}, "channel", "'voice' or 'sms'"),
        ({"to": TO, "automated": "yes"}, "automated", "valid boolean"),
        ({"to": TO, "postcode": "ABC"}, "postcode", "French postcode"),
        ({"to": TO, "territory": "XX"}, "territory", "territory or département"),
        ({"to": TO, "from": " "}, "from", "empty"),
        ({}, "to", "Field required"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api: Api, body: dict[str, Any], field: str, says: str) -> None:
    r = api.post("/v1/check", api.tenant("acme"), body)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert any(d["field"] == field and says in d["message"] for d in detail), detail


def test_malformed_json_is_a_422(api: Api) -> None:
    r = api.client.post(
        "/v1/check", content=b'{"to": ', headers={**api.tenant("acme").headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"


def test_keys_and_scopes(api: Api) -> None:
    checker = api.tenant("acme", scopes=("check",))
    assert api.client.post("/v1/check", json={"to": TO}).status_code == 401
    bad = api.client.post("/v1/check", json={"to": TO}, headers={"Authorization": "Bearer pg_nope_nope"})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"] == "Bearer"
    assert api.post("/v1/check", checker, {"to": TO}).status_code == 200
    assert api.post("/v1/oppositions", checker, {"number": TO}).status_code == 403
    assert api.get("/v1/audit", checker).status_code == 403
    assert api.get("/v1/rules", checker, at="2026-08-10").status_code == 200
    api.store.revoke_key(checker.key, at=datetime.now(UTC))
    assert api.post("/v1/check", checker, {"to": TO}).status_code == 401


def test_evidence_endpoints(api: Api) -> None:
    acme = api.tenant("acme")
    consent(api, acme)
    assert check(api, acme).json()["decision"] == "allow"
    r = api.post("/v1/oppositions", acme, {"number": "06 12 34 56 78", "at": "2026-11-01T10:00:00+01:00"})
    assert r.status_code == 201
    assert codes(check(api, acme).json()) == ["OPPOSITION"]
    r = api.post("/v1/oppositions/removals", acme, {"number": TO, "at": "2026-11-02T10:00:00+01:00"})
    assert r.status_code == 201
    assert check(api, acme).json()["decision"] == "allow"
    imported = api.post("/v1/oppositions/import", acme, {"numbers": ["06 22 22 22 22", "+33633333333"]})
    assert imported.json() == {"count": 2}
    bad_import = api.post("/v1/oppositions/import", acme, {"numbers": ["06 22 22 22 22", "nope"]})
    assert bad_import.status_code == 422
    assert bad_import.json()["detail"][0]["field"] == "numbers[1]"
    events = api.get("/v1/oppositions", acme, limit=2).json()
    assert [e["active"] for e in events["events"]] == [True, False]
    rest = api.get("/v1/oppositions", acme, after=events["next_after"]).json()
    assert sorted(e["e164"] for e in rest["events"]) == ["+33622222222", "+33633333333"]
    assert rest["next_after"] is None
    r = api.post("/v1/consents/withdrawals", acme, {"number": TO, "at": "2026-11-03T10:00:00+01:00"})
    assert r.status_code == 201
    assert codes(check(api, acme).json()) == ["CONSENT_WITHDRAWN"]
    r = api.post("/v1/contracts", acme, {"number": TO, "object": "Box", "start": "2025-01-01"})
    assert r.status_code == 201
    assert check(api, acme, about_contract=True).json()["decision"] == "allow"  # A4: about the contract
    backwards = api.post(
        "/v1/contracts", acme, {"number": TO, "object": "Box", "start": "2025-01-02", "end": "2025-01-01"}
    )
    assert backwards.status_code == 422


def test_consent_needs_one_proof(api: Api) -> None:
    acme = api.tenant("acme")
    base = {"number": TO, "collected_at": "2026-09-01T10:00", "method": "web"}
    assert api.post("/v1/consents", acme, base).status_code == 422
    both = {**base, "proof_text": "oui", "proof_sha256": "0" * 64}
    assert api.post("/v1/consents", acme, both).status_code == 422
    hashed = api.post("/v1/consents", acme, {**base, "proof_sha256": "ab" * 32, "proof_file_name": "form.pdf"})
    assert hashed.status_code == 201
    (event,) = api.get("/v1/consents", acme, number=TO).json()
    assert event["proof_sha256"] == "ab" * 32
    assert event["proof_file_name"] == "form.pdf"


def test_org_settings_rules_and_audit(api: Api) -> None:
    acme = api.tenant("acme")
    r = api.client.patch(
        "/v1/org", json={"sms_senders": ["ACME"], "policies": {"CALLEE_FOREIGN": False}}, headers=acme.headers
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": "acme",
        "caller_numbers": [NPV_CALLER],
        "sms_senders": ["ACME"],
        "policies_off": ["CALLEE_FOREIGN"],
    }
    bad = api.client.patch("/v1/org", json={"policies": {"OUTSIDE_HOURS": False}}, headers=acme.headers)
    assert bad.status_code == 422  # a law cannot be switched off
    rules = api.get("/v1/rules", acme, at="2026-08-10").json()
    by_id = {r["rule"]: r for r in rules["rules"]}
    assert by_id["A11"]["in_force"] is True  # Bloctel, the day before the reform
    assert api.get("/v1/rules", acme, at="2026-13-01").status_code == 422
    check(api, acme)
    check(api, acme, to="06 11 11 11 11")
    page = api.get("/v1/audit", acme, limit=1).json()
    assert len(page["entries"]) == 1
    second = api.get("/v1/audit", acme, after=page["next_after"]).json()
    assert [e["decision"]["decision"] for e in page["entries"] + second["entries"]] == ["block", "block"]
    verify = api.get("/v1/audit/verify", acme)
    assert verify.status_code == 200
    assert verify.json()["ok"] is True


def test_healthz_and_metrics(api: Api) -> None:
    acme = api.tenant("acme")
    assert api.client.get("/healthz").json() == {"status": "ok"}
    check(api, acme)
    text = api.client.get("/metrics").text
    assert 'prospectguard_decisions_total{decision="block",reason="NO_CONSENT"}' in text
    assert "prospectguard_check_seconds_bucket" in text


def test_store_unavailable_is_a_503_block(tmp_path: Path) -> None:
    """The store's file disappears (its path becomes a directory): every check is a block, 503."""
    path = tmp_path / "store.db"
    store = Store.open(f"sqlite:///{path}")
    org = store.org_id("acme")
    key = store.create_key(org, ["admin"])
    headers = {"Authorization": f"Bearer {key}"}
    for cache_seconds in (60.0, 0.0):  # with the key remembered, and without
        with TestClient(create_app(store, key_cache_seconds=cache_seconds)) as client:
            assert client.post("/v1/check", json={"to": TO, "at": TUESDAY_11}, headers=headers).status_code == 200
            store.close()
            for name in ("store.db", "store.db-wal", "store.db-shm"):
                (tmp_path / name).unlink(missing_ok=True)
            path.mkdir()
            try:
                r = client.post("/v1/check", json={"to": TO, "at": TUESDAY_11}, headers=headers)
                assert r.status_code == 503
                assert r.json()["decision"] == "block"
                assert codes(r.json()) == ["STORE_UNAVAILABLE"]
                batch = client.post("/v1/check/batch", json={"contacts": [{"to": TO}] * 3}, headers=headers)
                assert batch.status_code == 503
                assert [codes(d) for d in batch.json()["decisions"]] == [["STORE_UNAVAILABLE"]] * 3
                assert client.get("/healthz").status_code == 503
                write = client.post("/v1/oppositions", json={"number": TO}, headers=headers)
                assert write.status_code in (503, 401) if cache_seconds == 0 else write.status_code == 503
            finally:
                shutil.rmtree(path)
        store = Store.open(f"sqlite:///{path}")
        org = store.org_id("acme")
        key = store.create_key(org, ["admin"])
        headers = {"Authorization": f"Bearer {key}"}
    store.close()


def test_openapi_documents_every_route_with_examples(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert set(spec["paths"]) >= {"/v1/check", "/v1/check/batch", "/v1/attempts", "/v1/consents", "/healthz"}
    check_body = spec["components"]["schemas"]["CheckRequest"]
    assert check_body.get("examples"), "the check request carries examples"
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_postcode_and_territory_patterns_say_what_the_doors_accept() -> None:
    """The OpenAPI patterns are exactly `valid_postcode` and `valid_territory` on canonical writings."""
    import re
    import string

    from prospectguard.numbering import valid_postcode, valid_territory
    from prospectguard.service.schemas import POSTCODE, TERRITORY

    postcode = re.compile(POSTCODE)
    assert [c for c in (f"{i:05d}" for i in range(100_000)) if bool(postcode.match(c)) != valid_postcode(c)] == []
    territory = re.compile(TERRITORY)
    symbols = string.ascii_uppercase + string.digits
    codes_ = ["FR-metro"] + [a + b for a in symbols for b in symbols] + [f"{i:03d}" for i in range(1000)]
    assert [c for c in codes_ if bool(territory.match(c)) != valid_territory(c)] == []


@pytest.mark.parametrize("chunk", [1000, 2])
def test_a_batch_answers_what_single_checks_answer(api: Api, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain contacts of a batch are judged together (facts read set-wise), a chunk at a time (here
    in one chunk, or in chunks of 2): the same decisions as one check each, in order, every one in
    the audit trail; a reserving contact in the batch still counts its attempt."""
    monkeypatch.setattr("prospectguard.service.app.BATCH_CHUNK", chunk)
    acme = api.tenant("acme")
    consent(api, acme)
    consent(api, acme, "+262692123456")
    for day in (20, 21, 22):
        api.post("/v1/attempts", acme, {"to": TO, "at": f"2026-11-{day}T11:00:00+01:00", "outcome": "no_answer"})
    contacts = [{"from": NPV_CALLER, "at": TUESDAY_11, **c} for c in CONTACTS]
    contacts.append({"to": TO, "from": NPV_CALLER, "at": "2026-11-24T10:30:00+01:00"})  # another instant
    singles = [api.post("/v1/check", acme, c).json() for c in contacts]
    batch = api.post("/v1/check/batch", acme, {"contacts": contacts})
    assert batch.status_code == 200, batch.text
    assert batch.json()["decisions"] == singles
    trail = api.store.org_audit_entries("acme", limit=1000)
    assert [e["decision"] for e in trail[-len(contacts) :]] == singles
    assert api.store.verify_audit().ok
    reserving = [{"to": TO, "from": NPV_CALLER, "at": TUESDAY_11, "reserve": True}] * 2
    answers = api.post("/v1/check/batch", acme, {"contacts": [contacts[0], *reserving]}).json()["decisions"]
    assert [a["decision"] for a in answers] == ["allow", "allow", "block"]  # 3 attempts + 1 reserved = cap
    assert codes(answers[2]) == ["FREQUENCY_CAP"]


def test_batches_judged_with_a_helper_process(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `serve` (`processes=True`), a helper process judges every other chunk of a batch: the
    answers are those of single checks, in order, and every one is in the audit trail; a helper
    that dies costs nothing but speed (its chunk is judged in the worker, the next batch starts a
    new helper)."""
    monkeypatch.setattr("prospectguard.service.app.BATCH_CHUNK", 2)
    with TestClient(create_app(store, key_cache_seconds=0, processes=True)) as client:
        api = Api(client, store)
        acme = api.tenant("acme")
        consent(api, acme)
        contacts = [{"from": NPV_CALLER, "at": TUESDAY_11, **c} for c in CONTACTS]
        singles = [api.post("/v1/check", acme, c).json() for c in contacts]
        helpers = client.app.state.helpers
        for round_ in range(4):
            batch = api.post("/v1/check/batch", acme, {"contacts": contacts})
            assert batch.status_code == 200, batch.text
            assert batch.json()["decisions"] == singles
            pids = list(helpers._pool._processes) if helpers._pool is not None else []
            if round_ != 2:  # round 2 met the dead helper: its other chunks may all be judged meanwhile
                assert len(pids) == 1, f"round {round_}: the helper judged no chunk"
            if round_ == 1:
                os.kill(pids[0], signal.SIGKILL)
        trail = store.org_audit_entries("acme", limit=1000)
        judged = sorted(json.dumps(e["decision"], sort_keys=True) for e in trail[len(contacts) :])
        assert judged == sorted(json.dumps(s, sort_keys=True) for s in singles * 4)
        assert store.verify_audit().ok
