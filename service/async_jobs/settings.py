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
