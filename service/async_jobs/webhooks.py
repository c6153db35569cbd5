"""Webhooks: a job's outcome POSTed to its ``webhook_url`` when it ends, signed, retried.

The body is the job as JSON (id, state, model, task, rows, error, result_location, times).
Headers: ``X-Ember-Timestamp`` (Unix seconds) and, when the server has a secret,
``X-Ember-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` — the receiver
recomputes it over the raw body and refuses old timestamps (replays). A delivery that gets no
2xx answer is retried after ``backoff_s``, then twice that, and so on, up to ``attempts``
tries; each try is recorded on the job (``webhook_attempts``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from ember.service.async_jobs.records import JobRecord, WebhookAttempt

TIMESTAMP_HEADER = "X-Ember-Timestamp"
SIGNATURE_HEADER = "X-Ember-Signature"
_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class WebhookPolicy:
    """How deliveries are signed and retried."""

    secret: str = ""
    attempts: int = 5
    backoff_s: float = 1.0


def body(job: JobRecord) -> bytes:
    """The JSON body delivered for ``job``."""
    return json.dumps(
        {
            "id": job.id,
            "object": "job",
            "state": job.state.value,
            "model": job.model,
            "task": job.task.value,
            "rows_total": job.rows_total,
            "rows_done": job.rows_done,
            "error": job.error,
            "result_location": job.output,
            "created_at": job.created_at,
            "finished_at": job.finished_at,
        },
        separators=(",", ":"),
    ).encode()


def sign(secret: str, timestamp: str, payload: bytes) -> str:
    """The signature header's value for ``payload`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def delivered(job: JobRecord) -> bool:
    """Whether a delivery of the job's outcome was answered 2xx."""
    return any(200 <= a.status < 300 for a in job.webhook_attempts)


async def deliver(
    job: JobRecord,
    policy: WebhookPolicy,
    record: Callable[[WebhookAttempt], Awaitable[JobRecord]],
) -> None:
    """Deliver ``job``'s outcome until answered 2xx or the attempts are spent, calling
    ``record`` with each attempt (which stores it and returns the job as stored)."""
    tries = len(job.webhook_attempts)
    async with httpx.AsyncClient(timeout=_TIMEOUT_S) as client:
        while tries < policy.attempts and not delivered(job):
            if tries:
                await asyncio.sleep(policy.backoff_s * 2 ** (tries - 1))
            payload = body(job)
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
            if policy.secret:
                headers[SIGNATURE_HEADER] = sign(policy.secret, timestamp, payload)
            try:
                answer = await client.post(job.webhook_url, content=payload, headers=headers)
                status = answer.status_code
                error = "" if 200 <= status < 300 else f"{job.webhook_url} answered {status}"
            except httpx.HTTPError as exc:
                status = 0
                error = f"cannot deliver to {job.webhook_url}: {type(exc).__name__}: {exc}"
            job = await record(WebhookAttempt(time.time(), status, error))
            tries += 1
