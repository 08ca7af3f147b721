"""The real `prospectguard` command, run as a subprocess on a temporary SQLite store."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

TUESDAY_11 = "2026-12-01T11:00"
NPV = "0162000001"


class CLI:
    def __init__(self, db: Path) -> None:
        self.db = db

    def __call__(self, *args: str, org: str = "default") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "prospectguard", "--db", f"sqlite:///{self.db}", "--org", org, *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def check(self, *args: str, org: str = "default") -> tuple[int, dict]:
        run = self("check", "--json", *args, org=org)
        assert run.returncode in (0, 1), run.stderr
        return run.returncode, json.loads(run.stdout)


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    return CLI(tmp_path / "pg.db")


def codes(decision: dict) -> set[str]:
    return {r["code"] for r in decision["reasons"]}


def assert_input_error(run: subprocess.CompletedProcess[str], field: str) -> None:
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error:") and field in lines[0], lines[0]
    assert "Traceback" not in run.stderr + run.stdout


def add_consent(cli: CLI, number: str = "06 12 34 56 78", *extra: str) -> None:
    run = cli(
        "consent", "add", "--number", number, "--collected-at", "2026-09-01T10:00",
        "--method", "web form", "--proof-text", "J'accepte d'être appelé", *extra,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


def test_check_exit_codes_and_json(cli: CLI) -> None:
    code, decision = cli.check("--to", "06 12 34 56 78", "--from", NPV, "--at", TUESDAY_11)
    assert code == 1 and decision["decision"] == "block" and codes(decision) == {"NO_CONSENT"}
    assert decision["callee"] == {
        "e164": "+33612345678",
        "type": "mobile",
        "territory": "FR-metro",
        "timezone": "Europe/Paris",
    }
    assert decision["law_date"] == "2026-12-01"
    add_consent(cli)
    code, decision = cli.check("--to", "+33612345678", "--from", NPV, "--at", TUESDAY_11)
    assert code == 0 and decision["decision"] == "allow" and decision["reasons"] == []
    assert decision["next_allowed_at"] == "2026-12-01T11:00:00+01:00"


def test_check_lunch_break_gives_next_allowed_in_consumer_zone(cli: CLI) -> None:
    add_consent(cli, "0696 12 34 56")
    code, decision = cli.check("--to", "0696 12 34 56", "--from", NPV, "--at", "2026-12-01T18:30:00+01:00")
    assert code == 1 and codes(decision) == {"OUTSIDE_HOURS"}
    assert decision["next_allowed_at"] == "2026-12-01T14:00:00-04:00"
    assert decision["callee"]["timezone"] == "America/Martinique"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--to", "06 12 34 56 78", "--at", "tomorrow"], "--at"),
        (["--to", "06 12 34 56 78", "--at", "0001-01-01T00:00"], "--at"),
        (["--to", "06 12 34 56 78", "--at", "9999-12-31T23:59"], "--at"),
        (["--to", "06 12 34 56 78", "--channel", "fax"], "--channel"),
        (["--to", "06 12 34 56 78", "--sector", "crypto"], "--sector"),
        (["--to", "06 12 34 56 78", "--postcode", "7501"], "--postcode"),
        (["--to", "06 12 34 56 78", "--from", NPV, "--masked"], "--masked"),
        (["--from", NPV], "--to"),
        (["--to", "call me maybe", "--from", NPV], "--to"),
        (["--to", "", "--from", NPV], "--to"),
        (["--to", "0612345678", "--from", "ACME"], "--from"),
    ],
)
def test_check_bad_input_is_one_line_and_exit_2(cli: CLI, args: list[str], field: str) -> None:
    assert_input_error(cli("check", *args), field)


def test_invalid_callee_is_a_block_not_an_input_error(cli: CLI) -> None:
    code, decision = cli.check("--to", "12345", "--from", NPV, "--at", TUESDAY_11)
    assert code == 1 and "CALLEE_INVALID" in codes(decision)


def test_consent_lifecycle_and_history(cli: CLI, tmp_path: Path) -> None:
    proof = tmp_path / "proof.pdf"
    proof.write_bytes(b"%PDF-1.4 signed form")
    run = cli(
        "consent", "add", "--number", "0612345678", "--collected-at", "2026-09-01T10:00",
        "--channel", "voice", "--proof-file", str(proof), "--method", "signed form",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert cli.check("--to", "0612345678", "--from", NPV, "--at", TUESDAY_11)[0] == 0
    # An SMS consent was not given: the voice consent does not cover SMS.
    code, decision = cli.check(
        "--to", "0612345678", "--channel", "sms", "--from", "ACME", "--at", TUESDAY_11
    )  # fmt: skip
    assert code == 1 and "NO_CONSENT" in codes(decision)
    assert cli("consent", "withdraw", "--number", "06 12 34 56 78", "--at", "2026-11-15T09:00").returncode == 0
    code, decision = cli.check("--to", "0612345678", "--from", NPV, "--at", TUESDAY_11)
    assert code == 1 and codes(decision) == {"CONSENT_WITHDRAWN"}
    # Before the withdrawal the consent held: history is replayable.
    assert cli.check("--to", "0612345678", "--from", NPV, "--at", "2026-11-13T11:00")[0] == 0
    history = json.loads(cli("consent", "show", "--number", "+33612345678", "--json").stdout)
    assert len(history) == 2
    text = json.dumps(history)
    assert "signed form" in text and "proof.pdf" in text
    import hashlib

    assert hashlib.sha256(proof.read_bytes()).hexdigest() in text


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--number", "not a number"], "--number"),
        (["--number", "0612345678", "--collected-at", "yesterday"], "--collected-at"),
        (["--number", "0612345678"], "--proof-text"),  # no proof: no consent (A3)
        (["--number", "0612345678", "--proof-file", "/nonexistent/proof.pdf"], "--proof-file"),
        (["--number", "0612345678", "--proof-text", "ok", "--slot-start", "2026-12-05T09:00"], "--slot-start"),
        (["--number", "0612345678", "--proof-text", "ok", "--expires-at", "2025-01-01"], "--expires-at"),
        (["--number", "0612345678", "--proof-text", "ok", "--channel", "fax"], "--channel"),
    ],
)
def test_consent_add_bad_input_writes_nothing(cli: CLI, args: list[str], field: str) -> None:
    if "--collected-at" not in args:
        args = [*args, "--collected-at", "2026-09-01T10:00"]
    assert_input_error(cli("consent", "add", *args), field)
    history = cli("consent", "show", "--number", "0612345678", "--json")
    assert json.loads(history.stdout) == []


def test_agreed_slot_allows_out_of_hours_call(cli: CLI) -> None:
    add_consent(cli, "0612345678", "--slot-start", "2026-12-05T09:00", "--slot-end", "2026-12-05T09:30")
    assert cli.check("--to", "0612345678", "--from", NPV, "--at", "2026-12-05T09:10")[0] == 0
    code, decision = cli.check("--to", "0612345678", "--from", NPV, "--at", "2026-12-05T09:40")
    assert code == 1 and codes(decision) == {"NON_WORKING_DAY", "OUTSIDE_HOURS"}
    # Before the slot, the slot itself is the earliest allowed instant.
    _, decision = cli.check("--to", "0612345678", "--from", NPV, "--at", "2026-12-04T21:00")
    assert decision["next_allowed_at"] == "2026-12-05T09:00:00+01:00"


def test_oppositions_add_remove_import(cli: CLI, tmp_path: Path) -> None:
    add_consent(cli)
    assert (
        cli("oppose", "add", "--number", "0612345678", "--at", "2026-11-01T10:00", "--source", "gdpr").returncode == 0
    )
    assert codes(cli.check("--to", "0612345678", "--from", NPV, "--at", TUESDAY_11)[1]) == {"OPPOSITION"}
    assert cli("oppose", "remove", "--number", "0612345678", "--at", "2026-11-20T10:00").returncode == 0
    assert cli.check("--to", "0612345678", "--from", NPV, "--at", TUESDAY_11)[0] == 0

    good = tmp_path / "oppositions.csv"
    good.write_text("nom;téléphone\nDupont;06 12 34 56 78\nMartin;+33 7 55 44 33 22\n", encoding="cp1252")
    run = cli("oppose", "import", str(good), "--at", "2026-11-25T10:00")
    assert run.returncode == 0 and "2 oppositions" in run.stdout
    assert codes(cli.check("--to", "0612345678", "--from", NPV, "--at", TUESDAY_11)[1]) == {"OPPOSITION"}


def test_oppose_import_rejects_a_bad_file_whole(cli: CLI, tmp_path: Path) -> None:
    add_consent(cli)
    bad = tmp_path / "bad.txt"
    bad.write_text("06 12 34 56 78\nnot-a-number\n")
    assert_input_error(cli("oppose", "import", str(bad)), "line 2")
    assert cli.check("--to", "0612345678", "--from", NPV, "--at", TUESDAY_11)[0] == 0
    assert_input_error(cli("oppose", "import", str(tmp_path / "missing.txt")), "FILE")
    assert_input_error(cli("oppose", "add", "--number", "0612345678", "--source", "rumour"), "--source")


def test_attempts_frequency_cap_refusal_and_objection(cli: CLI) -> None:
    add_consent(cli)
    for day in ("2026-11-10", "2026-11-17", "2026-11-24", "2026-11-30"):
        run = cli("attempt", "record", "--number", "0612345678", "--at", f"{day}T11:00", "--outcome", "no_answer")
        assert run.returncode == 0, run.stderr
    code, decision = cli.check("--to", "0612345678", "--from", NPV, "--at", TUESDAY_11)
    assert code == 1 and codes(decision) == {"FREQUENCY_CAP"}
    assert decision["next_allowed_at"] == "2026-12-10T11:00:00+01:00"

    add_consent(cli, "0755443322")
    cli("attempt", "record", "--number", "0755443322", "--at", "2026-11-20T11:00", "--outcome", "refused")
    _, decision = cli.check("--to", "0755443322", "--from", NPV, "--at", TUESDAY_11)
    assert codes(decision) == {"REFUSAL_COOLDOWN"}
    assert decision["next_allowed_at"] == "2027-01-19T11:00:00+01:00"

    add_consent(cli, "0699887766")
    cli("attempt", "record", "--number", "0699887766", "--at", "2026-11-20T11:00", "--outcome", "opposed")
    code, decision = cli.check("--to", "0699887766", "--from", NPV, "--at", TUESDAY_11)
    assert codes(decision) == {"OPPOSITION", "CONSENT_WITHDRAWN"}
    assert decision["next_allowed_at"] is None
    assert_input_error(
        cli("attempt", "record", "--number", "0612345678", "--at", TUESDAY_11, "--outcome", "maybe"), "--outcome"
    )


def test_contract_exemption(cli: CLI) -> None:
    assert cli("contract", "add", "--number", "0145678910", "--object", "Box", "--start", "2025-03-01").returncode == 0
    assert cli.check("--to", "0145678910", "--from", NPV, "--at", TUESDAY_11, "--about-contract")[0] == 0
    assert codes(cli.check("--to", "0145678910", "--from", NPV, "--at", TUESDAY_11)[1]) == {"NO_CONSENT"}
    assert_input_error(
        cli("contract", "add", "--number", "0145678910", "--object", "Box", "--start", "2025-03-01", "--end", "2024"),
        "--end",
    )


def test_bloctel_before_the_reform(cli: CLI, tmp_path: Path) -> None:
    snapshot = tmp_path / "bloctel.txt"
    snapshot.write_text("0650505050\n+33 6 51 51 51 51\n")
    assert cli("bloctel", "import", str(snapshot), "--as-of", "2026-08-01").returncode == 0
    _, decision = cli.check("--to", "06 50 50 50 50", "--from", NPV, "--at", "2026-08-10T11:00")
    assert codes(decision) == {"BLOCTEL_REGISTERED"}
    assert cli.check("--to", "06 52 52 52 52", "--from", NPV, "--at", "2026-08-10T11:00")[0] == 0
    # Stale after 30 days; and from 2026-08-11 the consent regime applies instead.
    assert codes(cli.check("--to", "06 52 52 52 52", "--from", NPV, "--at", "2026-07-01T11:00")[1]) == {
        "BLOCTEL_LIST_STALE"
    }
    assert codes(cli.check("--to", "06 50 50 50 50", "--from", NPV, "--at", "2026-08-11T11:00")[1]) == {"NO_CONSENT"}
    assert_input_error(cli("bloctel", "import", str(snapshot), "--as-of", "August"), "--as-of")


def test_org_settings_and_policies(cli: CLI) -> None:
    add_consent(cli)
    run = cli("org", "set", "--caller-number", NPV, "--sms-sender", "ACME")
    assert run.returncode == 0, run.stderr
    _, decision = cli.check("--to", "0612345678", "--from", "0163000000", "--at", TUESDAY_11)
    assert codes(decision) == {"CALLER_ID_NOT_ASSIGNED"}
    # A foreign number: blocked by policy, which the organisation may switch off (B2B here).
    foreign = ["--to", "+44 20 7946 0958", "--from", NPV, "--at", TUESDAY_11, "--audience", "business"]
    assert codes(cli.check(*foreign)[1]) == {"CALLEE_FOREIGN"}
    assert cli("org", "set", "--policy", "CALLEE_FOREIGN=off").returncode == 0
    assert cli.check(*foreign)[0] == 0
    # Another organisation sees none of this one's evidence or settings.
    assert codes(cli.check(*foreign, org="other")[1]) == {"CALLEE_FOREIGN"}
    assert codes(cli.check("--to", "0612345678", "--from", NPV, "--at", TUESDAY_11, org="other")[1]) == {"NO_CONSENT"}
    assert_input_error(cli("org", "set", "--policy", "OUTSIDE_HOURS=off"), "--policy")
    assert_input_error(cli("org", "set", "--policy", "STORE_UNAVAILABLE=off"), "--policy")
    assert_input_error(cli("org", "set", "--caller-number", "abc"), "--caller-number")
    # A 30PQ short number can be declared and then presented by an automated system (E2).
    assert cli("org", "set", "--caller-number", "3010", "--caller-number", NPV).returncode == 0
    assert cli.check("--to", "0612345678", "--from", "3010", "--automated", "--at", TUESDAY_11)[0] == 0


def test_audit_verify_detects_tampering(cli: CLI) -> None:
    for at in ("2026-12-01T11:00", "2026-12-01T12:00", "2026-12-01T13:30"):
        cli.check("--to", "0612345678", "--from", NPV, "--at", at)
    run = cli("audit", "verify")
    assert run.returncode == 0 and "3 entries" in run.stdout
    head = run.stdout.split("head ")[1].split()[0]
    assert cli("audit", "verify", "--expect-head", head).returncode == 0
    with sqlite3.connect(cli.db) as conn:  # the newest entry dropped: only the anchor shows it
        conn.execute("DELETE FROM audit_log WHERE seq = 3")
    assert cli("audit", "verify").returncode == 0
    run = cli("audit", "verify", "--expect-head", head)
    assert run.returncode == 1 and "TRUNCATED" in run.stdout
    assert_input_error(cli("audit", "verify", "--expect-head", "abc"), "--expect-head")
    with sqlite3.connect(cli.db) as conn:
        conn.execute("UPDATE audit_log SET decision = replace(decision, 'block', 'allow') WHERE seq = 2")
    run = cli("audit", "verify")
    assert run.returncode == 1 and "entry 2" in run.stdout


def test_rules_follow_the_law_of_the_day(cli: CLI) -> None:
    def in_force(day: str) -> dict[str, bool]:
        run = cli("rules", "--at", day, "--json")
        assert run.returncode == 0, run.stderr
        return {r["rule"]: r["in_force"] for r in json.loads(run.stdout)["rules"]}

    before, after = in_force("2026-08-10"), in_force("2026-08-11")
    assert before["A11"] and not before["A1"]
    assert after["A1"] and not after["A11"]
    table = cli("rules", "--at", "2026-12-01")
    assert "D223-9" in table.stdout
    assert_input_error(cli("rules", "--at", "someday"), "--at")


def test_store_unavailable_blocks(tmp_path: Path) -> None:
    cli = CLI(tmp_path / "missing-dir" / "nested" / "x.db")
    code, decision = cli.check("--to", "0612345678", "--from", NPV, "--at", TUESDAY_11)
    assert code == 1 and codes(decision) == {"STORE_UNAVAILABLE"} and decision["next_allowed_at"] is None


def test_demo_runs(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "prospectguard", "--db", f"sqlite:///{tmp_path / 'demo.db'}", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "chain intact" in run.stdout and "FREQUENCY_CAP" in run.stdout


@pytest.mark.parametrize("url", ["notaurl", "oracle+nodriver://x/y"])
def test_unusable_store_url_is_an_input_error(url: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "prospectguard", "--db", url, "check", "--to", "0612345678"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_input_error(run, "--db")


def test_key_create_list_revoke(cli: CLI) -> None:
    from prospectguard.store import Store

    made = cli("key", "create", "--org", "acme", "--scope", "check", "--scope", "write", "--label", "dialer 1")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("pg_") and len(key) > 40
    with Store.open(f"sqlite:///{cli.db}") as store:
        found = store.api_key(key)
        assert found is not None and found.org == "acme" and found.scopes == {"check", "write"}
    listed = json.loads(cli("key", "list", "--org", "acme", "--json").stdout)
    assert [(k["scopes"], k["label"], k["revoked_at"]) for k in listed] == [(["check", "write"], "dialer 1", None)]
    assert key not in cli("key", "list", "--org", "acme").stdout  # never shown again
    prefix = listed[0]["prefix"]
    assert_input_error(cli("key", "revoke", "--org", "other", prefix), "--org")  # no such organisation
    assert cli("key", "create", "--org", "other", "--scope", "check").returncode == 0
    assert_input_error(cli("key", "revoke", "--org", "other", prefix), "PREFIX")  # not other's key
    assert cli("key", "revoke", "--org", "acme", prefix).returncode == 0
    assert json.loads(cli("key", "list", "--org", "acme", "--json").stdout)[0]["revoked_at"] is not None
    with Store.open(f"sqlite:///{cli.db}") as store:
        assert store.api_key(key) is None
    assert_input_error(cli("key", "create", "--org", "acme", "--scope", "root"), "--scope")


def test_serve_demo_prints_a_working_key(cli: CLI, tmp_path: Path) -> None:
    """What `make run` does: the demo organisation seeded, the service up, a key that works."""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prospectguard",
                "--db",
                f"sqlite:///{cli.db}",
                "serve",
                "--demo",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"the service did not start:\n{log.read_text()}")
        printed = log.read_text()
        assert f"{url}/docs" in printed
        key = next(line.split()[-1] for line in printed.splitlines() if "demo API key" in line)
        answer = httpx.post(
            f"{url}/v1/check",
            json={"to": "06 12 34 56 78", "from": "01 62 00 00 01", "at": TUESDAY_11},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["decision"] == "allow"  # the demo's consented number
        assert httpx.get(f"{url}/docs").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=15)
