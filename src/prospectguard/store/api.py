"""`Store`: the evidence store's one public face.

Each method is one transaction. Instants must be timezone-aware (ValueError otherwise) and come back
in UTC. Database outages surface as `StoreUnavailable` so that callers fail closed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from prospectguard.model import Facts, OrgSettings
from prospectguard.store import audit, evidence, migrate
from prospectguard.store.audit import AuditReport, Entry
from prospectguard.store.compiled import Statements
from prospectguard.store.connect import DEFAULT_URL, create_store_engine, read_tx, write_tx
from prospectguard.store.evidence import (
    ADDABLE_OPPOSITION_SOURCES,
    RESERVED,
    check_attempt,
    check_caller_number,
    check_choice,
    check_e164,
    check_text,
)
from prospectguard.store.facts import (
    facts_with,
    read_consent_history,
    read_facts,
    read_facts_many,
    read_org_settings,
)
from prospectguard.store.types import require_aware

KEY_PREFIX = "pg_"
T = TypeVar("T")


class ApiKey(NamedTuple):
    """A live API key: the organisation it acts for and its scopes."""

    org_id: int
    org: str
    scopes: frozenset[str]


class Judged(NamedTuple):
    """What a check decided, for `Store.check_atomically`: the answer and its audit entry."""

    allowed: bool
    answer: dict[str, Any]
    audit: Entry


class Answered(NamedTuple):
    answer: dict[str, Any]
    attempt_id: int | None
    replayed: bool  # the first answer given to this idempotency key, returned again


class IdempotencyConflict(ValueError):
    """An idempotency key reused for a different request."""


def key_sha256(key: str) -> str:
    """API keys are 32 random bytes: a plain sha256 is enough (no dictionary to guess from)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _number_lock(org_id: int, e164: str) -> int:
    """The PostgreSQL advisory lock of one (organisation, number): checks of that number queue on it."""
    return int.from_bytes(hashlib.sha256(f"{org_id}:{e164}".encode()).digest()[:8], "big", signed=True)


class Store:
    """Append-only evidence (consents, oppositions, contracts, attempts, Bloctel) and the audit chain."""

    def __init__(self, url: str = DEFAULT_URL) -> None:
        self.url = url
        self._engine = create_store_engine(url)
        self._statements = Statements(self._engine)

    @classmethod
    def open(cls, url: str = DEFAULT_URL, upgrade: bool = True) -> Self:
        store = cls(url)
        if upgrade:
            try:
                store.upgrade()
            except BaseException:
                store.close()
                raise
        return store

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for the batch path and for tests; the store's API is the contract."""
        return self._engine

    def upgrade(self) -> None:
        """Migrate to the head revision (idempotent; one read when already there)."""
        migrate.upgrade(self._engine)

    def ping(self) -> None:
        """One round trip to the database; StoreUnavailable when it does not answer."""
        with read_tx(self._engine) as conn:
            conn.execute(select(1))

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- organisations -----------------------------------------------------------------------------

    def org_id(self, name: str, create: bool = True) -> int:
        name = check_text(name, "name")
        with read_tx(self._engine) as conn:
            found = evidence.find_org(conn, name)
        if found is not None:
            return found
        if not create:
            raise KeyError(f"no organisation named {name!r}")
        try:
            with write_tx(self._engine) as conn:
                found = evidence.find_org(conn, name)
                return found if found is not None else evidence.insert_org(conn, name)
        except IntegrityError:  # a concurrent creator won the unique name: use its row
            with read_tx(self._engine) as conn:
                found = evidence.find_org(conn, name)
            if found is None:
                raise
            return found

    def org_settings(self, org_id: int) -> OrgSettings:
        with read_tx(self._engine) as conn:
            return read_org_settings(conn, org_id)

    def set_org(
        self,
        org_id: int,
        *,
        caller_numbers: list[str] | None = None,
        sms_senders: list[str] | None = None,
        policies: Mapping[str, bool] | None = None,
        at: datetime,
    ) -> OrgSettings:
        """Merge into the latest settings and append them; None leaves a field as it is.

        `policies` maps a policy reason code to whether it applies: False switches it off.
        """
        at = require_aware(at, "at")
        new_callers = None if caller_numbers is None else sorted({check_caller_number(n) for n in caller_numbers})
        new_senders = None if sms_senders is None else sorted({check_text(s, "sender") for s in sms_senders})
        with write_tx(self._engine) as conn:
            current = read_org_settings(conn, org_id)
            off = set(current.policies_off)
            for code, enabled in (policies or {}).items():
                (off.discard if enabled else off.add)(check_text(code, "policy"))
            callers = sorted(current.caller_numbers) if new_callers is None else new_callers
            senders = sorted(current.sms_senders) if new_senders is None else new_senders
            evidence.insert_settings(
                conn, org_id, at=at, caller_numbers=callers, sms_senders=senders, policies_off=sorted(off)
            )
        return OrgSettings(
            name=current.name,
            caller_numbers=frozenset(callers),
            sms_senders=frozenset(senders),
            policies_off=frozenset(off),
        )

    # --- consents ----------------------------------------------------------------------------------

    def add_consent(
        self,
        org_id: int,
        e164: str,
        *,
        collected_at: datetime,
        channel: str,
        method: str,
        expires_at: datetime | None = None,
        proof_text: str | None = None,
        proof_file_name: str | None = None,
        proof_bytes: bytes | None = None,
        slot_start: datetime | None = None,
        slot_end: datetime | None = None,
        proof_sha256: str | None = None,
    ) -> int:
        """Record a consent and the sha256 of its proof (exactly one of proof_text, proof_bytes, proof_sha256).

        The proof file's bytes are not kept here, only its name and hash: the hash proves the file
        kept elsewhere is the one shown at collection (A3).
        """
        with write_tx(self._engine) as conn:
            return evidence.insert_consent(
                conn,
                org_id,
                e164,
                collected_at=collected_at,
                channel=channel,
                expires_at=expires_at,
                method=method,
                proof_text=proof_text,
                proof_file_name=proof_file_name,
                proof_bytes=proof_bytes,
                slot_start=slot_start,
                slot_end=slot_end,
                proof_sha256=proof_sha256,
            )

    def withdraw_consent(self, org_id: int, e164: str, *, at: datetime, source: str) -> int:
        with write_tx(self._engine) as conn:
            return evidence.insert_withdrawal(conn, org_id, e164, at=at, source=source)

    def consent_history(self, org_id: int, e164: str) -> list[dict[str, Any]]:
        with read_tx(self._engine) as conn:
            return read_consent_history(conn, org_id, check_e164(e164))

    # --- oppositions and contracts -----------------------------------------------------------------

    def add_opposition(self, org_id: int, e164: str, *, at: datetime, source: str) -> int:
        source = check_choice(source, ADDABLE_OPPOSITION_SOURCES, "source")
        with write_tx(self._engine) as conn:
            return evidence.insert_opposition(conn, org_id, e164, at=at, active=True, source=source)

    def remove_opposition(self, org_id: int, e164: str, *, at: datetime) -> int:
        """Lift an opposition (the person asked for it): a new event, the old one stays on record."""
        with write_tx(self._engine) as conn:
            return evidence.insert_opposition(conn, org_id, e164, at=at, active=False, source="removal")

    def oppositions(self, org_id: int, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """The organisation's opposition events (added and removed) with id > `after`, by id."""
        with read_tx(self._engine) as conn:
            return evidence.list_oppositions(conn, org_id, after=after, limit=limit)

    def import_oppositions(self, org_id: int, e164s: Iterable[str], *, at: datetime, source: str = "import") -> int:
        """Bulk-add oppositions in one transaction (all or nothing); returns the number of rows."""
        with write_tx(self._engine) as conn:
            return evidence.insert_oppositions(conn, org_id, e164s, at=at, source=source)

    def add_contract(self, org_id: int, e164: str, *, object: str, start: datetime, end: datetime | None = None) -> int:
        with write_tx(self._engine) as conn:
            return evidence.insert_contract(conn, org_id, e164, object=object, start=start, end=end)

    # --- attempts ----------------------------------------------------------------------------------

    def record_attempt(
        self,
        org_id: int,
        e164: str,
        *,
        at: datetime,
        channel: str,
        outcome: str,
        idempotency_key: str | None = None,
    ) -> int:
        """Record a contact attempt; returns its id.

        Outcome `opposed` (A13) also adds an opposition (source call_objection) and a consent
        withdrawal, atomically. A repeated idempotency key returns the first attempt's id without
        writing again; reusing a key for a different attempt is a ValueError.
        """
        e164, at, channel, outcome = check_attempt(e164, at, channel, outcome)
        for attempt in range(2):  # a concurrent writer may insert the same key first: then read its row
            try:
                with write_tx(self._engine) as conn:
                    if idempotency_key is not None:
                        existing = evidence.find_attempt(conn, org_id, idempotency_key)
                        if existing is not None:
                            if (existing.e164, existing.at, existing.channel, existing.outcome) != (
                                e164,
                                at,
                                channel,
                                outcome,
                            ):
                                raise ValueError(
                                    f"idempotency key {idempotency_key!r} was used for a different attempt"
                                )
                            return int(existing.id)
                    return evidence.insert_attempt(
                        conn,
                        org_id,
                        e164,
                        at=at,
                        channel=channel,
                        outcome=outcome,
                        idempotency_key=idempotency_key,
                    )
            except IntegrityError:
                if idempotency_key is None or attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def report_outcome(self, org_id: int, attempt_id: int, outcome: str) -> None:
        """The outcome of an attempt reserved by a check (once; again with the same outcome is a no-op).

        KeyError: no such reserved attempt for this organisation; ValueError: it already has another."""
        with write_tx(self._engine) as conn:
            row = evidence.reserved_attempt(conn, org_id, attempt_id)
            if row is None or row.outcome != RESERVED:
                raise KeyError(f"no reserved attempt {attempt_id}")
            if row.reported is not None:
                if row.reported != outcome:
                    raise ValueError(f"attempt {attempt_id} already has the outcome {row.reported!r}")
                return
            evidence.insert_attempt_outcome(conn, org_id, row, outcome)

    # --- checks in one step: facts, decision, attempt, audit -----------------------------------------

    def check_atomically(
        self,
        org_id: int,
        e164: str | None,
        *,
        at: datetime,
        channel: str,
        reserve: bool,
        idempotency_key: str | None,
        request_sha256: str,
        judge: Callable[[Facts], Judged],
    ) -> Answered:
        """Read the facts, judge, record the attempt when allowed and `reserve`, and append the audit
        entry, in one write transaction: two checks of the same number never both see the count
        before the other's attempt (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock per number).

        With `idempotency_key`, the first answer is kept and returned again to a retry of the same
        request (IdempotencyConflict for a different one), without judging or counting again.
        """
        at = require_aware(at, "at")
        for attempt in range(2):  # a concurrent first use of the same key: read its answer instead
            try:
                with write_tx(self._engine) as conn:
                    if conn.dialect.name == "postgresql" and e164 is not None:
                        conn.execute(select(func.pg_advisory_xact_lock(_number_lock(org_id, e164))))
                    if idempotency_key is not None:
                        found = evidence.find_check_answer(conn, org_id, idempotency_key)
                        if found is not None:
                            if found.request_sha256 != request_sha256:
                                raise IdempotencyConflict(
                                    f"idempotency key {idempotency_key!r} was used for a different request"
                                )
                            return Answered(json.loads(found.answer), found.attempt_id, True)
                    if e164 is None:  # short numbers: the organisation's facts, no history
                        facts = read_facts_many(conn, org_id, [], at)[0]
                    else:
                        facts = read_facts(conn, org_id, check_e164(e164), at)
                    judged = judge(facts)
                    attempt_id = None
                    if judged.allowed and reserve and e164 is not None:
                        attempt_id = evidence.insert_reserved_attempt(conn, org_id, e164, at=at, channel=channel)
                    if idempotency_key is not None:
                        evidence.insert_check_answer(
                            conn,
                            org_id,
                            idempotency_key,
                            request_sha256=request_sha256,
                            answer=json.dumps(judged.answer, ensure_ascii=False),
                            attempt_id=attempt_id,
                        )
                    audit.append_in(conn, [judged.audit])
                    return Answered(judged.answer, attempt_id, False)
            except IntegrityError:
                if idempotency_key is None or attempt == 1:
                    raise
        raise AssertionError("unreachable")

    # --- API keys ----------------------------------------------------------------------------------

    def create_key(self, org_id: int, scopes: Iterable[str], label: str | None = None) -> str:
        """A new API key for the organisation; the key is returned once and only its hash is kept."""
        prefix = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        with write_tx(self._engine) as conn:
            evidence.insert_api_key(
                conn, org_id, prefix=prefix, key_sha256=key_sha256(key), scopes=list(scopes), label=label
            )
        return key

    def api_key(self, key: str) -> ApiKey | None:
        """The live key `key` (None when unknown or revoked)."""
        with read_tx(self._engine) as conn:
            row = evidence.find_api_key(conn, key_sha256(key))
        if row is None or row.revoked_at is not None:
            return None
        return ApiKey(row.org_id, row.org, frozenset(row.scopes))

    def revoke_key(self, prefix: str, *, at: datetime, org_id: int | None = None) -> int:
        """Revoke the keys shown as `prefix` (a key's first characters after "pg_"); returns how many."""
        prefix = prefix.removeprefix(KEY_PREFIX).split("_")[0]
        with write_tx(self._engine) as conn:
            return evidence.revoke_api_key(conn, prefix, at, org_id)

    def keys(self, org_id: int) -> list[dict[str, Any]]:
        with read_tx(self._engine) as conn:
            return evidence.list_api_keys(conn, org_id)

    # --- Bloctel -----------------------------------------------------------------------------------

    def import_bloctel(self, org_id: int, e164s: Iterable[str], *, as_of: date, file_sha256: str) -> int:
        """Store one Bloctel scrub result (the listed numbers of a file); returns the snapshot id."""
        with write_tx(self._engine) as conn:
            return evidence.insert_bloctel(conn, org_id, e164s, as_of=as_of, file_sha256=file_sha256)

    # --- facts -------------------------------------------------------------------------------------

    def facts(self, org_id: int, e164: str, at: datetime) -> Facts:
        """Everything the rules need about this number; attempts from 90 days before `at` onwards.

        The Bloctel snapshot is the latest one dated on or before `at`'s calendar date in France.
        """
        at = require_aware(at, "at")
        e164 = check_e164(e164)
        return facts_with(self._statements.read, org_id, e164, at)  # the hot read: on the driver's cursor

    def facts_many(self, org_id: int, numbers: Sequence[str], at: datetime) -> tuple[Facts, dict[str, Facts]]:
        """The facts of many E.164 numbers in one read snapshot (`read_facts_many`): the shared facts,
        and the facts of those numbers that have a history of their own."""
        at = require_aware(at, "at")
        with read_tx(self._engine) as conn:
            return read_facts_many(conn, org_id, numbers, at)

    def history_tables(self, org_id: int, at: datetime, bloctel: bool = True) -> dict[str, Any]:
        """The organisation's whole history as Arrow tables (`store.arrow.history_tables`), for batches;
        `bloctel` False leaves the Bloctel numbers out (a batch under a law without the Bloctel rule)."""
        from prospectguard.store.arrow import history_tables

        return history_tables(self._engine, org_id, require_aware(at, "at"), bloctel)

    def history_tables_with(
        self, org_id: int, at: datetime, bloctel: bool, each: Callable[[str, Any], T]
    ) -> dict[str, tuple[Any, T]]:
        """`history_tables`, each table with `each(name, table)` (`store.arrow.history_tables_with`)."""
        from prospectguard.store.arrow import history_tables_with

        return history_tables_with(self._engine, org_id, require_aware(at, "at"), bloctel, each)

    # --- audit trail -------------------------------------------------------------------------------

    def append_audit(
        self,
        *,
        at: datetime,
        org: str,
        request: Mapping[str, Any],
        facts: Mapping[str, Any],
        decision: Mapping[str, Any],
        law_date: date,
    ) -> int:
        """Append a decision to the hash chain; returns its seq."""
        return audit.append(
            self._statements, at=at, org=org, request=request, facts=facts, decision=decision, law_date=law_date
        )

    def verify_audit(self, anchor: str | None = None) -> AuditReport:
        return audit.verify(self._engine, anchor)

    def audit_head(self, org: str) -> tuple[int, str | None]:
        """The organisation's entry count in the chain and the hash of its latest entry."""
        return audit.org_head(self._engine, org)

    def append_audit_many(self, entries: Sequence[Entry]) -> list[int]:
        """Append several decisions in one transaction (one commit); returns their seqs."""
        return audit.append_many(self._statements, entries)

    def audit_entries(self, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        return audit.entries(self._engine, offset, limit)

    def org_audit_entries(self, org: str, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """The organisation's own entries, numbered among themselves (`audit.org_entries`)."""
        return audit.org_entries(self._engine, org, after, limit)
