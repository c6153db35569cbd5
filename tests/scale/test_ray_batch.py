"""``ember batch --ray-address`` on a real two-node Ray cluster (each node one CPU, one engine
actor per node): the same output as a local ``ember batch`` (same layout, ids in input order,
same vectors), read from a ``file://`` URI; the driver killed (``kill -9``) mid-run, then
rerun (a relative INPUT): every row exactly once; bad input: the local run's clear error."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.e2e.test_cli_batch import batch_args, corpus, read_output, write_jsonl
from tests.scale.ray_cluster import RayCluster, ray_cluster

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with ray_cluster() as started:
        yield started


def ray_args(cluster: RayCluster, input_path: Path | str, output: Path, *extra: str) -> list[str]:
    """``ember batch`` on the cluster: two engines of one CPU and one thread each."""
    return batch_args(
        input_path,  # type: ignore[arg-type]  # a URI is a string
        output,
        "--ray-address",
        cluster.address,
        "--ray-actors",
        "2",
        "--num-threads",
        "1",
        "--progress",
        "none",
        *extra,
    )


def vectors(table: pa.Table) -> np.ndarray:
    return np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(-1, 384)


def test_same_output_as_a_local_run(cluster: RayCluster, tmp_path: Path) -> None:
    rows = corpus(230, seed=3, longest=30)
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:90]), folder / "part-a.parquet")
    write_jsonl(folder / "part-b.jsonl", rows[90:])
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    done = subprocess.run(
        batch_args(folder, local, "--rows-per-part", "40", "--progress", "none"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    ran = subprocess.run(
        ray_args(cluster, folder.as_uri(), on_ray, "--rows-per-part", "40"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    assert "ember batch: done: 230 rows" in ran.stdout
    assert "230 computed now in 6 parts" in ran.stdout
    # The same folder: the same parts, the same manifest (a local run could resume it).
    assert sorted(p.name for p in on_ray.iterdir()) == sorted(p.name for p in local.iterdir())
    assert json.loads((on_ray / "_ember_batch.json").read_text()) == json.loads(
        (local / "_ember_batch.json").read_text()
    )
    expected, got = read_output(local), read_output(on_ray)
    assert got.schema == expected.schema
    assert got.schema.field("embedding").type == pa.list_(pa.float32(), 384)
    assert got.column("doc_id").to_pylist() == [r["doc_id"] for r in rows]
    assert (vectors(got) * vectors(expected)).sum(axis=1).min() >= 0.9999


def test_quantized_output_equals_a_local_run(cluster: RayCluster, tmp_path: Path) -> None:
    """int8 with --ranges: the engine actors quantize with the driver's ranges, exactly as a
    local run does (the same integers, the same manifest)."""
    source = write_jsonl(tmp_path / "corpus.jsonl", corpus(90, seed=5, longest=20))
    ranges = tmp_path / "ranges.json"
    ranges.write_text(json.dumps([[-0.3] * 384, [0.3] * 384]))
    extra = ("--rows-per-part", "30", "--precision", "int8", "--ranges", str(ranges))
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    done = subprocess.run(
        batch_args(source, local, "--progress", "none", *extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    ran = subprocess.run(
        ray_args(cluster, source, on_ray, *extra), capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads((on_ray / "_ember_batch.json").read_text()) == json.loads(
        (local / "_ember_batch.json").read_text()
    )
    expected, got = read_output(local), read_output(on_ray)
    assert got.schema.field("embedding").type == pa.list_(pa.int8(), 384)
    assert got.column("doc_id").to_pylist() == expected.column("doc_id").to_pylist()
    # ONNX on each side may differ in the last bits: at most one step on a bin edge.
    steps = np.abs(
        np.asarray(got.column("embedding").combine_chunks().flatten(), np.int16)
        - np.asarray(expected.column("embedding").combine_chunks().flatten(), np.int16)
    )
    assert steps.max() <= 1
    assert steps.sum() <= 0.002 * steps.size


def test_driver_killed_then_rerun_has_every_row_exactly_once(
    cluster: RayCluster, tmp_path: Path
) -> None:
    total, part = 2000, 20
    rows = corpus(total, seed=4, longest=40)
    write_jsonl(tmp_path / "corpus.jsonl", rows)
    out = tmp_path / "out"
    # A relative INPUT (from the command's working directory, not the Ray workers').
    relative = Path("corpus.jsonl")
    args = ray_args(cluster, relative, out, "--rows-per-part", str(part), "--parts-in-flight", "1")
    first = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("part-*.parquet"))) < 3:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "no part written in time"
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL
    written = {p.name for p in out.glob("part-*.parquet")}
    assert 3 <= len(written) < total // part, "the kill must land mid-run"
    assert not (out / "_SUCCESS").exists()

    second = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert (out / "_SUCCESS").exists()
    # Parts written before the kill were kept, not computed again.
    assert f"{total - part * len(written):,} computed now" in second.stdout
    table = read_output(out)
    assert table.column("doc_id").to_pylist() == [r["doc_id"] for r in rows]
    norms = np.linalg.norm(vectors(table), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-4)


def error_line(args: list[str]) -> str:
    failed = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert failed.returncode == 2, failed.stderr
    assert "Traceback" not in failed.stderr
    lines = [line for line in failed.stderr.splitlines() if line.startswith("ember: error: ")]
    assert len(lines) == 1, failed.stderr
    return lines[0]


def test_bad_input_fails_with_the_local_error(cluster: RayCluster, tmp_path: Path) -> None:
    """A missing column (found on the driver) and an over-long row (found by an engine actor):
    the very error of a local run; a malformed file: named, as a local run names it."""
    no_text = tmp_path / "no-text.parquet"
    pq.write_table(pa.table({"doc_id": ["a"], "body": ["no text column"]}), no_text)
    too_long = write_jsonl(
        tmp_path / "long.jsonl",
        [{"doc_id": "a", "text": "short"}, {"doc_id": "b", "text": "word " * 600}],
    )
    for path, extra, message in (
        (no_text, (), f"{no_text}: no column 'text' (its columns: doc_id, body)"),
        (too_long, ("--truncate", "false"), "row 1 (column 'text')"),
    ):
        local = error_line(batch_args(path, tmp_path / f"local-{path.stem}", *extra))
        assert message in local
        assert error_line(ray_args(cluster, path, tmp_path / f"ray-{path.stem}", *extra)) == local

    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text('{"doc_id": "a", "text": "fine"}\n{"doc_id": "b", "text": \n', "utf-8")
    for args in (
        batch_args(malformed, tmp_path / "local-malformed"),
        ray_args(cluster, malformed, tmp_path / "ray-malformed"),
    ):
        assert error_line(args).startswith(f"ember: error: {malformed}: cannot read it as jsonl")
