"""The output of a bulk run: a folder of Parquet parts, each written atomically.

Part ``k`` (``part-00000k.parquet``) holds the results of input chunk ``k``, in input order,
so reading the folder's parts in name order (as pyarrow, pandas, Polars, DuckDB, Spark and
Ray do) gives the rows in input order. A part is written to a hidden temporary file, flushed
to disk, then renamed into place: after a crash (even ``kill -9`` or a power cut) a part is
either whole or absent, never half there. A rerun of the same command finds the parts that
exist and computes only the others, so every row is in the output exactly once.

``_ember_batch.json`` records what the run computes (input files, task, model, options,
rows per part); a rerun whose command differs is refused rather than mixing two runs in one
folder. ``_SUCCESS`` is written when every part is there.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ember.engines.types import ModelInfo
from ember.service.bulk.errors import BatchError
from ember.service.bulk.settings import TaskOptions

MANIFEST = "_ember_batch.json"
SUCCESS = "_SUCCESS"
_PART = re.compile(r"^part-(\d{6})\.parquet$")


def run_manifest(
    inputs: list[dict[str, object]],
    info: ModelInfo,
    options: TaskOptions,
    id_column: str | None,
    rows_per_part: int,
) -> dict[str, object]:
    """What a run computes, as its manifest records it: the same for a local run and a run on
    Ray, so either can resume the other's output."""
    return {
        "input": inputs,
        "model": info.model_id,
        "precision": f"{info.backend} {info.dtype}",
        "task": options.describe(),
        "id_column": id_column,
        "rows_per_part": rows_per_part,
    }


def part_name(index: int) -> str:
    """The file name of part ``index``."""
    return f"part-{index:06d}.parquet"


class PartStore:
    """The output folder of one run; see the module docstring."""

    def __init__(self, folder: Path, manifest: Mapping[str, object]) -> None:
        """Open ``folder`` for the run ``manifest`` describes: create it, or resume the same
        run in it. A folder holding other files, or another run's output, is refused."""
        self.folder = folder
        self._manifest = dict(manifest)
        if folder.exists() and not folder.is_dir():
            raise BatchError(f"the output {str(folder)!r} is a file; OUTPUT is a folder of parts")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / MANIFEST
        if path.exists():
            try:
                recorded = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise BatchError(f"cannot read {path}: {exc}") from None
            if recorded != self._manifest:
                raise BatchError(
                    f"the output folder {str(folder)!r} holds another run's parts "
                    f"({_difference(recorded, self._manifest)}); write to a new folder, or "
                    "delete this one to start over"
                )
        else:
            strays = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
            if strays:
                raise BatchError(
                    f"the output folder {str(folder)!r} is not empty and holds no ember batch "
                    f"run ({', '.join(sorted(strays)[:3])}); write to a new or empty folder"
                )
            _write_atomically(path, json.dumps(self._manifest, indent=2, sort_keys=True))
        for stale in folder.glob(".*.tmp"):  # a write cut short by a crash
            stale.unlink()

    def done(self) -> set[int]:
        """The parts already written."""
        out = set()
        for p in self.folder.iterdir():
            match = _PART.match(p.name)
            if match:
                out.add(int(match.group(1)))
        return out

    def write(self, index: int, table: pa.Table) -> None:
        """Write part ``index`` atomically (see the module docstring)."""
        final = self.folder / part_name(index)
        tmp = self.folder / f".{final.name}.tmp"
        with tmp.open("wb") as fh:
            pq.write_table(table, fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(self.folder)

    def finish(self, rows: int) -> None:
        """Mark the run complete (every part written): ``_SUCCESS`` with the row count."""
        _write_atomically(self.folder / SUCCESS, json.dumps({"rows": rows}))


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the directory entry itself is on disk)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _difference(recorded: object, wanted: Mapping[str, object]) -> str:
    if not isinstance(recorded, dict):
        return "an unreadable manifest"
    keys = sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))
    return "it differs in " + ", ".join(keys) if keys else "a different run"
