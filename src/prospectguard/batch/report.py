"""report.html: the scrub's summary as one self-contained page a compliance officer opens and prints.

No script, no external file: the charts are SVG bars whose sizes are computed here, so the page
renders the same offline, in any browser, and on paper.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("prospectguard.batch", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["n"] = lambda value: f"{int(value):,}".replace(",", "\u202f")  # 1 234 567, French style

BAR_WIDTH = 420  # px of the longest bar
MAX_HOURS = 72  # beyond this many hours, the opening chart groups by day


def bars(items: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Label, count and bar width for a horizontal bar chart, the largest count full width."""
    top = max((count for _, count in items), default=0)
    return [
        {"label": label, "count": count, "width": round(BAR_WIDTH * count / top) if top else 0}
        for label, count in items
    ]


def stacked(groups: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Allowed and blocked bars per group, on one scale (the largest total is full width)."""
    top = max((g["allowed"] + g["blocked"] for g in groups.values()), default=0)
    out = []
    for label, g in sorted(groups.items(), key=lambda kv: -(kv[1]["allowed"] + kv[1]["blocked"])):
        out.append(
            {
                "label": label,
                "allowed": g["allowed"],
                "blocked": g["blocked"],
                "allowed_width": round(BAR_WIDTH * g["allowed"] / top) if top else 0,
                "blocked_width": round(BAR_WIDTH * g["blocked"] / top) if top else 0,
            }
        )
    return out


def opening(hours: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """When the allowed rows open, by hour; by day when the campaign spans more than MAX_HOURS hours."""
    if len(hours) <= MAX_HOURS:
        return "hour", bars([(h["hour"][:16].replace("T", " "), h["rows"]) for h in hours])
    days: dict[str, int] = {}
    for h in hours:
        day = h["hour"][:10]
        days[day] = days.get(day, 0) + h["rows"]
    return "day", bars(sorted(days.items()))


def render_report(summary: dict[str, Any]) -> str:
    reasons = list(summary["reasons"].items())
    blocked = summary["blocked"] or 0
    unit, opened = opening(summary["opening"])
    return _ENV.get_template("report.html.j2").render(
        s=summary,
        campaign=summary["campaign"],
        reasons=bars(reasons),
        shares={code: (100 * count / blocked if blocked else 0.0) for code, count in reasons},
        rules=summary.get("reason_rules", {}),
        territories=stacked(summary["territories"]),
        types=sorted(summary["types"].items(), key=lambda kv: -(kv[1]["allowed"] + kv[1]["blocked"])),
        opening_unit=unit,
        opened=opened,
        generated=datetime.fromisoformat(summary["generated_at"]).strftime("%Y-%m-%d %H:%M UTC"),
        bar_width=BAR_WIDTH,
    )
