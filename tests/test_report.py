"""report.html: self-contained, escaped, well-formed, and saying what summary.json says."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from prospectguard.batch.report import BAR_SPAN, MAX_HOURS, render_report, scale

VOID = {"meta", "br", "img", "input", "link", "hr", "wbr", "source", "col"}

SUMMARY: dict[str, Any] = {
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
        "organisation": "ACME Énergie",
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
    # deliberately not in descending order: the report sorts
    "reasons": {"OPPOSITION": 60, "ROW_MALFORMED": 5, "NO_CONSENT": 120, "DUPLICATE_IN_FILE": 10, "CALLEE_INVALID": 20},
    "reason_rules": {
        "NO_CONSENT": {"rule": "A1", "reference": "Code de la consommation L223-1", "kind": "law"},
        "OPPOSITION": {"rule": "G3", "reference": "RGPD art. 21", "kind": "law"},
    },
    "territories": {
        "FR-metro": {"allowed": 650, "blocked": 250},
        "RE": {"allowed": 50, "blocked": 30},
        "unknown": {"allowed": 0, "blocked": 20},
    },
    "types": {
        "mobile": {"allowed": 600, "blocked": 200},
        "fixed": {"allowed": 100, "blocked": 80},
        "invalid": {"allowed": 0, "blocked": 20},
    },
    "opening": [
        {"hour": "2026-12-01T10:00:00+01:00", "rows": 500},
        {"hour": "2026-12-01T11:00:00+01:00", "rows": 120},
        {"hour": "2026-12-02T10:00:00+01:00", "rows": 80},
    ],
    "outputs": {"allowed": "allowed.csv", "blocked": "blocked.csv", "summary": "summary.json", "report": "report.html"},
}


def summary(**over: Any) -> dict[str, Any]:
    s = copy.deepcopy(SUMMARY)
    s.update(over)
    return s


def empty() -> dict[str, Any]:
    return summary(
        rows=0, allowed=0, allowed_at_start=0, scheduled=0, blocked=0, reasons={}, territories={}, types={}, opening=[]
    )


class Page(HTMLParser):
    """Checks that tags nest and close, and collects what the assertions read: bars, chart texts, table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.svg: str | None = None
        self.rects: dict[str, list[dict[str, str]]] = {}
        self.texts: dict[str, list[str]] = {}
        self.table: str | None = None
        self.rows: dict[str, list[list[str]]] = {}
        self.cell: list[str] | None = None
        self.data: list[str] = []
        self.tags: set[str] = set()
        self.lines: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "svg":
            self.svg = a.get("id", "")
            self.rects[self.svg], self.texts[self.svg] = [], []
        elif tag == "rect" and self.svg is not None:
            self.rects[self.svg].append(a)
        elif tag == "line" and self.svg is not None:
            self.lines[self.svg] = self.lines.get(self.svg, 0) + 1
        elif tag == "text" and self.svg is not None:
            self.texts[self.svg].append("")
        elif tag == "table":
            self.table = a.get("id", "")
            self.rows[self.table] = []
        elif tag == "tr" and self.table is not None:
            self.rows[self.table].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "svg":
            self.svg = None
        elif tag == "table":
            self.table = None
        elif tag in ("td", "th") and self.cell is not None:
            if self.table is not None:
                self.rows[self.table][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        self.data.append(data)
        if self.cell is not None:
            self.cell.append(data)
        if self.svg is not None and self.stack[-1:] == ["text"]:
            self.texts[self.svg][-1] += data

    @property
    def text(self) -> str:
        return re.sub(r"[ \t\r\n]+", " ", "".join(self.data))  # not split(): it eats U+202F


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert not page.problems, page.problems[:3]
    assert not page.stack, page.stack
    assert {"html", "head", "body", "style", "section", "footer"} <= page.tags
    return page


def widths(page: Page, svg: str) -> dict[str, int]:
    return {r["data-label"]: int(r["width"]) for r in page.rects[svg]}


@pytest.mark.parametrize("make", [summary, empty], ids=["full", "empty"])
def test_report_is_well_formed_and_self_contained(make: Any) -> None:
    html = render_report(make())
    parse(html)
    assert html.startswith("<!DOCTYPE html>")
    for needle in ("<script", "<link", "http://", "https://", "src=", "url(", "@import", "<img", "<iframe"):
        assert needle not in html.lower(), needle
    assert "@media print" in html and "size: A4" in html


def test_every_reason_code_and_count_is_shown_most_frequent_first() -> None:
    s = summary()
    page = parse(render_report(s))
    labels = page.texts["reason-chart"]
    ranked = ["NO_CONSENT", "OPPOSITION", "CALLEE_INVALID", "DUPLICATE_IN_FILE", "ROW_MALFORMED"]
    assert labels == [t for code in ranked for t in (code, str(s["reasons"][code]))]
    table = page.rows["reason-table"]
    assert table[0] == ["Reason code", "Meaning", "Kind", "Rule", "Reference", "Rows", "Share of blocked"]
    assert [row[0] for row in table[1:]] == ranked
    assert [row[5] for row in table[1:]] == ["120", "60", "20", "10", "5"]
    assert [row[6] for row in table[1:]] == ["40.0%", "20.0%", "6.7%", "3.3%", "1.7%"]


def test_the_largest_reason_has_the_widest_bar_and_bars_are_proportional() -> None:
    page = parse(render_report(summary()))
    w = widths(page, "reason-chart")
    assert set(w) == set(SUMMARY["reasons"])
    assert max(w, key=w.__getitem__) == "NO_CONSENT"
    assert w["NO_CONSENT"] == BAR_SPAN
    assert w["OPPOSITION"] == BAR_SPAN // 2
    assert w["NO_CONSENT"] > w["OPPOSITION"] > w["CALLEE_INVALID"] > w["DUPLICATE_IN_FILE"] > w["ROW_MALFORMED"] > 0


def test_rule_and_reference_are_shown_when_known_and_the_catalogue_fills_the_rule_id() -> None:
    page = parse(render_report(summary()))
    rows = {row[0]: row for row in page.rows["reason-table"][1:]}
    assert rows["NO_CONSENT"][2:5] == ["law", "A1", "Code de la consommation L223-1"]
    assert rows["OPPOSITION"][2:5] == ["law", "G3", "RGPD art. 21"]
    assert rows["DUPLICATE_IN_FILE"][2:5] == ["policy", "—", ""]  # no entry in reason_rules
    assert rows["ROW_MALFORMED"][1] == "the row could not be read"


def test_rows_in_equal_allowed_plus_blocked_is_stated_and_a_broken_count_is_flagged() -> None:
    page = parse(render_report(summary()))
    assert "rows in = allowed + blocked (1\u202f000 = 700 + 300)" in page.text
    assert "500 now, 200 scheduled" in page.text
    broken = parse(render_report(summary(blocked=299)))
    assert "Rows are not conserved" in broken.text and "1\u202f000 ≠ 700 + 299" in broken.text


def test_numbers_have_thousands_separators() -> None:
    s = summary(rows=1_234_567, allowed=1_000_000, allowed_at_start=999_000, scheduled=1_000, blocked=234_567)
    s["reasons"] = {"NO_CONSENT": 234_567}
    page = parse(render_report(s))
    assert "1\u202f234\u202f567 = 1\u202f000\u202f000 + 234\u202f567" in page.text
    assert page.texts["reason-chart"] == ["NO_CONSENT", "234\u202f567"]


def test_territories_stack_allowed_and_blocked_on_one_scale() -> None:
    page = parse(render_report(summary()))
    w = widths(page, "territory-chart")
    assert w["FR-metro allowed"] + w["FR-metro blocked"] == BAR_SPAN
    assert w["FR-metro allowed"] == round(BAR_SPAN * 650 / 900)
    assert w["RE allowed"] == round(BAR_SPAN * 50 / 900)
    assert w["unknown allowed"] == 0 and w["unknown blocked"] == round(BAR_SPAN * 20 / 900)
    assert page.texts["territory-chart"][:2] == ["FR-metro", "650 allowed · 250 blocked"]


def test_number_types_table_totals_to_rows_in() -> None:
    page = parse(render_report(summary()))
    table = page.rows["type-table"]
    assert [row[0] for row in table[1:]] == ["mobile", "fixed", "invalid", "total"]
    assert table[-1] == ["total", "700", "300", "1\u202f000", "30.0%"]
    assert table[2] == ["fixed", "100", "80", "180", "44.4%"]


def test_user_text_is_escaped() -> None:
    s = summary()
    s["campaign"]["organisation"] = 'Dupont <b>&"'
    s["input"]["path"] = '/data/<b>&"prospects.csv'
    s["campaign"]["message"] = "<script>alert(1)</script> STOP au 36111"
    html = render_report(s)
    assert "<b>" not in html and "<script>" not in html
    assert "Dupont &lt;b&gt;&amp;&#34;" in html
    assert "/data/&lt;b&gt;&amp;&#34;prospects.csv" in html
    page = parse(html)
    assert 'Dupont <b>&"' in page.text and '/data/<b>&"prospects.csv' in page.text  # shown as typed


def test_an_empty_run_renders_without_charts() -> None:
    page = parse(render_report(empty()))
    assert page.rects == {}
    assert "No row is blocked." in page.text
    assert "No row is allowed during the campaign." in page.text
    assert "rows in = allowed + blocked (0 = 0 + 0)" in page.text
    assert "–" not in page.text  # no share of nothing


def test_allowed_rows_without_opening_times_say_so() -> None:
    page = parse(render_report(summary(opening=[])))
    assert "No opening times were recorded." in page.text
    assert "opening-chart" not in page.rects


def test_opening_per_hour_in_paris_time() -> None:
    s = summary(opening=[{"hour": "2026-12-01T09:00:00+00:00", "rows": 3}, {"hour": "2026-12-01T10:00:00Z", "rows": 9}])
    page = parse(render_report(s))
    assert "per hour (Paris time)" in page.text
    assert page.texts["opening-chart"] == ["Tue 1 Dec 10:00", "3", "Tue 1 Dec 11:00", "9"]
    w = widths(page, "opening-chart")
    assert w["Tue 1 Dec 11:00"] == BAR_SPAN and w["Tue 1 Dec 10:00"] == round(BAR_SPAN / 3)
    assert "opening-chart" not in page.lines  # one day: nothing to separate


def test_hourly_opening_separates_days() -> None:
    page = parse(render_report(summary()))  # two hours on 1 Dec, one on 2 Dec
    assert page.texts["opening-chart"][::2] == ["Tue 1 Dec 10:00", "Tue 1 Dec 11:00", "Wed 2 Dec 10:00"]
    assert page.lines["opening-chart"] == 1


def test_a_long_campaign_opens_per_day() -> None:
    hours = [
        {"hour": f"2026-12-{d:02d}T{h:02d}:00:00+01:00", "rows": d} for d in range(1, 32) for h in (10, 11, 14, 15)
    ]
    assert len(hours) > MAX_HOURS
    page = parse(render_report(summary(opening=hours)))
    assert f"per day (grouped from {len(hours)} hours; Paris time)" in page.text
    texts = page.texts["opening-chart"]
    assert texts[:4] == ["Tue 1 Dec", "4", "Wed 2 Dec", "8"]
    assert texts[-2:] == ["Thu 31 Dec", "124"]
    assert len(page.rects["opening-chart"]) == 31


def test_exactly_max_hours_stay_hourly() -> None:
    hours = [{"hour": f"2026-12-{1 + i // 12:02d}T{8 + i % 12:02d}:00:00+01:00", "rows": 1} for i in range(MAX_HOURS)]
    page = parse(render_report(summary(opening=hours)))
    assert "per hour (Paris time)" in page.text
    assert len(page.rects["opening-chart"]) == MAX_HOURS


def test_scale_keeps_small_counts_visible_and_empty_charts_flat() -> None:
    assert scale(1, 1_000_000) == 1
    assert scale(0, 10) == 0
    assert scale(5, 0) == 0
    assert scale(10, 10) == BAR_SPAN
