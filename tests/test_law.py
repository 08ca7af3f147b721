"""The dated law data (law/fr/*.yaml): well formed, referenced, cited by the code, and saying what the
reference (legal-fr.md) says, including the reform of 11 August 2026."""

from __future__ import annotations

import datetime as dt
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from prospectguard.law import LAW, SAFE_LOADER, load_law
from prospectguard.numbering import plan_rows, rule_of
from prospectguard.rules.catalogue import CODES
from prospectguard.store.facts import ATTEMPT_WINDOW

LAW_DIR = resources.files("prospectguard.law").joinpath("fr")
RULES_SRC = Path(__file__).parents[1] / "src" / "prospectguard" / "rules"
YAML_FILES = sorted((e for e in LAW_DIR.iterdir() if e.name.endswith(".yaml")), key=lambda e: e.name)


def raw(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(LAW_DIR.joinpath(name).read_text(encoding="utf-8"))
    return doc


def test_there_are_law_files() -> None:
    assert len(YAML_FILES) >= 25


@pytest.mark.parametrize("name", [e.name for e in YAML_FILES])
def test_the_loader_reads_each_file_as_pure_python_pyyaml_does(name: str) -> None:
    """The law is read with libyaml's safe loader when PyYAML has it: the same documents."""
    text = LAW_DIR.joinpath(name).read_text(encoding="utf-8")
    assert yaml.load(text, Loader=SAFE_LOADER) == yaml.load(text, Loader=yaml.SafeLoader)


@pytest.mark.parametrize("name", [e.name for e in YAML_FILES])
def test_each_yaml_file_loads_and_is_well_formed(name: str) -> None:
    doc = raw(name)
    assert isinstance(doc, dict), name
    assert str(doc["rule"]) == name.removesuffix(".yaml"), "the file is named after its rule id"
    assert str(doc["title"]).strip()
    assert str(doc["reference"]).strip(), "every rule has a legal reference"
    assert doc.get("kind", "law") in ("law", "policy")
    params = doc["parameters"]
    assert isinstance(params, dict) and params, "every rule has at least one parameter"
    for pname, spec in params.items():
        assert str(spec.get("description", "")).strip(), (name, pname)
        values = spec["values"]
        days = list(values)
        assert days, (name, pname)
        assert all(type(d) is dt.date for d in days), f"{name} {pname}: effective dates must be dates: {days}"
        assert days == sorted(days) and len(set(days)) == len(days), f"{name} {pname}: dates out of order"
        for day, entry in values.items():
            assert isinstance(entry, dict) and "value" in entry, (name, pname, day)
            assert str(entry.get("reference", "")).strip(), f"{name} {pname} {day}: no reference"


def test_the_loaded_law_matches_the_files() -> None:
    law = load_law()
    assert set(law.rules) == {e.name.removesuffix(".yaml") for e in YAML_FILES}
    for rule in law.rules.values():
        assert rule.reference.strip()
        assert law.reference(rule.id) == rule.reference
        for p in rule.parameters.values():
            assert list(p.dates) == sorted(set(p.dates))
            assert len(p.dates) == len(p.values) == len(p.references)
            assert all(r.strip() for r in p.references)


# The reference's source column, reduced to the article each rule must cite.
CITATIONS = {
    "A1": "L223-1",
    "A4": "L223-1 al. 4",
    "A5": "L223-1 al. 5",
    "A6": "L223-8",
    "A7": "L223-1 al. 6",
    "A10": "R223-1",
    "A11": "L223-1",
    "A12": "L223-5",
    "B1": "D223-9 al. 1",
    "B3": "D223-9 al. 3",
    "B4": "D223-9 al. 3",
    "C3": "L221-17",
    "C5": "Arrêté du 5 juillet 2016",
    "D2": "L6323-8-1",
    "E1": "2022-1583",
    "E2": "2022-1583",
    "E3": "2022-1583",
    "F1": "L34-5",
    "F2": "L34-5 al. 2",
    "F4": "L34-5",
    "G3": "RGPD art. 21",
    "H1": "L3133-1",
    "H2": "L3422-2",
    "H3": "L3134-13",
}


@pytest.mark.parametrize(("rule", "article"), sorted(CITATIONS.items()))
def test_rule_cites_the_reference_source(rule: str, article: str) -> None:
    assert article in LAW.rules[rule].reference, (rule, LAW.rules[rule].reference)


def test_policy_kind_for_f6() -> None:
    assert LAW.rules["F6"].kind == "policy"


# ---------------------------------------------------------------------------------------------- code
def _sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(RULES_SRC.glob("*.py"))}


def test_every_rule_id_the_code_blocks_under_exists() -> None:
    literal: set[str] = set()
    variables: set[str] = set()
    for text in _sources().values():
        for m in re.finditer(r'ctx\.block\(\s*"([A-Z_]+)",\s*("([A-Za-z0-9]+)"|[a-z_]+)', text):
            if m.group(3):
                literal.add(m.group(3))
            else:
                variables.add(m.group(2))
        literal |= set(re.findall(r'_require_consent\(ctx,\s*"([A-Z][0-9]*)"\)', text))
    assert {"B1", "C3", "A11", "F4", "G3"} <= literal, f"the pattern no longer matches the code: {literal}"
    missing = sorted(r for r in literal if r not in LAW.rules)
    assert not missing, f"rule ids cited by the code without a law data file: {missing}"
    # The rule ids passed through a variable: `_require_consent`'s A1/F1 and the plan rows (N5, N6...).
    assert variables <= {"rule"}, variables
    for row in plan_rows():
        LAW.reference(row.rule)  # N-rows resolve to the plan's file `N`


def test_every_law_value_the_code_reads_exists() -> None:
    read: set[tuple[str, str]] = set()
    for text in _sources().values():
        read |= set(re.findall(r'\.value\(\s*"([A-Z][0-9]*)",\s*"([a-z_0-9]+)"\s*\)', text))
        read |= {(r, "applies") for r in re.findall(r'\.applies\(\s*"([A-Z][0-9]*)"\s*\)', text)}
    assert len(read) >= 20, read
    for rule, param in sorted(read):
        assert rule in LAW.rules, rule
        assert param in LAW.rules[rule].parameters, (rule, param)


def test_plan_rows_name_numbering_rules() -> None:
    from prospectguard.numbering import parse

    for to in ("0800123456", "07001234567890", "112", "3010", "118218"):
        assert rule_of(parse(to)) in {"N5", "N6", "N15", "N16"}, to


# ---------------------------------------------------------------------------------------------- values
D = dt.date
NPV_RANGES = ("0162", "0163", "0270", "0271", "0377", "0378", "0424", "0425", "0568", "0569", "0948", "0949",
              "09475", "09476", "09477", "09478", "09479")  # fmt: skip
IN_FORCE: list[tuple[str, str, dt.date, Any]] = [
    # A1 / A7 / A10: from 11 Aug 2026 only.
    ("A1", "applies", D(2026, 8, 10), None),
    ("A1", "applies", D(2026, 8, 11), True),
    ("A7", "applies", D(2026, 8, 10), None),
    ("A7", "applies", D(2026, 8, 11), True),
    ("A10", "max_days", D(2026, 8, 10), None),
    ("A10", "max_days", D(2026, 8, 11), 365),
    ("A10", "proof_retention_years", D(2026, 8, 11), 3),
    # A11: Bloctel until 10 Aug 2026, snapshots at most 30 days old.
    ("A11", "applies", D(2020, 1, 1), True),
    ("A11", "applies", D(2026, 8, 10), True),
    ("A11", "max_snapshot_age_days", D(2026, 8, 10), 30),
    ("A12", "sectors", D(2026, 12, 1), ["press"]),
    ("A4", "applies", D(2026, 12, 1), True),
    # A5 / A6 sectors.
    ("A5", "sectors", D(2020, 7, 25), None),
    ("A5", "sectors", D(2020, 7, 26), ["energy_renovation"]),
    ("A5", "sectors", D(2025, 7, 1), ["energy_renovation"]),
    ("A5", "sectors", D(2025, 7, 2), ["energy_renovation", "housing_adaptation"]),
    ("A6", "sectors", D(2025, 7, 1), None),
    ("A6", "sectors", D(2025, 7, 2), ["energy_renovation", "housing_adaptation"]),
    # B1 / B3 / B4 from 1 Mar 2023; B4 kept after 2026-08-11 by product decision.
    ("B1", "windows", D(2023, 2, 28), None),
    ("B1", "windows", D(2023, 3, 1), [["10:00", "13:00"], ["14:00", "20:00"]]),
    ("B1", "weekdays", D(2023, 3, 1), [1, 2, 3, 4, 5]),
    ("B3", "max_attempts", D(2023, 3, 1), 4),
    ("B3", "window_days", D(2023, 3, 1), 30),
    ("B4", "cooldown_days", D(2023, 3, 1), 60),
    ("B4", "cooldown_days", D(2026, 11, 28), 60),
    # C3 / C5 / D2 / E1-E3.
    ("C3", "applies", D(2026, 12, 1), True),
    ("C5", "forbidden_prefixes", D(2016, 7, 31), None),
    ("C5", "forbidden_prefixes", D(2016, 8, 1), ["089", "118"]),
    ("C5", "short_allowed_prefixes", D(2016, 8, 1), ["30", "31"]),
    ("D2", "sectors", D(2022, 12, 20), None),
    ("D2", "sectors", D(2022, 12, 21), ["cpf_training"]),
    ("E1", "applies", D(2022, 12, 31), None),
    ("E1", "applies", D(2023, 1, 1), True),
    ("E2", "forbidden_prefixes", D(2023, 1, 1), ["089"]),
    ("E2", "short_allowed_prefixes", D(2023, 1, 1), ["30", "31"]),
    ("E3", "ranges", D(2023, 1, 1), list(NPV_RANGES)),
    # F rules, G3, H4.
    ("F1", "applies", D(2026, 12, 1), True),
    ("F2", "applies", D(2026, 12, 1), True),
    ("F4", "stop_keywords", D(2026, 12, 1), ["STOP"]),
    ("F6", "windows", D(2026, 12, 1), [["08:00", "20:00"]]),
    ("F6", "weekdays", D(2026, 12, 1), [1, 2, 3, 4, 5, 6]),
    ("G3", "applies", D(2018, 5, 24), None),
    ("G3", "applies", D(2018, 5, 25), True),
    ("H4", "use_holidays_package", D(2026, 12, 1), True),
]


@pytest.mark.parametrize(("rule", "param", "day", "value"), IN_FORCE, ids=[f"{r}.{p}@{d}" for r, p, d, _ in IN_FORCE])
def test_value_in_force_matches_the_reference(rule: str, param: str, day: dt.date, value: Any) -> None:
    assert LAW.at(day).value(rule, param) == value


def test_e3_excludes_0937_0939_and_the_unverified_candidates() -> None:
    ranges = LAW.at(D(2026, 12, 1)).value("E3", "ranges")
    for prefix in ("0937", "0938", "0939", "02688", "02689", "05987", "05988", "05989"):
        assert not any(prefix.startswith(r) or r.startswith(prefix) for r in ranges), prefix


def test_the_reform_of_11_august_2026() -> None:
    before, after = LAW.at(D(2026, 8, 10)), LAW.at(D(2026, 8, 11))
    assert before.applies("A11") and not after.applies("A11"), "Bloctel applies on 10 Aug, not on 11 Aug"
    assert not before.applies("A1") and after.applies("A1"), "prior consent applies from 11 Aug, not before"
    assert not before.applies("A7") and after.applies("A7")
    assert before.value("A11", "max_snapshot_age_days") == 30 and after.value("A11", "max_snapshot_age_days") is None
    assert before.value("A10", "max_days") is None and after.value("A10", "max_days") == 365
    # Everything else carries over unchanged.
    for rule in ("B1", "B3", "B4", "C3", "C5", "E1", "E2", "E3", "F1", "F2", "F4", "F6", "G3", "H1", "H2", "H3"):
        for param in LAW.rules[rule].parameters:
            assert before.value(rule, param) == after.value(rule, param), (rule, param)


def test_law_at_is_stable_between_changes() -> None:
    a, b = LAW.at(D(2027, 1, 1)), LAW.at(D(2030, 6, 30))
    for rule in LAW.rules.values():
        for param in rule.parameters:
            assert a.value(rule.id, param) == b.value(rule.id, param), (rule.id, param)


def test_store_fetches_attempts_far_enough_back_for_every_law() -> None:
    """The store reads attempts from a fixed look-back: it must cover every value B3 and B4 ever take."""
    longest = max(
        v
        for rule, param in (("B3", "window_days"), ("B4", "cooldown_days"))
        for v in LAW.rules[rule].parameters[param].values
        if v is not None
    )
    assert dt.timedelta(days=longest) < ATTEMPT_WINDOW


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


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2035, 12, 31)))
def test_next_change_is_the_first_day_the_law_differs(day: dt.date) -> None:
    """`next_change` (the batch trusts the law unchanged before it) against the law read day by day."""
    change = LAW.next_change(day)
    here = LAW.at(day)
    # A day's values are one period's (LawAt is shared within it): the eve of the change reads them.
    assert LAW.at((change or dt.date(2100, 1, 1)) - dt.timedelta(days=1)) is here
    if change is not None:
        assert change > day
        assert LAW.at(change) is not here
