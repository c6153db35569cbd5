"""The server's async job options (``ember serve``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class JobSettings:
    """Where a server keeps its jobs."""

    jobs: bool = field(
        default=True,
        metadata={
            "flag": "--jobs",
            "env": "EMBER_JOBS",
            "help": "Serve ember.v1.JobService and the /v1/jobs routes: background jobs stored "
            "in --data-dir, resumed after a restart.",
            "metavar": "BOOL",
        },
    )
    data_dir: Path | None = field(
        default=None,
        metadata={
            "flag": "--data-dir",
            "env": "EMBER_DATA_DIR",
            "help": "The server's data folder: the job table (jobs.sqlite), each job's input and "
            "its result parts (jobs/<id>/output). One server per folder. Unset: "
            "$XDG_DATA_HOME/ember (~/.local/share/ember).",
            "metavar": "DIR",
        },
    )
    input_dir: Path | None = field(
        default=None,
        metadata={
            "flag": "--job-input-dir",
            "env": "EMBER_JOB_INPUT_DIR",
            "help": "The folder a job's server-side input_path must lie in (it is read with "
            "the server's permissions). Unset: jobs take inline inputs only.",
            "metavar": "DIR",
        },
    )
    jobs_store: str = field(
        default="sqlite",
        metadata={
            "flag": "--jobs-store",
            "env": "EMBER_JOBS_STORE",
            "help": "Where jobs are stored: sqlite (--data-dir/jobs.sqlite, one server) or a "
            "Redis URL (redis://host:6379/0, unix:///run/redis.sock) shared by replicas, which "
            "then share --data-dir on a shared filesystem.",
            "metavar": "STORE",
        },
    )
    job_lease_s: float = field(
        default=30.0,
        metadata={
            "flag": "--job-lease",
            "env": "EMBER_JOB_LEASE",
            "help": "With a Redis store: seconds a replica holds a running job without "
            "renewing it (it renews every third of this); a job whose replica died is resumed "
            "by another one after this long.",
            "metavar": "SECONDS",
        },
    )
    rows_per_part: int = field(
        default=512,
        metadata={
            "flag": "--job-rows-per-part",
            "env": "EMBER_JOB_ROWS_PER_PART",
            "help": "Rows in each result part of a job submitted from now on: the unit of work "
            "redone after a crash.",
            "metavar": "N",
        },
    )
    webhook_secret: str = field(
        default="",
        metadata={
            "flag": "--webhook-secret",
            "env": "EMBER_WEBHOOK_SECRET",
            "help": "Secret that signs job webhooks: X-Ember-Signature is sha256=<hex "
            'HMAC-SHA256(secret, "<X-Ember-Timestamp>.<body>")>. Empty: unsigned.',
            "metavar": "SECRET",
        },
    )
    webhook_attempts: int = field(
        default=5,
        metadata={
            "flag": "--webhook-attempts",
            "env": "EMBER_WEBHOOK_ATTEMPTS",
            "help": "Deliveries tried per job webhook before giving up (each recorded on the job).",
            "metavar": "N",
        },
    )
    webhook_backoff_s: float = field(
        default=1.0,
        metadata={
            "flag": "--webhook-backoff",
            "env": "EMBER_WEBHOOK_BACKOFF",
            "help": "Seconds before the first webhook retry; each later retry waits twice as "
            "long as the one before.",
            "metavar": "SECONDS",
        },
    )
