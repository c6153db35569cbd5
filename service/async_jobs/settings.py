"""The server's async job options (``ember serve``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ember.engines.config import setting


@dataclass(frozen=True)
class JobSettings:
    """Where a server keeps its jobs."""

    jobs: bool = setting(
        True,
        "--jobs",
        "EMBER_JOBS",
        "Serve ember.v1.JobService and the /v1/jobs routes: background jobs stored "
        "in --data-dir, resumed after a restart.",
        "BOOL",
    )
    data_dir: Path | None = setting(
        None,
        "--data-dir",
        "EMBER_DATA_DIR",
        "The server's data folder: the job table (jobs.sqlite), each job's input and "
        "its result parts (jobs/<id>/output). One server per folder. Unset: "
        "$XDG_DATA_HOME/ember (~/.local/share/ember).",
        "DIR",
    )
    input_dir: Path | None = setting(
        None,
        "--job-input-dir",
        "EMBER_JOB_INPUT_DIR",
        "The folder a job's server-side input_path must lie in (it is read with "
        "the server's permissions). Unset: jobs take inline inputs only.",
        "DIR",
    )
    jobs_store: str = setting(
        "sqlite",
        "--jobs-store",
        "EMBER_JOBS_STORE",
        "Where jobs are stored: sqlite (--data-dir/jobs.sqlite, one server) or a "
        "Redis URL (redis://host:6379/0, unix:///run/redis.sock) shared by replicas, which "
        "then share --data-dir on a shared filesystem.",
        "STORE",
    )
    job_lease_s: float = setting(
        30.0,
        "--job-lease",
        "EMBER_JOB_LEASE",
        "With a Redis store: seconds a replica holds a running job without "
        "renewing it (it renews every third of this); a job whose replica died is resumed "
        "by another one after this long.",
        "SECONDS",
        above=0,
    )
    rows_per_part: int = setting(
        512,
        "--job-rows-per-part",
        "EMBER_JOB_ROWS_PER_PART",
        "Rows in each result part of a job submitted from now on: the unit of work "
        "redone after a crash.",
        "N",
        minimum=1,
    )
    webhook_secret: str = setting(
        "",
        "--webhook-secret",
        "EMBER_WEBHOOK_SECRET",
        "Secret that signs job webhooks: X-Ember-Signature is sha256=<hex "
        'HMAC-SHA256(secret, "<X-Ember-Timestamp>.<body>")>. Empty: unsigned.',
        "SECRET",
    )
    webhook_attempts: int = setting(
        5,
        "--webhook-attempts",
        "EMBER_WEBHOOK_ATTEMPTS",
        "Deliveries tried per job webhook before giving up (each recorded on the job).",
        "N",
        minimum=1,
    )
    webhook_backoff_s: float = setting(
        1.0,
        "--webhook-backoff",
        "EMBER_WEBHOOK_BACKOFF",
        "Seconds before the first webhook retry; each later retry waits twice as "
        "long as the one before.",
        "SECONDS",
        minimum=0,
    )
