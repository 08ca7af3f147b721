"""Benchmark: single in-process decisions (`prospectguard.rules.decide`), no store I/O.

Not a test: run `python benchmarks/decision.py` (or `make bench`). The workload is 20,000 distinct
contacts (fixed seed): metro and overseas numbers, instants over two working weeks, 08:00-21:00
Paris (so a good part is blocked for time and needs `next_allowed_at`), each with realistic facts
(a consent, 0-5 recent attempts, sometimes a contract, a withdrawal or an opposition). The baseline
printed beside it, measured in the same run, is `phonenumbers.parse` + `is_valid_number` +
`number_type` on the same numbers: what merely validating a number costs with the usual library.
Target (issue 2): at least 50,000 decisions per second on one core.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

from prospectguard.model import Attempt, Channel, Consent, ContactRequest, Contract, Facts, OppositionEvent, OrgSettings
from prospectguard.rules import decide

COUNT = 20_000
ROUNDS = 5
TARGET = 50_000
PARIS = ZoneInfo("Europe/Paris")
START = datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)
PREFIXES = ["06", "06", "06", "07", "01", "02", "03", "04", "05", "09", "0692", "0696", "0590", "0694"]
ORG = OrgSettings(caller_numbers=frozenset({"+33162000001"}), sms_senders=frozenset({"ACME"}))


def workload(rng: random.Random) -> list[tuple[ContactRequest, Facts]]:
    out = []
    for _ in range(COUNT):
        prefix = rng.choice(PREFIXES)
        number = prefix + "".join(rng.choice("0123456789") for _ in range(10 - len(prefix)))
        # A dialer's day: weekdays 08:00-21:00 Paris, so most contacts fall inside the windows.
        day = START + timedelta(days=rng.choice([0, 1, 2, 3, 4, 7, 8, 9, 10, 11]))
        at = day + timedelta(minutes=rng.randrange(13 * 60))
        attempts = tuple(
            Attempt(at=at - timedelta(days=rng.uniform(0.5, 40)), channel="voice", outcome="no_answer")
            for _ in range(rng.randrange(6))
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
        out.append((req, facts))
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
    blocked = sum(not d.allowed for d in decisions)
    scheduled = sum(1 for d in decisions if not d.allowed and d.next_allowed_at is not None)
    t_ours, t_base = best(ours), best(baseline)
    rate = COUNT / t_ours
    print(f"workload: {COUNT} contacts, {blocked} blocked ({scheduled} with a next_allowed_at), best of {ROUNDS}")
    base_rate = COUNT / t_base
    print(f"prospectguard decide:                      {t_ours / COUNT * 1e6:8.2f} µs/decision  {rate:10,.0f}/s")
    print(f"phonenumbers parse+valid+type (baseline):  {t_base / COUNT * 1e6:8.2f} µs/number    {base_rate:10,.0f}/s")
    print(f"ratio: one whole decision costs {t_ours / t_base:.2f}x a phonenumbers validation")
    print(f"target {TARGET:,}/s: {rate / TARGET:.2f}x the target")


if __name__ == "__main__":
    main()
