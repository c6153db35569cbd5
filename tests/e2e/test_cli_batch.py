"""End to end: ``ember batch`` as a subprocess on the real MiniLM model, checked against
sentence-transformers, killed with SIGKILL mid-run and resumed."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

EMBER = Path(sys.executable).parent / "ember"
WORDS = (
    *("ember", "serves", "embeddings", "over", "grpc", "and", "rest;", "a", "café", "in"),
    *("Zürich", "serves", "crème", "brûlée", "while", "parquet", "parts", "land", "on"),
    *("disk", "in", "input", "order,", "each", "written", "once"),
)


#: The kill test's corpus: big enough that the kill lands mid-run, small enough to stay fast.
ROWS, PART = 500, 25


def corpus(rows: int, seed: int = 0, longest: int = 60) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [
        {
            "doc_id": f"doc-{i:05d}",
            "text": " ".join(rng.choices(WORDS, k=rng.randint(4, longest))),
        }
        for i in range(rows)
    ]


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def batch_args(input_path: Path, output: Path, *extra: str) -> list[str]:
    return [
        str(EMBER),
        "batch",
        str(input_path),
        str(output),
        "--id-column",
        "doc_id",
        "--log-level",
        "warning",
        *extra,
    ]


def read_output(output: Path) -> pa.Table:
    return ds.dataset(output, format="parquet").to_table()


@pytest.fixture(scope="module")
def st_model(minilm_path: Path) -> object:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path), device="cpu")


def reference(model: object, texts: list[str]) -> np.ndarray:
    return np.asarray(model.encode(texts, normalize_embeddings=True, batch_size=64))  # type: ignore[attr-defined]


def test_embeds_a_folder_of_parts_in_input_order(tmp_path: Path, st_model: object) -> None:
    rows = corpus(160, longest=30)
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "part-b.jsonl", rows[70:])
    pq.write_table(pa.Table.from_pylist(rows[:70]), folder / "part-a.parquet")
    out = tmp_path / "out"
    done = subprocess.run(
        batch_args(folder, out, "--rows-per-part", "64", "--progress", "lines"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "ember batch: done: 160 rows" in done.stdout
    assert "160/160 rows (100.0%)" in done.stderr
    table = read_output(out)
    assert table.column_names == ["doc_id", "embedding"]
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 384)
    assert table.column("doc_id").to_pylist() == [r["doc_id"] for r in rows]
    vectors = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(-1, 384)
    cosine = (vectors * reference(st_model, [r["text"] for r in rows])).sum(axis=1)
    assert cosine.min() >= 0.9999
    assert sorted(p.name for p in out.iterdir())[:2] == ["_SUCCESS", "_ember_batch.json"]
    assert len(list(out.glob("part-*.parquet"))) == 3  # 64 rows a part


def run_until_parts(args: list[str], out: Path, parts: int) -> subprocess.Popen[str]:
    """``ember batch`` started, returned once ``parts`` parts are in ``out`` (still running)."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("part-*.parquet"))) < parts:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no part written in time"
            time.sleep(0.05)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def interrupted_run(
    tmp_path: Path, seed: int, parts: int, sig: signal.Signals
) -> tuple[list[dict[str, str]], Path, list[str], int | None, str]:
    """A run over ROWS rows stopped by ``sig`` once ``parts`` parts are written: its rows,
    output folder, command, exit status and stderr."""
    rows = corpus(ROWS, seed=seed, longest=16)
    source = write_jsonl(tmp_path / "corpus.jsonl", rows)
    out = tmp_path / "out"
    args = batch_args(source, out, "--rows-per-part", str(PART), "--progress", "none")
    proc = run_until_parts(args, out, parts)
    try:
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return rows, out, args, proc.returncode, stderr


def test_kill_9_mid_run_then_rerun_has_every_row_exactly_once(
    tmp_path: Path, st_model: object
) -> None:
    rows, out, args, status, _ = interrupted_run(tmp_path, 1, 3, signal.SIGKILL)
    assert status == -signal.SIGKILL
    written = {p.name for p in out.glob("part-*.parquet")}
    assert 3 <= len(written) < ROWS // PART, "the kill must land mid-run"
    assert not (out / "_SUCCESS").exists()

    second = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert (out / "_SUCCESS").exists()
    # Parts written before the kill were kept, not computed again.
    assert f"{ROWS - PART * len(written):,} computed now" in second.stdout
    table = read_output(out)
    ids = table.column("doc_id").to_pylist()
    assert ids == [r["doc_id"] for r in rows]  # every row once, in input order
    vectors = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(-1, 384)
    sample = list(range(0, ROWS, 7))
    cosine = (vectors[sample] * reference(st_model, [rows[i]["text"] for i in sample])).sum(1)
    assert cosine.min() >= 0.9999


def test_ctrl_c_mid_run_is_one_line_and_a_rerun_finishes(tmp_path: Path) -> None:
    rows, out, args, status, stderr = interrupted_run(tmp_path, 2, 2, signal.SIGINT)
    assert status == 130, stderr
    assert "ember batch: interrupted; the parts written so far are kept in" in stderr
    assert "Traceback" not in stderr, stderr
    assert not (out / "_SUCCESS").exists()
    second = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    ids = read_output(out).column("doc_id").to_pylist()
    assert ids == [r["doc_id"] for r in rows]


def test_bad_input_and_a_changed_command_fail_clearly(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", [{"doc_id": "a", "body": "no text column"}])
    failed = subprocess.run(
        batch_args(source, tmp_path / "out", "--column", "text"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 2
    assert "ember: error:" in failed.stderr
    assert "row 0 (0-based, in this file) has no value in column 'text'" in failed.stderr
    assert "Traceback" not in failed.stderr

    good = write_jsonl(tmp_path / "g.jsonl", corpus(5))
    out = tmp_path / "out2"
    assert subprocess.run(batch_args(good, out), capture_output=True, timeout=120).returncode == 0
    changed = subprocess.run(
        batch_args(good, out, "--dimensions", "128"), capture_output=True, text=True, timeout=120
    )
    assert changed.returncode == 2
    assert "holds another run's parts (it differs in task)" in changed.stderr


def test_bad_precision_options_are_usage_errors(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", corpus(3))
    unknown = subprocess.run(
        batch_args(source, tmp_path / "o1", "--precision", "int4"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 2
    assert "--precision" in unknown.stderr
    assert "int4" in unknown.stderr
    no_ranges = subprocess.run(
        batch_args(source, tmp_path / "o2", "--precision", "int8"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert no_ranges.returncode == 2
    assert "ember: error: --precision int8 needs --ranges PATH" in no_ranges.stderr
    assert "Traceback" not in no_ranges.stderr
    assert not list((tmp_path / "o2").glob("*"))  # nothing written
