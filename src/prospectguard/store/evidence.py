"""Writing evidence: organisations, settings, consents, oppositions, contracts, attempts, Bloctel.

Functions take an open connection so that one transaction can hold several facts (an `opposed`
attempt is an attempt, an opposition and a withdrawal, or nothing). They only INSERT: history is
never rewritten.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from itertools import islice
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, CursorResult

from prospectguard.model import Channel, Outcome
from prospectguard.store.schema import (
    CONSENT_CHANNELS,
    OPPOSITION_SOURCES,
    api_keys,
    attempt_outcomes,
    attempts,
    bloctel_numbers,
    bloctel_snapshots,
    check_answers,
    consent_withdrawals,
    consents,
    contracts,
    opposition_events,
    org_settings,
    organisations,
)
from prospectguard.store.types import require_aware

CHUNK = 5_000
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_SHORT = re.compile(r"[1-9][0-9]{1,5}")  # French short numbers have no E.164 form (30PQ callers, E2)
_SHA256 = re.compile(r"[0-9a-f]{64}")
ATTEMPT_CHANNELS = tuple(c.value for c in Channel)
OUTCOMES = tuple(o.value for o in Outcome)
ADDABLE_OPPOSITION_SOURCES = tuple(s for s in OPPOSITION_SOURCES if s != "removal")
# The outcome of an attempt reserved by a check, until its real outcome is reported. It counts toward
# the frequency cap (B3 counts every attempt, unanswered included) like any other.
RESERVED = "reserved"
API_SCOPES = ("check", "write", "admin")


# --- validation: the doors validate too, but the evidence must be clean whoever writes it ---------


def check_e164(value: str) -> str:
    if not isinstance(value, str) or not _E164.fullmatch(value):
        raise ValueError(f"not an E.164 number: {value!r}")
    return value


def check_caller_number(value: str) -> str:
    """A declared caller number: E.164, or the digits of a short number such as 30PQ (E2)."""
    if isinstance(value, str) and _SHORT.fullmatch(value):
        return value
    return check_e164(value)


def check_choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    text = str(value)
    if text not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {text!r}")
    return text


def check_text(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


def check_date(value: date, name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"{name} must be a date (not a datetime)")
    return value


def optional_instant(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else require_aware(value, name)


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the insert returned no primary key")
    return int(key[0])


def _chunks(values: Iterable[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(values)
    while chunk := list(islice(iterator, size)):
        yield chunk


# --- organisations and settings ------------------------------------------------------------------


def find_org(conn: Connection, name: str) -> int | None:
    return conn.execute(select(organisations.c.id).where(organisations.c.name == name)).scalar_one_or_none()


def insert_org(conn: Connection, name: str) -> int:
    return _new_id(conn.execute(organisations.insert().values(name=name)))


def insert_settings(
    conn: Connection,
    org_id: int,
    *,
    at: datetime,
    caller_numbers: list[str],
    sms_senders: list[str],
    policies_off: list[str],
) -> None:
    conn.execute(
        org_settings.insert().values(
            org_id=org_id,
            at=at,
            caller_numbers=caller_numbers,
            sms_senders=sms_senders,
            policies_off=policies_off,
        )
    )


# --- consents ------------------------------------------------------------------------------------


def insert_consent(
    conn: Connection,
    org_id: int,
    e164: str,
    *,
    collected_at: datetime,
    channel: str,
    expires_at: datetime | None,
    method: str,
    proof_text: str | None,
    proof_file_name: str | None,
    proof_bytes: bytes | None,
    slot_start: datetime | None,
    slot_end: datetime | None,
    proof_sha256: str | None = None,
) -> int:
    """`proof_sha256`: the hash of a proof file kept elsewhere, when its bytes are not at hand."""
    if sum(p is not None for p in (proof_text, proof_bytes, proof_sha256)) != 1:
        raise ValueError("give exactly one of proof_text, proof_bytes and proof_sha256")
    if proof_text is not None and proof_file_name is not None:
        raise ValueError("proof_file_name goes with a proof file, not proof_text")
    if proof_sha256 is not None and not _SHA256.fullmatch(proof_sha256):
        raise ValueError("proof_sha256 must be 64 lowercase hex digits")
    proof = proof_text.encode("utf-8") if proof_text is not None else proof_bytes
    digest = proof_sha256 if proof is None else hashlib.sha256(proof).hexdigest()
    slot_start = optional_instant(slot_start, "slot_start")
    slot_end = optional_instant(slot_end, "slot_end")
    if slot_end is not None and (slot_start is None or slot_end <= slot_start):
        raise ValueError("slot_end needs a slot_start before it")
    result = conn.execute(
        consents.insert().values(
            org_id=org_id,
            e164=check_e164(e164),
            collected_at=require_aware(collected_at, "collected_at"),
            channel=check_choice(channel, CONSENT_CHANNELS, "channel"),
            expires_at=optional_instant(expires_at, "expires_at"),
            method=check_text(method, "method"),
            proof_text=proof_text,
            proof_file_name=proof_file_name,
            proof_sha256=digest,
            slot_start=slot_start,
            slot_end=slot_end,
        )
    )
    return _new_id(result)


def insert_withdrawal(conn: Connection, org_id: int, e164: str, *, at: datetime, source: str) -> int:
    result = conn.execute(
        consent_withdrawals.insert().values(
            org_id=org_id,
            e164=check_e164(e164),
            at=require_aware(at, "at"),
            source=check_text(source, "source"),
        )
    )
    return _new_id(result)


# --- oppositions and contracts -------------------------------------------------------------------


def insert_opposition(conn: Connection, org_id: int, e164: str, *, at: datetime, active: bool, source: str) -> int:
    result = conn.execute(
        opposition_events.insert().values(
            org_id=org_id,
            e164=check_e164(e164),
            at=require_aware(at, "at"),
            active=active,
            source=check_choice(source, OPPOSITION_SOURCES, "source"),
        )
    )
    return _new_id(result)


def list_oppositions(conn: Connection, org_id: int, *, after: int, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(opposition_events)
        .where(opposition_events.c.org_id == org_id, opposition_events.c.id > after)
        .order_by(opposition_events.c.id)
        .limit(limit)
    )
    return [
        {
            "id": r.id,
            "e164": r.e164,
            "at": r.at.isoformat(),
            "active": bool(r.active),
            "source": r.source,
            "recorded_at": r.recorded_at.isoformat(),
        }
        for r in rows
    ]


def insert_oppositions(conn: Connection, org_id: int, e164s: Iterable[str], *, at: datetime, source: str) -> int:
    at = require_aware(at, "at")
    source = check_choice(source, ADDABLE_OPPOSITION_SOURCES, "source")
    rows = ({"org_id": org_id, "e164": check_e164(e164), "at": at, "active": True, "source": source} for e164 in e164s)
    count = 0
    for chunk in _chunks(rows):
        conn.execute(opposition_events.insert(), chunk)
        count += len(chunk)
    return count


def insert_contract(
    conn: Connection, org_id: int, e164: str, *, object: str, start: datetime, end: datetime | None
) -> int:
    start = require_aware(start, "start")
    end = optional_instant(end, "end")
    if end is not None and end < start:
        raise ValueError("a contract cannot end before it starts")
    result = conn.execute(
        contracts.insert().values(
            org_id=org_id, e164=check_e164(e164), object=check_text(object, "object"), start=start, end=end
        )
    )
    return _new_id(result)


# --- attempts ------------------------------------------------------------------------------------


def find_attempt(conn: Connection, org_id: int, idempotency_key: str) -> Any:
    return conn.execute(
        select(attempts).where(attempts.c.org_id == org_id, attempts.c.idempotency_key == idempotency_key)
    ).first()


def check_attempt(e164: str, at: datetime, channel: str, outcome: str) -> tuple[str, datetime, str, str]:
    return (
        check_e164(e164),
        require_aware(at, "at"),
        check_choice(channel, ATTEMPT_CHANNELS, "channel"),
        check_choice(outcome, OUTCOMES, "outcome"),
    )


def insert_attempt(
    conn: Connection,
    org_id: int,
    e164: str,
    *,
    at: datetime,
    channel: str,
    outcome: str,
    idempotency_key: str | None,
) -> int:
    """Record one attempt; `opposed` (A13, G3) also records the opposition and withdraws consent."""
    e164, at, channel, outcome = check_attempt(e164, at, channel, outcome)
    if idempotency_key is not None:
        check_text(idempotency_key, "idempotency_key")
    result = conn.execute(
        attempts.insert().values(
            org_id=org_id, e164=e164, at=at, channel=channel, outcome=outcome, idempotency_key=idempotency_key
        )
    )
    if outcome == Outcome.OPPOSED.value:
        _objection(conn, org_id, e164, at)
    return _new_id(result)


def _objection(conn: Connection, org_id: int, e164: str, at: datetime) -> None:
    """The consumer objected during the call (A13, G3): an opposition, and every consent withdrawn."""
    insert_opposition(conn, org_id, e164, at=at, active=True, source="call_objection")
    insert_withdrawal(conn, org_id, e164, at=at, source="call_objection")


def insert_reserved_attempt(conn: Connection, org_id: int, e164: str, *, at: datetime, channel: str) -> int:
    """The attempt a check allowed and reserved: it counts from now on; its outcome comes later."""
    result = conn.execute(
        attempts.insert().values(
            org_id=org_id,
            e164=check_e164(e164),
            at=require_aware(at, "at"),
            channel=check_choice(channel, ATTEMPT_CHANNELS, "channel"),
            outcome=RESERVED,
            idempotency_key=None,
        )
    )
    return _new_id(result)


def reserved_attempt(conn: Connection, org_id: int, attempt_id: int) -> Any:
    """The organisation's attempt `attempt_id` with its reported outcome (None while none), or None."""
    return conn.execute(
        select(
            attempts.c.id,
            attempts.c.e164,
            attempts.c.at,
            attempts.c.channel,
            attempts.c.outcome,
            attempt_outcomes.c.outcome.label("reported"),
        )
        .select_from(attempts.outerjoin(attempt_outcomes, attempt_outcomes.c.attempt_id == attempts.c.id))
        .where(attempts.c.org_id == org_id, attempts.c.id == attempt_id)
    ).first()


def insert_attempt_outcome(conn: Connection, org_id: int, attempt: Any, outcome: str) -> None:
    """The outcome of `attempt`, a row of `reserved_attempt` still `reserved`; `opposed` also
    records the objection at the attempt's instant."""
    outcome = check_choice(outcome, OUTCOMES, "outcome")
    conn.execute(attempt_outcomes.insert().values(attempt_id=attempt.id, outcome=outcome))
    if outcome == Outcome.OPPOSED.value:
        _objection(conn, org_id, attempt.e164, attempt.at)


def find_check_answer(conn: Connection, org_id: int, idempotency_key: str) -> Any:
    return conn.execute(
        select(check_answers).where(
            check_answers.c.org_id == org_id, check_answers.c.idempotency_key == idempotency_key
        )
    ).first()


def insert_check_answer(
    conn: Connection, org_id: int, idempotency_key: str, *, request_sha256: str, answer: str, attempt_id: int | None
) -> None:
    conn.execute(
        check_answers.insert().values(
            org_id=org_id,
            idempotency_key=check_text(idempotency_key, "idempotency_key"),
            request_sha256=request_sha256,
            answer=answer,
            attempt_id=attempt_id,
        )
    )


# --- API keys ------------------------------------------------------------------------------------


def insert_api_key(
    conn: Connection, org_id: int, *, prefix: str, key_sha256: str, scopes: Iterable[str], label: str | None
) -> int:
    chosen = sorted({check_choice(s, API_SCOPES, "scope") for s in scopes})
    if not chosen:
        raise ValueError(f"a key needs at least one scope: {', '.join(API_SCOPES)}")
    result = conn.execute(
        api_keys.insert().values(org_id=org_id, prefix=prefix, key_sha256=key_sha256, scopes=chosen, label=label)
    )
    return _new_id(result)


def find_api_key(conn: Connection, key_sha256: str) -> Any:
    """The key row joined with its organisation's name, revoked or not."""
    return conn.execute(
        select(
            api_keys.c.id,
            api_keys.c.org_id,
            api_keys.c.scopes,
            api_keys.c.revoked_at,
            organisations.c.name.label("org"),
        )
        .select_from(api_keys.join(organisations, organisations.c.id == api_keys.c.org_id))
        .where(api_keys.c.key_sha256 == key_sha256)
    ).first()


def revoke_api_key(conn: Connection, prefix: str, at: datetime, org_id: int | None = None) -> int:
    """Revoke the live keys whose prefix is `prefix` (of `org_id` when given); returns how many."""
    where = (api_keys.c.prefix == prefix) & api_keys.c.revoked_at.is_(None)
    if org_id is not None:
        where &= api_keys.c.org_id == org_id
    result = conn.execute(api_keys.update().where(where).values(revoked_at=require_aware(at, "at")))
    return int(result.rowcount or 0)


def list_api_keys(conn: Connection, org_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(api_keys.c.prefix, api_keys.c.scopes, api_keys.c.label, api_keys.c.recorded_at, api_keys.c.revoked_at)
        .where(api_keys.c.org_id == org_id)
        .order_by(api_keys.c.id)
    )
    return [
        {
            "prefix": r.prefix,
            "scopes": list(r.scopes),
            "label": r.label,
            "created_at": r.recorded_at.isoformat(),
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        }
        for r in rows
    ]


# --- Bloctel -------------------------------------------------------------------------------------


def insert_bloctel(conn: Connection, org_id: int, e164s: Iterable[str], *, as_of: date, file_sha256: str) -> int:
    """One snapshot and its distinct numbers; the count is known before the snapshot row is written."""
    as_of = check_date(as_of, "as_of")
    if not isinstance(file_sha256, str) or not _SHA256.fullmatch(file_sha256):
        raise ValueError("file_sha256 must be 64 lowercase hex digits")
    numbers = sorted({check_e164(e164) for e164 in e164s})
    snapshot_id = _new_id(
        conn.execute(
            bloctel_snapshots.insert().values(org_id=org_id, as_of=as_of, file_sha256=file_sha256, count=len(numbers))
        )
    )
    for chunk in _chunks({"snapshot_id": snapshot_id, "e164": e164} for e164 in numbers):
        conn.execute(bloctel_numbers.insert(), chunk)
    return snapshot_id
