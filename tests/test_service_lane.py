"""`CheckLane`: POST /v1/check answered before FastAPI's router gives the answer the route gives,
whatever the request: right or wrong body, key, scope, size; plain, reserving or idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from conftest import NPV_CALLER
from prospectguard.service.app import MAX_BODY_BYTES, Keys, create_app
from prospectguard.store import Store, StoreUnavailable

AT = "2026-12-01T11:00:00+01:00"  # a Tuesday, 11:00 in Paris
CONSENTED, OTHER = "+33612345678", "+33611223344"


@pytest.fixture
def clients(store: Store) -> Iterator[tuple[TestClient, TestClient]]:
    """The same store served with the lane and without it."""
    with (
        TestClient(create_app(store, key_cache_seconds=0)) as lane,
        TestClient(create_app(store, key_cache_seconds=0, check_lane=False)) as route,
    ):
        yield lane, route


def _consent(store: Store, e164: str) -> None:
    when = datetime(2026, 9, 1, tzinfo=UTC)
    store.add_consent(store.org_id("acme"), e164, collected_at=when, channel="all", method="form", proof_text="Oui")


def _keys(store: Store) -> dict[str, str]:
    org = store.org_id("acme")
    store.set_org(org, caller_numbers=[NPV_CALLER], at=datetime(2026, 1, 1, tzinfo=UTC))
    store.add_consent(
        org, CONSENTED, collected_at=datetime(2026, 9, 1, tzinfo=UTC), channel="all", method="form", proof_text="Oui"
    )
    revoked = store.create_key(org, ["check"], "revoked")
    store.revoke_key(revoked.split("_")[1], at=datetime(2026, 11, 1, tzinfo=UTC), org_id=org)
    return {
        "admin": store.create_key(org, ["admin"], "lane test"),
        "check": store.create_key(org, ["check"], "lane test"),
        "write": store.create_key(org, ["write"], "lane test"),
        "revoked": revoked,
    }


def _without_route(app: Any) -> Any:
    """`app` with its POST /v1/check route removed: only the lane can answer it."""
    app.router.routes[:] = [r for r in app.router.routes if not (isinstance(r, APIRoute) and r.path == "/v1/check")]
    return app


def _store_down(self: Any, key: str) -> None:
    """In place of `Keys.get`: the store cannot be reached."""
    raise StoreUnavailable("connection refused")


def _seen(answer: Any) -> tuple[int, Any, str | None, str | None]:
    try:
        body = answer.json()
    except ValueError:
        body = answer.text
    if isinstance(body, dict):
        body.pop("attempt_id", None)  # each app reserves an attempt of its own
    return answer.status_code, body, answer.headers.get("content-type"), answer.headers.get("www-authenticate")


def test_the_lane_answers_as_the_route_does(store: Store, clients: tuple[TestClient, TestClient]) -> None:
    keys = _keys(store)
    plain = {"to": "06 12 34 56 78", "from": NPV_CALLER, "at": AT}
    bodies: list[tuple[str, bytes | None]] = [
        ("allow", json.dumps(plain).encode()),
        ("block", json.dumps({**plain, "to": OTHER}).encode()),
        ("no from: masked", json.dumps({"to": CONSENTED, "at": AT}).encode()),
        ("sms", json.dumps({**plain, "channel": "sms", "message": "Offre ACME. STOP au 36111"}).encode()),
        ("malformed JSON", b'{"to": '),
        ("not UTF-8", b'{"to": "\xff"}'),
        ("empty", b""),
        ("a list", b"[]"),
        ("unknown field", json.dumps({**plain, "colour": "red"}).encode()),
        ("bad number", json.dumps({**plain, "to": "12"}).encode()),
        ("bad date", json.dumps({**plain, "at": "2026-13-01T10:00"}).encode()),
        ("bad boolean", json.dumps({**plain, "automated": "yes"}).encode()),
        ("too large", b'{"to": "' + b"0" * MAX_BODY_BYTES + b'"}'),
    ]
    headers: list[tuple[str, dict[str, str]]] = [
        ("no key", {}),
        ("basic", {"Authorization": f"Basic {keys['check']}"}),
        ("unknown", {"Authorization": "Bearer pg_00000000_nothing"}),
        ("revoked", {"Authorization": f"Bearer {keys['revoked']}"}),
        ("write scope", {"Authorization": f"Bearer {keys['write']}"}),
        ("check scope", {"Authorization": f"Bearer {keys['check']}"}),
        ("admin", {"Authorization": f"bearer {keys['admin']}"}),
    ]
    lane, route = clients
    seen: set[int] = set()
    for key_name, auth in headers:
        for body_name, body in bodies:
            sent = {"content": body, "headers": {**auth, "Content-Type": "application/json"}}
            ours, theirs = _seen(lane.post("/v1/check", **sent)), _seen(route.post("/v1/check", **sent))
            assert ours == theirs, (key_name, body_name)
            seen.add(ours[0])
    assert seen == {200, 401, 403, 413, 422}


def test_reserving_and_idempotent_checks_answer_alike(store: Store, clients: tuple[TestClient, TestClient]) -> None:
    keys = _keys(store)
    auth = {"Authorization": f"Bearer {keys['check']}"}
    lane, route = clients
    answers: dict[str, list[Any]] = {"lane": [], "route": []}
    for e164 in ("+33600000001", "+33600000002"):
        store.add_consent(
            store.org_id("acme"),
            e164,
            collected_at=datetime(2026, 9, 1, tzinfo=UTC),
            channel="all",
            method="form",
            proof_text="Oui",
        )
    for name, client, to in (("lane", lane, "06 00 00 00 01"), ("route", route, "06 00 00 00 02")):
        for i in range(6):  # each app its own consumer: the fifth reserve is over the cap
            body = {"to": to, "from": NPV_CALLER, "at": f"2026-12-01T11:0{i}:00+01:00", "reserve": True}
            answers[name].append(_seen(client.post("/v1/check", json=body, headers=auth)))
        body = {"to": to, "from": NPV_CALLER, "at": AT, "idempotency_key": f"call-{name}"}
        first = client.post("/v1/check", json=body, headers=auth)
        again = client.post("/v1/check", json=body, headers=auth)
        reused = client.post("/v1/check", json={**body, "to": OTHER}, headers=auth)
        answers[name] += [_seen(first), _seen(again), _seen(reused)]
    for answer in answers["lane"] + answers["route"]:  # the consumer's number differs: compare the rest
        if isinstance(answer[1], dict) and "callee" in answer[1]:
            answer[1]["callee"].pop("e164")
        if isinstance(answer[1], dict) and "detail" in answer[1]:  # and its idempotency key (one org)
            answer[1]["detail"] = answer[1]["detail"].replace("call-lane", "KEY").replace("call-route", "KEY")
    assert answers["lane"] == answers["route"]
    assert [a[0] for a in answers["lane"]] == [200] * 8 + [409]
    decisions = [a[1]["decision"] for a in answers["lane"][:6]]
    assert decisions == ["allow"] * 4 + ["block"] * 2
    assert answers["lane"][7][1].get("replayed") is True


def test_the_lane_answers_without_the_route(store: Store) -> None:
    """Proof that the lane, not the route, answered above: with the route gone, checks still work."""
    key = _keys(store)["check"]
    app = _without_route(create_app(store, key_cache_seconds=0))
    body = {"to": "06 12 34 56 78", "from": NPV_CALLER, "at": AT}
    with TestClient(app) as client:
        answer = client.post("/v1/check", json=body, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200 and answer.json()["decision"] == "allow"
        assert client.get("/v1/check").status_code == 404  # other methods go to the router, which has no route now
    with TestClient(_without_route(create_app(store, key_cache_seconds=0, check_lane=False))) as client:
        assert client.post("/v1/check", json=body, headers={"Authorization": f"Bearer {key}"}).status_code == 404


@pytest.mark.parametrize("check_lane", [True, False])
def test_a_plain_function_exception_handler_answers_as_from_the_route(store: Store, check_lane: bool) -> None:
    """Starlette runs a handler that is a plain function in a thread; the lane does too."""
    from fastapi.responses import JSONResponse

    from prospectguard.service.app import Denied

    app = create_app(store, key_cache_seconds=0, check_lane=check_lane)
    app.add_exception_handler(Denied, lambda request, exc: JSONResponse({"plain": str(exc)}, status_code=418))
    with TestClient(app) as client:
        answer = client.post("/v1/check", json={"to": "06 12 34 56 78", "at": AT})
    assert (answer.status_code, answer.json()) == (418, {"plain": "missing API key: send Authorization: Bearer <key>"})


def test_failures_answer_as_from_the_route(
    store: Store, clients: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answers that matter most: the store down (a 503 `block` decision), a bug (a bare 500),
    a body too large with no declared length (413)."""
    from prospectguard.gate import Gate

    auth = {"Authorization": f"Bearer {_keys(store)['check']}"}
    body = {"to": "06 12 34 56 78", "from": NPV_CALLER, "at": AT}
    lane, route = (TestClient(c.app, raise_server_exceptions=False) for c in clients)

    def both(**sent: Any) -> tuple[Any, Any]:
        return _seen(lane.post("/v1/check", **sent)), _seen(route.post("/v1/check", **sent))

    def streamed() -> Iterator[bytes]:  # chunked: no Content-Length for BodyLimit to refuse early
        yield b'{"to": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"0" * 65536
        yield b'"}'

    ours = _seen(lane.post("/v1/check", content=streamed(), headers=auth))
    theirs = _seen(route.post("/v1/check", content=streamed(), headers=auth))  # a generator each: read once
    assert ours == theirs and ours[0] == 413

    with monkeypatch.context() as patch:
        patch.setattr(Keys, "get", _store_down)
        ours, theirs = both(json=body, headers=auth)
    assert ours == theirs and ours[0] == 503
    assert ours[1]["decision"] == "block" and ours[1]["reasons"][0]["code"] == "STORE_UNAVAILABLE"

    def bug(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    with monkeypatch.context() as patch:
        patch.setattr(Gate, "judge", bug)
        patch.setattr(Gate, "judged", bug)
        ours, theirs = both(json=body, headers=auth)
    assert ours == theirs and ours[0] == 500 and "RuntimeError" in ours[1]["detail"]


def test_the_lane_answers_under_a_root_path(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind a proxy that mounts the API under a prefix (uvicorn --root-path), the lane still
    answers, and a store that is down still gives a `block` decision."""
    key = _keys(store)["check"]
    body = {"to": "06 12 34 56 78", "from": NPV_CALLER, "at": AT}
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(_without_route(create_app(store, key_cache_seconds=0)), root_path="/api") as client:
        answer = client.post("/api/v1/check", json=body, headers=auth)
        assert answer.status_code == 200 and answer.json()["decision"] == "allow"
        monkeypatch.setattr(Keys, "get", _store_down)
        answer = client.post("/api/v1/check", json=body, headers=auth)
        assert answer.status_code == 503 and answer.json()["decision"] == "block"
