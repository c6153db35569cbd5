"""The input of a bulk run: Parquet, JSONL or CSV rows, read as numbered chunks.

INPUT is one file or a folder of parts, read in name order (files whose names start with
``.`` or ``_`` are skipped, as Spark, Ray and pyarrow write markers so). Rows are numbered
from 0 across all files; chunk ``k`` holds rows ``[k * rows, (k + 1) * rows)`` whatever the
files' sizes, so the same input always splits into the same chunks (what resuming relies on).

Only the needed columns are read. Text columns must hold strings in every row: a missing
column, a null or a non-string value is a :class:`BatchError` naming the file, the row and the
column, never a row quietly dropped or turned into ``"None"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ember.service.bulk.errors import BatchError

#: File name suffix -> format.
FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
}

#: Bytes pyarrow parses at a time from JSONL and CSV (it needs whole lines in a block).
_BLOCK_BYTES = 4 << 20


@dataclass(frozen=True)
class InputFile:
    """One input file and what identifies its content for resuming (size, modification)."""

    path: Path
    format: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Chunk:
    """Rows ``start .. start + table.num_rows - 1`` of the input (chunk number ``index``)."""

    index: int
    start: int
    table: pa.Table


def list_inputs(path: Path) -> list[InputFile]:
    """The input files of ``path`` (a file, or a folder's files in name order)."""
    from pyarrow import fs

    return list_files(fs.LocalFileSystem(), str(path))


def list_files(filesystem: Any, root: str) -> list[InputFile]:
    """The input files at ``root`` of a pyarrow ``filesystem`` (a file, or a folder's files in
    name order); each :attr:`InputFile.path` is the filesystem's own path of the file."""
    from pyarrow import fs

    try:
        top = filesystem.get_file_info(root)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BatchError(f"cannot reach the input {root!r}: {exc}") from None
    if top.type == fs.FileType.Directory:
        entries = sorted(
            (
                e
                for e in filesystem.get_file_info(fs.FileSelector(root))
                if e.type == fs.FileType.File and not e.base_name.startswith((".", "_"))
            ),
            key=lambda e: e.base_name,
        )
        found = [e for e in entries if _suffix(e.base_name) in FORMATS]
        if not found:
            raise BatchError(f"the input folder {root!r} holds no .parquet, .jsonl or .csv file")
        others = [e.base_name for e in entries if _suffix(e.base_name) not in FORMATS]
        if others:
            raise BatchError(
                f"the input folder {root!r} holds files of no known format: "
                f"{', '.join(others[:5])} (expected .parquet, .pq, .jsonl, .ndjson, .json, .csv)"
            )
    elif top.type == fs.FileType.File:
        if _suffix(top.base_name) not in FORMATS:
            raise BatchError(
                f"cannot tell the format of {root!r}: name it .parquet, .jsonl or .csv"
            )
        found = [top]
    else:
        raise BatchError(f"the input {root!r} does not exist")
    return [
        InputFile(Path(e.path), FORMATS[_suffix(e.base_name)], e.size or 0, e.mtime_ns or 0)
        for e in found
    ]


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def count_rows(files: Sequence[InputFile]) -> int | None:
    """The number of input rows when it is cheap to know (Parquet metadata, JSONL lines);
    None when a CSV file is among the inputs (a quoted field may span lines)."""
    import pyarrow.parquet as pq

    total = 0
    for f in files:
        if f.format == "parquet":
            total += pq.ParquetFile(f.path).metadata.num_rows
        elif f.format == "jsonl":
            total += _count_lines(f.path)
        else:
            return None
    return total


def _count_lines(path: Path) -> int:
    lines = 0
    last = b"\n"
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def read_chunks(
    files: Sequence[InputFile],
    text_columns: Sequence[str],
    other_columns: Sequence[str],
    rows_per_chunk: int,
) -> Iterator[Chunk]:
    """The input as chunks of ``rows_per_chunk`` rows (the last may be shorter), each a table
    of ``text_columns`` (strings) then ``other_columns`` (as the files hold them)."""
    columns = [*text_columns, *other_columns]
    return rechunk(
        (
            (f, batch)
            for f in files
            for batch in checked(f, _batches(f, text_columns, columns), text_columns, columns)
        ),
        rows_per_chunk,
    )


def rechunk(
    batches: Iterable[tuple[InputFile, pa.RecordBatch | pa.Table]], rows_per_chunk: int
) -> Iterator[Chunk]:
    """Checked batches (:func:`checked`), in input order, cut into chunks of ``rows_per_chunk``
    rows numbered from 0 whatever the batches' sizes; a file whose column types differ from the
    first file's is converted to them."""
    pending: list[pa.Table] = []
    pending_rows = 0
    start = 0
    index = 0
    schema: pa.Schema | None = None
    for f, batch in batches:
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        if schema is None:
            schema = table.schema
        elif table.schema != schema:
            table = _cast(table, schema, f)
        pending.append(table)
        pending_rows += table.num_rows
        while pending_rows >= rows_per_chunk:
            whole = pa.concat_tables(pending)
            yield Chunk(index, start, whole.slice(0, rows_per_chunk))
            rest = whole.slice(rows_per_chunk)
            pending, pending_rows = [rest], rest.num_rows
            start += rows_per_chunk
            index += 1
    if pending_rows:
        yield Chunk(index, start, pa.concat_tables(pending))


def _cast(table: pa.Table, schema: pa.Schema, f: InputFile) -> pa.Table:
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise BatchError(
            f"{f.path}: its columns' types ({_types(table.schema)}) differ from the first "
            f"file's ({_types(schema)}) and cannot be converted: {exc}"
        ) from None


def _types(schema: pa.Schema) -> str:
    return ", ".join(f"{field.name}: {field.type}" for field in schema)


def checked(
    f: InputFile,
    batches: Iterable[pa.RecordBatch | pa.Table],
    text_columns: Sequence[str],
    columns: Sequence[str],
) -> Iterator[pa.RecordBatch | pa.Table]:
    """One file's batches (as its reader gives them) with just ``columns``, in order, every
    text value checked; a batch that lacks a column, or a file that does not parse, is a
    :class:`BatchError` naming the file (and the row)."""
    row = 0
    try:
        for batch in batches:
            require_columns(f, columns, batch.schema.names)
            out = batch.select(list(columns))
            for name in text_columns:
                check_text(f, name, out.column(name), row)
            row += out.num_rows
            yield out
    except pa.ArrowInvalid as exc:
        raise BatchError(f"{f.path}: cannot read it as {f.format} after row {row}: {exc}") from None


def _batches(f: InputFile, text_columns: Sequence[str], columns: list[str]) -> Iterator[Any]:
    if f.format == "parquet":
        return _parquet(f, text_columns, columns)
    if f.format == "csv":
        return _csv(f, text_columns, columns)
    return _jsonl(f, text_columns, columns)


def _parquet(f: InputFile, text_columns: Sequence[str], columns: list[str]) -> Iterator[Any]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(f.path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BatchError(f"{f.path}: not a readable Parquet file: {exc}") from None
    check_parquet_schema(f, parquet.schema_arrow, text_columns, columns)
    yield from parquet.iter_batches(batch_size=8192, columns=columns)


def check_parquet_schema(
    f: InputFile, schema: pa.Schema, text_columns: Sequence[str], columns: Sequence[str]
) -> None:
    """A Parquet file's schema has ``columns``, and its text columns hold strings."""
    require_columns(f, columns, schema.names)
    for name in text_columns:
        kind = schema.field(name).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise BatchError(f"{f.path}: column {name!r} holds {kind}, not text (strings)")


def _csv(f: InputFile, text_columns: Sequence[str], columns: list[str]) -> Iterator[Any]:
    import pyarrow.csv as csv

    reader = csv.open_csv(
        f.path,
        read_options=csv.ReadOptions(block_size=_BLOCK_BYTES),
        convert_options=csv_convert_options(text_columns),
    )
    require_columns(f, columns, reader.schema.names)
    yield from reader


def _jsonl(f: InputFile, text_columns: Sequence[str], columns: list[str]) -> Iterator[Any]:
    import pyarrow.json as pj

    reader = pj.open_json(
        f.path,
        read_options=pj.ReadOptions(block_size=_BLOCK_BYTES),
        parse_options=json_parse_options(text_columns),
    )
    require_columns(f, columns, reader.schema.names)
    yield from reader


def csv_convert_options(text_columns: Sequence[str]) -> Any:
    """How a CSV input is parsed: text columns as strings, whatever their values look like."""
    import pyarrow.csv as csv

    return csv.ConvertOptions(
        column_types={name: pa.string() for name in text_columns},
        # An empty field is an empty string, never a null (a text may be empty on purpose).
        strings_can_be_null=False,
    )


def json_parse_options(text_columns: Sequence[str]) -> Any:
    """How a JSONL input is parsed: text fields as strings (absent: null, then refused)."""
    import pyarrow.json as pj

    return pj.ParseOptions(
        explicit_schema=pa.schema([(name, pa.string()) for name in text_columns]),
        unexpected_field_behavior="infer",
    )


def require_columns(f: InputFile, columns: Sequence[str], names: Sequence[str]) -> None:
    """``names`` (the columns read from ``f``) hold ``columns``."""
    for name in columns:
        if name in names:
            continue
        if f.format == "jsonl":
            # A JSONL file's columns are the fields of the rows of its first block.
            raise BatchError(
                f"{f.path}: no row of its first block has the field {name!r} "
                f"(fields seen: {', '.join(names)})"
            )
        raise BatchError(
            f"{f.path}: no column {name!r} (its columns: {', '.join(names) or 'none'})"
        )


def check_text(f: InputFile, name: str, values: pa.Array, first_row: int) -> None:
    """Every value of the text column ``name`` is there (rows from ``first_row`` of ``f``)."""
    nulls = values.null_count
    if nulls:
        at = first_row + int(pc.index(pc.is_null(values), True).as_py())
        raise BatchError(
            f"{f.path}: row {at} (0-based, in this file) has no value in column {name!r}",
            field=name,
            index=at,
        )


def describe(files: Sequence[InputFile]) -> list[dict[str, object]]:
    """What identifies the input, for the output's manifest (names, sizes, modification)."""
    return [
        {"name": os.path.basename(f.path), "size": f.size, "mtime_ns": f.mtime_ns} for f in files
    ]
