"""The in-process peer: sentence-transformers ``encode`` on the same model and inputs.

The bar every server is held to (no server, no client: "serving overhead fully hidden"). The
server peers (Infinity, Ember's own variants) are in :mod:`benchmarks.harness.servers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness.timing import repeat_timed, sync

#: The peer's name in results.
ST = "sentence-transformers"


def sentence_transformer(path: Path, device: str) -> Any:
    """sentence-transformers' own loading of the model folder at ``path`` (offline)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device=device, local_files_only=True)


def time_encode(
    st: Any, texts: Sequence[str], batch_size: int, device: str, target_s: float | None
) -> dict[str, Any]:
    """Inputs/s of ``encode`` at ``batch_size`` (tokenization included), after a warm-up batch.

    ``target_s`` None: every text once, timed once (a fixed workload, as the CPU run compares
    it with servers given the same list). Else enough texts (at most those given) to fill
    ``target_s``, timed twice, median."""
    chunk = list(texts[: max(batch_size, 1)])

    def call(items: Sequence[str]) -> object:
        return st.encode(list(items), batch_size=batch_size, show_progress_bar=False)

    call(chunk)  # warm-up: allocator, kernels, tokenizer
    sync(device)
    if target_s is None:
        count, repeats = len(texts), 1
    else:
        timed = repeat_timed(lambda: call(chunk), device, target_s=0.0, warmup=0, min_repeats=1)
        one = max(timed["median_s"], 1e-6)
        count = int(min(len(texts), max(batch_size, batch_size * round(target_s / one))))
        repeats = 2
    items = list(texts[:count])
    timed = repeat_timed(
        lambda: call(items),
        device,
        target_s=0.0,
        warmup=0,
        min_repeats=repeats,
        max_repeats=repeats,
    )
    return {
        "batch_size": batch_size,
        "inputs": count,
        **timed,
        "inputs_per_s": count / timed["median_s"],
    }
