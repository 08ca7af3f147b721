"""Benchmark: the HTTP service (`prospectguard serve --workers 2`) beside its framework floor, in one run.

    python benchmarks/service.py [--backend sqlite|postgresql|both] [--duration 10]

For each backend, a fresh store gets realistic facts for one organisation (declared caller number
+33162000001): 100,000 consents, 50,000 oppositions (10,000 of them on consented numbers) and 20,000
voice attempts in the 30 days before the checked instant (2,500 numbers at the cap of 4, 10,000 with
one), and a `check` key. SQLite: a file in a temporary directory. PostgreSQL: a fresh schema in the
database `test` on 127.0.0.1:5432 (--pg-url), ANALYZEd after the bulk load as autovacuum would,
dropped at the end. The service then runs as a real subprocess with 2 workers, and is measured:

- saturation, closed loop, with wrk (one thread, --connections keep-alive connections; a Lua script
  cycles over the request bodies and counts the answers' statuses): `GET /healthz` (the framework's
  floor: routing, a thread-pool hop and one `SELECT 1`) and `POST /v1/check`; throughput, p50, p99;
- a fixed rate of 1,000 requests per second, open loop, with the Python asyncio client below (raw
  HTTP/1.1 keep-alive sockets, uvloop when installed): `GET /healthz` and `POST /v1/check`, p50 and
  p99. A request's latency runs from its slot in the schedule when the client was late for it
  (every connection busy: no coordinated omission), from its actual send otherwise (the event
  loop's timer overshoot is the client's, not the server's). The client's own CPU per request is
  printed: it shares the 2 cores with the server. All `duration x 1,000` requests are answered
  before it stops, so a server slower than the rate makes the run longer and its latency grow;
- `POST /v1/check/batch` with 10,000 contacts: the wall time of one request, median of 3.

Beside each measurement, where the machine's CPU time went (Linux /proc): the service's process
group, the load generator, the rest (other programs, PostgreSQL's own processes); and the service's
CPU per request, which depends less than throughput on what else runs on the machine.

The checks are 10,000 distinct contacts (fixed seed) at 2026-12-01T11:00:00+01:00 (a Tuesday, 11:00
in Paris), voice, consumer, from +33162000001, to metropolitan mobile and geographic numbers
written as E.164 or as "06 12 34 56 78":
55% consented (allow), 15% opposed, 10% at the frequency cap, 20% unknown (NO_CONSENT). A sample of
each kind is checked first and what the service answered is printed. Every check appends an entry
to the audit trail, by design, so the trail grows during the run.

Without wrk on the PATH, the Python client measures saturation too (it then takes a good part of a
core away from the server; the output says so). Targets (issue): at least 2,000 checks per second,
p99 under 10 ms at 1,000 checks per second, /v1/check throughput at least half of /healthz's, a
batch of 10,000 under 1 second. They are printed, never asserted: the exit status is 0 whatever the
figures. Figures depend on what else runs on the machine; the load generator shares its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

from prospectguard.model import NumberType
from prospectguard.numbering import parse
from prospectguard.store import Store
from prospectguard.store.schema import attempts, consents

SEED = 20261201
CALLER = "+33162000001"
AT = "2026-12-01T11:00:00+01:00"
AT_UTC = datetime(2026, 12, 1, 11, 0, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)
CONSENTS, OPPOSED_CONSENTED, OPPOSED_ONLY = 100_000, 10_000, 40_000
CAPPED, ONE_ATTEMPT, CAP = 2_500, 10_000, 4  # 2,500 x 4 + 10,000 x 1 = 20,000 attempts
UNKNOWN = 5_000
CHECKS = 10_000  # distinct contacts: the bodies wrk cycles over, and the batch
MIX = {"allowed": 55, "opposed": 15, "capped": 10, "unknown": 20}  # percent of the checks
EXPECTED = {"allowed": "allow", "opposed": "OPPOSITION", "capped": "FREQUENCY_CAP", "unknown": "NO_CONSENT"}
SAMPLE = 50  # checks per kind sent one by one before measuring
RATE = 1_000
BATCH_ROUNDS = 3
PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
TARGET_RATE, TARGET_P99_MS, TARGET_RATIO, TARGET_BATCH_S = 2_000, 10.0, 0.5, 1.0
CHUNK = 10_000
PREFIXES = [*["06"] * 50, *["07"] * 20, *["01", "02", "03", "04", "05"] * 6]
OUTCOMES = ("no_answer", "no_answer", "answered", "busy", "voicemail")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the store ---------------------------------------------------------------------------------------


@dataclass
class Numbers:
    consented: list[str]
    opposed: list[str]
    capped: list[str]
    allowed: list[str]  # consented, not opposed, under the cap (10,000 of them with one attempt)
    unknown: list[str]


def numbers(rng: random.Random) -> Numbers:
    """Distinct metropolitan mobile and geographic numbers the numbering plan knows, in E.164 (overseas
    numbers would be outside their calling hours at 11:00 Paris time: every kind would also be blocked)."""
    total = CONSENTS + OPPOSED_ONLY + UNKNOWN
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < total:
        prefix = rng.choice(PREFIXES)
        national = prefix + "".join(rng.choice("0123456789") for _ in range(10 - len(prefix)))
        number = parse(national)
        e164 = number.e164
        if e164 is None or e164 in seen or not e164.startswith("+33") or number.timezone != "Europe/Paris":
            continue
        if number.type in (NumberType.MOBILE, NumberType.FIXED):
            seen.add(e164)
            out.append(e164)
    consented = out[:CONSENTS]
    opposed_consented = consented[CONSENTS - OPPOSED_CONSENTED :]
    return Numbers(
        consented=consented,
        opposed=opposed_consented + out[CONSENTS : CONSENTS + OPPOSED_ONLY],
        capped=consented[:CAPPED],
        allowed=consented[CAPPED : CONSENTS - OPPOSED_CONSENTED],
        unknown=out[CONSENTS + OPPOSED_ONLY :],
    )


def build(url: str, facts: Numbers, rng: random.Random) -> str:
    """Fill the store at `url` with the organisation's facts; returns a `check` key."""
    with Store.open(url) as store:
        org = store.org_id("bench")
        store.set_org(org, caller_numbers=[CALLER], at=AT_UTC - timedelta(days=400))
        key = store.create_key(org, ["check"], "service benchmark")
        consent_rows = [
            {
                "org_id": org,
                "e164": e164,
                "collected_at": AT_UTC - timedelta(days=rng.uniform(30, 360)),
                "channel": "all",
                "method": "web form",
                "proof_text": None,
                "proof_sha256": hashlib.sha256(f"form {e164}".encode()).hexdigest(),
            }
            for e164 in facts.consented
        ]
        tried = sorted(  # ids grow with time, as in a live store
            (AT_UTC - timedelta(days=rng.uniform(2, 29.5)), e164)
            for e164 in [*(n for n in facts.capped for _ in range(CAP)), *facts.allowed[:ONE_ATTEMPT]]
        )
        attempt_rows = [
            {"org_id": org, "e164": e164, "at": at, "channel": "voice", "outcome": rng.choice(OUTCOMES)}
            for at, e164 in tried
        ]
        with store.engine.begin() as conn:
            for rows, table in ((consent_rows, consents), (attempt_rows, attempts)):
                for i in range(0, len(rows), CHUNK):
                    conn.execute(table.insert(), rows[i : i + CHUNK])
        store.import_oppositions(org, facts.opposed, at=AT_UTC - timedelta(days=20), source="import")
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    return key


def checks(facts: Numbers, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """CHECKS distinct contacts in the MIX proportions, shuffled: (kind, request body)."""
    pools = {"allowed": facts.allowed, "opposed": facts.opposed, "capped": facts.capped, "unknown": facts.unknown}
    out: list[tuple[str, dict[str, Any]]] = []
    for kind, percent in MIX.items():
        for e164 in rng.sample(pools[kind], CHECKS * percent // 100):
            national = "0" + e164[3:]
            written = e164 if rng.random() < 0.5 else " ".join(national[i : i + 2] for i in range(0, 10, 2))
            out.append((kind, {"to": written, "from": CALLER, "at": AT}))
    rng.shuffle(out)
    return out


@contextmanager
def store_url(backend: str, pg_admin: str) -> Iterator[str]:
    """A fresh, empty store for `backend`, removed on the way out."""
    if backend == "sqlite":
        where = Path(tempfile.mkdtemp(prefix="pg-service-bench-"))
        try:
            yield f"sqlite:///{where / 'store.db'}"
        finally:
            shutil.rmtree(where, ignore_errors=True)
        return
    schema = f"bench_service_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_admin, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        base = pg_admin.replace("postgresql+psycopg://", "postgresql://", 1)
        try:
            yield f"{base}?options=-csearch_path%3D{schema}"
        finally:
            with admin.connect() as conn:
                conn.execute(text("SET lock_timeout = '10s'"))
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


# --- the server --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(url: str, workers: int, logfile: Path) -> Iterator[tuple[int, int]]:
    """`prospectguard --db URL serve` in a process group of its own; once /healthz answers, yields its
    port and the group's id (the server's pid)."""
    port = free_port()
    exe = Path(sys.executable).parent / "prospectguard"
    cmd = [str(exe), "--db", url, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with logfile.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}): {tail(logfile)}")
            try:
                if get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"/healthz did not answer within 60 s: {tail(logfile)}")
            time.sleep(0.1)
        yield port, proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn stops its workers), then SIGKILL to what is left of the server's own group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group is the server's: its workers, if any outlived it
    proc.wait()


def tail(logfile: Path, lines: int = 5) -> str:
    try:
        found = logfile.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(found[-lines:])[-800:] or "(empty log)"


def get(port: int, path: str, body: bytes | None = None, key: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        conn.request("GET" if body is None else "POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- load generators ---------------------------------------------------------------------------------


def group_cpu(group: int) -> float:
    """CPU seconds used so far by the live processes of process group `group` (Linux /proc)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on
        if int(fields[2]) == group:  # field 5, pgrp; 14 and 15 are utime and stime
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> float:
    """CPU seconds all CPUs spent busy since boot (Linux /proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Cpu:
    """CPU seconds over a span of `wall` seconds: the server (its process group), the load generator
    (this process and its finished children: wrk), the whole machine. NaN without Linux's /proc."""

    wall: float
    server: float
    generator: float
    machine: float

    @classmethod
    def now(cls, group: int) -> Cpu:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        generator = time.process_time() + children.ru_utime + children.ru_stime
        try:
            server, machine = group_cpu(group), machine_cpu()
        except (OSError, ValueError, IndexError):
            server = machine = float("nan")
        return cls(time.perf_counter(), server, generator, machine)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.wall - other.wall,
            self.server - other.server,
            self.generator - other.generator,
            self.machine - other.machine,
        )

    @property
    def others(self) -> float:
        """Everything else on the machine (other programs, the kernel's share not charged to these)."""
        return max(0.0, self.machine - self.server - self.generator)


@dataclass
class Load:
    """One measurement: completed requests over `seconds`, latency percentiles, what came back."""

    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    socket_errors: int = 0
    sample: str | None = None  # the first non-2xx body
    late: int = 0  # fixed rate: requests sent more than 1 ms after their slot
    cpu_us: float | None = None  # the Python client's CPU per request
    cpu: Cpu | None = None  # where the machine's CPU time went meanwhile

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300) + self.socket_errors


LUA = """
local method, path, token = "%(method)s", "%(path)s", "%(token)s"
local bodies = {
%(bodies)s
}
local reqs = {}
local n, i = 0, 0
local threads = {}
counts = {}
sample = nil

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  local headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  if #bodies == 0 then
    reqs[1] = wrk.format(method, path, headers)
  else
    headers["Content-Type"] = "application/json"
    for k, b in ipairs(bodies) do reqs[k] = wrk.format(method, path, headers, b) end
  end
  n = #reqs
end

request = function()
  i = i %% n + 1
  return reqs[i]
end

response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if status >= 300 and sample == nil then sample = string.sub(body, 1, 300) end
end

local function quote(s)
  return '"' .. s:gsub('[%%c"\\\\]', function(c) return string.format("\\\\u%%04x", c:byte()) end) .. '"'
end

done = function(summary, latency, requests)
  local total, first = {}, nil
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("counts") or {}) do total[status] = (total[status] or 0) + count end
    first = first or t:get("sample")
  end
  local parts = {}
  for status, count in pairs(total) do parts[#parts + 1] = string.format('"%%d": %%d', status, count) end
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%.0f, "p99_us": %%.0f, "statuses": {%%s}, '
    .. '"socket_errors": %%d, "sample": %%s}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), table.concat(parts, ", "),
    e.connect + e.read + e.write + e.timeout, first and quote(first) or "null"))
end
"""


def wrk(port: int, method: str, path: str, bodies: Sequence[bytes], key: str, seconds: int, connections: int) -> Load:
    """wrk, closed loop, `connections` connections on one thread, cycling over `bodies`."""
    lua = LUA % {
        "method": method,
        "path": path,
        "token": key,
        "bodies": ",\n".join(f"[==[{b.decode()}]==]" for b in bodies),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="pg-service-bench-") as script:
        script.write(lua)
        script.flush()
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", script.name]
        done = subprocess.run([*cmd, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=False)
    found = [line for line in done.stdout.splitlines() if line.startswith("WRK-JSON ")]
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-600:]}")
    r = json.loads(found[-1].removeprefix("WRK-JSON "))
    return Load(
        tool="wrk",
        requests=r["requests"],
        seconds=r["duration_us"] / 1e6,
        p50_ms=r["p50_us"] / 1e3,
        p99_ms=r["p99_us"] / 1e3,
        statuses={int(k): v for k, v in r["statuses"].items()},
        socket_errors=r["socket_errors"],
        sample=r["sample"],
    )


def raw_request(method: str, path: str, port: int, body: bytes | None, key: str | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise ConnectionError("a response without Content-Length")
    return int(head[9:12]), await reader.readexactly(length)


async def drive(port: int, reqs: Sequence[bytes], rate: float | None, seconds: float, connections: int) -> Load:
    """Keep-alive connections sending `reqs` in turn: at `rate` per second (open loop) or flat out."""
    total = int(rate * seconds) if rate else None
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    state = {"next": 0, "late": 0, "errors": 0}
    samples: list[str] = []
    pairs = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    cpu = time.process_time()
    t0 = time.perf_counter()
    deadline = t0 + seconds

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            i = state["next"]
            state["next"] = i + 1
            if total is not None and rate:
                if i >= total:
                    break
                slot = t0 + i / rate
                now = time.perf_counter()
                if slot > now:
                    await asyncio.sleep(slot - now)
                    start = time.perf_counter()
                else:
                    start = slot
                    state["late"] += now - slot > 0.001
            else:
                start = time.perf_counter()
                if start >= deadline:
                    break
            writer.write(reqs[i % len(reqs)])
            try:
                status, body = await read_response(reader)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
                state["errors"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            latencies.append(time.perf_counter() - start)
            statuses[status] += 1
            if not 200 <= status < 300 and not samples:
                samples.append(body[:300].decode(errors="replace"))
        writer.close()

    await asyncio.gather(*(one(r, w) for r, w in pairs))
    elapsed = time.perf_counter() - t0
    used = time.process_time() - cpu
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3 if latencies else float("nan")

    return Load(
        tool="python",
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
        statuses=dict(statuses),
        socket_errors=state["errors"],
        sample=samples[0] if samples else None,
        late=state["late"],
        cpu_us=used / max(1, len(latencies) + state["errors"]) * 1e6,
    )


def python_load(port: int, reqs: Sequence[bytes], rate: float | None, seconds: float, connections: int) -> Load:
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        pass
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(drive(port, reqs, rate, seconds, connections))


# --- one backend -------------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    build_seconds: float = 0.0
    loads: dict[str, Load] = field(default_factory=dict)
    batch: list[float] = field(default_factory=list)
    batch_cpu: list[Cpu] = field(default_factory=list)
    batch_error: str | None = None
    mix: dict[str, Counter[str]] = field(default_factory=dict)
    server_log: list[str] = field(default_factory=list)
    error: str | None = None


def answer_of(body: bytes) -> str:
    answer = json.loads(body)
    if answer.get("decision") == "allow":
        return "allow"
    return "block:" + "+".join(sorted(r["code"] for r in answer.get("reasons", [])))


def run_backend(backend: str, args: argparse.Namespace, use_wrk: bool) -> Result:
    result = Result(backend)
    rng = random.Random(SEED)
    facts = numbers(rng)
    contacts = checks(facts, rng)
    bodies = [json.dumps(body, separators=(",", ":")).encode() for _, body in contacts]
    with store_url(backend, args.pg_url) as url, tempfile.TemporaryDirectory(prefix="pg-service-bench-") as tmp:
        log(f"{backend}: building the store...")
        t = time.perf_counter()
        key = build(url, facts, rng)
        result.build_seconds = time.perf_counter() - t
        logfile = Path(tmp) / "server.log"
        log(f"{backend}: store built in {result.build_seconds:.1f} s; starting the server ({args.workers} workers)")
        try:
            with serving(url, args.workers, logfile) as (port, group):
                measure(result, port, group, key, contacts, bodies, args, use_wrk)
        finally:
            banner = ("prospectguard API on", "  docs:", "  stop:")
            if logfile.exists():
                lines = logfile.read_text(errors="replace").splitlines()
                result.server_log = [line for line in lines if line.strip() and not line.startswith(banner)]
    return result


def measure(
    result: Result,
    port: int,
    group: int,
    key: str,
    contacts: list[tuple[str, dict[str, Any]]],
    bodies: list[bytes],
    args: argparse.Namespace,
    use_wrk: bool,
) -> None:
    backend, seconds, conns = result.backend, args.duration, args.connections
    by_kind: dict[str, list[bytes]] = {}
    for (kind, _), body in zip(contacts, bodies, strict=True):
        by_kind.setdefault(kind, []).append(body)
    for kind, some in by_kind.items():  # what the service answers to each kind (and a warm-up)
        seen: Counter[str] = Counter()
        for body in some[:SAMPLE]:
            status, answer = get(port, "/v1/check", body, key)
            seen[answer_of(answer) if status == 200 else f"HTTP {status}: {answer[:200]!r}"] += 1
        result.mix[kind] = seen

    check_reqs = [raw_request("POST", "/v1/check", port, b, key) for b in bodies]
    health_reqs = [raw_request("GET", "/healthz", port, None, None)]

    def saturate(path: str) -> Load:
        check = path == "/v1/check"
        if use_wrk:
            return wrk(
                port, "POST" if check else "GET", path, bodies if check else [], key if check else "", seconds, conns
            )
        return python_load(port, check_reqs if check else health_reqs, None, seconds, conns)

    log(f"{backend}: warming up (1 s each)")
    for reqs in (health_reqs, check_reqs):
        python_load(port, reqs, None, 1.0, 4)
    steps: list[tuple[str, Callable[[], Load]]] = [
        ("healthz", lambda: saturate("/healthz")),
        ("check", lambda: saturate("/v1/check")),
        ("healthz@rate", lambda: python_load(port, health_reqs, RATE, seconds, args.rate_connections)),
        ("check@rate", lambda: python_load(port, check_reqs, RATE, seconds, args.rate_connections)),
    ]
    for name, step in steps:
        log(f"{backend}: {name} for {seconds} s")
        before = Cpu.now(group)
        result.loads[name] = step()
        result.loads[name].cpu = Cpu.now(group) - before
    batch = json.dumps({"contacts": [body for _, body in contacts]}, separators=(",", ":")).encode()
    log(f"{backend}: /v1/check/batch with {len(contacts):,} contacts, {BATCH_ROUNDS} times")
    for _ in range(BATCH_ROUNDS):
        before = Cpu.now(group)
        status, answer = get(port, "/v1/check/batch", batch, key)
        spent = Cpu.now(group) - before
        took = spent.wall
        if status != 200:
            result.batch_error = f"HTTP {status}: {answer[:300]!r}"
            break
        decisions = len(json.loads(answer)["decisions"])
        if decisions != len(contacts):
            result.batch_error = f"{decisions} decisions for {len(contacts)} contacts"
            break
        result.batch.append(took)
        result.batch_cpu.append(spent)


# --- the report --------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(results: list[Result], args: argparse.Namespace, use_wrk: bool) -> None:
    saturating = (
        f"wrk (1 thread, {args.connections} connections)"
        if use_wrk
        else f"the Python client ({args.connections} connections; wrk not found, so the generator takes much CPU)"
    )
    print(
        f"service benchmark: {args.workers} workers, {os.cpu_count()} CPUs shared with the load generator; "
        f"{args.duration} s per measurement"
    )
    print(
        f"saturation: {saturating}; fixed rate: Python asyncio client ({args.rate_connections} connections, open loop)"
    )
    print(
        f"store: {CONSENTS:,} consents, {OPPOSED_CONSENTED + OPPOSED_ONLY:,} oppositions, "
        f"{CAPPED * CAP + ONE_ATTEMPT:,} attempts in the 30 days before {AT}"
    )
    print(f"checks: {CHECKS:,} distinct contacts, " + ", ".join(f"{p}% {k}" for k, p in MIX.items()))
    for r in results:
        if r.error:
            print(f"{r.backend}: FAILED: {r.error}")
            continue
        seen = "; ".join(
            f"{k} -> " + ", ".join(f"{a} x{n}" for a, n in r.mix[k].most_common()) for k in MIX if k in r.mix
        )
        print(f"{r.backend} answers (first {SAMPLE} of each kind): {seen}")
        wrong = [k for k, c in r.mix.items() if any(EXPECTED[k] not in a for a in c)]
        if wrong:
            print(f"{r.backend}: WARNING: unexpected answers for {', '.join(wrong)}")
    done = [r for r in results if not r.error]
    if not done:
        return
    table: list[tuple[str, list[str], str]] = []

    def row(label: str, cell: Callable[[Result], str], target: str = "") -> None:
        table.append((label, [cell(r) for r in done], target))

    def load(r: Result, name: str) -> Load | None:
        return r.loads.get(name)

    def rate_cell(name: str, target: float | None = None) -> Callable[[Result], str]:
        def cell(r: Result) -> str:
            m = load(r, name)
            if m is None:
                return "n/a"
            return f"{m.rate:,.0f}/s" + (f" {verdict(m.rate >= target)}" if target else "")

        return cell

    def pct_cell(name: str, target: float | None = None) -> Callable[[Result], str]:
        def cell(r: Result) -> str:
            m = load(r, name)
            if m is None:
                return "n/a"
            return f"{m.p50_ms:,.2f} / {m.p99_ms:,.2f} ms" + (f" {verdict(m.p99_ms < target)}" if target else "")

        return cell

    def errors_cell(name: str) -> Callable[[Result], str]:
        def cell(r: Result) -> str:
            m = load(r, name)
            return "n/a" if m is None else f"{m.failed:,} of {m.requests + m.socket_errors:,}"

        return cell

    def ratio_cell(r: Result) -> str:
        check, health = load(r, "check"), load(r, "healthz")
        if check is None or health is None or not health.rate:
            return "n/a"
        ratio = check.rate / health.rate
        return f"{ratio:.2f} {verdict(ratio >= TARGET_RATIO)}"

    def batch_cell(r: Result) -> str:
        if not r.batch:
            return "n/a"
        median = statistics.median(r.batch)
        return f"{median * 1e3:,.0f} ms {verdict(median < TARGET_BATCH_S)}"

    def batch_cpu_cell(r: Result) -> str:
        spent = [c.server for c in r.batch_cpu if c.server == c.server]
        return f"{statistics.median(spent) * 1e3:,.0f} ms" if spent else "n/a"

    def fixed_cell(name: str) -> Callable[[Result], str]:
        def cell(r: Result) -> str:
            m = load(r, name)
            return "n/a" if m is None else f"{m.rate:,.0f}/s, {m.late} late"

        return cell

    def cpu_cell(name: str) -> Callable[[Result], str]:
        def cell(r: Result) -> str:
            m = load(r, name)
            return "n/a" if m is None or m.cpu_us is None else f"{m.cpu_us:.0f} µs/req"

        return cell

    def server_cell(name: str) -> Callable[[Result], str]:
        def cell(r: Result) -> str:
            m = load(r, name)
            if m is None or m.cpu is None or not m.requests or m.cpu.server != m.cpu.server:
                return "n/a"
            return f"{m.cpu.server / m.requests * 1e6:,.0f} µs/req"

        return cell

    def cores_cell(name: str) -> Callable[[Result], str]:
        def cell(r: Result) -> str:
            m = load(r, name)
            if m is None or m.cpu is None or not m.cpu.wall or m.cpu.machine != m.cpu.machine:
                return "n/a"
            c = m.cpu
            return f"{c.server / c.wall:.2f} / {c.generator / c.wall:.2f} / {c.others / c.wall:.2f}"

        return cell

    cores = "  CPUs busy: service / load generator / rest*"
    row("GET /healthz, saturated: throughput", rate_cell("healthz"), "(floor)")
    row("  p50 / p99", pct_cell("healthz"))
    row("  non-2xx or socket errors", errors_cell("healthz"))
    row("  server CPU per request", server_cell("healthz"))
    row(cores, cores_cell("healthz"))
    row("POST /v1/check, saturated: throughput", rate_cell("check", TARGET_RATE), f">= {TARGET_RATE:,}/s")
    row("  p50 / p99", pct_cell("check"))
    row("  non-2xx or socket errors", errors_cell("check"))
    row("  server CPU per request", server_cell("check"))
    row(cores, cores_cell("check"))
    row("throughput ratio check / healthz", ratio_cell, f">= {TARGET_RATIO}")
    row(f"GET /healthz at {RATE:,}/s: p50 / p99", pct_cell("healthz@rate"), "(floor)")
    row("  achieved, requests > 1 ms late", fixed_cell("healthz@rate"))
    row(
        f"POST /v1/check at {RATE:,}/s: p50 / p99", pct_cell("check@rate", TARGET_P99_MS), f"p99 < {TARGET_P99_MS:g} ms"
    )
    row("  achieved, requests > 1 ms late", fixed_cell("check@rate"))
    row("  non-2xx or socket errors", errors_cell("check@rate"))
    row("  client CPU (Python generator)", cpu_cell("check@rate"))
    row("  server CPU per request", server_cell("check@rate"))
    row(cores, cores_cell("check@rate"))
    row(f"POST /v1/check/batch, {CHECKS:,} contacts", batch_cell, f"< {TARGET_BATCH_S:g} s (median of {BATCH_ROUNDS})")
    row("  server CPU per batch (median)", batch_cpu_cell)
    row("store build (not a target)", lambda r: f"{r.build_seconds:.1f} s")
    label_width = max(len(label) for label, _, _ in table)
    width = max(len(c) for _, cells, _ in table for c in [*cells, *(r.backend for r in done)]) + 3
    print()
    print(" " * label_width + "".join(f"{r.backend:>{width}}" for r in done) + "   target")
    for label, cells, target in table:
        print(f"{label:{label_width}}" + "".join(f"{c:>{width}}" for c in cells) + (f"   {target}" if target else ""))
    print("* rest: every other process on the machine (PostgreSQL's included) and the kernel's unattributed time")
    for r in done:
        for name, m in r.loads.items():
            if m.failed:
                codes = ", ".join(f"HTTP {s} x{n}" for s, n in sorted(m.statuses.items()) if not 200 <= s < 300)
                print(
                    f"{r.backend} {name}: errors: {codes or 'none'}; socket errors {m.socket_errors}; first: {m.sample}"
                )
        if r.batch_error:
            print(f"{r.backend} batch: FAILED: {r.batch_error}")
        if r.server_log:
            print(f"{r.backend} server log: {len(r.server_log)} lines; last: " + " | ".join(r.server_log[-3:])[-600:])


def main() -> None:
    parser = argparse.ArgumentParser(description="The HTTP service under load, beside its /healthz floor.")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="connections when saturating (default 32)")
    parser.add_argument("--rate-connections", type=int, default=16, help="connections at the fixed rate (default 16)")
    parser.add_argument("--pg-url", default=PG_URL, help=f"PostgreSQL database for a fresh schema (default {PG_URL})")
    parser.add_argument("--no-wrk", action="store_true", help="saturate with the Python client even if wrk is found")
    args = parser.parse_args()
    if args.duration < 1:
        parser.error("--duration: at least 1 second")

    def terminated(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds like Ctrl-C: servers stopped, temporary data removed

    signal.signal(signal.SIGTERM, terminated)
    use_wrk = not args.no_wrk and shutil.which("wrk") is not None
    if not use_wrk and not args.no_wrk:
        log("wrk not found on the PATH: the Python client saturates the server too (it competes for the CPUs)")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = []
    try:
        for backend in backends:
            try:
                results.append(run_backend(backend, args, use_wrk))
            except Exception as exc:  # one backend failing (e.g. PostgreSQL down) does not hide the other
                results.append(Result(backend, error=f"{type(exc).__name__}: {str(exc).strip()[:600]}"))
    except KeyboardInterrupt:
        log("interrupted: the server was stopped and the temporary store removed")
        sys.exit(130)
    report(results, args, use_wrk)


if __name__ == "__main__":
    main()
