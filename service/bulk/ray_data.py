"""``ember batch INPUT OUTPUT --ray-address ADDR``: the same run on a Ray cluster, through
Ray Data, with the same output and the same resumability as a run in one process.

- **Read.** Ray Data reads the input (``read_parquet`` / ``read_json`` / ``read_csv``, on the
  cluster, from any filesystem pyarrow reaches), one file after the other in name order, with
  ordered execution; the driver checks each batch as a local run does (:func:`source.checked`)
  and cuts the rows into the local run's parts (:func:`source.rechunk`: part ``k`` is rows
  ``[k * rows_per_part, (k + 1) * rows_per_part)``), so a part means the same rows whichever
  ran it. Parts already in OUTPUT are read past; the others go to the object store, each row
  with its number.
- **Compute.** ``map_batches`` over those parts with a pool of ``--ray-actors`` actors
  (:class:`PartWorker`), each loading the model exactly as ``ember serve`` and a local
  ``ember batch`` do (:func:`command.loaded_core`) and running its parts through the service
  core (:func:`tasks.compute`), ``--parts-in-flight`` at once per actor.
- **Write.** The driver takes the results as they come and writes each part, once all its
  rows are back, with the local run's :class:`PartStore` (atomic parts, the same names and the
  same manifest), so the output folder is the same as a local run's, and either kind of run
  resumes the other's. OUTPUT is a path of the driver's machine (a local or mounted disk):
  a part's atomic rename needs a filesystem that has one.

After the driver dies (even ``kill -9``) its actors end with it; a rerun of the same command
reads the input again and computes only the parts missing from OUTPUT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.engines.types import ModelInfo
from ember.service.bulk import source
from ember.service.bulk.command import check, loaded_core
from ember.service.bulk.errors import BatchError
from ember.service.bulk.progress import Progress, resolve_mode
from ember.service.bulk.runner import Summary, part_table
from ember.service.bulk.settings import BatchSettings, TaskOptions, resolve
from ember.service.bulk.source import Chunk, InputFile
from ember.service.bulk.store import PartStore, run_manifest
from ember.service.bulk.tasks import compute
from ember.service.core import Core
from ember.service.loading import default_loader
from ember.service.model_entries import model_entries
from ember.service.ray_settings import no_usage_stats_for_local_cluster
from ember.service.settings import ServerSettings

#: Each row's number in the input (from 0), carried from the driver to the actors and back.
ROW = "__ember_row"
#: The tokens a part fed the model, on the first row of the part's result (0 on the others).
TOKENS = "__ember_tokens"

T = TypeVar("T")


def batch_on_ray(
    input_uri: str, output: Path, settings: ServerSettings, batch_settings: BatchSettings
) -> Summary:
    """Compute the rows of ``input_uri`` (a local path or a URI) into the folder ``output`` on
    the Ray cluster at ``--ray-address`` (resuming a run cut short); see the module docstring."""
    # Ray Data logs a failed read or UDF with its own stack before raising it; the run
    # reports the error itself, naming the file or row (set it to debug Ray Data itself).
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "CRITICAL")
    import ray

    b = batch_settings
    check(settings, b)
    mode = resolve_mode(b.progress, sys.stderr)
    filesystem, files = open_input(input_uri)
    started = time.monotonic()
    address = None if b.ray_address == "local" else b.ray_address
    no_usage_stats_for_local_cluster(address)
    ray.init(
        address=address,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    try:
        _quiet_ray_data()
        resources = {"num_cpus": b.ray_actor_cpus, "num_gpus": b.ray_actor_gpus}
        info: ModelInfo = ray.get(ray.remote(_model_info).options(**resources).remote(settings))
        options = resolve(b.task_options(), info)
        manifest = run_manifest(source.describe(files), info, options, b.id_column, b.rows_per_part)
        store = PartStore(output, manifest)
        print(
            f"ember batch: {info.model_id} ({info.backend}, {info.dtype} on {info.device}) "
            f"on Ray at {b.ray_address}, {b.ray_actors} engine(s); task {options.name}; "
            f"{len(files)} input file(s)",
            file=sys.stderr,
            flush=True,
        )
        todo = _read_parts(filesystem, files, options, b, store.done())
        print(
            f"ember batch: {todo.rows:,} rows read {time.monotonic() - started:.1f}s after "
            f"start; {len(todo.refs)} part(s) to compute",
            file=sys.stderr,
            flush=True,
        )
        progress = Progress(
            sys.stderr, mode=mode, total_rows=todo.rows, interval_s=b.progress_interval_s
        )
        progress.skip(todo.rows - sum(todo.sizes.values()))
        try:
            computed, written, tokens = _compute(todo, store, settings, options, b, progress)
        finally:
            progress.close()
        store.finish(todo.rows)
        return Summary(rows=todo.rows, computed_rows=computed, written_parts=written, tokens=tokens)
    finally:
        ray.shutdown()


def open_input(uri: str) -> tuple[Any, list[InputFile]]:
    """The pyarrow filesystem of ``uri`` (a local path, or a URI such as ``s3://bucket/dir``
    or ``file:///data``) and its input files, as a local run lists them. A local path must be
    the same on every node of the cluster (a shared disk)."""
    from pyarrow import fs

    if "://" not in uri:
        # Absolute: Ray's workers read it, and their working directory is not this one.
        return fs.LocalFileSystem(), source.list_inputs(Path(uri).absolute())
    try:
        filesystem, root = fs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BatchError(f"cannot open the input {uri!r}: {exc}") from None
    return filesystem, source.list_files(filesystem, root)


def _quiet_ray_data() -> None:
    """Ray Data's progress bars and start-up lines off: ``ember batch`` reports its own."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    # A UDF's error reaches the driver as raised (a BatchError naming the row), not wrapped.
    ctx.raise_original_map_exception = True


def _model_info(settings: ServerSettings) -> ModelInfo:
    """The run's model as it loads on the cluster (backend and precision as the actors will
    have them), for the manifest and the task; a Ray task."""
    engine = default_loader(model_entries(settings)[0].engine)
    try:
        return engine.info
    finally:
        engine.close()


class _Todo:
    """The parts a run still computes (object references, in input order) and their sizes."""

    def __init__(self) -> None:
        self.refs: list[Any] = []
        self.sizes: dict[int, int] = {}
        self.rows = 0


def _read_parts(
    filesystem: Any,
    files: Sequence[InputFile],
    options: TaskOptions,
    b: BatchSettings,
    done: set[int],
) -> _Todo:
    """Read the input through Ray Data into parts (see the module docstring); the parts not
    in ``done`` go to the object store."""
    import ray

    text = options.text_columns
    if b.id_column is not None and b.id_column in text:
        raise BatchError(f"--id-column {b.id_column!r} is also a text column", field="id_column")
    columns = [*text, *([b.id_column] if b.id_column is not None else [])]
    batches = (
        (f, batch)
        for f in files
        for batch in source.checked(f, _read_file(filesystem, f, text, columns), text, columns)
    )
    todo = _Todo()
    for chunk in source.rechunk(batches, b.rows_per_part):
        n = chunk.table.num_rows
        todo.rows = chunk.start + n
        if chunk.index in done:
            continue
        numbered = chunk.table.append_column(
            ROW, pa.array(range(chunk.start, chunk.start + n), pa.int64())
        )
        todo.refs.append(ray.put(numbered))
        todo.sizes[chunk.index] = n
    return todo


def _read_file(
    filesystem: Any, f: InputFile, text_columns: Sequence[str], columns: Sequence[str]
) -> Iterator[pa.Table]:
    """One file's rows through Ray Data, in order, parsed as a local run parses them."""
    import ray
    from ray.data import DataContext

    DataContext.get_current().execution_options.preserve_order = True
    path = str(f.path)
    common: dict[str, Any] = {"filesystem": filesystem, "file_extensions": None}
    if f.format == "parquet":
        import pyarrow.parquet as pq

        try:
            with filesystem.open_input_file(path) as fh:
                schema = pq.read_schema(fh)
        except (pa.ArrowInvalid, OSError) as exc:
            raise BatchError(f"{f.path}: not a readable Parquet file: {exc}") from None
        source.check_parquet_schema(f, schema, text_columns, columns)
        ds = ray.data.read_parquet(path, columns=list(columns), partitioning=None, **common)
    elif f.format == "csv":
        ds = ray.data.read_csv(
            path,
            convert_options=source.csv_convert_options(text_columns),
            **common,
        )
    else:
        ds = ray.data.read_json(
            path,
            parse_options=source.json_parse_options(text_columns),
            **common,
        )
    try:
        yield from ds.iter_batches(batch_size=None, batch_format="pyarrow")
    except BatchError:
        raise
    except Exception as exc:  # Ray wraps the reader's error: name the file, not Ray's stack
        raise BatchError(f"{f.path}: cannot read it as {f.format}: {_cause(exc)}") from None


def _cause(exc: BaseException) -> BaseException:
    """The error a Ray task raised, out of Ray's wrappers."""
    from ray.exceptions import RayTaskError

    seen = 0
    while seen < 8:
        seen += 1
        inner = exc.cause if isinstance(exc, RayTaskError) else exc.__cause__
        if inner is None or inner is exc:
            break
        exc = inner
    return exc


def _compute(
    todo: _Todo,
    store: PartStore,
    settings: ServerSettings,
    options: TaskOptions,
    b: BatchSettings,
    progress: Progress,
) -> tuple[int, int, int]:
    """Run the pending parts through the actor pool and write each as it completes; the rows
    and parts written, and their tokens."""
    if not todo.refs:
        return 0, 0, 0
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    # Parts are written by number, whatever order they finish in.
    DataContext.get_current().execution_options.preserve_order = False
    results = ray.data.from_arrow_refs(todo.refs).map_batches(
        PartWorker,
        fn_constructor_kwargs={
            "settings": settings,
            "options": options,
            "id_column": b.id_column,
            "rows_per_part": b.rows_per_part,
        },
        batch_size=None,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(
            size=b.ray_actors, max_concurrent_calls_per_actor=b.parts_in_flight
        ),
        num_cpus=b.ray_actor_cpus,
        num_gpus=b.ray_actor_gpus,
    )
    pieces: dict[int, list[pa.Table]] = {}
    computed = written = tokens = 0
    try:
        for block in results.iter_batches(batch_size=None, batch_format="pyarrow"):
            for index, piece in _by_part(block, b.rows_per_part):
                pieces.setdefault(index, []).append(piece)
                if sum(p.num_rows for p in pieces[index]) < todo.sizes[index]:
                    continue
                part = pa.concat_tables(pieces.pop(index))
                if not _ordered(part):
                    part = part.sort_by(ROW)
                part_tokens = int(pc.sum(part.column(TOKENS)).as_py() or 0)
                store.write(index, part.drop_columns([ROW, TOKENS]))
                computed += part.num_rows
                written += 1
                tokens += part_tokens
                progress.add(part.num_rows, part_tokens)
    except BatchError:
        raise
    except Exception as exc:
        cause = _cause(exc)
        if isinstance(cause, BatchError):
            raise cause from None
        raise
    if pieces:  # every row went out once, so every part must have come back whole
        raise RuntimeError(f"parts {sorted(pieces)} came back incomplete from Ray")
    return computed, written, tokens


def _by_part(block: pa.Table, rows_per_part: int) -> Iterator[tuple[int, pa.Table]]:
    """``block``'s rows cut into runs of consecutive rows of one part, each with the part's
    number (a block is normally one whole part; Ray may split or merge blocks)."""
    rows = block.column(ROW).to_numpy()
    parts = rows // rows_per_part
    breaks = (np.diff(parts) != 0) | (np.diff(rows) != 1)
    start = 0
    for end in [*(np.flatnonzero(breaks) + 1).tolist(), len(rows)]:
        if end > start:
            yield int(parts[start]), block.slice(start, end - start)
        start = end


def _ordered(table: pa.Table) -> bool:
    rows = table.column(ROW).to_numpy()
    return bool(np.all(np.diff(rows) == 1))


class PartWorker:
    """One Ember engine in a Ray actor of the pool: runs parts (tables of text columns, id
    column and :data:`ROW`) through the service core and returns each part's output columns
    with :data:`ROW` and :data:`TOKENS`. Calls may come from several threads at once (up to
    ``--parts-in-flight``): they share the core on one event loop, so one part is tokenized
    while another runs."""

    def __init__(
        self,
        settings: ServerSettings,
        options: TaskOptions,
        id_column: str | None,
        rows_per_part: int,
    ) -> None:
        """Load the model (as ``ember serve`` does) on this actor's own event loop."""
        self._options = options
        self._id_column = id_column
        self._rows_per_part = rows_per_part
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="ember-batch", daemon=True).start()
        # The core stays open for the actor's life: Ray ends the actor with the run.
        self._stack = contextlib.AsyncExitStack()
        self._core: Core = self._wait(
            self._stack.enter_async_context(loaded_core(settings, rows_per_part))
        )

    def _wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __call__(self, batch: pa.Table) -> pa.Table:
        """The output of ``batch``'s rows (one part, or pieces of several)."""
        return self._wait(self._run(batch))

    async def _run(self, batch: pa.Table) -> pa.Table:
        outputs = await asyncio.gather(
            *(self._piece(piece) for _, piece in _by_part(batch, self._rows_per_part))
        )
        return pa.concat_tables(outputs)

    async def _piece(self, table: pa.Table) -> pa.Table:
        numbers = table.column(ROW)
        start = int(numbers[0].as_py())
        chunk = Chunk(start // self._rows_per_part, start, table.drop_columns([ROW]))
        result = await compute(self._core, self._options, chunk.table, start)
        tokens = np.zeros(table.num_rows, dtype=np.int64)
        tokens[0] = result.tokens
        return (
            part_table(chunk, self._id_column, result)
            .append_column(ROW, numbers)
            .append_column(TOKENS, pa.array(tokens))
        )
