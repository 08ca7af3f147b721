"""The number called: it must be a valid French number that can be a prospect (N1-N16)."""

from __future__ import annotations

from prospectguard.model import NumberType
from prospectguard.numbering import rule_of
from prospectguard.rules.context import Context

_NOT_PROSPECTABLE = {
    NumberType.M2M: "an M2M (machine) number",
    NumberType.SPECIAL_FREE: "a special 08 number",
    NumberType.SPECIAL_STANDARD: "a special 08 number",
    NumberType.SPECIAL_PREMIUM: "a special 08 number",
    NumberType.EMERGENCY: "an emergency or social number",
    NumberType.SHORT: "a short number",
}


def check_callee(ctx: Context) -> None:
    """The messages name the kind of number, not its digits: the row or request already shows them,
    and a batch can then share one decision among all the numbers of one row of the plan."""
    number = ctx.callee
    if number.type is NumberType.INVALID:
        ctx.block("CALLEE_INVALID", "N", "Not a valid phone number")
    elif number.type is NumberType.FOREIGN:
        ctx.block("CALLEE_FOREIGN", "N", "Outside the French numbering plan: no rule pack")
    elif number.type in _NOT_PROSPECTABLE:
        rule = rule_of(number) or "N"  # the plan's own row: N5, N6, N15 or N16
        what = _NOT_PROSPECTABLE[number.type]
        ctx.block("CALLEE_NOT_PROSPECTABLE", rule, f"{what[0].upper()}{what[1:]}, never a prospect")
