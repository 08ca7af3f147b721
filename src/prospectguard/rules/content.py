"""What an SMS says (F4): it identifies the sender and offers a free way to stop."""

from __future__ import annotations

import re
from functools import lru_cache

from prospectguard.rules.caller_id import is_alphanumeric_sender
from prospectguard.rules.context import Context


@lru_cache(maxsize=32)
def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(k) for k in keywords) + r")\b", re.IGNORECASE)


def check_sms_content(ctx: Context) -> None:
    text = ctx.req.message
    if not ctx.sms or text is None:
        return
    keywords = ctx.law.value("F4", "stop_keywords")
    if keywords is None:
        return
    if not _keyword_pattern(tuple(keywords)).search(text):
        ctx.block("SMS_OPT_OUT_MISSING", "F4", f"The message has no free opt-out ({', '.join(keywords)})")
    senders = ctx.facts.org.sms_senders
    folded = text.casefold()
    named = any(s.casefold() in folded for s in senders)
    raw = ctx.req.caller
    from_sender = bool(
        raw and is_alphanumeric_sender(raw) and raw.strip().casefold() in {s.casefold() for s in senders}
    )
    if not (named or from_sender):
        hint = "" if senders else " (no sender name declared: `prospectguard org set --sms-sender NAME`)"
        ctx.block("SMS_SENDER_MISSING", "F4", f"The message does not name the sender{hint}")
