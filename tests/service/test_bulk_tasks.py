"""``ember batch`` for every task, in process, on tiny random models of each head: the columns,
their types, row order, and values checked against the transformers reference or another
task of the same model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from ember.engines.config import EngineOptions
from ember.engines.types import ModelKind
from ember.service.bulk.command import batch
from ember.service.bulk.errors import BatchError
from ember.service.bulk.settings import BatchSettings, BulkTask
from ember.service.settings import ServerSettings
from tests.tiny_models import make_tiny_model

LABELS = ("negative", "neutral", "positive")
BIO = ("B-PER", "I-PER", "B-LOC", "I-LOC", "O")
QUERIES = ["where is the café", "where is the café", "who wrote it", "ember", "ember", "ember"]
DOCS = ["in Zürich", "by the lake", "nobody knows", "a server", "an ember glows", "grpc and rest"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bulk-models")
    return {
        "classifier": make_tiny_model(
            root / "cls",
            arch="bert",
            head="sequence-classification",
            id2label=dict(enumerate(LABELS)),
        ),
        "reranker": make_tiny_model(
            root / "rr", arch="bert", head="sequence-classification", num_labels=1
        ),
        "ner": make_tiny_model(
            root / "ner", arch="bert", head="token-classification", id2label=dict(enumerate(BIO))
        ),
        "splade": make_tiny_model(root / "splade", arch="bert", head="masked-lm"),
    }


def run(
    model: Path,
    rows: list[dict[str, object]],
    out: Path,
    kind: ModelKind | None = None,
    **options: object,
) -> pa.Table:
    source = out.parent / f"{out.name}.parquet"
    pq.write_table(pa.Table.from_pylist(rows), source)
    settings = ServerSettings(model=(str(model),), engine=EngineOptions(kind=kind))
    b = BatchSettings(progress="none", rows_per_part=4, **options)  # type: ignore[arg-type]
    asyncio.run(batch(source, out, settings, b))
    return ds.dataset(out, format="parquet").to_table()


def test_classify_pairs_with_every_label_score(models: dict[str, Path], tmp_path: Path) -> None:
    rows = [{"q": q, "d": d} for q, d in zip(QUERIES, DOCS, strict=True)]
    table = run(
        models["classifier"],
        rows,
        tmp_path / "cls",
        task=BulkTask.CLASSIFY,
        column="q",
        pair_column="d",
    )
    assert table.column_names == ["row", "label", "score", "scores"]
    assert table.column("row").to_pylist() == list(range(6))
    scores = np.asarray(table.column("scores").combine_chunks().flatten()).reshape(6, 3)
    # The transformers reference on the same pairs.
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(models["classifier"]))
    ref = AutoModelForSequenceClassification.from_pretrained(str(models["classifier"])).eval()
    with torch.no_grad():
        enc = tok(QUERIES, DOCS, padding=True, truncation=True, return_tensors="pt")
        probs = ref(**enc).logits.softmax(-1).numpy()
    assert np.allclose(scores, probs, atol=1e-4)
    assert table.column("label").to_pylist() == [LABELS[i] for i in probs.argmax(1)]
    assert np.allclose(table.column("score").to_numpy(), probs.max(1), atol=1e-4)


def test_rerank_scores_each_row_against_its_own_query(
    models: dict[str, Path], tmp_path: Path
) -> None:
    rows = [{"query": q, "text": d} for q, d in zip(QUERIES, DOCS, strict=True)]
    ranked = run(models["reranker"], rows, tmp_path / "rr", task=BulkTask.RERANK)
    assert ranked.column_names == ["row", "score"]
    # The same pairs classified one by one (raw logit, then sigmoid): grouping rows by query
    # and scattering the ranking back must put each score on its own row.
    pairs = run(
        models["reranker"],
        [{"q": q, "d": d} for q, d in zip(QUERIES, DOCS, strict=True)],
        tmp_path / "pairs",
        task=BulkTask.CLASSIFY,
        column="q",
        pair_column="d",
        raw_scores=True,
    )
    logits = pairs.column("score").to_numpy()
    assert np.allclose(ranked.column("score").to_numpy(), 1 / (1 + np.exp(-logits)), atol=1e-5)
    assert len(set(np.round(logits, 5))) == 6  # distinct scores: a misplaced one would show


def test_ner_entities_and_sparse_vectors(models: dict[str, Path], tmp_path: Path) -> None:
    texts = ["Ada Lovelace lived in London", "ember", "Zürich and Paris", "x", "Lovelace"]
    table = run(models["ner"], [{"text": t} for t in texts], tmp_path / "ner")
    assert table.schema.field("entities").type.value_type.names == [
        "text",
        "label",
        "score",
        "start",
        "end",
    ]
    from transformers import pipeline

    reference = pipeline("ner", model=str(models["ner"]), aggregation_strategy="simple")
    got = table.column("entities").to_pylist()
    assert sum(len(items) for items in got) > 0
    for text, items in zip(texts, got, strict=True):
        want = reference(text)
        assert [(e["label"], e["start"], e["end"]) for e in items] == [
            (w["entity_group"], w["start"], w["end"]) for w in want
        ]
        assert np.allclose([e["score"] for e in items], [w["score"] for w in want], atol=1e-4)
    sparse = run(
        models["splade"],
        [{"text": t} for t in texts],
        tmp_path / "splade",
        kind=ModelKind.SPARSE_EMBEDDING,
        task=BulkTask.EMBED_SPARSE,
    )
    assert sparse.schema.field("sparse_indices").type == pa.list_(pa.int32())
    for indices, values in zip(
        sparse.column("sparse_indices").to_pylist(),
        sparse.column("sparse_values").to_pylist(),
        strict=True,
    ):
        assert indices == sorted(indices)
        assert len(indices) == len(values)
        assert all(v > 0 for v in values)


def test_a_task_the_model_cannot_run_is_refused(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="cannot run task embed; it runs: ner"):
        run(models["ner"], [{"text": "x"}], tmp_path / "no", task=BulkTask.EMBED)
    with pytest.raises(BatchError, match=r"row 5 \(column 'text'\) is empty"):
        run(
            models["reranker"],
            [{"query": "q", "text": t} for t in ["a", "b", "c", "d", "e", ""]],
            tmp_path / "empty",
            task=BulkTask.RERANK,
        )
