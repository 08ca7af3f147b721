"""Sector bans: energy renovation and housing adaptation (A5 voice, A6 SMS), CPF training (D2)."""

from __future__ import annotations

from functools import cache

from prospectguard.law import LawAt
from prospectguard.rules.consent import consent_law, contract_in_progress
from prospectguard.rules.context import Context


@cache
def _banned(law: LawAt) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(A5 voice, A6 SMS, D2 all) banned sectors in force."""
    return (
        frozenset(law.value("A5", "sectors") or ()),
        frozenset(law.value("A6", "sectors") or ()),
        frozenset(law.value("D2", "sectors") or ()),
    )


def check_sector(ctx: Context) -> None:
    sector = ctx.req.sector  # a StrEnum: compares and hashes as its value
    a5, a6, d2 = _banned(ctx.law)
    exempt = consent_law(ctx.law).a4 and contract_in_progress(ctx)  # A4: a contract in progress
    if sector in a5 and ctx.consumer and ctx.voice and not exempt:
        ctx.block("SECTOR_BANNED", "A5", f"Telephone prospecting of consumers is banned for {sector}")
    if sector in a6 and ctx.consumer and ctx.sms:
        ctx.block("SECTOR_BANNED", "A6", f"SMS prospecting of consumers is banned for {sector}")
    if sector in d2 and not contract_in_progress(ctx):
        ctx.block("SECTOR_BANNED", "D2", "Prospecting CPF account holders is banned on every channel")
