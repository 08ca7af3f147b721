"""The gate as an HTTP service (FastAPI): one decision per request, about a millisecond each.

Every request but /healthz and /metrics carries an API key (`Authorization: Bearer pg_...`). A key
belongs to one organisation: every read and write is that organisation's, whatever the request
names, so one tenant never sees or changes another's evidence. Scopes: `check` (checks, rules),
`write` (evidence: attempts, consents, oppositions, contracts), `admin` (settings, audit trail;
it grants the other two).

Fail closed: when the store cannot be read or written, a check answers 503 with a `block` decision
(STORE_UNAVAILABLE), never an allow. Handlers are plain functions run in Starlette's thread pool:
the store is SQLAlchemy's synchronous Core.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections import Counter as CounterOf
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette._utils import get_route_path, is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prospectguard import __version__
from prospectguard.gate import Gate, number_of, unavailable
from prospectguard.inputs import InputError, day, instant
from prospectguard.law.listing import rules_in_force
from prospectguard.model import ContactRequest
from prospectguard.numbering import parse
from prospectguard.service import metrics
from prospectguard.service.auditproc import ProcessCommit, eligible
from prospectguard.service.auditwriter import AuditPipeline, ThreadCommit
from prospectguard.service.batchpool import JudgePool, Verdict, fields_of, request_of, verdicts
from prospectguard.service.loopreads import LoopReads
from prospectguard.service.schemas import (
    AttemptOut,
    AttemptRequest,
    BatchOut,
    BatchRequest,
    CheckRequest,
    ConsentRequest,
    ContractRequest,
    Count,
    Created,
    DecisionOut,
    ErrorOut,
    OppositionImport,
    OppositionRequest,
    OrgSettingsOut,
    OrgSettingsRequest,
    WithdrawRequest,
)
from prospectguard.service.workers import AUDIT_WRITER_ENV
from prospectguard.store import Store, StoreUnavailable
from prospectguard.store.api import ApiKey, IdempotencyConflict
from prospectguard.store.audit import Entry, canonical_json

BATCH_CHUNK = 500  # contacts of a batch judged at a time, their audit entries committed meanwhile
MAX_BODY_BYTES = 4 * 1024 * 1024  # a full batch of 10,000 contacts is about 1 MB
KEY_CACHE_SECONDS = 5.0  # a revoked key stops working within this delay in every process
# Threads per process for request work (Starlette's default is 40). On 2 cores, fewer threads fight
# less over the GIL: 6-12 gave 950-1,000 checks/s on SQLite where 40 gave 750 (benchmarks/service.py).
THREADS = int(os.environ.get("PROSPECTGUARD_THREADS", "8"))

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No API key, or an unknown or revoked one."},
    403: {"model": ErrorOut, "description": "The key lacks the scope this endpoint needs."},
    413: {"model": ErrorOut, "description": "The body is larger than 4 MB."},
    422: {
        "model": ErrorOut,
        "description": "A field is missing or wrong: `detail` names it and says what is accepted.",
    },
}
CHECK_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"model": ErrorOut, "description": "The idempotency key was used for a different request."},
    503: {"model": DecisionOut, "description": "The store is unreachable: a `block` decision (STORE_UNAVAILABLE)."},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    503: {"model": ErrorOut, "description": "The store is unreachable: nothing was written."},
}


class BodyLimit:
    """413 for a body over `limit` bytes, declared or streamed, before any handler reads it."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await _too_large(scope, receive, send, self.limit)
                return
        received, exceeded, answered = 0, False, False

        async def limited() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def sending(message: Message) -> None:
            # FastAPI turns any failure to read a body into its own 400 (which we answer as 422):
            # once the limit is exceeded, whatever the app answers becomes this 413.
            nonlocal answered
            if exceeded:
                if not answered:
                    answered = True
                    await _too_large(scope, receive, send, self.limit)
                return
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except _TooLarge:
            if not answered:
                await _too_large(scope, receive, send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = JSONResponse({"detail": f"request body larger than {limit} bytes"}, status_code=413)
    await response(scope, receive, send)


class CheckLane:
    """POST /v1/check answered before FastAPI's router, by the route's own function (`answered`).

    The router, the dependency solving and the exception middleware cost a quarter to a third of a
    plain check's CPU (on SQLite, saturated: 828-972 µs a check with them, 557-710 without, in
    benchmarks/service.py); this path skips them and gives the same answer: the same body, the same bearer
    credentials (FastAPI's `HTTPBearer`), an exception rendered by the handler the app registered
    for it (unhandled ones go on to the app's last-resort handler, as from the route). The route
    stays, for the OpenAPI document and for an app made without the lane (tests compare the two)."""

    def __init__(self, app: ASGIApp, answered: Callable[..., Awaitable[Response]]) -> None:
        self.app = app
        self.answered = answered

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or get_route_path(scope) != "/v1/check" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client is gone: no one to answer
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        request = Request(scope, receive)
        try:
            response = await self.answered(request, await bearer(request), b"".join(chunks), started)
        except Exception as exc:
            # Starlette's lookup: a handler for the status of an HTTPException first, then one for the
            # exception's class or its nearest base (`Exception`'s is the last-resort one, outside).
            handlers = request.app.exception_handlers
            handler = handlers.get(exc.status_code) if isinstance(exc, StarletteHTTPException) else None
            if handler is None:
                handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers and c is not Exception), None)
            if handler is None:
                raise
            if is_async_callable(handler):
                answer = await handler(request, exc)
            else:  # as Starlette runs a plain function handler
                answer = await run_in_threadpool(handler, request, exc)
            if answer is None:  # Starlette sends nothing then either
                return
            response = answer
        await response(scope, receive, send)


class Keys:
    """API keys checked against the store, remembered for a few seconds (one read per key, not per request)."""

    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._seen: dict[str, tuple[ApiKey | None, float]] = {}

    def remembered(self, key: str) -> tuple[ApiKey | None] | None:
        """What `get(key)` answers from memory, in a 1-tuple; None when it would read the store."""
        found = self._seen.get(key)
        return (found[0],) if found is not None and found[1] > time.monotonic() else None

    def get(self, key: str) -> ApiKey | None:
        now = time.monotonic()
        found = self._seen.get(key)
        if found is not None and found[1] > now:
            return found[0]
        live = self.store.api_key(key)
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[key] = (live, now + self.ttl)
        return live


class Denied(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


bearer = HTTPBearer(auto_error=False, description="An API key: `prospectguard key create --org ORG --scope check`")


# When the store cannot be read, a check's key cannot be looked up either: the check still answers
# with a decision (block, STORE_UNAVAILABLE, HTTP 503), never a bare error a dialer might misread.
STORE_DOWN = ApiKey(-1, "", frozenset())


def authorise(request: Request, credentials: HTTPAuthorizationCredentials | None, scope: str) -> ApiKey:
    """The key's organisation and scopes; Denied (401, 403) otherwise. May read the store."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Denied(401, "missing API key: send Authorization: Bearer <key>")
    keys: Keys = request.app.state.keys
    try:
        found = keys.get(credentials.credentials)
    except StoreUnavailable:
        if scope == "check" and get_route_path(request.scope).startswith("/v1/check"):
            return STORE_DOWN
        raise
    return _allowed(found, scope)


def _allowed(found: ApiKey | None, scope: str) -> ApiKey:
    if found is None:
        raise Denied(401, "unknown or revoked API key")
    if scope not in found.scopes and "admin" not in found.scopes:
        raise Denied(403, f"this key lacks the {scope!r} scope")
    return found


def _caller(scope: str) -> Callable[..., ApiKey]:
    def caller(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> ApiKey:
        return authorise(request, credentials, scope)

    return caller


CheckKey = Annotated[ApiKey, Depends(_caller("check"))]
WriteKey = Annotated[ApiKey, Depends(_caller("write"))]
AdminKey = Annotated[ApiKey, Depends(_caller("admin"))]


def _request(body: CheckRequest, now: datetime) -> ContactRequest:
    return request_of(fields_of(body), now)


def _when(value: str | None) -> datetime:
    return instant(value, "at") if value else datetime.now(UTC)


def create_app(
    store: Store | None = None,
    *,
    db: str | None = None,
    key_cache_seconds: float = KEY_CACHE_SECONDS,
    processes: bool | None = None,
    check_lane: bool = True,
) -> FastAPI:
    """The service over `store` (or one opened from `db`, default $PROSPECTGUARD_DB). `uvicorn
    --factory prospectguard.service.app:create_app` calls it with no argument in each worker.

    `processes`: helper processes beside each worker, one committing the audit trail (`auditproc`)
    and one judging chunks of batches (`batchpool`); by default when the app opens its own store,
    as `serve` does, and the store is a file or a server (another process can open it).
    `check_lane`: POST /v1/check answered by `CheckLane`, past FastAPI's routing (else by its route)."""
    served = store is None  # the uvicorn factory's call: this process is the service's alone
    if processes is None:
        processes = served
    if store is None:
        store = Store.open(db or os.environ.get("PROSPECTGUARD_DB", "sqlite:///prospectguard.db"))
    processes = processes and eligible(store)
    # Under `serve --workers N`, the audit writer the workers share; else a child of this process.
    shared = os.environ.get(AUDIT_WRITER_ENV) if served else None
    commit = ProcessCommit(store, shared=shared) if processes else ThreadCommit(store)
    helpers = JudgePool(store) if processes else None
    # A plain check's read of a SQLite store is CPU work in this process, about 0.2 ms, that never
    # waits for a writer (WAL): handing it to a worker thread and back cost more than the read
    # (0.27 ms of CPU a check in GIL hand-offs and thread wake-ups; 1,750 -> 2,650 checks/s on
    # benchmarks/service.py). PostgreSQL reads wait on the network: they keep the thread pool, as
    # do reserving checks, which queue for the write lock.
    inline = store.engine.dialect.name == "sqlite"
    # PostgreSQL: a plain check's read on the event loop, through async connections (`loopreads`).
    loop_reads = LoopReads(store) if store.engine.dialect.name == "postgresql" else None
    trail = AuditPipeline(commit)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        if isinstance(commit, ProcessCommit):
            with contextlib.suppress(StoreUnavailable):  # the first check then fails closed, and retries it
                await commit.start()
        if helpers is not None:
            await helpers.start()
        if served:
            # What exists now lives as long as the process (the app, SQLAlchemy, the law, the
            # numbering plan): out of the collector's sight, a full collection no longer walks it.
            # Over 4,000 checks in process, its one full collection paused every request 61 ms,
            # 4 ms frozen. Not in a process the app shares (a test, an embedding program).
            gc.collect()
            gc.freeze()
        yield
        await commit.close()
        if loop_reads is not None:
            await loop_reads.close()
        if helpers is not None:
            await asyncio.to_thread(helpers.close, wait=True)

    app = FastAPI(
        title="prospectguard",
        version=__version__,
        summary="Compliance gate for telephone and SMS prospecting (démarchage) in France.",
        description=(
            "Before every call or SMS, `POST /v1/check` answers **allow** or **block**, with the rule, its legal "
            "reference and the earliest instant the contact becomes allowed. Authenticate with "
            "`Authorization: Bearer <API key>`."
        ),
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.keys = Keys(store, key_cache_seconds)
    app.state.trail = trail
    app.state.helpers = helpers
    app.state.loop_reads = loop_reads

    def gate(key: ApiKey) -> Gate:
        return Gate(store, key.org, org_id=key.org_id)

    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = []
        for error in exc.errors():
            field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.get("loc", ()) if p != "body")
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, InputError):  # our own message: it names the field already
                message = str(cause).removeprefix(f"{cause.field}: ")
            else:
                message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            detail.append({"field": field.lstrip(".") or "body", "message": message, "type": error.get("type")})
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body that is not JSON at all (e.g. not UTF-8): as malformed JSON
            detail = [{"field": "body", "message": "the body is not valid UTF-8 JSON", "type": "json_invalid"}]
            return JSONResponse({"detail": detail}, status_code=422)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette lists one route's methods; a path may have several routes
            path = request.url.path
            routes = [r for r in app.routes if isinstance(r, APIRoute) and r.path_regex.match(path)]
            methods = {m for r in routes for m in r.methods or ()}
            headers["Allow"] = ", ".join(sorted(methods))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        message = str(exc).removeprefix(f"{exc.field}: ")
        return JSONResponse({"detail": [{"field": exc.field, "message": message}]}, status_code=422)

    @app.exception_handler(StoreUnavailable)
    async def store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"store unavailable: {exc}"}, status_code=503)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        # A bug: a bare 500 without a traceback (a check never answers allow by accident).
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); please report it"}, status_code=500)

    @app.exception_handler(IdempotencyConflict)
    async def conflict(request: Request, exc: IdempotencyConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    # --- checks --------------------------------------------------------------------------------

    def decided(key: ApiKey, body: CheckRequest, now: datetime) -> tuple[int, dict[str, Any]]:
        """A check that reserves or carries an idempotency key (one transaction each), or any check
        whose key could not be looked up; plain checks take `Gate.judge` or `Gate.check_many`."""
        req = _request(body, now)
        try:
            if key is STORE_DOWN:
                raise StoreUnavailable("the API key could not be checked")
            answered = gate(key).check_atomically(req, reserve=body.reserve, idempotency_key=body.idempotency_key)
        except StoreUnavailable as exc:
            return 503, unavailable(req, str(exc) or None).to_json()
        answer = dict(answered.answer)
        if body.reserve:
            answer["attempt_id"] = answered.attempt_id
        if answered.replayed:
            answer["replayed"] = True
            return 200, answer
        metrics.count(answer)
        return (503 if _store_down(answer) else 200), answer

    @app.post(
        "/v1/check",
        response_model=DecisionOut,
        responses=CHECK_ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckRequest"}}},
            }
        },
        tags=["checks"],
        summary="May this contact be made now?",
    )
    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> JSONResponse:
        """The decision for one contact, as `prospectguard check --json` prints it.

        With `"reserve": true` the check and the recording of the attempt are one atomic step: when
        allowed, the attempt is recorded (outcome `reserved`, to be reported with `POST /v1/attempts`
        and its `attempt_id`) and counts toward the cap at once, so concurrent calls to the same
        consumer cannot both pass the 4-per-30-days cap (B3).
        """
        # Served by `CheckLane` unless the app was made without it: the same answer, as `answered`.
        started = time.perf_counter()
        return await answered(request, credentials, await request.body(), started)

    async def answered(
        request: Request, credentials: HTTPAuthorizationCredentials | None, raw: bytes, started: float
    ) -> JSONResponse:
        """POST /v1/check's answer to the body `raw`. The hot path: the body parsed by pydantic-core
        straight from its bytes, then the key and the decision in one step (FastAPI would take two,
        and parse the JSON twice): on the event loop itself for a plain check on SQLite (`inline`),
        in a worker thread otherwise. A plain check's audit entry is awaited here, on the loop
        (`AuditPipeline`): commits gather more entries each, and no thread waits for them."""
        try:
            body = CheckRequest.model_validate_json(raw or b"null")
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        now = datetime.now(UTC)

        def work() -> tuple[int, dict[str, Any]] | tuple[dict[str, Any], Entry]:
            key = authorise(request, credentials, "check")
            if key is STORE_DOWN or body.reserve or body.idempotency_key is not None:
                return decided(key, body, now)
            try:
                _, answer, entry = gate(key).judge(_request(body, now))
            except StoreUnavailable as exc:
                return 503, unavailable(_request(body, now), str(exc) or None).to_json()
            return answer, entry

        async def on_the_loop(reads: LoopReads) -> tuple[int, dict[str, Any]] | tuple[dict[str, Any], Entry]:
            """`work` for a plain check on PostgreSQL: the read awaited on the loop; only a key not
            in memory is looked up in a worker thread."""
            keys: Keys = request.app.state.keys
            remembered = None
            if credentials is not None and credentials.scheme.lower() == "bearer":
                remembered = keys.remembered(credentials.credentials)
            if remembered is not None:
                key = _allowed(remembered[0], "check")
            else:
                key = await run_in_threadpool(authorise, request, credentials, "check")
            if key is STORE_DOWN:
                return decided(key, body, now)  # no read: a block, 503
            req = _request(body, now)
            callee = parse(req.to)
            try:
                facts = await reads.facts(key.org_id, number_of(callee), req.at)
            except StoreUnavailable as exc:
                return 503, unavailable(req, str(exc) or None).to_json()
            _, answer, entry = gate(key).judged(req, callee, facts)
            return answer, entry

        plain = not body.reserve and body.idempotency_key is None
        if inline and plain:
            first, second = work()
        elif loop_reads is not None and plain:
            first, second = await on_the_loop(loop_reads)
        else:
            first, second = await run_in_threadpool(work)
        if isinstance(second, Entry):
            assert isinstance(first, dict)
            try:
                await trail.append(second)
                answer = first
            except StoreUnavailable as exc:
                answer = unavailable(_request(body, now), str(exc) or None).to_json()
            metrics.count(answer)
            status = 503 if _store_down(answer) else 200
        else:
            assert isinstance(first, int) and isinstance(second, dict)
            status, answer = first, second
        metrics.LATENCY.observe(time.perf_counter() - started)
        return JSONResponse(answer, status_code=status)

    if check_lane:
        app.add_middleware(CheckLane, answered=answered)

    @app.post(
        "/v1/check/batch",
        response_model=BatchOut,
        responses=CHECK_ERRORS,
        tags=["checks"],
        summary="Up to 10,000 contacts, one decision each, in order",
    )
    async def check_batch(body: BatchRequest, key: CheckKey) -> Response:
        """Plain checks are judged together (facts read set-wise), a chunk at a time; those that
        reserve or carry an idempotency key go one by one, each atomic. Each decision is written
        as the audit trail keeps it (canonical JSON: keys sorted)."""
        # Two lanes take chunks in turn: this worker's threads, and (under `serve`) a helper process
        # (`batchpool`), so that a batch uses both cores. Each chunk's audit entries commit (in the
        # audit writer's process) while the lanes judge the next chunks.
        now = datetime.now(UTC)
        contacts = body.contacts
        texts: list[str | None] = [None] * len(contacts)
        tally: CounterOf[tuple[str, str]] = CounterOf()
        down = False
        plain = [i for i, c in enumerate(contacts) if not c.reserve and c.idempotency_key is None]
        chunks = iter([plain[s : s + BATCH_CHUNK] for s in range(0, len(plain), BATCH_CHUNK)])
        committing: list[tuple[list[int], list[Verdict], asyncio.Future[list[int]]]] = []

        def judge_here(chunk: list[int]) -> list[Verdict]:
            return verdicts(gate(key), [request_of(fields_of(contacts[i]), now) for i in chunk])

        def settle(i: int, text: str, result: str, codes: list[str]) -> None:
            texts[i] = text
            tally.update((result, code) for code in codes or ["none"])

        def fail(chunk: list[int], exc: StoreUnavailable) -> None:
            nonlocal down
            down = True
            for i in chunk:
                answer = unavailable(_request(contacts[i], now), str(exc) or None).to_json()
                settle(i, canonical_json(answer), "block", ["STORE_UNAVAILABLE"])

        async def lane(helper: JudgePool | None) -> None:
            for chunk in chunks:  # shared by the lanes: each takes the next chunk when it is free
                try:
                    if key is STORE_DOWN:
                        raise StoreUnavailable("the API key could not be checked")
                    judged = None
                    if helper is not None:
                        judged = await helper.judge(key.org, key.org_id, [fields_of(contacts[i]) for i in chunk], now)
                    if judged is None:  # no helper, or it failed: judged here
                        judged = await run_in_threadpool(judge_here, chunk)
                except StoreUnavailable as exc:
                    fail(chunk, exc)
                    continue
                entries = [Entry(at, key.org, law_date, entry) for _, _, _, at, law_date, entry in judged]
                committing.append((chunk, judged, asyncio.ensure_future(trail.append_many(entries))))

        await asyncio.gather(lane(None), *([lane(helpers), lane(helpers)] if helpers is not None else []))
        for chunk, judged, commit in committing:
            try:
                await commit
            except StoreUnavailable as exc:
                fail(chunk, exc)
            else:
                for i, (text, result, codes, _, _, _) in zip(chunk, judged, strict=True):
                    settle(i, text, result, codes)
        metrics.count_many(tally)
        answers: list[str] = []
        for contact, settled in zip(contacts, texts, strict=True):
            if settled is None:
                status, answer = await run_in_threadpool(decided, key, contact, now)
                down = down or status == 503
                settled = canonical_json(answer)
            answers.append(settled)
        content = ('{"decisions":[' + ",".join(answers) + "]}").encode()
        return Response(content, status_code=503 if down else 200, media_type="application/json")

    # --- evidence ------------------------------------------------------------------------------

    @app.post("/v1/attempts", status_code=201, response_model=AttemptOut, responses=WRITE_ERRORS, tags=["evidence"])
    def attempt(body: AttemptRequest, key: WriteKey) -> AttemptOut:
        """The outcome of a contact: of the attempt a check reserved (`attempt_id`), or a new attempt
        (`to`, `at`). `opposed` also records an opposition and withdraws consent (A13)."""
        if body.attempt_id is not None:
            if body.to is not None:
                raise InputError("to", "give either attempt_id (a reserved attempt) or to (a new attempt), not both")
            try:
                store.report_outcome(key.org_id, body.attempt_id, body.outcome)
            except KeyError:
                raise InputError("attempt_id", f"no reserved attempt {body.attempt_id} for this organisation") from None
            except ValueError as exc:
                raise InputError("outcome", str(exc)) from None
            return AttemptOut(attempt_id=body.attempt_id, outcome=body.outcome)
        if body.to is None:
            raise InputError("to", "required for a new attempt (or give the attempt_id of a reserved one)")
        try:
            attempt_id = store.record_attempt(
                key.org_id,
                body.to,
                at=_when(body.at),
                channel=body.channel,
                outcome=body.outcome,
                idempotency_key=body.idempotency_key,
            )
        except ValueError as exc:
            raise InputError("idempotency_key", str(exc)) from None
        return AttemptOut(attempt_id=attempt_id, outcome=body.outcome)

    @app.post("/v1/consents", status_code=201, response_model=Created, responses=WRITE_ERRORS, tags=["evidence"])
    def consent(body: ConsentRequest, key: WriteKey) -> Created:
        """A consent with its proof (A2, A3): the text shown, or the SHA-256 of a file kept elsewhere."""
        if (body.proof_text is None) == (body.proof_sha256 is None):
            raise InputError("proof_text", "give exactly one of proof_text or proof_sha256 (no proof, no consent: A3)")
        try:
            consent_id = store.add_consent(
                key.org_id,
                body.number,
                collected_at=instant(body.collected_at, "collected_at"),
                channel=body.channel,
                method=body.method,
                expires_at=instant(body.expires_at, "expires_at") if body.expires_at else None,
                proof_text=body.proof_text,
                proof_sha256=body.proof_sha256,
                proof_file_name=body.proof_file_name,
                slot_start=instant(body.slot_start, "slot_start") if body.slot_start else None,
                slot_end=instant(body.slot_end, "slot_end") if body.slot_end else None,
            )
        except ValueError as exc:
            raise InputError("body", str(exc)) from None
        return Created(id=consent_id)

    @app.post(
        "/v1/consents/withdrawals", status_code=201, response_model=Created, responses=WRITE_ERRORS, tags=["evidence"]
    )
    def withdraw(body: WithdrawRequest, key: WriteKey) -> Created:
        """Withdraw every consent given before `at` (A10, G2)."""
        return Created(id=store.withdraw_consent(key.org_id, body.number, at=_when(body.at), source=body.source))

    @app.get("/v1/consents", responses=WRITE_ERRORS, tags=["evidence"])
    def consent_history(
        number: Annotated[str, Query(min_length=1, max_length=64)], key: WriteKey
    ) -> list[dict[str, Any]]:
        """Every consent and withdrawal of a number, oldest first, with their proof."""
        from prospectguard import inputs

        return store.consent_history(key.org_id, inputs.e164(number, "number"))

    @app.post("/v1/oppositions", status_code=201, response_model=Created, responses=WRITE_ERRORS, tags=["evidence"])
    def oppose(body: OppositionRequest, key: WriteKey) -> Created:
        return Created(id=store.add_opposition(key.org_id, body.number, at=_when(body.at), source=body.source))

    @app.post(
        "/v1/oppositions/removals", status_code=201, response_model=Created, responses=WRITE_ERRORS, tags=["evidence"]
    )
    def unoppose(body: WithdrawRequest, key: WriteKey) -> Created:
        """Lift an opposition (the person asked for it): a new event; the old one stays on record."""
        return Created(id=store.remove_opposition(key.org_id, body.number, at=_when(body.at)))

    @app.post("/v1/oppositions/import", response_model=Count, responses=WRITE_ERRORS, tags=["evidence"])
    def import_oppositions(body: OppositionImport, key: WriteKey) -> Count:
        """Many oppositions in one transaction: all or nothing."""
        count = store.import_oppositions(key.org_id, body.numbers, at=_when(body.at), source=body.source)
        return Count(count=count)

    @app.get("/v1/oppositions", responses=WRITE_ERRORS, tags=["evidence"])
    def oppositions(
        key: WriteKey,
        after: Annotated[int, Query(ge=0, le=2**62, description="Events after this id (paging).")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """The organisation's opposition events (added, removed), oldest first; page with `after`."""
        events = store.oppositions(key.org_id, after=after, limit=limit)
        return {"events": events, "next_after": events[-1]["id"] if len(events) == limit else None}

    @app.post("/v1/contracts", status_code=201, response_model=Created, responses=WRITE_ERRORS, tags=["evidence"])
    def contract(body: ContractRequest, key: WriteKey) -> Created:
        """A contract in progress (exemption A4, soft opt-in F2)."""
        try:
            contract_id = store.add_contract(
                key.org_id,
                body.number,
                object=body.object,
                start=instant(body.start, "start"),
                end=instant(body.end, "end") if body.end else None,
            )
        except ValueError as exc:
            raise InputError("end", str(exc)) from None
        return Created(id=contract_id)

    # --- organisation, rules, audit ----------------------------------------------------------------

    def settings_out(key: ApiKey) -> OrgSettingsOut:
        s = store.org_settings(key.org_id)
        return OrgSettingsOut(
            name=s.name,
            caller_numbers=sorted(s.caller_numbers),
            sms_senders=sorted(s.sms_senders),
            policies_off=sorted(s.policies_off),
        )

    @app.get("/v1/org", response_model=OrgSettingsOut, responses=WRITE_ERRORS, tags=["organisation"])
    def org(key: AdminKey) -> OrgSettingsOut:
        """The organisation's declared caller numbers, SMS senders and policies switched off."""
        return settings_out(key)

    @app.patch("/v1/org", response_model=OrgSettingsOut, responses=WRITE_ERRORS, tags=["organisation"])
    def set_org(body: OrgSettingsRequest, key: AdminKey) -> OrgSettingsOut:
        store.set_org(
            key.org_id,
            caller_numbers=body.caller_numbers,
            sms_senders=body.sms_senders,
            policies=body.policies,
            at=datetime.now(UTC),
        )
        return settings_out(key)

    @app.get("/v1/rules", responses=ERRORS, tags=["rules"])
    def rules(
        key: CheckKey,
        at: Annotated[str | None, Query(max_length=32, description="Date (YYYY-MM-DD); default today.")] = None,
    ) -> dict[str, Any]:
        """The rules and the values in force on a date, with their legal references."""
        when = day(at, "at") if at else datetime.now(UTC).date()
        return {"date": when.isoformat(), "rules": rules_in_force(when)}

    @app.get("/v1/audit", responses=WRITE_ERRORS, tags=["audit"])
    def audit(
        key: AdminKey,
        after: Annotated[int, Query(ge=0, le=2**62, description="Entries after the organisation's n-th (paging).")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """The organisation's decisions in the audit trail, oldest first, numbered among its own
        (`n`); page with `after`."""
        entries = store.org_audit_entries(key.org, after=after, limit=limit)
        return {"entries": entries, "next_after": entries[-1]["n"] if len(entries) == limit else None}

    @app.get("/v1/audit/verify", responses=WRITE_ERRORS, tags=["audit"])
    def audit_verify(key: AdminKey) -> JSONResponse:
        """Walk the whole hash chain (every organisation's entries are links of it) and say whether it
        is intact: 200 when it is, 409 when it is not. What it reports is the organisation's own: how
        many of its entries the chain holds and the hash of the latest (keep it to detect truncation);
        nothing of the others' activity."""
        report = store.verify_audit()
        count, head = store.audit_head(key.org)
        problem = None if report.ok else "the audit chain is broken; the operator locates it with `audit verify`"
        body = {"ok": report.ok, "entries": count, "head": head, "problem": problem}
        return JSONResponse(body, status_code=200 if report.ok else 409)

    # --- operations ----------------------------------------------------------------------------

    @app.get("/healthz", tags=["operations"], responses={503: {"model": ErrorOut}})
    def healthz() -> JSONResponse:
        """200 when the store answers, 503 otherwise."""
        try:
            store.ping()
        except StoreUnavailable as exc:
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def prometheus() -> Response:
        """Prometheus metrics: decisions by result and reason, check latency."""
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    app.add_middleware(BodyLimit)
    return app


def _store_down(answer: dict[str, Any]) -> bool:
    return any(r.get("code") == "STORE_UNAVAILABLE" for r in answer.get("reasons", []))
