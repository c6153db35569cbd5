"""Run a corpus through a service core, part by part, with every stage overlapped.

One reader thread parses the input into chunks; up to ``parts_in_flight`` chunks are in the
core at once (so the next chunk is tokenized on the tokenizer pool, and its inputs are
already queued, while the engine runs the current one); one writer thread writes finished
parts. The engine thread never waits on reading, tokenizing or writing. Parts already in the
output (an earlier, interrupted run) are read past and not computed again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from ember.service.bulk.errors import BatchError
from ember.service.bulk.settings import TaskOptions
from ember.service.bulk.source import Chunk, InputFile, read_chunks
from ember.service.bulk.store import PartStore
from ember.service.bulk.tasks import Computed, compute
from ember.service.core import Core


class ProgressSink(Protocol):
    """Where a run reports its progress (:class:`ember.service.bulk.progress.Progress` on the
    command line; the job table for a server's job)."""

    def skip(self, rows: int) -> None:
        """Rows found done by an earlier run."""

    def add(self, rows: int, tokens: int) -> None:
        """Rows computed (and written) now, with the tokens they fed the model."""

    def close(self) -> None:
        """The run ended (done or not)."""


@dataclass(frozen=True)
class Summary:
    """What a run did: rows in the input, rows computed now, parts written now, tokens."""

    rows: int
    computed_rows: int
    written_parts: int
    tokens: int


async def run(
    core: Core,
    files: Sequence[InputFile],
    store: PartStore,
    options: TaskOptions,
    *,
    id_column: str | None,
    rows_per_part: int,
    parts_in_flight: int,
    progress: ProgressSink,
    background: bool = False,
) -> Summary:
    """Compute every part of the input missing from ``store``; returns when all are written
    (then ``_SUCCESS`` is written), or raises the first error (parts written stay).
    ``background``: run as job work, after the core's interactive requests."""
    if rows_per_part < 1 or parts_in_flight < 1:
        raise BatchError("--rows-per-part and --parts-in-flight must be at least 1")
    loop = asyncio.get_running_loop()
    done = store.done()
    others = [id_column] if id_column is not None else []
    if id_column is not None and id_column in options.text_columns:
        raise BatchError(f"--id-column {id_column!r} is also a text column", field="id_column")
    chunks = read_chunks(files, options.text_columns, others, rows_per_part)
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ember-batch-read")
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ember-batch-write")
    slots = asyncio.Semaphore(parts_in_flight)
    running: set[asyncio.Task[int]] = set()
    rows = computed = written = 0
    tokens = [0]

    async def part(chunk: Chunk) -> int:
        try:
            result = await compute(core, options, chunk.table, chunk.start, background=background)
            n: int = chunk.table.num_rows
            table = part_table(chunk, id_column, result)
            await loop.run_in_executor(writer, store.write, chunk.index, table)
            tokens[0] += result.tokens
            progress.add(n, result.tokens)
            return n
        finally:
            slots.release()

    try:
        while True:
            chunk = await loop.run_in_executor(reader, next, chunks, None)
            if chunk is None:
                break
            rows = chunk.start + chunk.table.num_rows
            if chunk.index in done:
                progress.skip(chunk.table.num_rows)
                continue
            await slots.acquire()
            _raise_failed(running)
            running.add(asyncio.ensure_future(part(chunk)))
        for finished in asyncio.as_completed(list(running)):
            computed += await finished
            written += 1
    except BaseException:
        for task in running:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*running, return_exceptions=True)
        raise
    finally:
        reader.shutdown(wait=False, cancel_futures=True)
        writer.shutdown(wait=True)
        progress.close()
    store.finish(rows)
    return Summary(rows=rows, computed_rows=computed, written_parts=written, tokens=tokens[0])


def part_table(chunk: Chunk, id_column: str | None, result: Computed) -> pa.Table:
    """A part's output: the id column (or ``row``, each row's position in the input), then
    the task's columns."""
    if id_column is not None:
        first: tuple[str, pa.Array | pa.ChunkedArray] = (id_column, chunk.table.column(id_column))
    else:
        n = chunk.table.num_rows
        first = ("row", pa.array(range(chunk.start, chunk.start + n), pa.int64()))
    return pa.table(dict([first, *result.columns.items()]))


def _raise_failed(running: set[asyncio.Task[int]]) -> None:
    """Stop at the first failed part (its error names the row)."""
    for task in [t for t in running if t.done()]:
        if task.exception() is not None:
            task.result()  # raises
