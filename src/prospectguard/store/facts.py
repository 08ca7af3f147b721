"""Reading evidence: what the rules need about one (organisation, number), and consent history.

One set-based query per table, all inside one read snapshot, so a decision never sees half of a
transaction (e.g. an `opposed` attempt without its opposition). Histories are returned whole, not
cut at the contact instant: the engine also looks at later instants for `next_allowed_at`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    Date,
    Integer,
    String,
    any_,
    bindparam,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.engine import Connection

from prospectguard.model import Attempt, BloctelFacts, Consent, Contract, Facts, OppositionEvent, OrgSettings
from prospectguard.store.schema import (
    attempt_outcomes,
    attempts,
    bloctel_numbers,
    bloctel_snapshots,
    consent_withdrawals,
    consents,
    contracts,
    opposition_events,
    org_settings,
    organisations,
)
from prospectguard.store.types import UTCDateTime

# Wider than any rule's look-back (B3: 30 days, B4: 60 days), so the engine never misses one.
ATTEMPT_WINDOW = timedelta(days=90)
# Bloctel snapshots carry French calendar dates: the same instant must pick the same snapshot however
# its offset is written (UTC "Z" or +02:00).
BLOCTEL_ZONE = ZoneInfo("Europe/Paris")
# A reserved attempt's outcome is reported later, in a row of its own; until then it is "reserved".
ATTEMPT_OUTCOME = func.coalesce(attempt_outcomes.c.outcome, attempts.c.outcome).label("outcome")


_ORG_SETTINGS = (
    select(
        organisations.c.name,
        org_settings.c.id.label("settings_id"),
        org_settings.c.caller_numbers,
        org_settings.c.sms_senders,
        org_settings.c.policies_off,
    )
    .select_from(organisations)
    .outerjoin(org_settings, org_settings.c.org_id == organisations.c.id)
    .where(organisations.c.id == bindparam("org_id", type_=Integer))
    .order_by(org_settings.c.id.desc())
    .limit(1)
)


# Runs a statement with its values and gives its rows (columns by name): through a SQLAlchemy
# connection (`through`), or on the driver's cursor (`store.compiled.Statements.write`).
Run = Callable[[Any, dict[str, Any]], Sequence[Any]]


def through(conn: Connection) -> Run:
    return lambda statement, values: conn.execute(statement, values).all()


def read_org_settings(conn: Connection, org_id: int) -> OrgSettings:
    """The latest settings row (highest id); defaults when never set; KeyError for an unknown org."""
    return org_settings_with(through(conn), org_id)


def org_settings_with(run: Run, org_id: int) -> OrgSettings:
    return _org_settings(run(_ORG_SETTINGS, {"org_id": org_id}), org_id)


def _org_settings(rows: Sequence[Any], org_id: int) -> OrgSettings:
    row = rows[0] if rows else None
    if row is None:
        raise KeyError(f"no organisation with id {org_id}")
    return _settings(row.name, row.settings_id, row.caller_numbers, row.sms_senders, row.policies_off)


def _settings(name: str, settings_id: int | None, callers: Any, senders: Any, off: Any) -> OrgSettings:
    """An organisation's settings from its latest settings row; the defaults when it has none."""
    if settings_id is None:
        return OrgSettings(name=name)
    return OrgSettings(
        name=name, caller_numbers=frozenset(callers), sms_senders=frozenset(senders), policies_off=frozenset(off)
    )


_SNAPSHOT = (
    select(bloctel_snapshots.c.id, bloctel_snapshots.c.as_of)
    .where(
        bloctel_snapshots.c.org_id == bindparam("org_id", type_=Integer),
        bloctel_snapshots.c.as_of <= bindparam("bloctel_day", type_=Date),
    )
    .order_by(bloctel_snapshots.c.as_of.desc(), bloctel_snapshots.c.id.desc())
    .limit(1)
)


def snapshot_in_force(org_id: int, at: datetime) -> Any:
    """The organisation's latest Bloctel snapshot dated on or before `at`'s date in France (id, as_of)."""
    return _SNAPSHOT.params(org_id=org_id, bloctel_day=at.astimezone(BLOCTEL_ZONE).date())


def _one_number_facts() -> Any:
    """Everything a check reads about one (organisation, number) in one statement, built once: the
    organisation's latest settings, its Bloctel snapshot in force, and the number's whole history.

    Why one statement: it sees one snapshot on both stores without an explicit transaction (SQLite's
    implicit read transaction; PostgreSQL's statement snapshot, in autocommit), so a check's read is
    one round trip, with no BEGIN or COMMIT. Three statements in one REPEATABLE READ transaction, sent
    together in psycopg's pipeline mode, cost ~620 µs of the reading process's CPU and ~260 µs of
    PostgreSQL's per read (in process, on benchmarks/service.py's store); this one ~210 and ~120.
    Building a statement costs more than running it on SQLite, hence once.

    Columns: kind, id, four instants (a, b, c, d), two texts, one flag, one day, three JSON lists. The
    first SELECT gives the column types, so that every instant comes back as an aware UTC datetime.
    Kinds: `org` (always one row for a known organisation: id is its settings row's, None when never
    set; text_a its name; the lists in j_a, j_b, j_c), `snapshot` (id, day = as_of), and one row per
    history item."""
    org, number = bindparam("org_id", type_=Integer), bindparam("e164", type_=String)

    def mine(table: Any) -> Any:
        return (table.c.org_id == org) & (table.c.e164 == number)

    def arm(kind: str, **columns: Any) -> Any:
        """One kind's SELECT; a column it lacks is a bare NULL, typed by the first SELECT's column.
        Bare and unlabelled: the statement's text stays under psycopg's 4,096 characters, beyond
        which it parses the text again at every execution (~6% of a check's CPU)."""
        return select(literal_column(f"'{kind}'"), *(columns.get(name, literal_column("NULL")) for name, _ in _COLUMNS))

    snapshot = _SNAPSHOT.with_only_columns(bloctel_snapshots.c.id).scalar_subquery()
    latest_settings = select(func.max(org_settings.c.id)).where(org_settings.c.org_id == org).scalar_subquery()
    consent = {
        "id": consents.c.id,
        "a": consents.c.collected_at,
        "b": consents.c.expires_at,
        "c": consents.c.slot_start,
        "d": consents.c.slot_end,
        "text_a": consents.c.channel,
        "flag": consents.c.proof_sha256 != "",
    }
    typed = select(
        literal_column("'consent'", String).label("kind"),
        *(consent[name].label(name) if name in consent else null().cast(kind).label(name) for name, kind in _COLUMNS),
    ).where(mine(consents))
    return union_all(
        typed,
        arm(
            "org",
            id=org_settings.c.id,
            text_a=organisations.c.name,
            j_a=org_settings.c.caller_numbers,
            j_b=org_settings.c.sms_senders,
            j_c=org_settings.c.policies_off,
        )
        .select_from(
            organisations.outerjoin(
                org_settings, (org_settings.c.org_id == organisations.c.id) & (org_settings.c.id == latest_settings)
            )
        )
        .where(organisations.c.id == org),
        arm("snapshot", id=bloctel_snapshots.c.id, day=bloctel_snapshots.c.as_of).where(
            bloctel_snapshots.c.id == snapshot
        ),
        arm("withdrawal", id=consent_withdrawals.c.id, a=consent_withdrawals.c.at).where(mine(consent_withdrawals)),
        arm("opposition", id=opposition_events.c.id, a=opposition_events.c.at, flag=opposition_events.c.active).where(
            mine(opposition_events)
        ),
        arm("contract", id=contracts.c.id, a=contracts.c.start, b=contracts.c.end).where(mine(contracts)),
        arm("attempt", id=attempts.c.id, a=attempts.c.at, text_a=attempts.c.channel, text_b=ATTEMPT_OUTCOME)
        .select_from(attempts.outerjoin(attempt_outcomes, attempt_outcomes.c.attempt_id == attempts.c.id))
        .where(mine(attempts), attempts.c.at > bindparam("since", type_=UTCDateTime())),
        arm("bloctel", id=bloctel_numbers.c.snapshot_id).where(
            bloctel_numbers.c.snapshot_id == snapshot, bloctel_numbers.c.e164 == number
        ),
    )


# ONE_NUMBER's columns after `kind`, with their types (the first SELECT's).
_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("id", Integer()),
    ("a", UTCDateTime()),
    ("b", UTCDateTime()),
    ("c", UTCDateTime()),
    ("d", UTCDateTime()),
    ("text_a", String()),
    ("text_b", String()),
    ("flag", Boolean()),
    ("day", Date()),
    ("j_a", JSON()),
    ("j_b", JSON()),
    ("j_c", JSON()),
)


ONE_NUMBER = _one_number_facts()


def read_facts(conn: Connection, org_id: int, e164: str, at: datetime) -> Facts:
    """What `read_facts_many` gives for one number (a test holds them equal), in one statement built
    once (`ONE_NUMBER`)."""
    return facts_with(through(conn), org_id, e164, at)


def one_number_values(org_id: int, e164: str | None, at: datetime) -> dict[str, Any]:
    """`ONE_NUMBER`'s bound values for a check of `e164` at `at`. None: no number (equal to NULL,
    it matches no row), the organisation's settings and Bloctel snapshot only."""
    return {
        "org_id": org_id,
        "e164": e164,
        "bloctel_day": at.astimezone(BLOCTEL_ZONE).date(),
        "since": at - ATTEMPT_WINDOW,
    }


def facts_with(run: Run, org_id: int, e164: str, at: datetime) -> Facts:
    """`read_facts` with `run` executing its statement (see `Run`); KeyError for an unknown org."""
    return facts_of_rows(run(ONE_NUMBER, one_number_values(org_id, e164, at)), org_id)


def facts_of_rows(rows: Sequence[Any], org_id: int) -> Facts:
    """The facts in `ONE_NUMBER`'s rows."""
    found: dict[str, list[Any]] = {}
    for r in rows:
        found.setdefault(r.kind, []).append(r)
    settings = found.get("org")
    if not settings:
        raise KeyError(f"no organisation with id {org_id}")
    (o,) = settings
    org = _settings(o.text_a, o.id, o.j_a, o.j_b, o.j_c)
    snapshots = found.get("snapshot")
    unlisted = BloctelFacts(as_of=None) if not snapshots else BloctelFacts(as_of=snapshots[0].day, listed=False)
    if len(found) == 1 + bool(snapshots):
        return Facts(org=org, bloctel=unlisted)

    def rows_of(kind: str) -> list[Any]:
        return sorted(found.get(kind, ()), key=lambda r: (r.a, r.id))  # the order read_facts_many gives

    return Facts(
        org=org,
        consents=tuple(
            Consent(
                collected_at=r.a,
                channel=r.text_a,
                expires_at=r.b,
                has_proof=bool(r.flag),
                slot_start=r.c,
                slot_end=r.d,
                id=r.id,
            )
            for r in rows_of("consent")
        ),
        withdrawals=tuple(r.a for r in rows_of("withdrawal")),
        oppositions=tuple(OppositionEvent(at=r.a, active=bool(r.flag)) for r in rows_of("opposition")),
        contracts=tuple(Contract(start=r.a, end=r.b, id=r.id) for r in rows_of("contract")),
        attempts=tuple(Attempt(at=r.a, channel=r.text_a, outcome=r.text_b) for r in rows_of("attempt")),
        bloctel=unlisted if "bloctel" not in found or not snapshots else BloctelFacts(snapshots[0].day, listed=True),
    )


# Numbers per IN list (SQLite: well under its 32,766 bound parameters) or array (PostgreSQL).
IN_BATCH = 5_000


def read_facts_many(
    conn: Connection, org_id: int, numbers: Sequence[str], at: datetime
) -> tuple[Facts, dict[str, Facts]]:
    """The facts of many numbers with one query per table and batch of numbers, never one per number.

    Returns the facts every number shares (organisation settings, Bloctel snapshot, no history) and
    the facts of the numbers that have any history of their own; a number absent from the dict has
    exactly the shared facts. `read_facts` is this with one number, so a batch and a single check
    read the evidence the same way.
    """
    org = read_org_settings(conn, org_id)
    snapshot = conn.execute(snapshot_in_force(org_id, at)).first()
    unlisted = BloctelFacts(as_of=None) if snapshot is None else BloctelFacts(as_of=snapshot.as_of, listed=False)
    base = Facts(org=org, bloctel=unlisted)

    history: dict[str, dict[str, list[Any]]] = {}

    def add(e164: str, kind: str, item: Any) -> None:
        history.setdefault(e164, {}).setdefault(kind, []).append(item)

    distinct = sorted(set(numbers))
    postgresql = conn.dialect.name == "postgresql"

    def among(column: Any, batch: list[str]) -> Any:
        """`column IN (batch)`; on PostgreSQL `column = ANY(array)`, one parameter: an IN list of a
        chunk's numbers (500 in the service's batches) was a new statement text at every chunk,
        parsed again by psycopg (whose cache stops at 50 parameters) and planned again."""
        if postgresql:
            return column == any_(bindparam(None, batch, type_=ARRAY(String)))
        return column.in_(batch)

    for i in range(0, len(distinct), IN_BATCH):
        batch = distinct[i : i + IN_BATCH]

        def of_numbers(table: Any, batch: list[str] = batch) -> Any:
            return (table.c.org_id == org_id) & among(table.c.e164, batch)

        for r in conn.execute(
            select(
                consents.c.e164,
                consents.c.id,
                consents.c.collected_at,
                consents.c.channel,
                consents.c.expires_at,
                consents.c.proof_sha256,
                consents.c.slot_start,
                consents.c.slot_end,
            )
            .where(of_numbers(consents))
            .order_by(consents.c.collected_at, consents.c.id)
        ):
            add(
                r.e164,
                "consents",
                Consent(
                    collected_at=r.collected_at,
                    channel=r.channel,
                    expires_at=r.expires_at,
                    has_proof=bool(r.proof_sha256),
                    slot_start=r.slot_start,
                    slot_end=r.slot_end,
                    id=r.id,
                ),
            )
        for r in conn.execute(
            select(consent_withdrawals.c.e164, consent_withdrawals.c.at)
            .where(of_numbers(consent_withdrawals))
            .order_by(consent_withdrawals.c.at, consent_withdrawals.c.id)
        ):
            add(r.e164, "withdrawals", r.at)
        for r in conn.execute(
            select(opposition_events.c.e164, opposition_events.c.at, opposition_events.c.active)
            .where(of_numbers(opposition_events))
            .order_by(opposition_events.c.at, opposition_events.c.id)
        ):
            add(r.e164, "oppositions", OppositionEvent(at=r.at, active=bool(r.active)))
        for r in conn.execute(
            select(contracts.c.e164, contracts.c.id, contracts.c.start, contracts.c.end)
            .where(of_numbers(contracts))
            .order_by(contracts.c.start, contracts.c.id)
        ):
            add(r.e164, "contracts", Contract(start=r.start, end=r.end, id=r.id))
        for r in conn.execute(
            select(attempts.c.e164, attempts.c.at, attempts.c.channel, ATTEMPT_OUTCOME)
            .select_from(attempts.outerjoin(attempt_outcomes, attempt_outcomes.c.attempt_id == attempts.c.id))
            .where(of_numbers(attempts), attempts.c.at > at - ATTEMPT_WINDOW)
            .order_by(attempts.c.at, attempts.c.id)
        ):
            add(r.e164, "attempts", Attempt(at=r.at, channel=r.channel, outcome=r.outcome))
        if snapshot is not None:
            for e164 in conn.execute(
                select(bloctel_numbers.c.e164).where(
                    bloctel_numbers.c.snapshot_id == snapshot.id, among(bloctel_numbers.c.e164, batch)
                )
            ).scalars():
                history.setdefault(e164, {})["bloctel"] = [BloctelFacts(as_of=snapshot.as_of, listed=True)]

    found = {
        e164: Facts(
            org=org,
            consents=tuple(h.get("consents", ())),
            withdrawals=tuple(h.get("withdrawals", ())),
            oppositions=tuple(h.get("oppositions", ())),
            contracts=tuple(h.get("contracts", ())),
            attempts=tuple(h.get("attempts", ())),
            bloctel=h["bloctel"][0] if "bloctel" in h else unlisted,
        )
        for e164, h in history.items()
    }
    return base, found


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def read_consent_history(conn: Connection, org_id: int, e164: str) -> list[dict[str, Any]]:
    """Consents and withdrawals of one number, oldest first, as JSON-ready dicts (proof of A2/A3, G2)."""
    events: list[tuple[datetime, int, int, dict[str, Any]]] = []
    for r in conn.execute(select(consents).where(consents.c.org_id == org_id, consents.c.e164 == e164)):
        events.append(
            (
                r.collected_at,
                0,
                r.id,
                {
                    "type": "consent",
                    "id": r.id,
                    "at": _iso(r.collected_at),
                    "channel": r.channel,
                    "expires_at": _iso(r.expires_at),
                    "method": r.method,
                    "proof_text": r.proof_text,
                    "proof_file_name": r.proof_file_name,
                    "proof_sha256": r.proof_sha256,
                    "slot_start": _iso(r.slot_start),
                    "slot_end": _iso(r.slot_end),
                    "recorded_at": _iso(r.recorded_at),
                },
            )
        )
    for r in conn.execute(
        select(consent_withdrawals).where(consent_withdrawals.c.org_id == org_id, consent_withdrawals.c.e164 == e164)
    ):
        events.append(
            (
                r.at,
                1,
                r.id,
                {
                    "type": "withdrawal",
                    "id": r.id,
                    "at": _iso(r.at),
                    "source": r.source,
                    "recorded_at": _iso(r.recorded_at),
                },
            )
        )
    events.sort(key=lambda event: event[:3])
    return [event[3] for event in events]
