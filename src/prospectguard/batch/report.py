"""report.html: the scrub's summary as one self-contained page a compliance officer opens and prints.

No script, no external file: the charts are SVG rectangles whose sizes are computed here, so the page
renders the same offline, in any browser, and on paper. Everything a user typed (organisation, file
path, SMS text) reaches the page through Jinja's autoescape.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from prospectguard.batch.judge import LABELS
from prospectguard.rules.catalogue import CODES

PARIS = ZoneInfo("Europe/Paris")
MAX_HOURS = 72  # beyond this many hours, the opening chart groups by day: 700 bars would not print
BAR_SPAN = 400  # px of the longest bar
CHAR_PX = 7.3  # width of one character of the charts' 12 px monospace font: label columns fit their text
ROW_PX = 22  # px per bar in the reason and territory charts
OPENING_ROW_PX = 12  # tighter: 72 hourly bars and their heading fit on one A4 page
GAP_PX = 8
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # English whatever the machine's locale
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The two codes judge.LABELS leaves to the row's own message; words of the reference's section 5.
MEANINGS = {
    "ROW_MALFORMED": "the row could not be read",
    "STORE_UNAVAILABLE": "the evidence store could not be read (fail closed)",
}


@dataclass(frozen=True)
class Bar:
    """One row of a horizontal bar chart; `widths` holds one segment per stacked value."""

    label: str
    values: tuple[int, ...]
    widths: tuple[int, ...]
    y: int
    text: str  # printed after the bar


@dataclass(frozen=True)
class Chart:
    """Geometry of a horizontal bar chart, so the template only writes coordinates down."""

    bars: list[Bar]
    bar_x: int  # where bars start, after the label column
    row: int
    width: int
    height: int
    day_lines: tuple[int, ...] = ()  # y of the thin lines between days in the hourly opening chart


def number(value: int) -> str:
    """1 234 567 with narrow no-break spaces: unambiguous for English and French readers alike."""
    return f"{value:,}".replace(",", "\u202f")


def share(part: int, whole: int) -> str:
    """A percentage with one decimal; an empty whole gives a dash rather than a division by zero."""
    return f"{100 * part / whole:.1f}%" if whole else "–"


def scale(value: int, top: int, span: int = BAR_SPAN) -> int:
    """Bar length for `value` when `top` gets `span` px; a non-zero count always stays visible."""
    if top <= 0 or value <= 0:
        return 0
    return max(1, round(span * value / top))


def chart(rows: list[tuple[str, tuple[int, ...], str]], row_px: int = ROW_PX) -> Chart:
    """Lay out (label, stacked values, text after the bar) rows on one scale: the largest total spans BAR_SPAN."""
    top = max((sum(values) for _, values, _ in rows), default=0)
    bar_x = round(CHAR_PX * max((len(label) for label, _, _ in rows), default=0)) + GAP_PX
    bars = []
    for i, (label, values, text) in enumerate(rows):
        bars.append(Bar(label, values, tuple(scale(v, top) for v in values), i * row_px, text))
    text_px = round(CHAR_PX * max((len(b.text) for b in bars), default=0))
    return Chart(bars, bar_x, row_px, bar_x + BAR_SPAN + GAP_PX + text_px + GAP_PX, len(bars) * row_px + 4)


def reason_chart(reasons: dict[str, int]) -> Chart:
    """Blocked rows per reason code, most frequent first (ties by code, so the page is reproducible)."""
    ranked = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    return chart([(code, (count,), number(count)) for code, count in ranked])


def territory_chart(territories: dict[str, dict[str, int]]) -> Chart:
    """Allowed then blocked, stacked, per territory; the largest territory first."""
    ranked = sorted(territories.items(), key=lambda kv: (-(kv[1]["allowed"] + kv[1]["blocked"]), kv[0]))
    return chart(
        [
            (name, (t["allowed"], t["blocked"]), f"{number(t['allowed'])} allowed · {number(t['blocked'])} blocked")
            for name, t in ranked
        ]
    )


def day_label(moment: date) -> str:
    """'Tue 1 Dec': the weekday shows at a glance which bars fall on a weekend."""
    return f"{DAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]}"


def moment_label(iso: str) -> str:
    """'Tue 1 Dec 2026, 09:00 (UTC+01:00)': the campaign's instants as the campaign file gave them."""
    moment = datetime.fromisoformat(iso)
    offset = moment.strftime("%z")
    zone = f" (UTC{offset[:3]}:{offset[3:]})" if offset else ""
    return f"{day_label(moment)} {moment.year}, {moment:%H:%M}{zone}"


def opening_chart(opening: list[dict[str, Any]]) -> tuple[str, Chart]:
    """Allowed rows by the Paris hour they open, or by Paris day when there are more than MAX_HOURS hours.

    The hours are read back into Paris time whatever offset they carry, so the chart's title stays true.
    """
    hours = [(datetime.fromisoformat(h["hour"]).astimezone(PARIS), int(h["rows"])) for h in opening]
    if len(hours) <= MAX_HOURS:
        laid = chart([(f"{day_label(h)} {h:%H:%M}", (n,), number(n)) for h, n in hours], OPENING_ROW_PX)
        new_day = [i for i in range(1, len(hours)) if hours[i][0].date() != hours[i - 1][0].date()]
        return "hour", replace(laid, day_lines=tuple(i * OPENING_ROW_PX + 1 for i in new_day))
    days: dict[date, int] = {}
    for h, n in hours:
        days[h.date()] = days.get(h.date(), 0) + n  # hours are sorted, so days come in order
    return "day", chart([(day_label(d), (n,), number(n)) for d, n in days.items()], OPENING_ROW_PX)


def reason_rows(reasons: dict[str, int], rules: dict[str, dict[str, str]], blocked: int) -> list[dict[str, str]]:
    """The table under the reason chart: meaning, law or policy, rule and reference when known, count, share."""
    out = []
    for code, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        rule = rules.get(code, {})
        kind, rule_ids = CODES.get(code, (None, ""))
        out.append(
            {
                "code": code,
                "meaning": LABELS.get(code) or MEANINGS.get(code, ""),
                "kind": rule.get("kind") or (kind.value if kind is not None else ""),
                "rule": rule.get("rule") or rule_ids,
                "reference": rule.get("reference", ""),
                "count": number(count),
                "share": share(count, blocked),
            }
        )
    return out


def type_rows(types: dict[str, dict[str, int]]) -> list[dict[str, str]]:
    """Allowed and blocked per number type, the largest first, then a total row that must equal rows in."""
    ranked = sorted(types.items(), key=lambda kv: (-(kv[1]["allowed"] + kv[1]["blocked"]), kv[0]))
    totals = [(name, t["allowed"], t["blocked"]) for name, t in ranked]
    if totals:
        totals.append(("total", sum(a for _, a, _ in totals), sum(b for _, _, b in totals)))
    return [
        {
            "type": name,
            "allowed": number(a),
            "blocked": number(b),
            "total": number(a + b),
            "blocked_share": share(b, a + b),
        }
        for name, a, b in totals
    ]


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("prospectguard.batch", "templates"),
    autoescape=True,  # organisation names, paths and SMS texts are user input
    undefined=jinja2.StrictUndefined,  # a key missing from the summary fails the run rather than print blank
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["n"] = number


def render_report(summary: dict[str, Any]) -> str:
    """The HTML of report.html for a scrub's summary.json; pure, so the page can be rebuilt from the JSON."""
    reasons: dict[str, int] = summary["reasons"]
    unit, opened = opening_chart(summary["opening"])
    generated = datetime.fromisoformat(summary["generated_at"])
    if generated.tzinfo is not None:
        generated = generated.astimezone(UTC)
    return _ENV.get_template("report.html.j2").render(
        s=summary,
        campaign=summary["campaign"],
        start=moment_label(summary["campaign"]["start"]),
        end=moment_label(summary["campaign"]["end"]),
        law_day=f"{day_label(datetime.fromisoformat(summary['law_date']))} {summary['law_date'][:4]}",
        conserved=summary["rows"] == summary["allowed"] + summary["blocked"],
        multi_coded=sum(reasons.values()) > summary["blocked"],
        reason_chart=reason_chart(reasons),
        reason_rows=reason_rows(reasons, summary.get("reason_rules") or {}, summary["blocked"]),
        territory_chart=territory_chart(summary["territories"]),
        type_rows=type_rows(summary["types"]),
        opening_unit=unit,
        opening_hours=len(summary["opening"]),
        opening_chart=opened,
        allowed_share=share(summary["allowed"], summary["rows"]),
        blocked_share=share(summary["blocked"], summary["rows"]),
        generated=f"{generated:%Y-%m-%d %H:%M} UTC" if generated.tzinfo is not None else f"{generated:%Y-%m-%d %H:%M}",
    )
