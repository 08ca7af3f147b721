"""report.html: self-contained, escaped, and saying what summary.json says."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from prospectguard.batch.report import MAX_HOURS, render_report


def summary(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "generated_at": "2026-11-28T18:40:00+00:00",
        "input": {
            "path": "prospects.csv",
            "format": "csv",
            "encoding": "cp1252",
            "delimiter": ";",
            "phone_column": "Téléphone",
            "rows": 1000,
        },
        "campaign": {
            "organisation": "ACME",
            "channel": "voice",
            "automated": False,
            "audience": "consumer",
            "sector": "general",
            "caller": "+33162000001",
            "about_contract": False,
            "start": "2026-12-01T09:00:00+01:00",
            "end": "2026-12-31T20:00:00+01:00",
            "message": None,
        },
        "law_date": "2026-12-01",
        "rows": 1000,
        "allowed": 700,
        "allowed_at_start": 500,
        "scheduled": 200,
        "blocked": 300,
        "reasons": {"NO_CONSENT": 120, "OPPOSITION": 60, "CALLEE_INVALID": 20, "ROW_MALFORMED": 5},
        "reason_rules": {"NO_CONSENT": {"rule": "A1", "reference": "C. conso L223-1", "kind": "law"}},
        "territories": {"FR-metro": {"allowed": 650, "blocked": 250}, "RE": {"allowed": 50, "blocked": 50}},
        "types": {"mobile": {"allowed": 600, "blocked": 200}, "invalid": {"allowed": 0, "blocked": 20}},
        "opening": [
            {"hour": "2026-12-01T10:00:00+01:00", "rows": 400},
            {"hour": "2026-12-01T11:00:00+01:00", "rows": 100},
        ],
        "outputs": {
            "allowed": "allowed.csv",
            "blocked": "blocked.csv",
            "summary": "summary.json",
            "report": "report.html",
        },
    }
    base.update(over)
    return base


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []
        self.rects: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "rect":
            self.rects.append(dict(attrs))
        if tag not in ("meta", "br", "img", "input", "link"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()


def parsed(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    assert not tags.problems, tags.problems[:3]
    assert not tags.open, tags.open
    return tags


def test_report_is_self_contained_and_well_formed() -> None:
    html = render_report(summary())
    parsed(html)
    for needle in ("<script", "<link", "http://", "https://", "src="):
        assert needle not in html


def test_report_shows_every_reason_with_its_count_and_the_largest_bar_widest() -> None:
    s = summary()
    html = render_report(s)
    for code, count in s["reasons"].items():
        assert code in html and f">{count}<" in html
    widths = {}
    for m in re.finditer(r'<text x="0" y="(\d+)">([A-Z_]+)</text>\s*<rect x="230" y="\d+" width="(\d+)"', html):
        widths[m.group(2)] = int(m.group(3))
    assert set(widths) == set(s["reasons"])
    assert max(widths, key=lambda c: widths[c]) == "NO_CONSENT"
    assert widths["OPPOSITION"] * 2 == widths["NO_CONSENT"]
    assert "1\u202f000 rows in = 700 in" in html  # conservation, in words
    assert "A1" in html and "C. conso L223-1" in html


def test_report_escapes_what_users_typed() -> None:
    s = summary()
    s["campaign"]["organisation"] = 'Dupont <b>&"'
    s["input"]["path"] = "<script>alert(1)</script>.csv"
    html = render_report(s)
    assert "<b>&" not in html and "<script>alert" not in html
    assert "Dupont &lt;b&gt;&amp;&#34;" in html


def test_report_renders_an_empty_run() -> None:
    s = summary(
        rows=0, allowed=0, allowed_at_start=0, scheduled=0, blocked=0, reasons={}, territories={}, types={}, opening=[]
    )
    html = render_report(s)
    parsed(html)
    assert "No row is blocked." in html and "No row is allowed during the campaign." in html


def test_a_long_campaign_opens_by_day() -> None:
    hours = [
        {"hour": f"2026-12-{d:02d}T{h:02d}:00:00+01:00", "rows": 1} for d in range(1, 31) for h in (10, 11, 14, 15)
    ]
    assert len(hours) > MAX_HOURS
    html = render_report(summary(opening=hours))
    assert "(by day, Paris time)" in html
    assert html.count('fill="#1b7a3a"') == 30 + 2  # a bar per day, plus the two territories' allowed bars
