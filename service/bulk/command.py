"""``ember batch INPUT OUTPUT``: load the model as ``ember serve`` would, run the corpus through
its core (:mod:`.runner`), and report."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from ember.service.bulk import runner, source
from ember.service.bulk.errors import BatchError
from ember.service.bulk.progress import Progress, resolve_mode
from ember.service.bulk.settings import BatchSettings, resolve
from ember.service.bulk.store import PartStore
from ember.service.loading import load_core
from ember.service.model_entries import model_entries
from ember.service.settings import ServerSettings
from ember.service.threads import SharedThreads


async def batch(
    input_path: Path, output: Path, settings: ServerSettings, batch_settings: BatchSettings
) -> runner.Summary:
    """Compute ``input_path``'s rows into the folder ``output`` (resuming a run cut short)."""
    b = batch_settings
    mode = resolve_mode(b.progress, sys.stderr)
    entries = model_entries(settings)
    if len(entries) != 1:
        raise BatchError(f"ember batch runs one model; {len(entries)} were given")
    if b.rows_per_part < 1 or b.parts_in_flight < 1:
        raise BatchError("--rows-per-part and --parts-in-flight must be at least 1")
    files = source.list_inputs(input_path)
    entry = entries[0]
    threads = SharedThreads(settings.tokenizer_workers)
    started = time.monotonic()
    try:
        core = await load_core(
            entry.engine, entry.settings, threads, min_client_batch_size=b.rows_per_part
        )
        try:
            info = core.info
            options = resolve(b.task_options(), info)
            manifest = {
                "input": source.describe(files),
                "model": info.model_id,
                "precision": f"{info.backend} {info.dtype}",
                "task": options.describe(),
                "id_column": b.id_column,
                "rows_per_part": b.rows_per_part,
            }
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
            core.start()
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
        finally:
            await core.close()
    finally:
        threads.close()
