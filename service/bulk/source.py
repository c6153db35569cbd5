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
from collections.abc import Iterator, Sequence
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
    if path.is_dir():
        names = sorted(
            p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_"))
        )
        files = [p for p in names if p.suffix.lower() in FORMATS]
        if not files:
            raise BatchError(
                f"the input folder {str(path)!r} holds no .parquet, .jsonl or .csv file"
            )
        others = [p.name for p in names if p.suffix.lower() not in FORMATS]
        if others:
            raise BatchError(
                f"the input folder {str(path)!r} holds files of no known format: "
                f"{', '.join(others[:5])} (expected .parquet, .pq, .jsonl, .ndjson, .json, .csv)"
            )
    elif path.is_file():
        if path.suffix.lower() not in FORMATS:
            raise BatchError(
                f"cannot tell the format of {str(path)!r}: name it .parquet, .jsonl or .csv"
            )
        files = [path]
    else:
        raise BatchError(f"the input {str(path)!r} does not exist")
    out = []
    for p in files:
        stat = p.stat()
        out.append(InputFile(p, FORMATS[p.suffix.lower()], stat.st_size, stat.st_mtime_ns))
    return out


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
    pending: list[pa.Table] = []
    pending_rows = 0
    start = 0
    index = 0
    schema: pa.Schema | None = None
    for f in files:
        for batch in _read_file(f, text_columns, other_columns):
            table = pa.Table.from_batches([batch])
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


def _read_file(
    f: InputFile, text_columns: Sequence[str], other_columns: Sequence[str]
) -> Iterator[pa.RecordBatch]:
    """One file's record batches with the columns in order, every text value checked."""
    columns = [*text_columns, *other_columns]
    row = 0
    try:
        for batch in _batches(f, text_columns, columns):
            out = batch.select(columns)
            for name in text_columns:
                _check_text(f, name, out.column(name), row)
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
    schema = parquet.schema_arrow
    _require(f, columns, schema.names)
    for name in text_columns:
        kind = schema.field(name).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise BatchError(f"{f.path}: column {name!r} holds {kind}, not text (strings)")
    yield from parquet.iter_batches(batch_size=8192, columns=columns)


def _csv(f: InputFile, text_columns: Sequence[str], columns: list[str]) -> Iterator[Any]:
    import pyarrow.csv as csv

    reader = csv.open_csv(
        f.path,
        read_options=csv.ReadOptions(block_size=_BLOCK_BYTES),
        convert_options=csv.ConvertOptions(
            column_types={name: pa.string() for name in text_columns},
            # An empty field is an empty string, never a null (a text may be empty on purpose).
            strings_can_be_null=False,
        ),
    )
    _require(f, columns, reader.schema.names)
    yield from reader


def _jsonl(f: InputFile, text_columns: Sequence[str], columns: list[str]) -> Iterator[Any]:
    import pyarrow.json as pj

    reader = pj.open_json(
        f.path,
        read_options=pj.ReadOptions(block_size=_BLOCK_BYTES),
        parse_options=pj.ParseOptions(
            explicit_schema=pa.schema([(name, pa.string()) for name in text_columns]),
            unexpected_field_behavior="infer",
        ),
    )
    missing = [c for c in columns if c not in text_columns and c not in reader.schema.names]
    if missing:
        raise BatchError(
            f"{f.path}: no row of its first block has the field {missing[0]!r} "
            f"(fields seen: {', '.join(reader.schema.names)})"
        )
    yield from reader


def _require(f: InputFile, columns: Sequence[str], names: Sequence[str]) -> None:
    for name in columns:
        if name not in names:
            raise BatchError(
                f"{f.path}: no column {name!r} (its columns: {', '.join(names) or 'none'})"
            )


def _check_text(f: InputFile, name: str, values: pa.Array, first_row: int) -> None:
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
