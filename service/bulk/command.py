"""``ember batch INPUT OUTPUT``: load the model as ``ember serve`` would, run the corpus through
its core (:mod:`.runner`), and report; with ``--ray-address``, the same run on a Ray cluster
(:mod:`.ray_data`)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ember.service.bulk import runner, source
from ember.service.bulk.errors import BatchError
from ember.service.bulk.progress import Progress, resolve_mode
from ember.service.bulk.settings import BatchSettings, resolve
from ember.service.bulk.store import PartStore, run_manifest
from ember.service.core import Core
from ember.service.loading import load_core
from ember.service.model_entries import ModelEntry, model_entries
from ember.service.settings import ServerSettings
from ember.service.threads import SharedThreads


def check(settings: ServerSettings, batch_settings: BatchSettings) -> ModelEntry:
    """The one model of the run; a BatchError for options that cannot run."""
    entries = model_entries(settings)
    if len(entries) != 1:
        raise BatchError(f"ember batch runs one model; {len(entries)} were given")
    if batch_settings.rows_per_part < 1 or batch_settings.parts_in_flight < 1:
        raise BatchError("--rows-per-part and --parts-in-flight must be at least 1")
    return entries[0]


@contextlib.asynccontextmanager
async def loaded_core(settings: ServerSettings, rows_per_part: int) -> AsyncIterator[Core]:
    """The run's model loaded as ``ember serve`` loads it (engine, precision, warm-up,
    self-check), its scheduler started; closed with its threads when the block exits."""
    entry = model_entries(settings)[0]
    threads = SharedThreads(settings.tokenizer_workers)
    try:
        core = await load_core(
            entry.engine, entry.settings, threads, min_client_batch_size=rows_per_part
        )
        try:
            core.start()
            yield core
        finally:
            await core.close()
    finally:
        threads.close()


async def batch(
    input_path: str | Path, output: Path, settings: ServerSettings, batch_settings: BatchSettings
) -> runner.Summary:
    """Compute ``input_path``'s rows into the folder ``output`` (resuming a run cut short), in
    this process (``--ray-address``: :func:`ember.service.bulk.ray_data.batch_on_ray`)."""
    b = batch_settings
    check(settings, b)
    location = str(input_path)
    if "://" in location:
        raise BatchError(
            f"the input {location!r} is a URI: ember batch reads URIs on Ray (--ray-address); "
            "without it, give a local file or folder"
        )
    mode = resolve_mode(b.progress, sys.stderr)
    files = source.list_inputs(Path(location))
    started = time.monotonic()
    async with loaded_core(settings, b.rows_per_part) as core:
        info = core.info
        options = resolve(b.task_options(), info)
        manifest = run_manifest(source.describe(files), info, options, b.id_column, b.rows_per_part)
        store = PartStore(output, manifest)
        loop = asyncio.get_running_loop()
        total = await loop.run_in_executor(None, source.count_rows, files)
        print(
            f"ember batch: {info.model_id} ({info.backend}, {info.dtype} on {info.device}) "
            f"loaded in {time.monotonic() - started:.1f}s; task {options.name}; "
            f"{len(files)} input file(s), "
            + (f"{total:,} rows" if total is not None else "rows counted as read"),
            file=sys.stderr,
            flush=True,
        )
        progress = Progress(
            sys.stderr, mode=mode, total_rows=total, interval_s=b.progress_interval_s
        )
        return await runner.run(
            core,
            files,
            store,
            options,
            id_column=b.id_column,
            rows_per_part=b.rows_per_part,
            parts_in_flight=b.parts_in_flight,
            progress=progress,
        )
