"""The reason codes of the reference's section 5: the contract with every client. Never rename one.

`kind` is the default; CALLER_ID_MASKED is law for consumers and policy for businesses (C3).
`temporal` codes clear by waiting: they are the only ones `next_allowed_at` can see past.
"""

from __future__ import annotations

from prospectguard.model import Kind

LAW, POLICY = Kind.LAW, Kind.POLICY

CODES: dict[str, tuple[Kind, str]] = {
    "CALLER_ID_MASKED": (LAW, "C3"),
    "CALLER_ID_INVALID": (LAW, "C3"),
    "CALLER_ID_MOBILE": (LAW, "E1"),
    "CALLER_ID_FORBIDDEN_RANGE": (LAW, "C5"),
    "CALLER_ID_NOT_NPV": (LAW, "E2, E3"),
    "CALLER_ID_NOT_ASSIGNED": (LAW, "C3, E7"),
    "CALLEE_INVALID": (LAW, "N"),
    "CALLEE_NOT_PROSPECTABLE": (POLICY, "N5, N6, N15, N16"),
    "CALLEE_FOREIGN": (POLICY, "—"),
    "NON_WORKING_DAY": (LAW, "B1"),
    "PUBLIC_HOLIDAY": (LAW, "B1, H1-H4"),
    "OUTSIDE_HOURS": (LAW, "B1"),
    "NO_CONSENT": (LAW, "A1-A3, F1"),
    "CONSENT_EXPIRED": (LAW, "A10"),
    "CONSENT_WITHDRAWN": (LAW, "A10, G2, A13"),
    "BLOCTEL_REGISTERED": (LAW, "A11"),
    "BLOCTEL_LIST_STALE": (LAW, "A11"),
    "OPPOSITION": (LAW, "G3, F4, A13"),
    "FREQUENCY_CAP": (LAW, "B3"),
    "REFUSAL_COOLDOWN": (LAW, "B4"),
    "SECTOR_BANNED": (LAW, "A5, A6, D2"),
    "SMS_OPT_OUT_MISSING": (LAW, "F4"),
    "SMS_SENDER_MISSING": (LAW, "F4"),
    "POLICY_SMS_QUIET_HOURS": (POLICY, "F6"),
    "STORE_UNAVAILABLE": (POLICY, "—"),
    "DUPLICATE_IN_FILE": (POLICY, "—"),
    "ROW_MALFORMED": (POLICY, "—"),
}

TEMPORAL = frozenset(
    {
        "OUTSIDE_HOURS",
        "NON_WORKING_DAY",
        "PUBLIC_HOLIDAY",
        "FREQUENCY_CAP",
        "REFUSAL_COOLDOWN",
        "POLICY_SMS_QUIET_HOURS",
    }
)

# Policies an organisation may switch off. STORE_UNAVAILABLE and ROW_MALFORMED are never switchable:
# switching them off would allow by default.
SWITCHABLE = frozenset(
    {
        "CALLER_ID_MASKED",
        "CALLEE_NOT_PROSPECTABLE",
        "CALLEE_FOREIGN",
        "POLICY_SMS_QUIET_HOURS",
        "DUPLICATE_IN_FILE",
    }
)
