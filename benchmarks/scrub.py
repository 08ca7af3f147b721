"""Benchmark: `prospectguard scrub` end to end, beside the I/O floor and the naive baseline, in one run.

Generate the data first (`python benchmarks/scrub_data.py --rows 10000000 --out /tmp/pg-bench`; a
smaller --rows for a quick run), then `python benchmarks/scrub.py --data /tmp/pg-bench`. Each contender
runs in its own child process, so its peak RSS is its own:
- ours: the real command, `prospectguard --db sqlite:///DATA/store.db scrub DATA/prospects.csv ...`;
- the I/O floor: the same CSV read with pyarrow (Windows-1252, `;`, quoted newlines, malformed rows
  skipped) and written back with pyarrow, nothing else;
- the naive baseline people write today: Python's csv module, `phonenumbers.parse` + `is_valid_number`
  per row, then Python set look-ups of the store's opposition and consent numbers (loaded first, timed
  apart), writing allowed and blocked rows with csv.writer. `--skip-naive` leaves it out (it takes
  minutes on ten million rows).
Targets (issue 3, this 2-core machine): ours within 3x the floor, at least 30x faster than the naive
baseline, peak RSS under 2 GB. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def floor(data: Path, out: Path) -> int:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rows = 0
    reader = pa_csv.open_csv(
        data / "prospects.csv",
        read_options=pa_csv.ReadOptions(encoding="cp1252", block_size=16 << 20),
        parse_options=pa_csv.ParseOptions(delimiter=";", newlines_in_values=True, invalid_row_handler=lambda r: "skip"),
        convert_options=pa_csv.ConvertOptions(strings_can_be_null=False),
    )
    with (out / "floor.csv").open("wb") as f:
        for batch in reader:
            table = pa.Table.from_batches([batch])
            table = pa.table([c.cast(pa.string()) for c in table.columns], names=table.column_names)
            buf = io.BytesIO()
            pa_csv.write_csv(table, buf, pa_csv.WriteOptions(delimiter=";"))
            f.write(buf.getvalue())
            rows += batch.num_rows
    return rows


def naive(data: Path, out: Path) -> int:
    import phonenumbers

    t = time.perf_counter()
    db = sqlite3.connect(data / "store.db")
    opposed = {r[0] for r in db.execute("SELECT e164 FROM opposition_events WHERE active = 1")}
    consented = {r[0] for r in db.execute("SELECT e164 FROM consents")}
    db.close()
    print(f"  (naive: loading {len(opposed) + len(consented):,} store numbers took {time.perf_counter() - t:.1f} s)")
    rows = 0
    with (
        (data / "prospects.csv").open(encoding="cp1252", newline="") as f,
        (out / "allowed.csv").open("w", encoding="cp1252", newline="") as ok,
        (out / "blocked.csv").open("w", encoding="cp1252", newline="") as ko,
    ):
        reader = csv.reader(f, delimiter=";")
        header = next(reader)
        phone = header.index("téléphone")
        w_ok, w_ko = csv.writer(ok, delimiter=";"), csv.writer(ko, delimiter=";")
        w_ok.writerow([*header, "e164"])
        w_ko.writerow([*header, "reason"])
        for row in reader:
            rows += 1
            if len(row) != len(header):
                w_ko.writerow([*row, "malformed"])
                continue
            try:
                n = phonenumbers.parse(row[phone], "FR")
            except phonenumbers.NumberParseException:
                w_ko.writerow([*row, "invalid"])
                continue
            if not phonenumbers.is_valid_number(n):
                w_ko.writerow([*row, "invalid"])
                continue
            e164 = phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
            if e164 in opposed:
                w_ko.writerow([*row, "opposition"])
            elif e164 not in consented:
                w_ko.writerow([*row, "no consent"])
            else:
                w_ok.writerow([*row, e164])
    return rows


def run_child(kind: str, data: Path) -> tuple[float, int, str]:
    """(seconds, peak RSS in bytes, what it printed) of one contender in its own process."""
    out = Path(tempfile.mkdtemp(prefix=f"scrub-bench-{kind}-"))
    try:
        if kind == "ours":
            exe = Path(sys.executable).parent / "prospectguard"
            cmd = [str(exe), "--db", f"sqlite:///{data / 'store.db'}", "scrub", str(data / "prospects.csv")]
            cmd += ["--campaign", str(data / "campaign.toml"), "-o", str(out), "--json"]
        else:
            cmd = [sys.executable, __file__, "--data", str(data), "--only", kind, "--out", str(out)]
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        # ru_maxrss of the children is the largest so far: each contender runs in a fresh `--child` parent.
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        if done.returncode != 0:
            raise RuntimeError(f"{kind} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return seconds, rss, done.stdout
    finally:
        shutil.rmtree(out, ignore_errors=True)


def measure(kind: str, data: Path) -> None:
    """Run one contender from a fresh process so RUSAGE_CHILDREN holds that contender alone."""
    seconds, rss, stdout = run_child(kind, data)
    rows = json.loads(stdout)["rows"] if kind == "ours" else int(stdout.strip().splitlines()[-1])
    print(json.dumps({"kind": kind, "seconds": seconds, "rss": rss, "rows": rows}))


def main() -> None:
    parser = argparse.ArgumentParser(description="scrub benchmark")
    parser.add_argument("--data", type=Path, default=Path("/tmp/pg-bench"))
    parser.add_argument("--only", choices=["floor", "naive"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--measure", choices=["ours", "floor", "naive"])
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    if args.only:  # inside a child: do the work, print the row count
        print(floor(args.data, args.out) if args.only == "floor" else naive(args.data, args.out))
        return
    if args.measure:
        measure(args.measure, args.data)
        return
    size = (args.data / "prospects.csv").stat().st_size
    print(f"file: {args.data / 'prospects.csv'} ({size / 1e6:,.0f} MB)")
    results = {}
    for kind in ["ours", "floor"] + ([] if args.skip_naive else ["naive"]):
        done = subprocess.run(
            [sys.executable, __file__, "--data", str(args.data), "--measure", kind], capture_output=True, text=True
        )
        if done.returncode != 0:
            print(f"{kind}: FAILED\n{done.stderr.strip()[-800:]}")
            continue
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        for line in done.stdout.splitlines():
            if not line.startswith("{"):
                print(line)
        r = json.loads(lines[-1])
        results[kind] = r
        print(
            f"{kind:>6}: {r['rows']:,} rows in {r['seconds']:.1f} s ({r['rows'] / r['seconds']:,.0f} rows/s), "
            f"peak RSS {r['rss'] / 1e9:.2f} GB"
        )
    if "ours" in results and "floor" in results:
        ratio = results["ours"]["seconds"] / results["floor"]["seconds"]
        print(f"ours / I/O floor: {ratio:.2f}x (target <= 3x)")
    if "ours" in results and "naive" in results:
        ratio = results["naive"]["seconds"] / results["ours"]["seconds"]
        print(f"naive / ours: {ratio:.1f}x (target >= 30x)")
    if "ours" in results:
        print(f"ours peak RSS: {results['ours']['rss'] / 1e9:.2f} GB (target < 2 GB)")


if __name__ == "__main__":
    main()
