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
    number = ctx.callee
    if number.type is NumberType.INVALID:
        ctx.block("CALLEE_INVALID", "N", f"{number.raw!r} is not a valid number")
    elif number.type is NumberType.FOREIGN:
        ctx.block("CALLEE_FOREIGN", "N", f"{number.e164} is outside the French numbering plan: no rule pack")
    elif number.type in _NOT_PROSPECTABLE:
        rule = rule_of(number) or "N"  # the plan's own row: N5, N6, N15 or N16
        what = _NOT_PROSPECTABLE[number.type]
        ctx.block("CALLEE_NOT_PROSPECTABLE", rule, f"{number.national} is {what}, never a prospect")
