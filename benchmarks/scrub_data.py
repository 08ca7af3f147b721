"""Generate the scrub benchmark's data: a realistic prospect file, a store and a campaign.

`python benchmarks/scrub_data.py --rows 10000000 --out /tmp/pg-bench` writes, deterministically:
- `prospects.csv`: a CRM export as French Excel saves it (`;`, Windows-1252, CRLF), names with
  accents, quoted fields holding `;` and a few newlines, numbers in every usual writing (national with
  spaces, dots or nothing, +33, 0033, 33, +33 (0), overseas in national and E.164 form), metro mobiles
  and fixed lines, 4 % overseas, a few 08 and foreign numbers; 2 % malformed rows (a field missing or
  one too many) and 1 % repeated numbers (often in another writing).
- `store.db`: a SQLite store with the project's schema, scaled on 10 million rows to 2,000,000
  oppositions, 1,000,000 consents (with proof; some expiring, some withdrawn), 500,000 attempts over
  the last 60 days, 20,000 contracts and a Bloctel snapshot. About a quarter of the file's numbers
  have facts; the rest of the store's numbers are not in the file.
- `campaign.toml`: a consumer voice campaign from 2026-12-01 09:00 to 2026-12-31 20:00 (Paris).
Rows are written in blocks of bytes and facts inserted with executemany in one transaction, so ten
million rows take about a minute.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prospectguard.store import Store

SEED = 20261128
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
FIRST = ["Zoé", "Élodie", "Jérôme", "François", "Hélène", "Noël", "Loïc", "Chloé", "Léa", "Anaïs", "Jean", "Marie"]
LAST = ["Durand", "Lefèvre", "Gauthier", "Bérénice", "Müller", "Ødegård", "Martin", "Petit", "Dubois", "Garçon"]
CITIES = ["Paris", "Lyon", "Saint-Étienne", "Besançon", "Orléans", "Nîmes", "Saint-Denis", "Fort-de-France"]
# (national prefix, weight, postcode head, E.164 head or None for +33)
PLAN = [
    ("06", 40, "75", None),
    ("07", 16, "69", None),
    ("01", 6, "75", None),
    ("02", 5, "44", None),
    ("03", 5, "59", None),
    ("04", 5, "13", None),
    ("05", 5, "33", None),
    ("09", 10, "31", None),
    ("0692", 1, "974", "+262"),
    ("0262", 1, "974", "+262"),
    ("0696", 1, "972", "+596"),
    ("0590", 1, "971", "+590"),
    ("0690", 1, "971", "+590"),
    ("0594", 1, "973", "+594"),
    ("0639", 1, "976", "+262"),
    ("0800", 0.3, "75", None),
]
FOREIGN = ["+32 2 123 45 67", "+41 44 668 18 00", "+44 20 7946 0958"]


def writings(national: str, head: str | None, rng: random.Random) -> str:
    """One of the ways people write the number."""
    pairs = " ".join(national[i : i + 2] for i in range(0, 10, 2))
    r = rng.random()
    if r < 0.30:
        return pairs
    if r < 0.45:
        return national
    if r < 0.55:
        return pairs.replace(" ", ".")
    if head is None:
        if r < 0.70:
            return "+33 " + " ".join(national[i : i + 2] for i in range(1, 10, 2)).strip()
        if r < 0.80:
            return "+33" + national[1:]
        if r < 0.88:
            return "0033" + national[1:]
        if r < 0.94:
            return "33" + national[1:]
        return "+33 (0)" + national[1:]
    return f"{head} {national[1:]}" if r < 0.8 else head + national[1:]


def e164(national: str, head: str | None) -> str:
    return (head or "+33") + national[1:]


def generate_file(path: Path, rows: int, rng: random.Random) -> list[tuple[str, str | None]]:
    """Write the CSV; return the (national, head) of each distinct valid number in the file."""
    weights = [w for _, w, _, _ in PLAN]
    numbers: list[tuple[str, str | None]] = []
    block: list[str] = []
    with path.open("wb") as f:
        f.write("id;civilité;nom;prénom;téléphone;code_postal;ville;email\r\n".encode("cp1252"))
        for i in range(1, rows + 1):
            roll = rng.random()
            if roll < 0.01 and numbers:  # a number already in the file, often written another way
                national, head = numbers[rng.randrange(len(numbers))]
                phone = writings(national, head, rng)
                postcode = ""
            elif roll < 0.013:
                phone, postcode = rng.choice(FOREIGN), ""
            else:
                prefix, _, pc_head, head = rng.choices(PLAN, weights)[0]
                national = prefix + "".join(rng.choices("0123456789", k=10 - len(prefix)))
                numbers.append((national, head))
                phone = writings(national, head, rng)
                postcode = (
                    "" if rng.random() < 0.2 else pc_head + "".join(rng.choices("0123456789", k=5 - len(pc_head)))
                )
            first, last = rng.choice(FIRST), rng.choice(LAST)
            city = rng.choice(CITIES)
            civ = rng.choice(["M.", "Mme"])
            r = rng.random()
            if r < 0.03:
                last = f'"{last}; {rng.choice(LAST)}"'  # a delimiter inside quotes
            elif r < 0.035:
                city = f'"{city}\r\nCedex"'  # a newline inside quotes
            email = f"{first.lower()}.{i}@example.fr"
            fields = [str(i), civ, last, first, phone, postcode, city, email]
            r = rng.random()
            if r < 0.01:
                fields.pop(6)  # a field missing
            elif r < 0.02:
                fields.insert(3, "?")  # one too many
            block.append(";".join(fields))
            if len(block) >= 100_000:
                f.write(("\r\n".join(block) + "\r\n").encode("cp1252"))
                block = []
        if block:
            f.write(("\r\n".join(block) + "\r\n").encode("cp1252"))
    return numbers


def ts(d: datetime) -> str:
    """A UTC instant as the store writes it in SQLite."""
    return d.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def generate_store(path: Path, rows: int, numbers: list[tuple[str, str | None]], rng: random.Random) -> None:
    scale = rows / 10_000_000
    url = f"sqlite:///{path}"
    with Store.open(url) as store:
        org = store.org_id("default")
        store.set_org(org, caller_numbers=["+33162000001"], sms_senders=["ACME"], at=NOW)
    in_file = [e164(n, h) for n, h in numbers if not n.startswith("08")]
    rng.shuffle(in_file)

    def outside(k: int) -> list[str]:
        return [f"+336{rng.randrange(10**8):08d}" for _ in range(k)]  # almost surely not in the file

    n_opp, n_cons, n_att = int(2_000_000 * scale), int(1_000_000 * scale), int(500_000 * scale)
    quarter = len(in_file) // 4
    # 15 % of the file's numbers objected, 10 % consented, 5 % were called recently (overlapping).
    opp = in_file[: int(0.15 * len(in_file))]
    cons = in_file[int(0.10 * len(in_file)) : int(0.20 * len(in_file))]
    att = in_file[quarter - int(0.05 * len(in_file)) : quarter]
    opp += outside(max(n_opp - len(opp), 0))
    cons += outside(max(n_cons - len(cons), 0))
    db = sqlite3.connect(path)
    recorded = ts(NOW)
    sha = hashlib.sha256(b"proof").hexdigest()
    with db:
        db.executemany(
            "INSERT INTO opposition_events (org_id, e164, at, active, source, recorded_at) VALUES (?, ?, ?, 1, ?, ?)",
            (
                (
                    org,
                    x,
                    ts(NOW - timedelta(days=rng.uniform(1, 900))),
                    rng.choice(["import", "stop", "gdpr"]),
                    recorded,
                )
                for x in opp
            ),
        )
        consent_rows = []
        for x in cons:
            collected = NOW - timedelta(days=rng.uniform(1, 730))
            expires = ts(collected + timedelta(days=365)) if rng.random() < 0.2 else None
            channel = rng.choice(["voice", "voice", "all", "sms"])
            consent_rows.append((org, x, ts(collected), channel, expires, "web form", "J'accepte", sha, recorded))
        db.executemany(
            "INSERT INTO consents (org_id, e164, collected_at, channel, expires_at, method, proof_text, proof_sha256,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            consent_rows,
        )
        db.executemany(
            "INSERT INTO consent_withdrawals (org_id, e164, at, source, recorded_at) VALUES (?, ?, ?, 'stop', ?)",
            ((org, x, ts(NOW - timedelta(days=rng.uniform(1, 30))), recorded) for x in cons[::50]),
        )
        outcomes = ["no_answer", "no_answer", "busy", "voicemail", "answered", "refused"]
        attempt_rows: list[tuple[int, str, str, str, str, str]] = []
        while len(attempt_rows) < n_att and att:
            x = att[rng.randrange(len(att))]
            attempt_rows.append(
                (org, x, ts(NOW - timedelta(days=rng.uniform(0, 60))), "voice", rng.choice(outcomes), recorded)
            )
        db.executemany(
            "INSERT INTO attempts (org_id, e164, at, channel, outcome, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
            attempt_rows,
        )
        db.executemany(
            'INSERT INTO contracts (org_id, e164, object, start, "end", recorded_at) VALUES (?, ?, ?, ?, NULL, ?)',
            ((org, x, "box internet", ts(NOW - timedelta(days=400)), recorded) for x in in_file[: int(20_000 * scale)]),
        )
        cur = db.execute(
            "INSERT INTO bloctel_snapshots (org_id, as_of, file_sha256, count, recorded_at) VALUES (?, ?, ?, ?, ?)",
            (org, "2026-07-01", sha, 1000, recorded),
        )
        db.executemany(
            "INSERT INTO bloctel_numbers (snapshot_id, e164) VALUES (?, ?)",
            ((cur.lastrowid, x) for x in dict.fromkeys(in_file[-1000:])),
        )
    db.close()


CAMPAIGN = """# The benchmark's campaign: consumer calls in December 2026 from an NPV number.
organisation = "default"
channel = "voice"
automated = false
audience = "consumer"
sector = "general"
caller = "+33162000001"
about_contract = false
start = "2026-12-01T09:00:00+01:00"
end = "2026-12-31T20:00:00+01:00"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/pg-bench"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    numbers = generate_file(args.out / "prospects.csv", args.rows, rng)
    store = args.out / "store.db"
    store.unlink(missing_ok=True)
    generate_store(store, args.rows, numbers, rng)
    (args.out / "campaign.toml").write_text(CAMPAIGN, encoding="utf-8")
    size = (args.out / "prospects.csv").stat().st_size
    print(f"{args.rows:,} rows ({size / 1e6:,.0f} MB) in {args.out}/prospects.csv; store {store}")


if __name__ == "__main__":
    main()
