"""The campaign file (TOML): who calls or texts whom, about what, and when the campaign runs.

Every row of a scrub is judged as the contact this file describes, at the campaign's start; a row
blocked only by waiting (hours, days, frequency, refusal pause) is allowed with a schedule when it
opens before the campaign's end. See `examples/campaign.toml` for a commented example.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prospectguard import inputs
from prospectguard.inputs import InputError
from prospectguard.model import Audience, Channel, ContactRequest, Sector

_KEYS = {
    "organisation",
    "channel",
    "automated",
    "audience",
    "sector",
    "caller",
    "message",
    "about_contract",
    "start",
    "end",
}


@dataclass(frozen=True, slots=True)
class Campaign:
    organisation: str
    channel: Channel
    automated: bool
    audience: Audience
    sector: Sector
    caller: str | None  # None: the calls present no number (masked)
    message: str | None
    about_contract: bool
    start: datetime
    end: datetime

    def request(self, to: str, postcode: str | None = None, territory: str | None = None) -> ContactRequest:
        """The single `check` this campaign asks for one row."""
        return ContactRequest(
            to=to,
            at=self.start,
            channel=self.channel,
            caller=self.caller,
            automated=self.automated,
            audience=self.audience,
            sector=self.sector,
            about_contract=self.about_contract,
            message=self.message,
            postcode=postcode,
            territory=territory,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "organisation": self.organisation,
            "channel": self.channel.value,
            "automated": self.automated,
            "audience": self.audience.value,
            "sector": self.sector.value,
            "caller": self.caller,
            "about_contract": self.about_contract,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "message": self.message,
        }


def _choice(doc: dict[str, Any], key: str, enum: Any, default: Any) -> Any:
    value = doc.get(key, default.value)
    try:
        return enum(value)
    except ValueError:
        accepted = ", ".join(e.value for e in enum)
        raise InputError(f"campaign {key}", f"{value!r} is not one of {accepted}") from None


def _flag(doc: dict[str, Any], key: str) -> bool:
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise InputError(f"campaign {key}", f"{value!r} is not true or false")
    return value


def _text(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(f"campaign {key}", f"{value!r} is not a text; put it in quotes")
    return value


def _instant(doc: dict[str, Any], key: str) -> datetime:
    value = doc.get(key)
    if value is None:
        raise InputError(f"campaign {key}", "missing; give an ISO 8601 instant, e.g. 2026-12-01T09:00:00+01:00")
    if isinstance(value, datetime):  # a TOML date-time; without an offset it is Paris time, as elsewhere
        value = value.isoformat()
    if not isinstance(value, str):
        raise InputError(f"campaign {key}", f"{value!r} is not a date-time, e.g. 2026-12-01T09:00:00+01:00")
    return inputs.instant(value, f"campaign {key}")


def parse_campaign(doc: dict[str, Any], organisation: str = "default") -> Campaign:
    """Check every field and say which one is wrong; unknown keys are errors (a typo must not pass).

    `organisation` applies when the file names none (the CLI passes its --org)."""
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise InputError("campaign", f"unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_KEYS))}")
    organisation = _text(doc, "organisation") or organisation
    channel = _choice(doc, "channel", Channel, Channel.VOICE)
    caller = _text(doc, "caller")
    if caller is not None and not caller.strip():
        raise InputError("campaign caller", "empty; give the number (or SMS sender name) presented, or leave it out")
    if caller is not None and channel is Channel.VOICE:
        inputs.phone_text(caller, "campaign caller")
    start, end = _instant(doc, "start"), _instant(doc, "end")
    if end < start:
        raise InputError("campaign end", f"{end.isoformat()} is before the start {start.isoformat()}")
    return Campaign(
        organisation=organisation,
        channel=channel,
        automated=_flag(doc, "automated"),
        audience=_choice(doc, "audience", Audience, Audience.CONSUMER),
        sector=_choice(doc, "sector", Sector, Sector.GENERAL),
        caller=caller,
        message=_text(doc, "message"),
        about_contract=_flag(doc, "about_contract"),
        start=start,
        end=end,
    )


def load_campaign(path: Path, organisation: str = "default") -> Campaign:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError("--campaign", f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError("--campaign", f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError("--campaign", f"{path} is not valid TOML: {exc}") from None
    return parse_campaign(doc, organisation)
