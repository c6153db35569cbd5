"""Servers and reference answers for the other languages' clients (``make test-clients``).

Three real ``ember serve`` processes: the default all-MiniLM-L6-v2 embedder, a tiny random BERT
reranker and a tiny random BERT classifier (tests/tiny_models.py). Each language's ``tour``
example calls all three and prints what it got as JSON; :func:`check_tour` compares that with
what the Python client gets for the same requests from the same servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember.clients import EmberClient
from tests.server_process import REPO, run_server
from tests.tiny_models import make_tiny_model

pytestmark = pytest.mark.clients

#: The requests every tour example sends (keep in step with clients/*/examples).
EMBED_TEXTS = ["What is Ember?", "Ember serves encoder models over gRPC.", "Zoë lives in 東京 🤔"]
STREAM_BATCHES = [["first batch"], ["second", "batch"], ["third", "batch", "here"]]
QUERY = "What does Ember serve?"
DOCS = ["Ember serves encoder models.", "Bananas are yellow.", "gRPC and REST"]
CLASSIFY_INPUTS: list[Sequence[str]] = [["I love this."], ["Is it raining?", "No, it is sunny."]]

#: The INVALID_ARGUMENT status code number.
INVALID_ARGUMENT = 3


@dataclass(frozen=True)
class Servers:
    """gRPC targets of the three servers."""

    embed: str
    rerank: str
    classify: str

    def args(self) -> list[str]:
        """The tour examples' command-line flags."""
        return ["-embed", self.embed, "-rerank", self.rerank, "-classify", self.classify]


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The embedder, reranker and classifier servers, gRPC only, for the whole session."""
    models = tmp_path_factory.mktemp("client-models")
    reranker = make_tiny_model(
        models / "tiny-reranker", arch="bert", head="sequence-classification", num_labels=1
    )
    classifier = make_tiny_model(
        models / "tiny-classifier",
        arch="bert",
        head="sequence-classification",
        id2label={0: "negative", 1: "positive"},
        seed=1,
    )
    with contextlib.ExitStack() as stack:
        targets = [
            stack.enter_context(run_server(path, "--http", "false")).grpc_target
            for path in (None, reranker, classifier)
        ]
        yield Servers(*targets)


@pytest.fixture(scope="session")
def reference(servers: Servers) -> dict[str, Any]:
    """The Python client's answers to the tour's requests."""
    with EmberClient(servers.embed) as client:
        embed = client.embed(EMBED_TEXTS)
        stream = [client.embed(batch) for batch in STREAM_BATCHES]
    with EmberClient(servers.rerank) as client:
        ranks = client.rerank(QUERY, DOCS)
    with EmberClient(servers.classify) as client:
        classes = client.classify(CLASSIFY_INPUTS)
    return {"embed": embed, "stream": stream, "rerank": ranks, "classify": classes}


def run_tour(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a tour example; its JSON output."""
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def check_tour(got: dict[str, Any], reference: dict[str, Any]) -> None:
    """Assert that a tour example's answers equal the Python client's."""
    embed = np.asarray(got["embed"], dtype=np.float32)
    assert embed.shape == reference["embed"].shape == (len(EMBED_TEXTS), 384)
    np.testing.assert_allclose(embed, reference["embed"], atol=1e-6, rtol=0)

    assert [answer["batch_id"] for answer in got["stream"]] == ["b0", "b1", "b2"]
    for answer, expected in zip(got["stream"], reference["stream"], strict=True):
        np.testing.assert_allclose(
            np.asarray(answer["vectors"], dtype=np.float32), expected, atol=1e-6, rtol=0
        )

    assert [r["index"] for r in got["rerank"]] == [r.index for r in reference["rerank"]]
    np.testing.assert_allclose(
        [r["score"] for r in got["rerank"]], [r.score for r in reference["rerank"]], atol=1e-6
    )

    assert len(got["classify"]) == len(CLASSIFY_INPUTS)
    for labels, expected in zip(got["classify"], reference["classify"], strict=True):
        assert [x["label"] for x in labels] == [label for label, _ in expected]
        np.testing.assert_allclose(
            [x["score"] for x in labels], [score for _, score in expected], atol=1e-6
        )

    assert got["health"] is True
    error = got["error"]
    assert error["code"] == INVALID_ARGUMENT, error
    assert "input" in error["message"], error
    assert error["reason"] == "INVALID_INPUT", error
    assert error["domain"] == "ember", error
    assert len(error["request_id"]) == 32, error  # the server-made request id


def tool_env() -> dict[str, str]:
    """Environment for the toolchains: caches inside the work tree's ignored .build folder."""
    build = REPO / ".build" / "clients"
    build.mkdir(parents=True, exist_ok=True)
    return {"GOCACHE": str(build / "go-cache"), "HOME": os.environ.get("HOME", str(build))}
