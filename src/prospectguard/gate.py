"""The one entry point every door uses: facts from the store, the rules, then the audit trail.

Fail closed: when the store cannot be read, or the decision cannot be written to the audit trail,
the answer is a block with STORE_UNAVAILABLE, never an allow.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from prospectguard.law import LAW, Law
from prospectguard.model import ContactRequest, Decision, Facts, Kind, NumberType, Reason
from prospectguard.numbering import locate, parse
from prospectguard.rules import decide
from prospectguard.store import Store, StoreUnavailable

STORE_UNAVAILABLE = Reason(
    code="STORE_UNAVAILABLE",
    kind=Kind.POLICY,
    rule="—",
    reference="prospectguard policy: fail closed",
    message="The evidence store could not be read or written: blocked until it is back",
)


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

    def __init__(self, store: Store, org: str = "default", law: Law = LAW) -> None:
        self.store = store
        self.org = org
        self.law = law

    def facts(self, e164: str | None, at: datetime) -> Facts:
        org_id = self.store.org_id(self.org)
        if e164 is None:  # short numbers: the organisation's facts (settings, Bloctel snapshot), no history
            return self.store.facts_many(org_id, [], at)[0]
        return self.store.facts(org_id, e164, at)

    def check(self, req: ContactRequest) -> Decision:
        callee = parse(req.to)
        try:
            e164 = callee.e164 if callee.type is not NumberType.INVALID else None
            facts = self.facts(e164, req.at)
            decision = decide(req, facts, callee=callee, law=self.law)
            self.store.append_audit(
                at=req.at,
                org=self.org,
                request=req.to_json(),
                facts=facts.to_json(),
                decision=decision.to_json(),
                law_date=decision.law_date,
            )
        except StoreUnavailable as exc:
            return unavailable(req, str(exc) or None)
        return decision
