"""The law data files: well formed, dated, referenced, and every rule id the code cites exists."""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from prospectguard.law import LAW
from prospectguard.rules.catalogue import CODES
from prospectguard.store.facts import ATTEMPT_WINDOW

RULES_DIR = Path(__file__).parents[1] / "src" / "prospectguard" / "rules"


def test_every_rule_has_a_reference_and_dated_values() -> None:
    assert len(LAW.rules) >= 25
    for rule in LAW.rules.values():
        assert rule.reference.strip() and rule.title.strip(), rule.id
        assert rule.parameters, rule.id
        for param in rule.parameters.values():
            assert param.dates and list(param.dates) == sorted(set(param.dates)), (rule.id, param.name)
            assert all(isinstance(d, date) for d in param.dates)
            assert all(ref.strip() for ref in param.references), (rule.id, param.name)


def test_rule_ids_cited_by_the_code_exist_in_the_data() -> None:
    cited: set[str] = set()
    for path in RULES_DIR.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        cited |= set(re.findall(r'ctx\.block\(\s*"[A-Z_]+",\s*"?([A-Z][0-9]*)"?', text))
        cited |= set(re.findall(r'law\.value\("([A-Z][0-9]*)"', text))
    assert cited, "the pattern no longer matches the code"
    for rule in cited:
        LAW.reference(rule)  # raises KeyError when no data file holds the rule


def test_reform_of_2026_08_11() -> None:
    before, after = LAW.at(date(2026, 8, 10)), LAW.at(date(2026, 8, 11))
    assert before.applies("A11") and not after.applies("A11")
    assert not before.value("A1", "applies") and after.applies("A1")
    assert before.value("A10", "max_days") is None and after.value("A10", "max_days") == 365


@pytest.mark.parametrize(
    ("rule", "param", "day", "value"),
    [
        ("B1", "windows", date(2023, 3, 1), [["10:00", "13:00"], ["14:00", "20:00"]]),
        ("B1", "windows", date(2023, 2, 28), None),
        ("B3", "max_attempts", date(2026, 11, 28), 4),
        ("B3", "window_days", date(2026, 11, 28), 30),
        ("B4", "cooldown_days", date(2026, 11, 28), 60),
        ("A5", "sectors", date(2025, 7, 1), ["energy_renovation"]),
        ("A5", "sectors", date(2025, 7, 2), ["energy_renovation", "housing_adaptation"]),
        ("D2", "sectors", date(2022, 12, 20), None),
        ("D2", "sectors", date(2022, 12, 21), ["cpf_training"]),
    ],
)
def test_values_in_force(rule: str, param: str, day: date, value: object) -> None:
    assert LAW.at(day).value(rule, param) == value


def test_store_fetches_attempts_far_enough_back_for_every_law() -> None:
    """The store reads attempts from a fixed look-back: it must cover every value B3 and B4 ever take."""
    longest = max(
        v
        for rule, param in (("B3", "window_days"), ("B4", "cooldown_days"))
        for v in LAW.rules[rule].parameters[param].values
        if v is not None
    )
    assert timedelta(days=longest) < ATTEMPT_WINDOW


def test_reason_catalogue_matches_the_reference() -> None:
    reference = Path(__file__).parents[2] / "shared" / "reference" / "legal-fr.md"  # beside the checkout
    if not reference.exists() and os.environ.get("CI") != "true":
        pytest.skip(f"the rules reference is not beside this checkout ({reference})")
    text = reference.read_text(encoding="utf-8")
    section = text.split("## 5. Reason codes")[1].split("## 6.")[0]
    codes = dict(re.findall(r"^\| ([A-Z_]+) \| (law|policy)", section, flags=re.MULTILINE))
    assert set(codes) == set(CODES)
    for code, kind in codes.items():
        assert CODES[code][0].value == kind, code
