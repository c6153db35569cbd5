"""Fixtures of the gateway tier: real ``ember serve`` processes (gRPC + REST in one process)
with the real all-MiniLM-L6-v2 and tiny random models of each other kind, and the gateway
alone in front of them. Servers start on first use and live for the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.support import (
    BIO_LABELS,
    CLASS_LABELS,
    Gateway,
    Served,
    minilm_path,
    run_gateway,
    served,
)


@pytest.fixture(scope="session")
def minilm() -> Iterator[Served]:
    """The real all-MiniLM-L6-v2 behind ``ember serve`` with default settings."""
    with served(minilm_path()) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-models")


@pytest.fixture(scope="session")
def reranker(tiny_dir: Path) -> Iterator[Served]:
    """A tiny random BERT cross-encoder (one label)."""
    from tests.tiny_models import make_tiny_model

    path = make_tiny_model(
        tiny_dir / "tiny-reranker", arch="bert", head="sequence-classification", num_labels=1
    )
    with served(path) as server:
        yield server


@pytest.fixture(scope="session")
def classifier(tiny_dir: Path) -> Iterator[Served]:
    """A tiny random BERT sequence classifier with three labels."""
    from tests.tiny_models import make_tiny_model

    path = make_tiny_model(
        tiny_dir / "tiny-classifier",
        arch="bert",
        head="sequence-classification",
        id2label=dict(enumerate(CLASS_LABELS)),
    )
    with served(path) as server:
        yield server


@pytest.fixture(scope="session")
def ner(tiny_dir: Path) -> Iterator[Served]:
    """A tiny random BERT token classifier with BIO labels."""
    from tests.tiny_models import make_tiny_model

    path = make_tiny_model(
        tiny_dir / "tiny-ner",
        arch="bert",
        head="token-classification",
        id2label=dict(enumerate(BIO_LABELS)),
    )
    with served(path) as server:
        yield server


@pytest.fixture(scope="session")
def splade(tiny_dir: Path) -> Iterator[Served]:
    """A tiny random BERT masked LM served as a sparse (SPLADE) embedder."""
    from tests.tiny_models import make_tiny_model

    path = make_tiny_model(tiny_dir / "tiny-splade", arch="bert", head="masked-lm")
    with served(path, "--kind", "sparse_embedding") as server:
        yield server


@pytest.fixture(scope="session")
def small_body_gateway(minilm: Served) -> Iterator[Gateway]:
    """The gateway alone in front of the MiniLM server, with a 100 kB body limit."""
    with run_gateway(minilm.endpoints.grpc_target, "--max-body-bytes", "100000") as gateway:
        yield gateway
