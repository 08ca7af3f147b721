"""Benchmark: single in-process decisions (`prospectguard.rules.decide`), no store I/O.

Not a test: run `python benchmarks/decision.py` (or `make bench`). The workload is 20,000 distinct
contacts (fixed seed): metro and 4% overseas numbers, 85% of instants inside the Paris calling
windows of two working weeks (a dialer schedules there) and 15% at any hour, each with realistic
facts (a consent, 0-4 attempts over 40 days, sometimes a contract, a withdrawal or an opposition).
Blocked contacts cost more (the engine re-evaluates at the next opening), so the blocked share and
the blocked-only rate are printed too. The baseline
printed beside it, measured in the same run, is `phonenumbers.parse` + `is_valid_number` +
`number_type` on the same numbers: what merely validating a number costs with the usual library.
Target (issue 2): at least 50,000 decisions per second on one core.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

from prospectguard.model import Attempt, Channel, Consent, ContactRequest, Contract, Facts, OppositionEvent, OrgSettings
from prospectguard.rules import decide

COUNT = 20_000
ROUNDS = 5
TARGET = 50_000
PARIS = ZoneInfo("Europe/Paris")
START = datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)
# About the French mix: mostly metro mobiles, then fixed lines; 4% overseas.
PREFIXES = [
    *["06"] * 40,
    *["07"] * 16,
    *["01", "02", "03", "04", "05"] * 6,
    *["09"] * 10,
    "0692",
    "0696",
    "0590",
    "0694",
]
ORG = OrgSettings(caller_numbers=frozenset({"+33162000001"}), sms_senders=frozenset({"ACME"}))


def workload(rng: random.Random) -> list[tuple[ContactRequest, Facts]]:
    out = []
    for _ in range(COUNT):
        prefix = rng.choice(PREFIXES)
        number = prefix + "".join(rng.choice("0123456789") for _ in range(10 - len(prefix)))
        # A dialer schedules inside the windows, so most questions fall there; 15% are misfires at
        # any hour of any day of the fortnight.
        if rng.random() < 0.85:
            day = START + timedelta(days=rng.choice([0, 1, 2, 3, 4, 7, 8, 9, 10, 11]))
            at = day + timedelta(hours=rng.choice([2, 3, 4, 6, 7, 8, 9, 10, 11]), minutes=rng.randrange(60))
        else:
            at = START + timedelta(minutes=rng.randrange(14 * 24 * 60))
        at = at.astimezone(UTC)
        attempts = tuple(
            Attempt(at=at - timedelta(days=rng.uniform(0.5, 40)), channel="voice", outcome="no_answer")
            for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3, 4]))
        )
        facts = Facts(
            org=ORG,
            consents=(Consent(collected_at=at - timedelta(days=rng.randrange(1, 300)), channel="all"),),
            withdrawals=(at - timedelta(days=1),) if rng.random() < 0.02 else (),
            oppositions=(OppositionEvent(at=at - timedelta(days=3), active=True),) if rng.random() < 0.02 else (),
            contracts=(Contract(start=at - timedelta(days=400)),) if rng.random() < 0.1 else (),
            attempts=attempts,
        )
        sms = rng.random() < 0.1
        req = ContactRequest(
            to=number,
            at=at,
            channel=Channel.SMS if sms else Channel.VOICE,
            caller="ACME" if sms else "0162000001",
            message="ACME: offre du mois. STOP au 36111" if sms else None,
        )
        out.append((req, facts))  # facts in UTC, as the store returns them
    return out


def best(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    cases = workload(random.Random(20261128))

    def ours() -> None:
        for req, facts in cases:
            decide(req, facts)

    def baseline() -> None:
        for req, _ in cases:
            n = phonenumbers.parse(req.to, "FR")
            phonenumbers.is_valid_number(n)
            phonenumbers.number_type(n)

    decisions = [decide(req, facts) for req, facts in cases]
    blocked_cases = [c for c, d in zip(cases, decisions, strict=True) if not d.allowed]

    def ours_blocked() -> None:
        for req, facts in blocked_cases:
            decide(req, facts)

    blocked = sum(not d.allowed for d in decisions)
    scheduled = sum(1 for d in decisions if not d.allowed and d.next_allowed_at is not None)
    t_ours, t_base, t_blocked = best(ours), best(baseline), best(ours_blocked)
    rate = COUNT / t_ours
    print(f"workload: {COUNT} contacts, {blocked} blocked ({scheduled} with a next_allowed_at), best of {ROUNDS}")
    base_rate = COUNT / t_base
    print(f"prospectguard decide:                      {t_ours / COUNT * 1e6:8.2f} µs/decision  {rate:10,.0f}/s")
    print(f"phonenumbers parse+valid+type (baseline):  {t_base / COUNT * 1e6:8.2f} µs/number    {base_rate:10,.0f}/s")
    print(
        f"  of which blocked only:                   {t_blocked / len(blocked_cases) * 1e6:8.2f} µs/decision"
        f"  {len(blocked_cases) / t_blocked:10,.0f}/s"
    )
    print(f"ratio: one whole decision costs {t_ours / t_base:.2f}x a phonenumbers validation")
    print(f"target {TARGET:,}/s: {rate / TARGET:.2f}x the target")


if __name__ == "__main__":
    main()
