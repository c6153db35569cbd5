"""``ember batch --ray-address``'s pure parts, without a cluster: the input listed from a URI
as a local run lists the path, and results cut into runs of consecutive rows of one part."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyarrow as pa
import pytest

from ember.service.bulk import source
from ember.service.bulk.command import batch
from ember.service.bulk.errors import BatchError
from ember.service.bulk.ray_data import ROW, _by_part, open_input
from ember.service.bulk.settings import BatchSettings
from ember.service.settings import ServerSettings


def test_a_file_uri_lists_as_the_local_path(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("b.jsonl", "a.parquet", "_SUCCESS", ".hidden.csv", "c.csv"):
        (folder / name).write_text("x\n")
    _, from_uri = open_input(folder.as_uri())
    _, from_path = open_input(str(folder))
    assert from_uri == from_path == source.list_inputs(folder)
    assert [f.path.name for f in from_uri] == ["a.parquet", "b.jsonl", "c.csv"]
    assert source.describe(from_uri)[0]["size"] == 2
    with pytest.raises(BatchError, match="does not exist"):
        open_input((tmp_path / "nowhere").as_uri())
    (folder / "notes.txt").write_text("?")
    with pytest.raises(BatchError, match=r"no known format: notes\.txt"):
        open_input(folder.as_uri())


def test_rows_group_back_into_their_parts() -> None:
    rows = [38, 39, 40, 41, 79, 80, 12]
    block = pa.table({ROW: pa.array(rows, pa.int64()), "v": list(range(len(rows)))})
    groups = [(index, t.column(ROW).to_pylist()) for index, t in _by_part(block, 40)]
    assert groups == [(0, [38, 39]), (1, [40, 41]), (1, [79]), (2, [80]), (0, [12])]


def test_a_uri_without_ray_is_refused(tmp_path: Path) -> None:
    run = batch("s3://bucket/corpus.parquet", tmp_path / "out", ServerSettings(), BatchSettings())
    with pytest.raises(BatchError, match=r"reads URIs on Ray \(--ray-address\)"):
        asyncio.run(run)
    assert not (tmp_path / "out").exists()
