"""The one entry point every door uses: facts from the store, the rules, then the audit trail.

Fail closed: when the store cannot be read, or the decision cannot be written to the audit trail,
the answer is a block with STORE_UNAVAILABLE, never an allow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from prospectguard.law import LAW, Law
from prospectguard.model import ContactRequest, Decision, Facts, Kind, NumberType, PhoneNumber, Reason
from prospectguard.numbering import locate, parse
from prospectguard.rules import decide
from prospectguard.store import Store, StoreUnavailable
from prospectguard.store.api import Answered, Judged
from prospectguard.store.audit import Entry, canonical_json

STORE_UNAVAILABLE = Reason(
    code="STORE_UNAVAILABLE",
    kind=Kind.POLICY,
    rule="—",
    reference="prospectguard policy: fail closed",
    message="The evidence store could not be read or written: blocked until it is back",
)


def number_of(callee: PhoneNumber) -> str | None:
    """The E.164 number whose facts a check reads; None for a number that is not one."""
    return callee.e164 if callee.type is not NumberType.INVALID else None


def unavailable(req: ContactRequest, detail: str | None = None) -> Decision:
    """The decision when the store is down: block, with no next_allowed_at (nothing to wait for)."""
    callee = parse(req.to)
    location = locate(callee, req.postcode, req.territory)
    zone = ZoneInfo(location.timezone if location else "Europe/Paris")
    reason = STORE_UNAVAILABLE
    if detail:
        reason = Reason(reason.code, reason.kind, reason.rule, reason.reference, f"{reason.message} ({detail})")
    return Decision(
        allowed=False,
        reasons=(reason,),
        next_allowed_at=None,
        callee=callee,
        at=req.at.astimezone(zone),
        law_date=req.at.astimezone(zone).date(),
    )


class Gate:
    """Decisions for one organisation, backed by a store, each appended to the audit trail."""

    def __init__(
        self,
        store: Store,
        org: str = "default",
        law: Law = LAW,
        audit: Callable[[Entry], object] | None = None,
        org_id: int | None = None,
    ) -> None:
        """`audit` appends an entry and returns once it is committed (StoreUnavailable otherwise); by
        default one transaction per decision."""
        self.store = store
        self.org = org
        self.law = law
        self.audit = audit or (lambda entry: store.append_audit_many([entry]))
        self._org_id = org_id

    def org_id(self) -> int:
        if self._org_id is None:
            self._org_id = self.store.org_id(self.org)
        return self._org_id

    def facts(self, e164: str | None, at: datetime) -> Facts:
        org_id = self.org_id()
        if e164 is None:  # short numbers: the organisation's facts (settings, Bloctel snapshot), no history
            return self.store.facts_many(org_id, [], at)[0]
        return self.store.facts(org_id, e164, at)

    def check(self, req: ContactRequest) -> Decision:
        try:
            decision, _, entry = self.judge(req)
            self.audit(entry)
        except StoreUnavailable as exc:
            return unavailable(req, str(exc) or None)
        return decision

    def judge(self, req: ContactRequest) -> tuple[Decision, dict[str, Any], Entry]:
        """The decision, its JSON and its audit entry, not yet appended: a door that appends it
        otherwise (the service, without holding a thread while the trail commits) must not answer
        before it has. StoreUnavailable when the facts cannot be read."""
        callee = parse(req.to)
        return self.judged(req, callee, self.facts(number_of(callee), req.at))

    def judged(self, req: ContactRequest, callee: PhoneNumber, facts: Facts) -> tuple[Decision, dict[str, Any], Entry]:
        """`judge` with the callee parsed and its facts read (by a door that reads them otherwise)."""
        decision = decide(req, facts, callee=callee, law=self.law)
        answer = decision.to_json()
        return decision, answer, self._entry(req.to_json(), req, facts, decision, answer)

    def _entry(
        self,
        request: dict[str, Any],
        req: ContactRequest,
        facts: Facts,
        decision: Decision,
        answer: dict[str, Any] | None = None,
    ) -> Entry:
        """The audit entry of a decision: the request as received, the facts used, the answer
        (`answer`: the decision's JSON when the caller has it already)."""
        return Entry.of(
            at=req.at,
            org=self.org,
            request=request,
            facts=facts.to_json(),
            decision=decision.to_json() if answer is None else answer,
            law_date=decision.law_date,
        )

    def check_many(self, reqs: list[ContactRequest]) -> list[Decision]:
        """Many checks at once, in order: the facts of their numbers read set-wise (one snapshot per
        distinct instant), and their audit entries appended in one transaction. Fail closed: when
        the store cannot be read or the trail written, every decision is STORE_UNAVAILABLE."""
        try:
            judged = self.judge_many(reqs)
            self.store.append_audit_many([entry for _, _, entry in judged])
        except StoreUnavailable as exc:
            return [unavailable(req, str(exc) or None) for req in reqs]
        return [decision for decision, _, _ in judged]

    def judge_many(self, reqs: list[ContactRequest]) -> list[tuple[Decision, dict[str, Any], Entry]]:
        """`judge` for many requests, their facts read set-wise: each decision, its JSON, and its
        audit entry, not yet appended (a door that appends them must not answer before it has).
        StoreUnavailable when the facts cannot be read."""
        callees = [parse(req.to) for req in reqs]
        numbers = [number_of(c) for c in callees]
        facts_at: dict[datetime, tuple[Facts, dict[str, Facts]]] = {}
        for at in {req.at for req in reqs}:
            wanted = [n for n, req in zip(numbers, reqs, strict=True) if n is not None and req.at == at]
            facts_at[at] = self.store.facts_many(self.org_id(), wanted, at)
        judged = []
        for req, callee, number in zip(reqs, callees, numbers, strict=True):
            base, found = facts_at[req.at]
            judged.append(self.judged(req, callee, base if number is None else found.get(number, base)))
        return judged

    def check_atomically(self, req: ContactRequest, *, reserve: bool, idempotency_key: str | None = None) -> Answered:
        """A check whose facts, decision, reserved attempt (when allowed and `reserve`) and audit entry
        are one transaction (`Store.check_atomically`). StoreUnavailable reaches the caller."""
        callee = parse(req.to)
        e164 = number_of(callee)
        request = {**req.to_json(), "reserve": reserve, "idempotency_key": idempotency_key}
        fingerprint = hashlib.sha256(canonical_json({**request, "org": self.org}).encode()).hexdigest()

        def judge(facts: Facts) -> Judged:
            decision = decide(req, facts, callee=callee, law=self.law)
            return Judged(decision.allowed, decision.to_json(), self._entry(request, req, facts, decision))

        return self.store.check_atomically(
            self.org_id(),
            e164,
            at=req.at,
            channel=req.channel.value,
            reserve=reserve,
            idempotency_key=idempotency_key,
            request_sha256=fingerprint,
            judge=judge,
        )
