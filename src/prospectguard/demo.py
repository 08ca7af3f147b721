"""`prospectguard demo`: a small organisation's evidence, then the decisions for contacts that show
each family of rules at work. Every decision goes through the gate, so the audit trail fills too."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from prospectguard.gate import Gate
from prospectguard.model import Audience, Channel, ContactRequest, Sector
from prospectguard.numbering import parse
from prospectguard.store import Store

PARIS = ZoneInfo("Europe/Paris")
NPV = "01 62 00 00 01"  # the demo organisation's declared NPV number (E3)
MOBILE = "06 98 76 54 32"  # an agent's mobile: not a caller ID (E1)


def paris(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=PARIS)


TUESDAY_11 = paris(2026, 12, 1, 11, 0)


@dataclass
class Case:
    label: str
    to: str
    at: datetime = TUESDAY_11
    caller: str | None = NPV
    channel: Channel = Channel.VOICE
    automated: bool = False
    sector: Sector = Sector.GENERAL
    about_contract: bool = False
    message: str | None = None
    audience: Audience = Audience.CONSUMER
    extra: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("Metro mobile, Tue 11:00", "06 12 34 56 78"),
    Case("Same, Tue 13:30 (lunch)", "06 12 34 56 78", at=paris(2026, 12, 1, 13, 30)),
    Case("Same, on a Saturday", "06 12 34 56 78", at=paris(2026, 12, 5, 11, 0)),
    Case("Same, on 14 July", "06 12 34 56 78", at=paris(2027, 7, 14, 11, 0)),
    Case("Réunion mobile, Tue 11:00 Paris", "+262 692 12 34 56"),
    Case("Martinique mobile, same instant", "0696 12 34 56"),
    Case("Masked caller", "06 12 34 56 78", caller=None),
    Case("Automated call from a 06", "06 12 34 56 78", caller=MOBILE, automated=True),
    Case("Automated call from the NPV", "06 12 34 56 78", automated=True),
    Case("Energy-renovation offer", "06 12 34 56 78", sector=Sector.ENERGY_RENOVATION),
    Case("5th call in 30 days", "06 11 22 33 44"),
    Case("Expired consent", "07 55 44 33 22"),
    Case("Consumer who objected", "06 99 88 77 66"),
    Case("No consent, offer about the contract", "01 45 67 89 10", about_contract=True),
    Case("No consent, other offer", "01 45 67 89 10"),
    Case("Before the reform: on Bloctel", "06 50 50 50 50", at=paris(2026, 8, 10, 11, 0)),
    Case(
        "SMS without STOP",
        "06 12 34 56 78",
        caller="ACME",
        channel=Channel.SMS,
        automated=True,
        message="ACME: -20% sur votre box ce mois-ci",
    ),
]


def seed(store: Store) -> None:
    """The demo organisation's evidence: consents with proof, an opposition, attempts, a contract."""
    org = store.org_id("default")
    e = {n: parse(n).e164 or "" for n in [c.to for c in CASES]}
    store.set_org(
        org,
        caller_numbers=[parse(NPV).e164 or ""],
        sms_senders=["ACME"],
        policies=None,
        at=paris(2026, 8, 1),
    )
    for number in ("06 12 34 56 78", "+262 692 12 34 56", "0696 12 34 56", "06 11 22 33 44"):
        store.add_consent(
            org,
            e[number],
            collected_at=paris(2026, 9, 15, 18, 5),
            channel="all",
            method="web form acme.example/rappel, checkbox ticked",
            proof_text="J'accepte d'être contacté(e) par ACME par téléphone et SMS pour ses offres.",
        )
    store.add_consent(
        org,
        e["07 55 44 33 22"],
        collected_at=paris(2025, 11, 2, 9, 0),
        channel="voice",
        method="call-back form",
        proof_text="Je souhaite être rappelé(e) par ACME.",
    )
    store.add_consent(
        org,
        e["06 99 88 77 66"],
        collected_at=paris(2026, 9, 1, 12, 0),
        channel="all",
        method="web form",
        proof_text="J'accepte d'être contacté(e) par ACME.",
    )
    store.record_attempt(org, e["06 99 88 77 66"], at=paris(2026, 10, 6, 15, 0), channel="voice", outcome="opposed")
    for days in (20, 12, 5, 1):
        store.record_attempt(
            org,
            e["06 11 22 33 44"],
            at=TUESDAY_11 - timedelta(days=days),
            channel="voice",
            outcome="no_answer",
        )
    store.add_contract(org, e["01 45 67 89 10"], object="Box internet", start=paris(2025, 3, 1), end=None)
    snapshot = [e["06 50 50 50 50"]]
    digest = hashlib.sha256("\n".join(snapshot).encode()).hexdigest()
    store.import_bloctel(org, snapshot, as_of=paris(2026, 8, 1).date(), file_sha256=digest)


def run_demo(db: str, console: Console) -> None:
    if db.startswith("sqlite:///"):
        path = Path(db.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = Store.open(db)
    seed(store)
    gate = Gate(store, "default")
    if not console.is_terminal:
        console = Console(width=150, highlight=False)  # piped or captured: do not squeeze to 80 columns
    table = Table()
    for name in ("contact", "to", "consumer's time", "decision", "reasons (rule)", "next allowed"):
        table.add_column(name, no_wrap=name != "contact")
    for case in CASES:
        decision = gate.check(
            ContactRequest(
                to=case.to,
                at=case.at,
                channel=case.channel,
                caller=case.caller,
                automated=case.automated,
                audience=case.audience,
                sector=case.sector,
                about_contract=case.about_contract,
                message=case.message,
            )
        )
        verdict = "[green]allow[/]" if decision.allowed else "[red]block[/]"
        reasons = "\n".join(f"{r.code} ({r.rule})" for r in decision.reasons) or "-"
        nxt = decision.next_allowed_at.strftime("%a %d %b %Y %H:%M %z") if decision.next_allowed_at else "-"
        table.add_row(
            case.label,
            case.to,
            decision.at.strftime("%a %d %b %Y %H:%M %z"),
            verdict,
            reasons,
            nxt if not decision.allowed else "now",
        )
    console.print(f"Demo store: {db} (organisation 'default', caller ID {NPV}, SMS sender ACME)")
    console.print(table)
    report = store.verify_audit()
    console.print(f"Audit trail: {report.checked} decisions, chain {'intact' if report.ok else 'BROKEN'}.")
    console.print("Try: prospectguard --db " + db + ' check --to "06 12 34 56 78" --from 0162000001 --json')
    store.close()
