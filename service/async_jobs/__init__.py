"""Async jobs on the server: work submitted now, run in the background, durable across restarts.

- :mod:`.records`: a job as the service sees it (no protobuf);
- :mod:`.store`: the durable job table (SQLite in the server's data folder);
- :mod:`.manager`: submit, run (through ``ember batch``'s runner, so a job is a resumable
  bulk run into Parquet parts), cancel, watch; resumes unfinished jobs at start;
- :mod:`.servicer`: the gRPC ``JobService``.
"""
