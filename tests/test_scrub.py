"""`prospectguard scrub`: prospect files as people produce them, in and out, row for row.

Inputs from Excel (Windows-1252, `;`, CRLF, quoted fields with delimiters and newlines), UTF-8 with
and without BOM, other delimiters, XLSX and Parquet; malformed rows; header detection; atomic
outputs; a store that cannot be read; and the real command run as a subprocess. Every run is also
checked against its own outputs: summary.json must count what allowed/blocked actually hold.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prospectguard.batch import scrub as scrub_module
from prospectguard.batch.campaign import Campaign, load_campaign, parse_campaign
from prospectguard.batch.scrub import scrub
from prospectguard.batch.source import open_source
from prospectguard.inputs import InputError
from prospectguard.store import Store, StoreUnavailable

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "campaign.toml"
OUTPUTS = ("allowed.csv", "blocked.csv", "summary.json", "report.html")
NPV = "+33 1 62 00 00 01"
# Business calls: no consent, days or hours rules, so a valid number is allowed at the start.
B2B = {"audience": "business", "caller": NPV, "start": "2026-12-01T11:00:00+01:00", "end": "2026-12-31T20:00:00+01:00"}


def campaign(**changes: Any) -> Campaign:
    return parse_campaign({**B2B, **changes})


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as opened:
        yield opened


# ------------------------------------------------------------------------------------------ helpers


def read_csv(path: Path, encoding: str, delimiter: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows; `encoding` latin-1 reads any byte as itself (byte-for-byte comparisons)."""
    with path.open(encoding=encoding, newline="") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    return rows[0], rows[1:]


def table_of(out: Path, name: str, fmt: str = "csv") -> list[dict[str, str]]:
    """An output as dicts of text, whatever its format (CSV: detected from summary.json)."""
    path = out / f"{name}.{fmt}"
    if fmt == "parquet":
        return [{k: "" if v is None else str(v) for k, v in row.items()} for row in pq.read_table(path).to_pylist()]
    if fmt == "xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True)
        values = [["" if v is None else str(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
        return [dict(zip(values[0], row, strict=True)) for row in values[1:]]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    encoding = summary["input"]["encoding"] or "utf-8-sig"
    encoding = "utf-8-sig" if encoding.startswith("utf-8") else encoding
    delimiter = summary["input"]["delimiter"] or ";"
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def check_summary(out: Path, fmt: str = "csv") -> dict[str, Any]:
    """summary.json counts what the outputs hold, code by code; report.html is there."""
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    allowed, blocked = table_of(out, "allowed", fmt), table_of(out, "blocked", fmt)
    assert summary["allowed"] == len(allowed)
    assert summary["blocked"] == len(blocked)
    assert summary["rows"] == len(allowed) + len(blocked) == summary["input"]["rows"]
    assert summary["allowed_at_start"] + summary["scheduled"] == summary["allowed"]
    codes = Counter(code for row in blocked for code in row["reason_codes"].split("|"))
    assert summary["reasons"] == dict(codes)
    report = out / "report.html"
    assert report.is_file() and report.stat().st_size > 0
    report.read_text(encoding="utf-8")
    return summary


def ids(rows: list[dict[str, str]], column: str = "id") -> list[str]:
    return [r[column] for r in rows]


def codes_by_id(out: Path, column: str = "id") -> dict[str, set[str]]:
    return {r[column]: set(r["reason_codes"].split("|")) for r in table_of(out, "blocked")}


# ------------------------------------------------------------------------------- Excel and encodings

EXCEL = (
    "Nom;Prénom;Téléphone;Ville;Commentaire\r\n"
    'Dupré;Zoé;06 12 34 56 78;Orléans;"Appeler après 14h; pas avant"\r\n'
    'Lefèvre;Anaïs;0033 7 81 23 45 67;Besançon;"Ligne 1\r\nLigne 2 — œuvre € ""cité"""\r\n'
    "Müller;Jürgen;junk;Strasbourg;\r\n"
    "Garçon;Noël;0800 12 34 56;Saint-Étienne;…\r\n"
    "Ægir;Œdipe;+33 (0)1 42 34 56 78;Besançon;‘ok’\r\n"
)
# Row by row: allowed? (business campaign, valid numbers allowed at the start)
EXCEL_ALLOWED = {"Dupré": True, "Lefèvre": True, "Müller": False, "Garçon": False, "Ægir": True}


def split_fields(data: bytes, delimiter: str) -> list[list[bytes]]:
    """The input's fields as bytes: csv over Latin-1, which maps each byte to itself."""
    text = data.decode("latin-1")
    if text.startswith("\xef\xbb\xbf"):
        text = text[3:]
    return [
        [v.encode("latin-1") for v in row] for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    ]


def check_same_bytes(data: bytes, out: Path, delimiter: str, width: int) -> None:
    """Each output row's original columns are the input row's field bytes, untouched."""
    rows_in = split_fields(data, delimiter)
    by_name = {row[0]: row for row in rows_in[1:]}
    for name in ("allowed.csv", "blocked.csv"):
        rows_out = split_fields((out / name).read_bytes(), delimiter)
        assert rows_out[0][:width] == rows_in[0], name  # the header, delimiter and encoding kept
        for row in rows_out[1:]:
            assert row[:width] == by_name[row[0]], (name, row)


def test_excel_windows_1252_semicolon_file_round_trips_byte_for_byte(tmp_path: Path, store: Store) -> None:
    data = EXCEL.encode("cp1252")
    assert b"\x80" in data and b"\x97" in data and b"\x9c" in data  # €, —, œ: cp1252, not Latin-1
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    src = open_source(path)
    assert (src.encoding, src.delimiter, src.header[src.columns.phone]) == ("cp1252", ";", "Téléphone")
    summary = scrub(src, campaign(), tmp_path / "out", store)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    check_same_bytes(data, out, ";", 5)
    got = check_summary(out)
    assert got == {**summary, "generated_at": got["generated_at"]}
    assert (summary["rows"], summary["allowed"], summary["blocked"]) == (5, 3, 2)
    assert summary["reasons"] == {"CALLEE_INVALID": 1, "CALLEE_NOT_PROSPECTABLE": 1}
    assert summary["input"]["phone_column"] == "Téléphone"
    allowed = table_of(out, "allowed")
    assert {r["Nom"]: True for r in allowed} | {r["Nom"]: False for r in table_of(out, "blocked")} == EXCEL_ALLOWED
    assert [r["e164"] for r in allowed] == ["+33612345678", "+33781234567", "+33142345678"]
    lefevre = next(r for r in allowed if r["Nom"] == "Lefèvre")
    assert lefevre["Commentaire"] == 'Ligne 1\r\nLigne 2 — œuvre € "cité"'
    # Our own text is Windows-1252 too: the whole file decodes strictly.
    for name in ("allowed.csv", "blocked.csv"):
        text = (out / name).read_bytes().decode("cp1252")
        assert ";" in text.splitlines()[0] and "\ufffd" not in text


FILES = {
    "utf-8 comma": ("utf-8", ","),
    "utf-8 BOM semicolon": ("utf-8-sig", ";"),
    "utf-8 tab": ("utf-8", "\t"),
    "utf-8 BOM tab": ("utf-8-sig", "\t"),
    "latin-1 semicolon": ("latin-1", ";"),
    "latin-1 comma": ("latin-1", ","),
}


def sample(delimiter: str, ending: str) -> str:
    rows = [
        ["id", "Nom", "Téléphone", "Note"],
        ["a", "Zoé Dupré", "06 12 34 56 78", f"après{delimiter} virgule, point-virgule; tab\tfin"],
        ["b", "Anaïs", "+33 7 81 23 45 67", "deux\nlignes « ici »"],
        ["c", "Jürgen", "0899 12 34 56", ""],
        ["d", "Noël", "pas de numéro", 'dit "non"'],
        ["e", "Ève", "0033 (0)1 42 34 56 78", "x"],
    ]
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=ending).writerows(rows)
    return buf.getvalue()


@pytest.mark.parametrize("kind", list(FILES))
def test_encodings_and_delimiters_round_trip(tmp_path: Path, store: Store, kind: str) -> None:
    encoding, delimiter = FILES[kind]
    data = sample(delimiter, "\r\n" if "BOM" in kind else "\n").encode(encoding)
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    src = open_source(path)
    assert src.delimiter == delimiter
    assert src.encoding == {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "latin-1": "cp1252"}[encoding]
    scrub(src, campaign(), tmp_path / "out", store)
    out = tmp_path / "out"
    for name in ("allowed.csv", "blocked.csv"):
        head = (out / name).read_bytes()[:3]
        assert (head == b"\xef\xbb\xbf") == (encoding == "utf-8-sig"), name  # the BOM kept, and only then
    check_same_bytes(data, out, delimiter, 4)
    summary = check_summary(out)
    assert (summary["rows"], summary["allowed"], summary["blocked"]) == (5, 3, 2)
    assert ids(table_of(out, "allowed")) == ["a", "b", "e"]
    assert codes_by_id(out) == {"c": {"CALLEE_NOT_PROSPECTABLE"}, "d": {"CALLEE_INVALID"}}
    assert table_of(out, "allowed")[0]["Nom"] == "Zoé Dupré"


# ---------------------------------------------------------------------------------- row conservation

MALFORMED = (
    "id,telephone,nom\n"
    "1,06 12 34 56 78,Alice\n"
    "2,0612345678,Bob\n"  # the same number in another writing
    "3,+33 6 12 34 56 78,Carl\n"
    "4,06.12.34.56.78\n"  # too few fields
    "5,0781234567,Dan,extra,more\n"  # too many
    "6,,Empty\n"
    "7,junk,Junk\n"
    '8,"0033 7 51 23 45 67","two\nlines, and a comma"\n'
    "9,33612345678,Eve\n"
    "10,07 51 23 45 67,Fay\n"  # repeats row 8
    "11,+33 (0)6 12 34 56 78,Gus\n"
    "12\n"
    "13,0142345678,Hal\n"
)


def test_rows_are_conserved_and_repeats_are_duplicates(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "in.csv"
    path.write_text(MALFORMED, encoding="utf-8")
    out = tmp_path / "out"
    scrub(open_source(path), campaign(), out, store)
    allowed, blocked = table_of(out, "allowed"), table_of(out, "blocked")
    assert sorted(ids(allowed) + ids(blocked), key=int) == [str(i) for i in range(1, 14)]
    assert ids(allowed) == ["1", "8", "13"]
    codes = codes_by_id(out)
    assert codes == {
        "2": {"DUPLICATE_IN_FILE"},
        "3": {"DUPLICATE_IN_FILE"},
        "4": {"ROW_MALFORMED"},
        "5": {"ROW_MALFORMED"},
        "6": {"CALLEE_INVALID"},
        "7": {"CALLEE_INVALID"},
        "9": {"DUPLICATE_IN_FILE"},
        "10": {"DUPLICATE_IN_FILE"},
        "11": {"DUPLICATE_IN_FILE"},
        "12": {"ROW_MALFORMED"},
    }
    rows = {r["id"]: r for r in blocked}
    assert (rows["4"]["telephone"], rows["4"]["nom"]) == ("06.12.34.56.78", "")
    assert (rows["5"]["telephone"], rows["5"]["nom"]) == ("0781234567", "Dan,extra,more")
    assert (rows["12"]["telephone"], rows["12"]["nom"]) == ("", "")
    assert next(r for r in allowed if r["id"] == "8")["nom"] == "two\nlines, and a comma"
    check_summary(out)


@pytest.mark.parametrize("chunk_rows", [1, 2, 1000])
def test_repeats_across_chunks_in_any_writing(tmp_path: Path, store: Store, chunk_rows: int) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "Téléphone", "nom"])
    for row in [
        [1, "+44 20 7946 0958", "a"],
        [2, 33612345678, "b"],
        [3, "0044 20 7946 0958", "c"],  # foreign, in another writing
        [4, "06 12 34 56 78", "d", "stray cell"],  # a cell beyond the header: a column of its own
        [5, "+33 (0)6 12 34 56 78", "e"],
        [6, "3010", "f"],
        [7, "30 10", "g"],
        [8, 612345678, "h"],
    ]:
        sheet.append(row)
    path = tmp_path / "in.xlsx"
    book.save(path)
    out = tmp_path / "out"
    scrub(open_source(path), campaign(), out, store, chunk_rows=chunk_rows)
    assert sorted(ids(table_of(out, "allowed")) + ids(table_of(out, "blocked")), key=int) == [
        str(i) for i in range(1, 9)
    ]
    assert ids(table_of(out, "allowed")) == ["2"]
    codes = codes_by_id(out)
    assert codes["3"] == {"CALLEE_FOREIGN", "DUPLICATE_IN_FILE"}
    assert codes["4"] == codes["5"] == codes["8"] == {"DUPLICATE_IN_FILE"}
    assert next(r for r in table_of(out, "blocked") if r["id"] == "4")["column 4"] == "stray cell"
    assert codes["7"] == {"CALLEE_NOT_PROSPECTABLE", "DUPLICATE_IN_FILE"}
    check_summary(out)


def test_duplicates_switched_off_by_the_organisation(tmp_path: Path, store: Store) -> None:
    store.set_org(store.org_id("default"), policies={"DUPLICATE_IN_FILE": False}, at=datetime(2026, 1, 1, tzinfo=UTC))
    path = tmp_path / "in.csv"
    path.write_text("id,tel\n1,0612345678\n2,+33612345678\n", encoding="utf-8")
    scrub(open_source(path), campaign(), tmp_path / "out", store)
    assert ids(table_of(tmp_path / "out", "allowed")) == ["1", "2"]


FIELD = st.text(alphabet=st.sampled_from(list("ab 0123456789+.-;,\t\"'\n\ré€—œ\u00a0")), max_size=14)
PHONE = st.one_of(FIELD, st.sampled_from(["06 12 34 56 78", "+33781234567", "0800123456", "3010", "+44 20 7946 0958"]))


@st.composite
def csvish(draw: st.DrawFn) -> tuple[bytes, int]:
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    width = draw(st.integers(2, 5))
    header = ["id", "telephone", *[f"col{i}" for i in range(width - 2)]]
    n = draw(st.integers(1, 25))
    rows = [header]
    for k in range(n):
        length = draw(st.integers(1, width + 2))
        rows.append([f"i{k}", *[draw(PHONE) if j == 0 else draw(FIELD) for j in range(length - 1)]])
    quote_all = draw(st.booleans())

    def field(value: str) -> str:  # RFC 4180: quote when needed (or always), quotes doubled
        if quote_all or any(c in value for c in (delimiter, '"', "\r", "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value

    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = "".join(delimiter.join(field(v) for v in row) + ending for row in rows)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no newline at the end of the file
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    return text.encode(encoding), n


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=csvish(), chunk_rows=st.sampled_from([1, 4, 1000]))
def test_any_csvish_file_conserves_every_row(
    tmp_path_factory: pytest.TempPathFactory, store: Store, file: tuple[bytes, int], chunk_rows: int
) -> None:
    data, n = file
    tmp = tmp_path_factory.mktemp("csvish")
    path = tmp / "in.csv"
    path.write_bytes(data)
    out = tmp / "out"
    scrub(open_source(path), campaign(), out, store, chunk_rows=chunk_rows)
    seen = ids(table_of(out, "allowed")) + ids(table_of(out, "blocked"))
    assert sorted(seen) == sorted(f"i{k}" for k in range(n))
    check_summary(out)


# ------------------------------------------------------------------------------------ header detection


@pytest.mark.parametrize(
    "name", ["téléphone", "telephone", "TEL", "Portable", "N° de téléphone", "msisdn", "Téléphone mobile", "GSM"]
)
def test_phone_column_found_by_its_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text(f"Nom;Email;{name};Ville\nA;a@b.fr;0612345678;Paris\n", encoding="utf-8")
    src = open_source(path)
    assert src.columns.phone == 2


def test_phone_column_option_names_one(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id;Téléphone fixe;Contact\n1;0142345678;0612345678\n2;0142345679;junk\n", encoding="utf-8")
    assert open_source(path).columns.phone == 1  # found by name...
    src = open_source(path, "Contact")  # ...unless named
    assert src.columns.phone == 2
    assert open_source(path, "telephone fixe").columns.phone == 1  # case and accents do not matter
    scrub(src, campaign(), tmp_path / "out", store)
    assert ids(table_of(tmp_path / "out", "allowed")) == ["1"]
    assert codes_by_id(tmp_path / "out") == {"2": {"CALLEE_INVALID"}}
    with pytest.raises(InputError) as info:
        open_source(path, "Mobile")
    assert info.value.field == "--phone-column" and "Contact" in str(info.value)


def test_no_phone_column_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("Nom;Email;Ville\nA;a@b.fr;Paris\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        open_source(path)
    assert info.value.field == "--phone-column" and "Email" in str(info.value)


def test_postcode_and_territory_columns_give_the_consumer_time(tmp_path: Path, store: Store) -> None:
    """17:30 in Paris is 20:30 in Réunion: a 06 number at a Réunion postcode waits for 10:00 there."""
    org = store.org_id("default")
    for number in ("+33612345678", "+33781234567", "+33751234567", "+33770123456", "+33612345679"):
        store.add_consent(
            org, number, collected_at=datetime(2026, 9, 1, tzinfo=UTC), channel="voice", method="web", proof_text="oui"
        )
    path = tmp_path / "in.csv"
    path.write_text(
        "id;Portable;CP;département\n"
        "reunion;06 12 34 56 78;97410;\n"
        "paris;07 81 23 45 67;75011;\n"
        "by-territory;07 51 23 45 67;;974\n"
        "postcode-wins;07 70 12 34 56;75011;974\n"
        "four-digits;06 12 34 56 79;1000;RE\n",  # 01000 (Ain): metropolitan, the territory column loses
        encoding="utf-8",
    )
    consumer = campaign(audience="consumer", start="2026-12-01T17:30:00+01:00")
    src = open_source(path)
    assert (src.columns.postcode, src.columns.territory) == (2, 3)
    scrub(src, consumer, tmp_path / "out", store)
    rows = {r["id"]: r for r in table_of(tmp_path / "out", "allowed")}
    assert set(rows) == {"reunion", "paris", "by-territory", "postcode-wins", "four-digits"}
    for rid in ("reunion", "by-territory"):
        assert (rows[rid]["territory"], rows[rid]["timezone"]) == ("RE", "Indian/Reunion"), rid
        assert rows[rid]["next_allowed_at"] == "2026-12-02T10:00:00+04:00", rid
    for rid in ("paris", "postcode-wins", "four-digits"):
        assert (rows[rid]["territory"], rows[rid]["timezone"]) == ("FR-metro", "Europe/Paris"), rid
        assert rows[rid]["next_allowed_at"] == "2026-12-01T17:30:00+01:00", rid
    summary = check_summary(tmp_path / "out")
    assert (summary["allowed_at_start"], summary["scheduled"]) == (3, 2)


# ------------------------------------------------------------------------------------- XLSX, Parquet


def write_xlsx(path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Nom", "Téléphone", "Code postal"])
    sheet.append(["Zoé", 612345678, 97410])  # typed as numbers: the leading 0 is gone
    sheet.append(["Anaïs", "07 81 23 45 67", "75011"])
    sheet.append(["Jürgen", "junk", None])
    sheet.append([None, None, None])  # an empty line of the sheet
    sheet.append(["Noël", 33142345678, 1000])
    book.save(path)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_xlsx_input(tmp_path: Path, store: Store, fmt: str) -> None:
    path = tmp_path / "prospects.xlsx"
    write_xlsx(path)
    src = open_source(path)
    assert src.format == "xlsx" and src.header == ["Nom", "Téléphone", "Code postal"]
    out = tmp_path / "out"
    scrub(src, campaign(), out, store, fmt=fmt)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["allowed." + fmt, "blocked." + fmt, "summary.json", "report.html"]
    )
    allowed, blocked = table_of(out, "allowed", fmt), table_of(out, "blocked", fmt)
    assert [r["Nom"] for r in allowed] == ["Zoé", "Anaïs", "Noël"]
    assert [r["e164"] for r in allowed] == ["+33612345678", "+33781234567", "+33142345678"]
    assert [r["territory"] for r in allowed] == ["RE", "FR-metro", "FR-metro"]
    assert [(r["Nom"], r["reason_codes"]) for r in blocked] == [("Jürgen", "CALLEE_INVALID")]
    check_summary(out, fmt)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_parquet_input(tmp_path: Path, store: Store, fmt: str) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
            "msisdn": pa.array([33612345678, 33781234567, None, 33800123456, 33612345678], pa.int64()),
            "score": pa.array([0.5, 1.5, 2.5, None, 3.0]),
        }
    )
    path = tmp_path / "prospects.parquet"
    pq.write_table(table, path)
    src = open_source(path)
    assert src.format == "parquet" and src.header[src.columns.phone] == "msisdn"
    out = tmp_path / "out"
    scrub(src, campaign(), out, store, fmt=fmt, chunk_rows=2)  # the repeat of row 1 is in another chunk
    allowed, blocked = table_of(out, "allowed", fmt), table_of(out, "blocked", fmt)
    assert ids(allowed) == ["1", "2"] and ids(blocked) == ["3", "4", "5"]
    assert [r["reason_codes"] for r in blocked] == ["CALLEE_INVALID", "CALLEE_NOT_PROSPECTABLE", "DUPLICATE_IN_FILE"]
    check_summary(out, fmt)
    if fmt == "parquet":  # a Parquet input keeps its own column types
        schema = pq.read_schema(out / "allowed.parquet")
        assert schema.field("id").type == pa.int64() and schema.field("score").type == pa.float64()


# -------------------------------------------------------------------------------------------- atomic


def good_file(tmp_path: Path, rows: int = 6) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("id;tel\n" + "".join(f"{i};06 12 34 56 {i:02d}\n" for i in range(rows)), encoding="utf-8")
    return path


def xlsx_file(tmp_path: Path, rows: int = 6) -> Path:
    """An XLSX input: its chunks hold exactly `chunk_rows` rows (a CSV's hold `chunk_rows * ROW_BYTES` bytes)."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "tel"])
    for i in range(rows):
        sheet.append([i, "junk" if i % 2 else f"06 12 34 56 {i:02d}"])
    path = tmp_path / "in.xlsx"
    book.save(path)
    return path


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("where", ["sink", "sink_raw", "judge", "judge_raw", "report", "audit"])
def test_an_interrupted_run_leaves_nothing_and_keeps_the_previous_run(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if where.endswith("_raw"):  # CSV to CSV: rows copied as bytes, written by the emitter's thread
        path = tmp_path / "in.csv"
        path.write_text("id;tel\n" + "".join(f"{i};06123456{i:02d}\n" for i in range(40)), encoding="utf-8")
    else:
        path = xlsx_file(tmp_path)
    out = tmp_path / "out"
    fresh = tmp_path / "fresh"
    scrub(open_source(path), campaign(), out, store, chunk_rows=2)
    before = snapshot(out)
    assert sorted(before) == sorted(OUTPUTS)

    calls = {"n": 0}

    def boom(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] >= 2 or where in ("report", "audit"):
            raise (StoreUnavailable("down") if where == "audit" else RuntimeError("interrupted"))
        return original(*args, **kwargs)

    if where == "sink":
        original = scrub_module.Sink.write
        monkeypatch.setattr(scrub_module.Sink, "write", boom)
    elif where == "sink_raw":
        original = scrub_module.Sink.write_raw
        monkeypatch.setattr(scrub_module.Sink, "write_raw", boom)
    elif where in ("judge", "judge_raw"):
        original = scrub_module.Judge.chunk
        monkeypatch.setattr(scrub_module.Judge, "chunk", boom)
    elif where == "report":
        original = scrub_module.render_report
        monkeypatch.setattr(scrub_module, "render_report", boom)
    else:
        original = store.append_audit
        monkeypatch.setattr(store, "append_audit", boom)
    for target in (out, fresh):
        with pytest.raises((RuntimeError, StoreUnavailable)):
            scrub(open_source(path), campaign(), target, store, chunk_rows=2)
    assert calls["n"] >= 1
    assert snapshot(out) == before  # the previous complete run, untouched, and no temporary directory
    assert list(fresh.iterdir()) == []


def test_rows_after_a_run_of_empty_lines_are_copied_as_they_are(tmp_path: Path, store: Store) -> None:
    """Blocks of nothing but empty lines: the rows after them are still read again from their place."""
    path = tmp_path / "in.csv"
    rows = [f"{i};06123456{i:02d}\n" for i in range(12)]
    path.write_text("id;tel\n" + "".join(rows[:6]) + "\n" * 500 + "".join(rows[6:]), encoding="utf-8")
    out = tmp_path / "out"
    scrub(open_source(path), campaign(), out, store, chunk_rows=1)  # blocks of 128 bytes
    written = (out / "allowed.csv").read_text(encoding="utf-8").splitlines()[1:]
    written += (out / "blocked.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert sorted(line.split(";")[:2] for line in written) == sorted(r.strip().split(";") for r in rows)


@pytest.mark.parametrize("change", ["append", "same_size"])
def test_an_input_that_changes_during_the_scrub_stops_it_with_nothing_written(
    tmp_path: Path, store: Store, change: str
) -> None:
    """Rows are read twice (judged, then copied): a file changed in between must not mix the two.
    The change comes after the first chunk is written; the emitter, at most two chunks ahead, then
    still has chunks to read again (chunks of 128 bytes: about 40 of them)."""
    path = tmp_path / "in.csv"
    path.write_text("id;tel\n" + "".join(f"{i};0612{i:06d}\n" for i in range(400)), encoding="utf-8")
    os.utime(path, ns=(10**18, 10**18))  # an old time, so that the change below shows in any clock
    out = tmp_path / "out"

    def changed(rows: int, done: float) -> None:
        if change == "append":
            with path.open("a", encoding="utf-8") as f:
                f.write("99;0612345699\n")
        else:
            with path.open("r+b") as f:
                f.write(b"id;tel\n0;07")
        changed_now.append(rows)

    changed_now: list[int] = []
    with pytest.raises(InputError, match="changed during the scrub"):
        scrub(open_source(path), campaign(), out, store, chunk_rows=1, progress=changed)
    assert changed_now  # it was changed once some rows were written, and that was noticed
    assert list(out.iterdir()) == []


# ----------------------------------------------------------------------------------- store unavailable


def test_no_store_blocks_every_row(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id;tel\n1;0612345678\n2;junk\n3;0612345678\n", encoding="utf-8")
    scrub(open_source(path), campaign(), tmp_path / "out", None)
    assert table_of(tmp_path / "out", "allowed") == []
    assert codes_by_id(tmp_path / "out") == {str(i): {"STORE_UNAVAILABLE"} for i in (1, 2, 3)}
    assert check_summary(tmp_path / "out")["reasons"] == {"STORE_UNAVAILABLE": 3}


def test_no_store_summary_counts_malformed_rows_once(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id;tel\n1;0612345678\n2;junk\n3;0781234567;extra\n", encoding="utf-8")
    scrub(open_source(path), campaign(), tmp_path / "out", None)
    assert codes_by_id(tmp_path / "out") == {
        "1": {"STORE_UNAVAILABLE"},
        "2": {"STORE_UNAVAILABLE"},
        "3": {"ROW_MALFORMED"},
    }
    assert check_summary(tmp_path / "out")["reasons"] == {"STORE_UNAVAILABLE": 2, "ROW_MALFORMED": 1}


# ---------------------------------------------------------------------------------------------- CLI


def run(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prospectguard", "--db", db, "scrub", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def toml(path: Path, **values: Any) -> Path:
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_input_error(result: subprocess.CompletedProcess[str], field: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and field in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_cli_scrub_success_and_json(tmp_path: Path, db: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id;Téléphone\n1;06 12 34 56 78\n2;junk\n3;+33 6 12 34 56 78\n", encoding="utf-8")
    camp = toml(tmp_path / "c.toml", **B2B)
    result = run(str(path), "--campaign", str(camp), "-o", str(tmp_path / "out"), db=db)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(OUTPUTS)
    assert (check_summary(tmp_path / "out")["allowed"], codes_by_id(tmp_path / "out")) == (
        1,
        {"2": {"CALLEE_INVALID"}, "3": {"DUPLICATE_IN_FILE"}},
    )
    result = run(str(path), "--campaign", str(camp), "-o", str(tmp_path / "json"), "--json", db=db)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    written = json.loads((tmp_path / "json" / "summary.json").read_text(encoding="utf-8"))
    assert printed == written and printed["rows"] == 3
    result = run(str(path), "--campaign", str(EXAMPLE), "-o", str(tmp_path / "ex"), "--format", "xlsx", db=db)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ex" / "allowed.xlsx").is_file() and (tmp_path / "ex" / "blocked.xlsx").is_file()
    # Each run left its entry in the audit trail, read back by a new process's connections (the
    # history's ADBC read once deleted the WAL under the run's own connection: its entry was lost).
    with Store.open(db) as store:
        scrubs = [e for e in store.audit_entries(0, 100) if "scrub" in e["request"]]
        assert len(scrubs) == 3
        assert store.verify_audit().ok


def test_example_campaign_loads() -> None:
    loaded = load_campaign(EXAMPLE)
    assert loaded.start < loaded.end


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"chanel": "voice"}, "campaign"),
        ({"channel": "fax"}, "campaign channel"),
        ({"end": "2026-11-30T20:00:00+01:00"}, "campaign end"),
        ({"start": None}, "campaign start"),
        ({"start": "tomorrow"}, "campaign start"),
        ({"automated": "yes"}, "campaign automated"),
        ({"caller": "abc"}, "campaign caller"),
    ],
)
def test_cli_bad_campaign_is_one_line_exit_2(tmp_path: Path, db: str, changes: dict[str, Any], field: str) -> None:
    path = good_file(tmp_path)
    values = {k: v for k, v in {**B2B, **changes}.items() if v is not None}
    camp = toml(tmp_path / "c.toml", **values)
    result = run(str(path), "--campaign", str(camp), "-o", str(tmp_path / "out"), db=db)
    assert_input_error(result, field)
    assert not (tmp_path / "out").exists()


def test_cli_campaign_not_toml(tmp_path: Path, db: str) -> None:
    camp = tmp_path / "c.toml"
    camp.write_text("start = [unclosed\n", encoding="utf-8")
    result = run(str(good_file(tmp_path)), "--campaign", str(camp), "-o", str(tmp_path / "out"), db=db)
    assert_input_error(result, "--campaign")
    result = run(str(good_file(tmp_path)), "--campaign", str(tmp_path / "none.toml"), db=db)
    assert_input_error(result, "--campaign")


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "blank", "binary", "no phone", "bad xlsx"])
def test_cli_bad_input_file_is_one_line_exit_2(tmp_path: Path, db: str, case: str) -> None:
    camp = toml(tmp_path / "c.toml", **B2B)
    path = tmp_path / "in.csv"
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "blank":
        path.write_bytes(b"\r\n\r\n  \n")
    elif case == "binary":
        path.write_bytes(b"id;tel\x00\x01\x02\n\x00\x00")
    elif case == "no phone":
        path.write_text("Nom;Ville\nA;Paris\n", encoding="utf-8")
    elif case == "bad xlsx":
        path = tmp_path / "in.xlsx"
        path.write_bytes(b"PK\x03\x04 not really a workbook")
    result = run(str(path), "--campaign", str(camp), "-o", str(tmp_path / "out"), db=db)
    assert_input_error(result, "--phone-column" if case == "no phone" else "INPUT")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("url", ["sqlite:///{tmp}/no/such/dir/x.db", "postgresql+psycopg://nobody@127.0.0.1:1/x"])
def test_cli_store_unavailable_blocks_every_row_exit_1(tmp_path: Path, url: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id;tel\n1;0612345678\n2;0781234567\n3;junk\n", encoding="utf-8")
    camp = toml(tmp_path / "c.toml", **B2B)
    result = run(str(path), "--campaign", str(camp), "-o", str(tmp_path / "out"), db=url.format(tmp=tmp_path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    out = tmp_path / "out"
    assert table_of(out, "allowed") == []
    assert codes_by_id(out) == {"1": {"STORE_UNAVAILABLE"}, "2": {"STORE_UNAVAILABLE"}, "3": {"STORE_UNAVAILABLE"}}
    assert check_summary(out)["reasons"] == {"STORE_UNAVAILABLE": 3}


def test_every_reason_a_scrub_can_give_has_a_short_label() -> None:
    from prospectguard.batch.judge import LABELS
    from prospectguard.rules.catalogue import CODES

    assert set(CODES) - set(LABELS) == {"ROW_MALFORMED", "STORE_UNAVAILABLE"}  # they say their own detail


def test_the_campaign_names_the_organisation_else_the_command_does() -> None:
    from prospectguard.batch.campaign import parse_campaign

    times = {"start": "2026-12-01T10:00", "end": "2026-12-02T10:00"}
    assert parse_campaign(times, "acme").organisation == "acme"
    assert parse_campaign({**times, "organisation": "zeta"}, "acme").organisation == "zeta"


def rows_of(out: Path, name: str) -> list[tuple[str, ...]]:
    return sorted(tuple(row.values()) for row in table_of(out, name))


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=csvish(), chunk_rows=st.sampled_from([1, 4, 1000]))
def test_bytes_path_and_arrow_path_give_the_same_rows(
    tmp_path_factory: pytest.TempPathFactory,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    file: tuple[bytes, int],
    chunk_rows: int,
) -> None:
    """CSV to CSV copies rows as bytes; the Arrow reader and writer (what XLSX and Parquet go through)
    must find the same rows, fields, verdicts and counts (malformed rows may come in another order)."""
    data, _ = file
    tmp = tmp_path_factory.mktemp("paths")
    path = tmp / "in.csv"
    path.write_bytes(data)
    outs = {}
    for fast in (True, False):
        monkeypatch.setattr(scrub_module, "BYTES_PATH", fast)
        outs[fast] = tmp / f"out-{fast}"
        scrub(open_source(path), campaign(), outs[fast], store, chunk_rows=chunk_rows)
    for name in ("allowed", "blocked"):
        assert rows_of(outs[True], name) == rows_of(outs[False], name)
    fast, slow = (check_summary(outs[k]) for k in (True, False))
    for key in ("rows", "allowed", "blocked", "reasons", "territories", "types", "opening"):
        assert fast[key] == slow[key], key


def same_outputs_in_pieces(path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, scan_bytes: int) -> Path:
    """Scrub `path` with the reader's pieces of `scan_bytes`, then with one piece per chunk (chunks of
    128,000 bytes): the outputs must be the same bytes, the counts the same. The first run's outputs."""
    outs = {}
    for size in (scan_bytes, 1 << 30):
        monkeypatch.setattr(scrub_module, "SCAN_BYTES", size)
        outs[size] = path.parent / f"out-{size}"
        scrub(open_source(path), campaign(), outs[size], store, chunk_rows=1000)
    for name in ("allowed.csv", "blocked.csv"):
        assert (outs[scan_bytes] / name).read_bytes() == (outs[1 << 30] / name).read_bytes(), name
    pieces, whole = (check_summary(outs[k]) for k in (scan_bytes, 1 << 30))
    for key in ("rows", "allowed", "blocked", "reasons", "territories", "types", "opening"):
        assert pieces[key] == whole[key], key
    return outs[scan_bytes]


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=csvish(), scan_bytes=st.sampled_from([16, 64, 300]))
def test_a_chunk_read_in_pieces_gives_the_same_outputs(
    tmp_path_factory: pytest.TempPathFactory,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    file: tuple[bytes, int],
    scan_bytes: int,
) -> None:
    """The reader scans a chunk's bytes in pieces (SCAN_BYTES) and joins them."""
    path = tmp_path_factory.mktemp("pieces") / "in.csv"
    path.write_bytes(file[0])
    same_outputs_in_pieces(path, store, monkeypatch, scan_bytes)


@pytest.mark.parametrize("scan_bytes", [16, 500])
def test_a_quote_that_never_closes_in_a_later_piece(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, scan_bytes: int
) -> None:
    """The row holding it is written anew wherever the pieces fall (its position is the joined block's)."""
    lines = [f"{k};Nom{k};06123{k:05d}" for k in range(300)]
    lines[250] = '250;"Dupont;0612300250'
    path = tmp_path / "in.csv"
    path.write_bytes(("id;nom;tel\n" + "\n".join(lines) + "\n").encode())
    out = same_outputs_in_pieces(path, store, monkeypatch, scan_bytes)
    rows = table_of(out, "allowed") + table_of(out, "blocked")
    assert ("250", '"Dupont') in {(r["id"], r["nom"]) for r in rows}


def test_a_quote_that_never_closes_does_not_swallow_rows_in_the_outputs(tmp_path: Path, store: Store) -> None:
    """`"Dupont` opens a quote that no later quote closes: it is an ordinary character in the input,
    and the output writes that row anew so that a CSV reader of `blocked` does not take it as opening."""
    path = tmp_path / "in.csv"
    path.write_bytes(b'id;nom;tel\n1;"Dupont;0612345678\n2;Durand;0612345679\n3;Petit;0612345670\n')
    out = tmp_path / "out"
    scrub(open_source(path), campaign(), out, store)
    rows = table_of(out, "allowed") + table_of(out, "blocked")
    assert sorted((r["id"], r["nom"]) for r in rows) == [("1", '"Dupont'), ("2", "Durand"), ("3", "Petit")]
    check_summary(out)


def test_malloc_arenas_are_limited_on_glibc() -> None:
    """The scrub limits glibc's malloc arenas (its peak memory); elsewhere the call is a no-op."""
    import os as _os

    from prospectguard.batch.scrub import fewer_malloc_arenas

    try:
        glibc = "glibc" in (_os.confstr("CS_GNU_LIBC_VERSION") or "")
    except (ValueError, OSError, AttributeError):
        glibc = False
    assert fewer_malloc_arenas() is glibc
