"""The delivery worker: sends the outbox's due deliveries, signed as Standard Webhooks, and
retries the failed ones.

A worker claims due deliveries by pushing their `next_attempt_at` one lease ahead (on
PostgreSQL with `FOR UPDATE SKIP LOCKED`, so workers in several processes never claim the same
row), sends each, then records the outcome. A worker that dies mid-send leaves its claims to
expire: after the lease another worker sends them again, with the same `webhook-id`. So every
event is delivered at least once, and a receiver that deduplicates by `webhook-id` sees it once.

Retries follow `SCHEDULE` (the first 5 s after a failure, the last ones 8 h apart: about 32 hours
in all), then the delivery is FAILED. An endpoint whose every attempt has failed for
`disable_after` is disabled, with the reason, until an admin enables it again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import hmac
import logging
import random
import socket
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from api import webhook_events as events
from api.db import Params, as_datetime, connection, dialect_of, fetch
from api.webhooks import address_refused

log = logging.getLogger("jornada.webhooks")

# Seconds to wait after each failed attempt; then the delivery is given up (sum: 32.3 hours).
SCHEDULE = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800, 28800)
MAX_ERROR = 500  # characters of an error kept


@dataclass(frozen=True)
class WorkerSettings:
    allow_private: bool = False
    timeout: float = 10.0  # seconds per attempt
    concurrency: int = 64  # attempts in flight
    per_endpoint: int = 16  # attempts in flight to one endpoint: a slow one cannot take every slot
    poll: float = 1.0  # seconds between looks at the outbox when nothing wakes the worker
    disable_after: timedelta = timedelta(days=5)

    @property
    def lease(self) -> timedelta:
        """A claim's life: longer than an attempt may take; after it, another worker may send."""
        return timedelta(seconds=2 * self.timeout + 5)


@dataclass(frozen=True)
class Claimed:
    id: int
    endpoint_id: int
    message_id: str
    payload: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    error: str | None


def sign(secret: str, message_id: str, timestamp: int, payload: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the secret's bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_: list[str], message_id: str, payload: bytes, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {
        "content-type": "application/json",
        "user-agent": "Jornada-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, message_id, timestamp, payload) for s in secrets_),
    }


def retry_delay(attempts: int) -> timedelta | None:
    """After `attempts` failed attempts, the wait before the next (±10%); None: give up."""
    if attempts > len(SCHEDULE):
        return None
    return timedelta(seconds=SCHEDULE[attempts - 1] * random.uniform(0.9, 1.1))


class DeliveryWorker:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._wake = asyncio.Event()
        self._stopping = False
        self._in_flight: Counter[int] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        # Attempts made, by the delivery's status after them: DELIVERED, PENDING (to be retried)
        # or FAILED (given up).
        self.outcomes: Counter[str] = Counter()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """End `run` after its current round, with the attempts in flight finished and recorded
        (cancelling instead could leave a statement running past the database's close)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Send until stopped (or cancelled); a failure is logged, never fatal."""
        events.WAKE.add(self.wake)
        try:
            while not self._stopping:
                try:
                    claimed = await self.send_due()
                except Exception:
                    log.exception("webhook delivery round failed")
                    claimed = 0
                if claimed == 0 and not self._stopping:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.settings.poll)
                    self._wake.clear()
        finally:
            events.WAKE.discard(self.wake)
            await self.close()

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def drain(self) -> int:
        """Send everything due now, wait for the outcomes, close the connections (`jornada
        deliver --once`, tests)."""
        total = 0
        try:
            while (claimed := await self.send_due()) or self._tasks:
                total += claimed
                if self._tasks:
                    await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self.close()
        return total

    async def send_due(self) -> int:
        """Claim due deliveries for the free slots and start sending them; returns how many."""
        free = self.settings.concurrency - len(self._tasks)
        if free <= 0 or (self._tasks and free < self.settings.concurrency // 8):
            return 0  # claim in batches, not one statement per finished attempt
        busy = [e for e, n in self._in_flight.items() if n >= self.settings.per_endpoint]
        claimed = await claim(datetime.now(UTC), free, busy, self.settings.lease)
        if not claimed:
            return 0
        started, extra = self._within_room(claimed)
        if extra:
            await release([c.id for c in extra])  # due again at once, for whichever worker has room
        endpoints = await _endpoints({c.endpoint_id for c in started})
        for c in started:
            task = asyncio.create_task(self._deliver(c, endpoints.get(c.endpoint_id)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(started)

    def _within_room(self, claimed: list[Claimed]) -> tuple[list[Claimed], list[Claimed]]:
        """The claims each endpoint has room for (`per_endpoint` in flight), counted in; the rest."""
        started, extra = [], []
        for c in claimed:
            if self._in_flight[c.endpoint_id] < self.settings.per_endpoint:
                self._in_flight[c.endpoint_id] += 1
                started.append(c)
            else:
                extra.append(c)
        return started, extra

    async def _deliver(self, c: Claimed, endpoint: dict[str, Any] | None) -> None:
        try:
            outcome = await self.attempt(c, endpoint) if endpoint else Outcome(False, None, "endpoint deleted")
            healthy = endpoint is not None and endpoint["failing_since"] is None
            status = await record(c, outcome, datetime.now(UTC), self.settings.disable_after, healthy=healthy)
            self.outcomes[status] += 1
        except Exception:
            log.exception("webhook delivery %s failed", c.id)  # its claim expires: it is sent again
        finally:
            self._in_flight[c.endpoint_id] -= 1
            if self._in_flight[c.endpoint_id] <= 0:
                del self._in_flight[c.endpoint_id]
            self._wake.set()  # a slot is free

    async def attempt(self, c: Claimed, endpoint: dict[str, Any]) -> Outcome:
        now = datetime.now(UTC)
        url = endpoint["url"]
        if not self.settings.allow_private and (reason := address_refused(urlsplit(url).hostname or "")):
            return Outcome(False, None, f"not sent: the URL's host {reason}")
        payload = c.payload.encode()
        keys = [endpoint["secret"]]
        expires = endpoint["previous_secret_expires_at"]
        if endpoint["previous_secret"] and expires is not None and as_datetime(expires) > now:
            keys.append(endpoint["previous_secret"])
        try:
            async with self._session().post(
                url, data=payload, headers=headers(keys, c.message_id, payload, now), allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return Outcome(True, response.status, None)
                text = (await response.content.read(200)).decode(errors="replace").strip()
                return Outcome(False, response.status, f"HTTP {response.status}" + (f": {text}" if text else ""))
        except TimeoutError:
            return Outcome(False, None, f"no answer within {self.settings.timeout:g} s")
        except aiohttp.ClientError as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR])

    def _session(self) -> aiohttp.ClientSession:
        """One session per worker (made in its loop): its pool keeps connections to each host."""
        if self._http is None:
            connector = aiohttp.TCPConnector(
                limit=self.settings.concurrency,
                limit_per_host=self.settings.per_endpoint,
                resolver=None if self.settings.allow_private else PublicOnlyResolver(),
            )
            timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
            self._http = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)
        return self._http


class PublicOnlyResolver(AbstractResolver):
    """Names resolved as usual, refused when any address is private or local: checked at the
    connection itself, so a name that changes its answer after the check cannot reach inside."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for r in found:
            if reason := address_refused(r["host"]):
                raise OSError(errno.EACCES, f"not sent: {host} resolves to {r['host']}, which {reason}")
        return found

    async def close(self) -> None:
        await self._inner.close()


# --- the outbox's SQL ---------------------------------------------------------------------------------


async def claim(now: datetime, limit: int, busy: list[int], lease: timedelta) -> list[Claimed]:
    """Due deliveries, leased to this worker until `now + lease`."""
    conn = connection()
    p = Params(dialect_of(conn))
    # Parameters in the order they appear in the text: SQLite's `?` are numbered that way.
    until = p(now + lease)
    due = (
        "SELECT d.id FROM webhook_delivery d JOIN webhook_endpoint e ON e.id = d.endpoint_id "
        f"WHERE d.status = 'PENDING' AND d.next_attempt_at <= {p(now)} "
        f"AND (e.enabled = {p(True)} OR d.event_type = {p(events.TEST)})"
    )
    if busy:
        due += f" AND NOT ({p.among('d.endpoint_id', busy, 'int')})"
    due += f" ORDER BY d.next_attempt_at LIMIT {p(limit)}"
    if p.dialect == "postgres":
        due += " FOR UPDATE OF d SKIP LOCKED"
    sql = (
        f"UPDATE webhook_delivery SET next_attempt_at = {until} WHERE id IN ({due}) "
        "RETURNING id, endpoint_id, message_id, payload, attempts"
    )
    rows = await fetch(sql, p, conn)
    return [
        Claimed(int(r["id"]), int(r["endpoint_id"]), r["message_id"], r["payload"], int(r["attempts"])) for r in rows
    ]


async def release(ids: list[int]) -> None:
    """Give claims back unsent: due now again."""
    conn = connection()
    p = Params(dialect_of(conn))
    sql = f"UPDATE webhook_delivery SET next_attempt_at = {p(datetime.now(UTC))} WHERE {p.among('id', ids, 'int')}"
    await conn.execute_query(sql, p.values)


async def _endpoints(ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    p = Params(dialect_of(connection()))
    sql = (
        "SELECT id, url, secret, previous_secret, previous_secret_expires_at, failing_since FROM webhook_endpoint "
        f"WHERE {p.among('id', sorted(ids), 'int')}"
    )
    return {int(r["id"]): r for r in await fetch(sql, p)}


async def record(
    c: Claimed, outcome: Outcome, now: datetime, disable_after: timedelta, *, healthy: bool = False
) -> str:
    """The attempt's outcome on the delivery, and on its endpoint (failing since when; disabled
    once failing for `disable_after`); returns the delivery's status now. `healthy`: the
    endpoint was not failing when claimed, so a success leaves it as it is (one statement less)."""
    conn = connection()
    p = Params(dialect_of(conn))
    attempts = c.attempts + 1
    if outcome.ok:
        status = "DELIVERED"
        state = f"status = 'DELIVERED', delivered_at = {p(now)}, next_attempt_at = NULL, last_error = NULL"
    else:
        delay = retry_delay(attempts)
        status = "FAILED" if delay is None else "PENDING"
        later = "NULL" if delay is None else p(now + delay)
        state = f"status = '{status}', next_attempt_at = {later}, "
        state += f"last_error = {p((outcome.error or 'failed')[:MAX_ERROR])}"
    sql = (
        f"UPDATE webhook_delivery SET {state}, attempts = {p(attempts)}, last_attempt_at = {p(now)}, "
        f"response_status = {p(outcome.status)} WHERE id = {p(c.id)} AND status = 'PENDING'"
    )
    await conn.execute_query(sql, p.values)
    if not (outcome.ok and healthy):
        await _endpoint_health(c.endpoint_id, outcome, now, disable_after)
    return status


async def _endpoint_health(endpoint_id: int, outcome: Outcome, now: datetime, disable_after: timedelta) -> None:
    conn = connection()
    p = Params(dialect_of(conn))
    if outcome.ok:
        where = f"id = {p(endpoint_id)} AND failing_since IS NOT NULL"
        sql = f"UPDATE webhook_endpoint SET failing_since = NULL WHERE {where}"
        await conn.execute_query(sql, p.values)
        return
    sql = f"UPDATE webhook_endpoint SET failing_since = {p(now)} WHERE id = {p(endpoint_id)} AND failing_since IS NULL"
    await conn.execute_query(sql, p.values)
    q = Params(p.dialect)
    since = now - disable_after
    reason = (
        f"Disabled automatically on {now.isoformat(timespec='seconds')}: every delivery failed for "
        f"{_span(disable_after)}; the last one: {outcome.error or 'failed'}"
    )[:MAX_ERROR]
    sql = (
        f"UPDATE webhook_endpoint SET enabled = {q(False)}, disabled_at = {q(now)}, disabled_reason = {q(reason)} "
        f"WHERE id = {q(endpoint_id)} AND enabled = {q(True)} AND failing_since <= {q(since)}"
    )
    updated = await conn.execute_query(sql, q.values)
    if updated[0]:
        log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} hours"
