"""EmbedTokens on the torch engine (in-process server, the real MiniLM): every token's last
hidden state equals sentence-transformers' ``output_value="token_embeddings"``, with ids and
offsets from the tokenizer, also when token-state and pooled inputs share a batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.registry import load_engine

from .conftest import ServeFn, SpyEngine

TEXTS = ["The cat sat on the mat.", "Zoë visited Kraków 🚀", "short", "a " * 40 + "end"]


@pytest.fixture(scope="module")
def torch_engine(minilm_path: Path) -> Engine:
    engine = load_engine(EngineConfig(model_path=minilm_path, device="cpu", backend="torch"))
    engine.warmup(2048, 16)
    return engine


@pytest.fixture(scope="module")
def reference(minilm_path: Path) -> list[np.ndarray]:
    model = SentenceTransformer(str(minilm_path), device="cpu")
    return [t.numpy() for t in model.encode(TEXTS, output_value="token_embeddings")]


async def test_token_states_equal_the_reference_in_mixed_batches(
    serve: ServeFn, torch_engine: Engine, reference: list[np.ndarray]
) -> None:
    spy = SpyEngine(torch_engine)
    async with serve(spy) as (client, _):
        pooled_alone = await client.embed(TEXTS)
        spy.batches.clear()
        spy.gate.clear()  # hold the engine so both requests queue up and share a batch
        holder = asyncio.ensure_future(client.embed(["holds the engine"]))
        assert await asyncio.to_thread(spy.entered.wait, 10)
        both = asyncio.gather(client.embed_tokens(TEXTS), client.embed(TEXTS))
        await asyncio.sleep(0.3)
        spy.gate.set()
        await holder
        states, pooled = await both
    assert any({e.output.value for e in batch} == {0, 1} for batch in spy.batches), (
        "token-state and pooled inputs never shared a batch: the mixed path went untested"
    )
    np.testing.assert_allclose(pooled, pooled_alone, atol=1e-5)
    for got, want, text in zip(states, reference, TEXTS, strict=True):
        assert got.states.shape == want.shape
        np.testing.assert_allclose(got.states, want, atol=2e-4)
        assert got.special[0]
        assert got.special[-1]
        assert not any(got.special[1:-1])
        spans = [o for o, sp in zip(got.offsets, got.special, strict=True) if not sp]
        assert all(0 <= s < e <= len(text) for s, e in spans)
        assert [s for s, _ in spans] == sorted(s for s, _ in spans)
    assert states[0].token_ids[:1] == [101]
    assert [TEXTS[0][s:e] for s, e in states[0].offsets[1:4]] == ["The", "cat", "sat"]
