"""``ember batch``'s input reading, output parts and progress lines (no model)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ember.service.bulk import source
from ember.service.bulk.errors import BatchError
from ember.service.bulk.progress import Progress, resolve_mode
from ember.service.bulk.store import PartStore

ROWS = [{"id": i, "text": f"text number {i}, with a comma"} for i in range(10)]


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    """``rows`` as the file format ``path``'s suffix names."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".csv":
        import pyarrow.csv as csv

        csv.write_csv(pa.Table.from_pylist(rows), path)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def read_all(path: Path, rows: int = 4, others: tuple[str, ...] = ("id",)) -> list[source.Chunk]:
    return list(source.read_chunks(source.list_inputs(path), ["text"], list(others), rows))


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_every_format_reads_the_same_rows_in_chunks(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"in{suffix}", ROWS)
    chunks = read_all(path)
    assert [(c.index, c.start, c.table.num_rows) for c in chunks] == [
        (0, 0, 4),
        (1, 4, 4),
        (2, 8, 2),
    ]
    table = pa.concat_tables(c.table for c in chunks)
    assert table.column_names == ["text", "id"]
    assert table.column("text").to_pylist() == [r["text"] for r in ROWS]
    assert table.column("id").to_pylist() == [r["id"] for r in ROWS]
    assert source.count_rows(source.list_inputs(path)) == (None if suffix == ".csv" else 10)


def test_a_folder_is_read_in_name_order_across_formats(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    write(folder / "b.parquet", ROWS[3:7])
    write(folder / "a.jsonl", ROWS[:3])
    write(folder / "c.csv", ROWS[7:])
    (folder / "_SUCCESS").write_text("")  # markers are skipped
    files = source.list_inputs(folder)
    assert [f.path.name for f in files] == ["a.jsonl", "b.parquet", "c.csv"]
    chunks = read_all(folder, rows=4)
    # Chunks cut across files: same boundaries as one file would give.
    assert [c.start for c in chunks] == [0, 4, 8]
    ids = [i for c in chunks for i in c.table.column("id").to_pylist()]
    assert ids == list(range(10))


def test_a_missing_column_names_the_file_and_the_columns_it_has(tmp_path: Path) -> None:
    for suffix in (".csv", ".parquet"):
        path = write(tmp_path / f"in{suffix}", [{"id": 1, "body": "x"}])
        with pytest.raises(
            BatchError, match=rf"in\{suffix}: no column 'text' \(its columns: id, body\)"
        ):
            read_all(path)
    path = write(tmp_path / "in.jsonl", [{"text": "x"}])
    with pytest.raises(BatchError, match="no row of its first block has the field 'id'"):
        read_all(path)


def test_a_null_or_missing_text_names_the_row_and_column(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [{"id": 0, "text": "a"}, {"id": 1, "text": "b"}, {"id": 2}]
    path = write(tmp_path / "in.jsonl", rows)
    with pytest.raises(
        BatchError, match=r"row 2 \(0-based, in this file\) has no value in column 'text'"
    ):
        read_all(path)
    rows[2] = {"id": 2, "text": None}
    with pytest.raises(BatchError, match=r"row 2 .* column 'text'"):
        read_all(write(tmp_path / "in.parquet", rows))


def test_malformed_files_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 0, "text": "fine"}\n{"id": 1, "text": \n')
    with pytest.raises(BatchError, match=r"bad\.jsonl: cannot read it as jsonl"):
        read_all(bad)
    numbers = write(tmp_path / "numbers.parquet", [{"id": 0, "text": 5}])
    with pytest.raises(BatchError, match="column 'text' holds int64, not text"):
        read_all(numbers)
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("hello")
    with pytest.raises(BatchError, match=r"x\.parquet: not a readable Parquet file"):
        read_all(not_parquet)
    with pytest.raises(BatchError, match="cannot tell the format"):
        source.list_inputs(_touch(tmp_path / "in.txt"))
    with pytest.raises(BatchError, match="does not exist"):
        source.list_inputs(tmp_path / "nowhere.jsonl")


def _touch(path: Path) -> Path:
    path.write_text("x")
    return path


def test_parts_are_atomic_and_a_different_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    manifest = {"task": "embed", "rows_per_part": 4}
    store = PartStore(out, manifest)
    assert store.done() == set()
    store.write(1, pa.table({"row": [4, 5]}))
    (out / ".part-000002.parquet.tmp").write_bytes(b"half a part")  # a crash mid-write
    again = PartStore(out, manifest)
    assert again.done() == {1}
    assert not (out / ".part-000002.parquet.tmp").exists()
    assert pq.read_table(out / "part-000001.parquet").column("row").to_pylist() == [4, 5]
    with pytest.raises(BatchError, match=r"another run's parts .*differs in rows_per_part"):
        PartStore(out, {**manifest, "rows_per_part": 8})
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(BatchError, match="not empty and holds no ember batch run"):
        PartStore(stray, manifest)


def test_progress_lines_and_bar() -> None:
    out = io.StringIO()
    progress = Progress(out, mode="lines", total_rows=100, interval_s=3600)
    progress.skip(20)
    progress.add(30, 600)
    progress.close()
    line = out.getvalue().strip().splitlines()[-1]
    assert line.startswith("ember batch: 50/100 rows (50.0%)")
    assert "tok/s" in line
    assert "ETA" in line
    bar = io.StringIO()
    drawn = Progress(bar, mode="bar", total_rows=None)
    drawn.add(7, 70)
    drawn.close()
    assert bar.getvalue().startswith("\r7 rows")
    assert resolve_mode("auto", io.StringIO()) == "lines"
    with pytest.raises(ValueError, match="--progress must be"):
        resolve_mode("fancy", io.StringIO())
