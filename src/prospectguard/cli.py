"""The `prospectguard` command: thin Typer commands over the gate and the store.

Exit codes are a contract: 0 allowed (or success), 1 blocked (or verification failed), 2 usage or
input error. Bad input is reported on one line naming the field, and nothing is written.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from typer._click.exceptions import NoArgsIsHelpError  # typer is pinned; it vendors click

from prospectguard import inputs
from prospectguard.gate import Gate, unavailable
from prospectguard.law.listing import rules_in_force
from prospectguard.model import Audience, Channel, ContactRequest, Decision, Outcome, Sector
from prospectguard.numbering import locate, parse
from prospectguard.rules.catalogue import SWITCHABLE
from prospectguard.store import Store, StoreUnavailable

DEFAULT_DB = "sqlite:///prospectguard.db"

app = typer.Typer(
    help="Compliance gate for telephone and SMS prospecting (démarchage) in France.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
consent_app = typer.Typer(help="Consents (consentement) with their proof.", no_args_is_help=True)
oppose_app = typer.Typer(help="Oppositions: numbers that objected.", no_args_is_help=True)
contract_app = typer.Typer(help="Contracts in progress (exemption A4, soft opt-in F2).", no_args_is_help=True)
attempt_app = typer.Typer(help="Contact attempts and their outcome.", no_args_is_help=True)
bloctel_app = typer.Typer(help="Bloctel snapshots (for contacts before 2026-08-11).", no_args_is_help=True)
org_app = typer.Typer(help="The organisation: caller numbers, SMS senders, policies.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail of decisions.", no_args_is_help=True)
db_app = typer.Typer(help="The evidence store's schema.", no_args_is_help=True)
key_app = typer.Typer(help="API keys for the HTTP service (shown once, stored hashed).", no_args_is_help=True)
for sub, name in [
    (consent_app, "consent"),
    (oppose_app, "oppose"),
    (contract_app, "contract"),
    (attempt_app, "attempt"),
    (bloctel_app, "bloctel"),
    (org_app, "org"),
    (audit_app, "audit"),
    (db_app, "db"),
    (key_app, "key"),
]:
    app.add_typer(sub, name=name)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class ConsentChannel(StrEnum):
    VOICE = "voice"
    SMS = "sms"
    ALL = "all"


@dataclass
class Settings:
    db: str
    org: str
    _store: Store | None = None

    def store(self) -> Store:
        """The store, opened (and migrated) on first use; StoreUnavailable when it cannot be."""
        if self._store is None:
            try:
                self._store = Store.open(self.db)
            except (ArgumentError, NoSuchModuleError, ImportError) as exc:  # a URL we cannot use at all
                detail = str(exc).splitlines()[0]
                fail(
                    "--db",
                    f"{self.db!r} is not a usable store URL ({detail}); use sqlite:///FILE.db or "
                    "postgresql+psycopg://USER@HOST:5432/DBNAME",
                )
        return self._store

    def org_id(self) -> int:
        return self.store().org_id(self.org)


def fail(field: str, message: str) -> NoReturn:
    raise inputs.InputError(field, message)


def settings(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    assert isinstance(obj, Settings)
    return obj


def now() -> datetime:
    return datetime.now(UTC)


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[
        str,
        typer.Option(
            "--db",
            envvar="PROSPECTGUARD_DB",
            help="SQLAlchemy URL of the evidence store (SQLite or PostgreSQL).",
        ),
    ] = DEFAULT_DB,
    org: Annotated[str, typer.Option("--org", help="Organisation (the professional) acting.")] = "default",
) -> None:
    """Global options."""
    ctx.obj = Settings(db=db, org=org)


# ---------------------------------------------------------------- check


def print_decision(decision: Decision, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(decision.to_json(), ensure_ascii=False))
        return
    callee = decision.callee
    verdict = "[bold green]ALLOW[/]" if decision.allowed else "[bold red]BLOCK[/]"
    who = callee.e164 or callee.national or callee.raw
    out.print(
        f"{verdict}  {who}  ({callee.type.value}, {callee.territory or '-'}, {callee.timezone or '-'})"
        f"  at {decision.at.isoformat()}  law of {decision.law_date}"
    )
    for r in decision.reasons:
        out.print(f"  {r.code:<26} {r.kind.value:<6} {r.rule:<6} {r.message}  [dim]({r.reference})[/]")
    if not decision.allowed:
        nxt = decision.next_allowed_at.isoformat() if decision.next_allowed_at else "none (not a matter of time)"
        out.print(f"  next allowed: {nxt}")


@app.command()
def check(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="Number to contact, any usual writing.")],
    from_: Annotated[str | None, typer.Option("--from", help="Number (or SMS sender name) presented.")] = None,
    masked: Annotated[bool, typer.Option("--masked", help="The call presents no number.")] = False,
    at: Annotated[str | None, typer.Option("--at", help="ISO 8601 instant; no offset = Paris; default now.")] = None,
    channel: Annotated[Channel, typer.Option("--channel")] = Channel.VOICE,
    automated: Annotated[bool, typer.Option("--automated", help="Placed by an automated system.")] = False,
    audience: Annotated[Audience, typer.Option("--audience")] = Audience.CONSUMER,
    sector: Annotated[Sector, typer.Option("--sector")] = Sector.GENERAL,
    about_contract: Annotated[
        bool, typer.Option("--about-contract", help="The offer relates to the customer's contract (A4, F2).")
    ] = False,
    message: Annotated[str | None, typer.Option("--message", help="SMS text, checked for STOP and sender.")] = None,
    postcode: Annotated[str | None, typer.Option("--postcode", help="Consumer's postcode (time zone).")] = None,
    territory: Annotated[
        str | None,
        typer.Option(
            "--territory", help="Consumer's territory (RE, GP...) or département (974, 57...); after --postcode."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """May this organisation contact this number now? Exit 0 allowed, 1 blocked, 2 bad input.

    Example: prospectguard check --to "06 12 34 56 78" --from 0162000000 --at 2026-12-01T11:00
    """
    if masked and from_ is not None:
        fail("--masked", "give either --from NUMBER or --masked, not both")
    if from_ is not None and not from_.strip():
        fail("--from", "empty; give a number or an SMS sender name, or use --masked")
    if from_ is not None and channel is Channel.VOICE:
        inputs.phone_text(from_, "--from")  # SMS may come from a sender name; calls from a number
    req = ContactRequest(
        to=inputs.phone_text(to, "--to"),
        at=inputs.instant(at, "--at") if at else now(),
        channel=channel,
        caller=None if masked else from_,
        automated=automated,
        audience=audience,
        sector=sector,
        about_contract=about_contract,
        message=message,
        postcode=inputs.postcode(postcode, "--postcode") if postcode else None,
        territory=inputs.territory(territory, "--territory") if territory else None,
    )
    s = settings(ctx)
    try:
        decision = Gate(s.store(), s.org).check(req)
    except StoreUnavailable as exc:  # fail closed: a block, exit 1, never an allow
        decision = unavailable(req, f"cannot open {s.db}: {exc}")
    print_decision(decision, as_json)
    raise typer.Exit(0 if decision.allowed else 1)


# ---------------------------------------------------------------- consent


@consent_app.command("add")
def consent_add(
    ctx: typer.Context,
    number: Annotated[str, typer.Option("--number", help="The consumer's number.")],
    collected_at: Annotated[str, typer.Option("--collected-at", help="When the consent was given (ISO 8601).")],
    channel: Annotated[ConsentChannel, typer.Option("--channel")] = ConsentChannel.ALL,
    expires_at: Annotated[str | None, typer.Option("--expires-at", help="End of consent (ISO 8601).")] = None,
    method: Annotated[str, typer.Option("--method", help="How it was collected (web form, call...).")] = "unspecified",
    proof_text: Annotated[str | None, typer.Option("--proof-text", help="The text shown to the consumer.")] = None,
    proof_file: Annotated[Path | None, typer.Option("--proof-file", help="A proof file; its SHA-256 is kept.")] = None,
    slot_start: Annotated[str | None, typer.Option("--slot-start", help="Agreed out-of-hours slot start (A7).")] = None,
    slot_end: Annotated[str | None, typer.Option("--slot-end", help="Agreed out-of-hours slot end (A7).")] = None,
) -> None:
    """Record a consent with its proof (A2, A3).

    Example: prospectguard consent add --number 0612345678 --collected-at 2026-09-01T10:00
    --method web-form --proof-text "J'accepte d'être appelé par ACME"
    """
    e164 = inputs.e164(number, "--number")
    collected = inputs.instant(collected_at, "--collected-at")
    expires = inputs.instant(expires_at, "--expires-at") if expires_at else None
    if expires is not None and expires <= collected:
        fail("--expires-at", "must be after --collected-at")
    if (proof_text is None) == (proof_file is None):
        fail(
            "--proof-text",
            "give exactly one of --proof-text TEXT or --proof-file FILE (no proof, no consent: A3)",
        )
    if proof_text is not None and not proof_text.strip():
        fail("--proof-text", "empty; give the text shown to the consumer")
    proof_bytes = None
    if proof_file is not None:
        try:
            proof_bytes = proof_file.read_bytes()
        except OSError as exc:
            fail("--proof-file", f"cannot read {str(proof_file)!r}: {exc.strerror}")
    if (slot_start is None) != (slot_end is None):
        fail("--slot-start", "give both --slot-start and --slot-end, or neither")
    start = inputs.instant(slot_start, "--slot-start") if slot_start else None
    end = inputs.instant(slot_end, "--slot-end") if slot_end else None
    if start is not None and end is not None and end <= start:
        fail("--slot-end", "must be after --slot-start")
    s = settings(ctx)
    consent_id = s.store().add_consent(
        s.org_id(),
        e164,
        collected_at=collected,
        channel=channel.value,
        expires_at=expires,
        method=method,
        proof_text=proof_text,
        proof_file_name=proof_file.name if proof_file else None,
        proof_bytes=proof_bytes,
        slot_start=start,
        slot_end=end,
    )
    out.print(f"consent {consent_id} recorded for {e164}")


@consent_app.command("withdraw")
def consent_withdraw(
    ctx: typer.Context,
    number: Annotated[str, typer.Option("--number")],
    at: Annotated[str | None, typer.Option("--at", help="When it was withdrawn; default now.")] = None,
    source: Annotated[str, typer.Option("--source", help="How (call, e-mail, web...).")] = "manual",
) -> None:
    """Record the withdrawal of every consent given before it (A10, G2).

    Example: prospectguard consent withdraw --number 0612345678 --at 2026-10-01T09:00
    """
    e164 = inputs.e164(number, "--number")
    when = inputs.instant(at, "--at") if at else now()
    s = settings(ctx)
    s.store().withdraw_consent(s.org_id(), e164, at=when, source=source)
    out.print(f"consent withdrawn for {e164} at {when.isoformat()}")


_INSTANT_KEYS = frozenset({"at", "collected_at", "expires_at", "slot_start", "slot_end", "recorded_at"})


def in_zone(event: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """Instants are stored in UTC and shown in the consumer's zone, with the offset."""
    return {
        k: datetime.fromisoformat(v).astimezone(zone).isoformat() if k in _INSTANT_KEYS and isinstance(v, str) else v
        for k, v in event.items()
    }


@consent_app.command("show")
def consent_show(
    ctx: typer.Context,
    number: Annotated[str, typer.Option("--number")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The full consent history of a number, oldest first.

    Example: prospectguard consent show --number 0612345678 --json
    """
    parsed = inputs.number(number, "--number")
    e164 = parsed.e164
    assert e164 is not None
    s = settings(ctx)
    location = locate(parsed)
    zone = ZoneInfo(location.timezone if location else "Europe/Paris")
    history = [in_zone(event, zone) for event in s.store().consent_history(s.org_id(), e164)]
    if as_json:
        out.print_json(json.dumps(history, ensure_ascii=False, default=str))
        return
    table = Table("event", "at", "details", title=f"Consent history of {e164}")
    for event in history:
        kind = str(event.get("event", event.get("type", "")))
        when = str(event.get("at") or event.get("collected_at") or "")
        details = ", ".join(f"{k}={v}" for k, v in event.items() if k not in {"event", "type", "at"} and v)
        table.add_row(kind, when, details)
    out.print(table)


# ---------------------------------------------------------------- oppositions, contracts, attempts


@oppose_app.command("add")
def oppose_add(
    ctx: typer.Context,
    number: Annotated[str, typer.Option("--number")],
    at: Annotated[str | None, typer.Option("--at")] = None,
    source: Annotated[str, typer.Option("--source", help="call_objection, stop, gdpr, import, manual.")] = "manual",
) -> None:
    """Record that a number objects to prospecting (G3).

    Example: prospectguard oppose add --number 0612345678 --source gdpr
    """
    allowed = {"call_objection", "stop", "gdpr", "import", "manual"}
    if source not in allowed:
        fail("--source", f"{source!r} is not one of {', '.join(sorted(allowed))}")
    e164 = inputs.e164(number, "--number")
    when = inputs.instant(at, "--at") if at else now()
    s = settings(ctx)
    s.store().add_opposition(s.org_id(), e164, at=when, source=source)
    out.print(f"opposition recorded for {e164}")


@oppose_app.command("remove")
def oppose_remove(
    ctx: typer.Context,
    number: Annotated[str, typer.Option("--number")],
    at: Annotated[str | None, typer.Option("--at")] = None,
) -> None:
    """Record that an opposition ends (a new event; the history stays).

    Example: prospectguard oppose remove --number 0612345678
    """
    e164 = inputs.e164(number, "--number")
    when = inputs.instant(at, "--at") if at else now()
    s = settings(ctx)
    s.store().remove_opposition(s.org_id(), e164, at=when)
    out.print(f"opposition removed for {e164}")


def read_numbers(path: Path, field: str) -> list[str]:
    """E.164 numbers from a file with one number per line, or a CSV whose phone column is guessed.

    Every line must parse: one bad line rejects the whole file (nothing is written), with its line number.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        fail(field, f"cannot read {str(path)!r}: {exc.strerror}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        fail(field, f"{str(path)!r} has no numbers")
    column = 0
    rows: list[list[str]]
    if any(d in lines[0] for d in ";,\t"):
        dialect = csv.Sniffer().sniff(lines[0], delimiters=";,\t")
        rows = list(csv.reader(io.StringIO("\n".join(lines)), dialect))
        header = [h.strip().casefold() for h in rows[0]]
        names = (
            "telephone",
            "téléphone",
            "phone",
            "tel",
            "tél",
            "mobile",
            "numero",
            "numéro",
            "number",
            "msisdn",
        )
        found = [i for i, h in enumerate(header) if h in names]
        if found:
            column, rows = found[0], rows[1:]
        elif parse(rows[0][0]).e164 is None:
            fail(field, f"{str(path)!r}: no phone column found in the header {rows[0]!r}")
    else:
        rows = [[line] for line in lines]
    numbers = []
    for lineno, row in enumerate(rows, start=len(lines) - len(rows) + 1):
        value = row[column] if column < len(row) else ""
        try:
            numbers.append(inputs.e164(value, field))
        except inputs.InputError:
            fail(field, f"{str(path)!r} line {lineno}: {value!r} is not a valid phone number")
    return numbers


@oppose_app.command("import")
def oppose_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="One number per line, or a CSV with a phone column.")],
    at: Annotated[str | None, typer.Option("--at")] = None,
) -> None:
    """Import a list of oppositions; a bad line rejects the file and nothing is written.

    Example: prospectguard oppose import oppositions.csv
    """
    numbers = read_numbers(file, "FILE")
    when = inputs.instant(at, "--at") if at else now()
    s = settings(ctx)
    count = s.store().import_oppositions(s.org_id(), numbers, at=when)
    out.print(f"{count} oppositions imported")


@contract_app.command("add")
def contract_add(
    ctx: typer.Context,
    number: Annotated[str, typer.Option("--number")],
    object_: Annotated[str, typer.Option("--object", help="What the contract is about.")],
    start: Annotated[str, typer.Option("--start")],
    end: Annotated[str | None, typer.Option("--end")] = None,
) -> None:
    """Record a contract with the consumer.

    Example: prospectguard contract add --number 0612345678 --object "Box internet" --start 2025-01-15
    """
    e164 = inputs.e164(number, "--number")
    if not object_.strip():
        fail("--object", "empty; say what the contract is about")
    begin = inputs.instant(start, "--start")
    finish = inputs.instant(end, "--end") if end else None
    if finish is not None and finish <= begin:
        fail("--end", "must be after --start")
    s = settings(ctx)
    contract_id = s.store().add_contract(s.org_id(), e164, object=object_, start=begin, end=finish)
    out.print(f"contract {contract_id} recorded for {e164}")


@attempt_app.command("record")
def attempt_record(
    ctx: typer.Context,
    number: Annotated[str, typer.Option("--number")],
    at: Annotated[str, typer.Option("--at")],
    outcome: Annotated[Outcome, typer.Option("--outcome")],
    channel: Annotated[Channel, typer.Option("--channel")] = Channel.VOICE,
) -> None:
    """Record a contact attempt (B3). `refused` starts the 60-day pause (B4); `opposed` records an
    opposition and withdraws consent (A13).

    Example: prospectguard attempt record --number 0612345678 --at 2026-12-01T11:00 --outcome no_answer
    """
    e164 = inputs.e164(number, "--number")
    when = inputs.instant(at, "--at")
    s = settings(ctx)
    s.store().record_attempt(s.org_id(), e164, at=when, channel=channel.value, outcome=outcome.value)
    out.print(f"attempt recorded for {e164}: {outcome.value}")


@bloctel_app.command("import")
def bloctel_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="One number per line, national or E.164.")],
    as_of: Annotated[str, typer.Option("--as-of", help="Date of the Bloctel answer (YYYY-MM-DD).")],
) -> None:
    """Import a Bloctel snapshot (A11).

    Example: prospectguard bloctel import bloctel-2026-08-01.txt --as-of 2026-08-01
    """
    snapshot_day: date = inputs.day(as_of, "--as-of")
    numbers = read_numbers(file, "FILE")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    s = settings(ctx)
    s.store().import_bloctel(s.org_id(), numbers, as_of=snapshot_day, file_sha256=digest)
    out.print(f"Bloctel snapshot of {snapshot_day}: {len(numbers)} numbers")


# ---------------------------------------------------------------- organisation


def parse_policy(value: str) -> tuple[str, bool]:
    name, sep, state = value.partition("=")
    name = name.strip().upper()
    if not sep or state.strip().lower() not in {"on", "off"}:
        fail("--policy", f"{value!r}: use NAME=on or NAME=off")
    if name not in SWITCHABLE:
        fail("--policy", f"{name!r} is not a switchable policy; one of {', '.join(sorted(SWITCHABLE))}")
    return name, state.strip().lower() == "on"


@org_app.command("set")
def org_set(
    ctx: typer.Context,
    caller_number: Annotated[
        list[str] | None, typer.Option("--caller-number", help="Declared caller number (repeat).")
    ] = None,
    sms_sender: Annotated[list[str] | None, typer.Option("--sms-sender", help="SMS sender name (repeat).")] = None,
    policy: Annotated[list[str] | None, typer.Option("--policy", help="NAME=on|off (repeat).")] = None,
) -> None:
    """Set the organisation's declared caller numbers, SMS senders and policy switches.

    Example: prospectguard org set --caller-number 0162000000 --sms-sender ACME --policy CALLEE_FOREIGN=off
    """
    numbers = None if caller_number is None else [inputs.caller_number(n, "--caller-number") for n in caller_number]
    senders = None
    if sms_sender is not None:
        senders = [x.strip() for x in sms_sender]
        for x in senders:
            if not x or len(x) > 11 or not all(c.isalnum() or c in " .-" for c in x):
                fail("--sms-sender", f"{x!r}: 1 to 11 letters, digits, spaces, dots or dashes")
    policies = dict(parse_policy(p) for p in policy) if policy else None
    s = settings(ctx)
    result = s.store().set_org(s.org_id(), caller_numbers=numbers, sms_senders=senders, policies=policies, at=now())
    numbers_shown = sorted(result.caller_numbers) or "-"
    senders_shown = sorted(result.sms_senders) or "-"
    out.print(
        f"{s.org}: caller numbers {numbers_shown}; SMS senders {senders_shown};"
        f" policies off {sorted(result.policies_off) or '-'}"
    )


@org_app.command("show")
def org_show(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the organisation's settings."""
    s = settings(ctx)
    result = s.store().org_settings(s.org_id())
    data = {
        "org": s.org,
        "caller_numbers": sorted(result.caller_numbers),
        "sms_senders": sorted(result.sms_senders),
        "policies_off": sorted(result.policies_off),
    }
    if as_json:
        out.print_json(json.dumps(data))
    else:
        for k, v in data.items():
            out.print(f"{k}: {v}")


# ---------------------------------------------------------------- audit, rules, db, demo


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    expect_head: Annotated[
        str | None,
        typer.Option("--expect-head", help="A head hash printed by an earlier verify: it must still be in the chain."),
    ] = None,
) -> None:
    """Check the hash chain; exit 1 with the first broken or missing entry.

    The chain alone cannot show that its newest entries were dropped: keep the printed head hash
    elsewhere and pass it back with --expect-head.

    Example: prospectguard audit verify --expect-head 3f2a...
    """
    if expect_head is not None and (len(expect_head) != 64 or not all(c in "0123456789abcdef" for c in expect_head)):
        fail("--expect-head", f"{expect_head!r} is not a SHA-256 hash (64 lowercase hex digits)")
    report = settings(ctx).store().verify_audit(anchor=expect_head)
    if not report.ok:
        out.print(f"audit trail BROKEN at entry {report.first_bad_seq}: {report.problem}")
        raise typer.Exit(1)
    if expect_head is not None and not report.anchor_found:
        out.print(f"audit trail TRUNCATED or rewritten: {expect_head} is no longer in the chain")
        raise typer.Exit(1)
    out.print(f"audit trail intact: {report.checked} entries; head {report.head or '-'}")


@app.command()
def rules(
    at: Annotated[str | None, typer.Option("--at", help="Date (YYYY-MM-DD); default today.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the rules and the values in force on a date, with their legal references.

    Example: prospectguard rules --at 2026-08-10
    """
    day = inputs.day(at, "--at") if at else datetime.now(inputs.PARIS).date()
    rows = rules_in_force(day)
    if as_json:
        out.print_json(json.dumps({"date": day.isoformat(), "rules": rows}, ensure_ascii=False))
        return
    table = Table("rule", "in force", "values", "reference", title=f"Rules in force on {day}", show_lines=False)
    for row in rows:
        values = "; ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in row["values"].items())
        table.add_row(row["rule"], "yes" if row["in_force"] else "no", values, row["reference"])
    out.print(table)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the store's tables (Alembic, to head).

    Example: prospectguard --db postgresql+psycopg://127.0.0.1/test db upgrade
    """
    settings(ctx).store().upgrade()
    out.print("store at the latest schema")


@app.command()
def demo(ctx: typer.Context) -> None:
    """Build a demo database and print the decisions for a dozen representative contacts.

    Without --db it writes ./prospectguard-demo.db (recreated each run).
    """
    from prospectguard.demo import run_demo

    s = settings(ctx)
    db = s.db if s.db != DEFAULT_DB else "sqlite:///prospectguard-demo.db"
    run_demo(db, out)


# ---------------------------------------------------------------- API keys and the service


class Scope(StrEnum):
    CHECK = "check"
    WRITE = "write"
    ADMIN = "admin"


OrgOption = Annotated[str | None, typer.Option("--org", help="The organisation; default the global --org.")]


@key_app.command("create")
def key_create(
    ctx: typer.Context,
    scope: Annotated[list[Scope], typer.Option("--scope", help="check, write or admin (repeat).")],
    org: OrgOption = None,
    label: Annotated[str | None, typer.Option("--label", help="What the key is for.")] = None,
) -> None:
    """Create an API key for an organisation; the key is printed once, only its hash is kept.

    Scopes: check (checks, rules), write (attempts, consents, oppositions, contracts), admin (all,
    plus settings and the audit trail).

    Example: prospectguard key create --org acme --scope check --label "dialer 1"
    """
    s = settings(ctx)
    store = s.store()
    key = store.create_key(store.org_id(org or s.org), [x.value for x in scope], label)
    out.print(key, markup=False)


@key_app.command("revoke")
def key_revoke(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="The key, or its prefix as `key list` shows it.")],
    org: OrgOption = None,
) -> None:
    """Revoke a key: it stops working within 5 seconds in every service process.

    Example: prospectguard key revoke --org acme 3f2a9c01
    """
    s = settings(ctx)
    store = s.store()
    count = store.revoke_key(prefix, at=now(), org_id=_existing_org(store, org or s.org))
    if count == 0:
        fail("PREFIX", f"no live key {prefix!r} for organisation {org or s.org!r} (see `prospectguard key list`)")
    out.print(f"{count} key revoked")


@key_app.command("list")
def key_list(
    ctx: typer.Context,
    org: OrgOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The organisation's keys: prefix, scopes, label, created, revoked (never the key itself)."""
    s = settings(ctx)
    store = s.store()
    keys = store.keys(_existing_org(store, org or s.org))
    if as_json:
        out.print_json(json.dumps(keys))
        return
    table = Table("prefix", "scopes", "label", "created", "revoked")
    for k in keys:
        table.add_row(k["prefix"], ",".join(k["scopes"]), k["label"] or "", k["created_at"], k["revoked_at"] or "")
    out.print(table)


def _existing_org(store: Store, name: str) -> int:
    try:
        return store.org_id(name, create=False)
    except KeyError:
        fail("--org", f"no organisation named {name!r}")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Processes (share the store).")] = 1,
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed the demo organisation if the store has none; print a demo key.")
    ] = False,
) -> None:
    """Run the HTTP API (FastAPI on uvicorn). Several workers, or several hosts on one PostgreSQL,
    share the store: caps and the audit trail hold across them.

    Example: prospectguard --db postgresql+psycopg://app@db:5432/prospectguard serve --host 0.0.0.0 --workers 2
    """
    import os
    import tempfile

    import uvicorn

    from prospectguard.service.workers import APP, CannotListen
    from prospectguard.service.workers import run as supervise
    from prospectguard.store.connect import in_memory

    s = settings(ctx)
    store = s.store()  # opened and migrated once here, before the workers start
    key = _demo_key(store, s.db) if demo else None
    shared_audit = None if in_memory(store.engine.url) else s.db  # a store another process can open
    store.close()
    os.environ["PROSPECTGUARD_DB"] = s.db
    multiproc = None
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        multiproc = tempfile.TemporaryDirectory(prefix="prospectguard-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc.name
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    out.print(f"prospectguard API on http://{shown}:{port}  (store {s.db}, {workers} worker(s))", markup=False)
    out.print(f"  docs:    http://{shown}:{port}/docs", markup=False)
    if key is not None:
        out.print(f"  demo API key (organisation 'default'): {key}", markup=False)
        out.print(
            f"  try:     curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
            f'-d \'{{"to": "06 12 34 56 78", "from": "01 62 00 00 01", '
            f'"at": "2026-12-01T11:00"}}\' http://{shown}:{port}/v1/check',
            markup=False,
        )
    out.print("  stop:    Ctrl-C", markup=False)
    try:
        if workers == 1:
            uvicorn.run(APP, factory=True, host=host, port=port, log_level="warning", access_log=False)
        else:
            try:
                status = supervise(host, port, workers, audit_writer=shared_audit)
            except CannotListen as exc:
                fail("--port", str(exc))
            if status:
                err.print("error: a worker could not start (its messages are above)", markup=False)
                raise typer.Exit(1)
    finally:
        if multiproc is not None:
            multiproc.cleanup()


def _demo_key(store: Store, db: str) -> str:
    """The demo organisation, seeded if the store has none, and an admin key for it, kept beside a
    SQLite store so that later runs print the same key."""
    from prospectguard.demo import seed

    try:
        store.org_id("default", create=False)
    except KeyError:
        seed(store)
    path = Path(db.removeprefix("sqlite:///") + ".demo-key") if db.startswith("sqlite:///") else None
    if path is not None and path.exists():
        known = path.read_text().strip()
        if store.api_key(known) is not None:
            return known
    key = store.create_key(store.org_id("default"), ["admin"], "demo")
    if path is not None:
        path.write_text(key + "\n")
    return key


# ---------------------------------------------------------------- scrub


class OutputFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    PARQUET = "parquet"


@app.command()
def scrub(
    ctx: typer.Context,
    input_file: Annotated[Path, typer.Argument(metavar="INPUT", help="Prospect file: CSV, XLSX or Parquet.")],
    campaign_file: Annotated[
        Path, typer.Option("--campaign", metavar="CAMPAIGN.toml", help="The campaign (see examples/campaign.toml).")
    ],
    outdir: Annotated[
        Path | None, typer.Option("-o", "--outdir", help="Output directory; default INPUT's name + '-scrub'.")
    ] = None,
    phone_column: Annotated[
        str | None, typer.Option("--phone-column", help="Header of the phone column, when not found by its name.")
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Format of allowed and blocked.")] = OutputFormat.CSV,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Judge every row of a prospect file for a campaign: allowed (with when), blocked (with why).

    Writes allowed, blocked, summary.json and report.html into the output directory; rows in =
    allowed + blocked. Exit 0 when done, 1 when the store could not be read (every row is then
    blocked with STORE_UNAVAILABLE), 2 for bad input.

    Example: prospectguard scrub prospects.csv --campaign examples/campaign.toml -o out/
    """
    from prospectguard.batch.campaign import load_campaign
    from prospectguard.batch.scrub import fewer_malloc_arenas
    from prospectguard.batch.scrub import scrub as run_scrub
    from prospectguard.batch.source import open_source

    s = settings(ctx)
    campaign = load_campaign(campaign_file, s.org)  # the file's organisation, else --org
    src = open_source(input_file, phone_column)
    target = outdir or Path(f"{input_file.stem}-scrub")
    if target.exists() and not target.is_dir():
        fail("--outdir", f"{target} exists and is not a directory")
    store: Store | None
    try:
        store = s.store()
    except StoreUnavailable as exc:
        err.print(f"warning: cannot open {s.db}: {exc}; every row is blocked (STORE_UNAVAILABLE)", markup=False)
        store = None
    if src.columns.ambiguous_phone and not as_json:
        others = ", ".join(repr(o) for o in src.columns.ambiguous_phone)
        err.print(
            f"note: phone column {src.header[src.columns.phone]!r} used; also looked like one: {others} "
            "(choose with --phone-column)",
            markup=False,
        )
    # This process ends with the scrub: what it holds now (modules, the law, the numbering plan) is
    # kept out of the garbage collector's walks, each of which stops every thread (on 10M rows: 0.28 s of
    # collections -> 0.15 s).
    gc.freeze()
    fewer_malloc_arenas()
    try:
        summary = _with_progress(
            lambda progress: run_scrub(src, campaign, target, store, fmt=fmt.value, progress=progress)
        )
    except StoreUnavailable as exc:
        err.print(f"error: --db: the audit trail could not be written ({exc}); no output was produced", markup=False)
        raise typer.Exit(1) from None
    except OSError as exc:
        fail("--outdir", f"cannot write to {target}: {exc.strerror or exc}")
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
    else:
        _print_summary(summary, target)
    down = summary["reasons"].get("STORE_UNAVAILABLE", 0)
    raise typer.Exit(1 if down else 0)


def _with_progress(run: Any) -> Any:
    """A progress bar with rows per second and time left on a terminal; nothing otherwise."""
    if not err.is_terminal:
        return run(None)
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    started = datetime.now(UTC)
    with Progress(
        TextColumn("scrub"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows, {task.fields[rate]:,.0f} rows/s"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("scrub", total=1.0, rows=0, rate=0.0)

        def progress(rows: int, done: float) -> None:
            elapsed = max((datetime.now(UTC) - started).total_seconds(), 1e-6)
            bar.update(task, completed=done, rows=rows, rate=rows / elapsed)

        return run(progress)


def _print_summary(summary: dict[str, Any], target: Path) -> None:
    rows, allowed, blocked = summary["rows"], summary["allowed"], summary["blocked"]
    out.print(
        f"{rows:,} rows: [bold green]{allowed:,} allowed[/] ({summary['allowed_at_start']:,} at the start, "
        f"{summary['scheduled']:,} scheduled later), [bold red]{blocked:,} blocked[/]"
    )
    for code, n in list(summary["reasons"].items())[:10]:
        out.print(f"  {code:<26} {n:>12,}")
    outputs = ", ".join(str(target / name) for name in summary["outputs"].values())
    out.print(f"written: {outputs}")


def main() -> None:
    """Entry point: one-line errors and exit 2 for every usage or input error, never a traceback."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=sys.argv[1:], prog_name="prospectguard", standalone_mode=False)
    except inputs.InputError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(2)
    except NoArgsIsHelpError as exc:
        out.print(exc.ctx.get_help() if exc.ctx else str(exc), markup=False)
        sys.exit(2)
    except typer.TyperException as exc:
        err.print(f"error: {exc.format_message()} (see --help)", markup=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("error: aborted", markup=False)
        sys.exit(2)
    except StoreUnavailable as exc:
        err.print(f"error: --db: the evidence store is unavailable: {exc}", markup=False)
        sys.exit(2)
    except Exception as exc:  # a bug: say so in one line, never a traceback, never exit 0
        err.print(f"error: internal error ({type(exc).__name__}: {exc}); please report it", markup=False)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
