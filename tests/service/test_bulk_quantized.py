"""``ember batch --precision``: the ``embedding`` column in every quantized format, in process on
the real MiniLM, against sentence-transformers' ``quantize_embeddings`` of its own float32
embeddings (int8/uint8 with the same ``--ranges``); and the option errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from ember.engines.quantize import Precision
from ember.engines.types import ModelInfo, ModelKind
from ember.service.bulk.command import batch
from ember.service.bulk.errors import BatchError
from ember.service.bulk.settings import BatchSettings, resolve
from ember.service.settings import ServerSettings
from tests.service.quantized_reference import (
    DIM,
    TEXTS,
    assert_quantized_like,
    calibrated_ranges,
    reference_embeddings,
)


@pytest.fixture(scope="module")
def reference(minilm_path: Path) -> np.ndarray:
    return reference_embeddings(minilm_path)


@pytest.fixture(scope="module")
def ranges(reference: np.ndarray) -> np.ndarray:
    return calibrated_ranges(reference)


def run(model: Path, out: Path, **options: object) -> pa.Table:
    source = out.parent / "corpus.parquet"
    if not source.exists():  # a rerun reads the very same file
        pq.write_table(pa.table({"text": TEXTS}), source)
    settings = ServerSettings(model=(str(model),))
    b = BatchSettings(progress="none", rows_per_part=4, **options)  # type: ignore[arg-type]
    asyncio.run(batch(source, out, settings, b))
    return ds.dataset(out, format="parquet").to_table()


@pytest.mark.parametrize(
    ("precision", "arrow_type", "width", "ranges_format"),
    [
        (Precision.INT8, pa.int8(), DIM, "npy"),
        (Precision.UINT8, pa.uint8(), DIM, "json"),
        (Precision.BINARY, pa.int8(), DIM // 8, None),
        (Precision.UBINARY, pa.uint8(), DIM // 8, None),
    ],
)
def test_each_precision_equals_quantize_embeddings(
    minilm_path: Path,
    reference: np.ndarray,
    ranges: np.ndarray,
    tmp_path: Path,
    precision: Precision,
    arrow_type: pa.DataType,
    width: int,
    ranges_format: str | None,
) -> None:
    from sentence_transformers.util.quantization import quantize_embeddings

    options: dict[str, object] = {"precision": precision}
    if ranges_format == "npy":
        np.save(tmp_path / "ranges.npy", ranges)
        options["ranges"] = str(tmp_path / "ranges.npy")
    elif ranges_format == "json":
        (tmp_path / "ranges.json").write_text(json.dumps(ranges.tolist()))
        options["ranges"] = str(tmp_path / "ranges.json")
    table = run(minilm_path, tmp_path / "out", **options)

    assert table.column_names == ["row", "embedding"]
    assert table.schema.field("embedding").type == pa.list_(arrow_type, width)
    got = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(-1, width)
    used = ranges if precision.scalar else None
    expected = quantize_embeddings(reference, precision.value, ranges=used)
    assert_quantized_like(got, expected, precision.scalar)

    manifest = json.loads((tmp_path / "out" / "_ember_batch.json").read_text())
    assert manifest["task"]["output_precision"] == precision.value
    assert (manifest["task"]["ranges_sha256"] is not None) == precision.scalar


def test_a_rerun_with_other_ranges_is_another_run(
    minilm_path: Path, ranges: np.ndarray, tmp_path: Path
) -> None:
    np.save(tmp_path / "a.npy", ranges)
    np.save(tmp_path / "b.npy", ranges * 2)
    out = tmp_path / "out"
    run(minilm_path, out, precision=Precision.INT8, ranges=str(tmp_path / "a.npy"))
    # The same ranges from another file resume the same run; other values are refused.
    np.save(tmp_path / "a2.npy", ranges)
    run(minilm_path, out, precision=Precision.INT8, ranges=str(tmp_path / "a2.npy"))
    with pytest.raises(BatchError, match=r"another run's parts \(it differs in task\)"):
        run(minilm_path, out, precision=Precision.INT8, ranges=str(tmp_path / "b.npy"))


def info(kind: ModelKind = ModelKind.EMBEDDING) -> ModelInfo:
    return ModelInfo(
        model_id="m",
        kind=kind,
        architecture="BertModel",
        max_input_length=512,
        dtype="float32",
        device="cpu",
        backend="torch",
        vocab_size=100,
        labels=("a", "b") if kind is ModelKind.CLASSIFIER else (),
        embedding_dim=DIM if kind is ModelKind.EMBEDDING else 0,
    )


def test_option_errors_name_the_option_and_file(tmp_path: Path) -> None:
    def refused(match: str, kind: ModelKind = ModelKind.EMBEDDING, **options: object) -> None:
        settings = BatchSettings(**options)  # type: ignore[arg-type]
        with pytest.raises(BatchError, match=match):
            resolve(settings.task_options(), info(kind))

    good = np.vstack((-np.ones(DIM), np.ones(DIM))).astype(np.float32)
    np.save(tmp_path / "good.npy", good)
    refused(
        "--precision int8 applies to task embed only, not classify",
        ModelKind.CLASSIFIER,
        precision=Precision.INT8,
        ranges=str(tmp_path / "good.npy"),
    )
    refused(r"--precision uint8 needs --ranges PATH", precision=Precision.UINT8)
    refused(
        "--ranges applies to --precision int8 and uint8 only, not binary",
        precision=Precision.BINARY,
        ranges=str(tmp_path / "good.npy"),
    )
    refused(
        "--ranges applies to --precision int8 and uint8 only, not float32",
        ranges=str(tmp_path / "good.npy"),
    )
    np.save(tmp_path / "short.npy", good[:, :128])
    refused(
        r"--ranges '.*short\.npy' \(shape 2x128\): ranges must hold 384 minimums and 384 "
        r"maximums .*got 128",
        precision=Precision.INT8,
        ranges=str(tmp_path / "short.npy"),
    )
    # --dimensions sets the output's width, so the same file fits then.
    options = BatchSettings(
        precision=Precision.INT8, ranges=str(tmp_path / "short.npy"), dimensions=128
    ).task_options()
    resolved = resolve(options, info())
    assert resolved.ranges is not None
    assert resolved.ranges.shape == (2, 128)
    (tmp_path / "bad.json").write_text("[[0, 1], [oops")
    refused(
        r"--ranges '.*bad\.json': cannot read it",
        precision=Precision.INT8,
        ranges=str(tmp_path / "bad.json"),
    )
    refused(
        r"--ranges '.*missing\.npy': cannot read it",
        precision=Precision.INT8,
        ranges=str(tmp_path / "missing.npy"),
    )
    flipped = good[::-1].copy()
    (tmp_path / "flipped.json").write_text(json.dumps(flipped.tolist()))
    refused(
        r"--ranges '.*flipped\.json' .*dimension 0 has max -1\.0 below min 1\.0",
        precision=Precision.INT8,
        ranges=str(tmp_path / "flipped.json"),
    )
