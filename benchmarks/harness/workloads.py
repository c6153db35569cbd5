"""The text workloads: long inputs (token throughput) and ~5-token inputs (request throughput).

Texts come from :mod:`benchmarks.corpus` (no data set is downloaded); each workload knows its
real token count under the model's own tokenizer, truncated to the model's limit, so tokens/s
is the same quantity for every target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks import corpus

#: The longest input measured, in tokens (models allowing more are measured at this length).
MAX_TOKENS = 500


@dataclass(frozen=True)
class Workload:
    """The texts of one workload and their real token count (truncated to the model limit)."""

    name: str
    texts: list[str]
    tokens: int
    concurrency: int


def text_workloads(
    model: Path, long_count: int, short_count: int, long_concurrency: int, short_concurrency: int
) -> tuple[Workload, Workload, int]:
    """(long, short, max_length): ``long_count`` texts of the model's maximum length (at most
    :data:`MAX_TOKENS`) and ``short_count`` ~5-token texts, tokenized by the model's tokenizer."""
    from ember.engines.errors import InvalidInputError
    from ember.engines.model_folder import inspect_model_folder
    from ember.engines.tokenizer import HFTokenizer
    from ember.engines.types import TruncationSide

    tokenizer = HFTokenizer.from_folder(inspect_model_folder(model))
    max_length = min(tokenizer.max_input_length, MAX_TOKENS)

    def length(text: str) -> int:
        try:
            return len(tokenizer.encode([text], truncate=False, side=TruncationSide.RIGHT)[0])
        except InvalidInputError:  # over the model's limit
            return max_length + 1

    def fit(text: str) -> str:
        # The longest prefix (in words) that fits the model: servers that reject over-long
        # inputs by default (Ember, TEI) and those that truncate (Infinity) see the same input.
        words = text.split()
        low, high = 1, len(words)
        while low < high:
            middle = (low + high + 1) // 2
            if length(" ".join(words[:middle])) <= max_length:
                low = middle
            else:
                high = middle - 1
        return " ".join(words[:low])

    def count(texts: list[str]) -> int:
        encodings = tokenizer.encode(texts, truncate=True, side=TruncationSide.RIGHT)
        return sum(len(e) for e in encodings)

    long_texts = [fit(t) for t in corpus.long_texts(long_count, max_length)]
    short_texts = corpus.short_texts(short_count)
    return (
        Workload("long", long_texts, count(long_texts), long_concurrency),
        Workload("short", short_texts, count(short_texts), short_concurrency),
        max_length,
    )
