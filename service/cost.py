"""What tokenizing a job costs, estimated before it runs: small jobs tokenize on the event loop.

"Never block the event loop" is about work that takes long, not about every call: handing a
job to the tokenizer pool costs the loop ~25-30 us of its own CPU (a future, the executor's
queue and lock, a thread wake-up, and the self-pipe write and read that bring the result
back), measured on the 2-vCPU CI machine (``benchmarks/overhead.py``). A job estimated below
that runs inline, where it costs less than the hop it replaces. The estimate is linear in
what the Rust tokenizer and ``encode_ids`` do, from the same measurements: texts ~8 us per
call + 2 us per input + 0.35 us per character; token ids ~2 us + 1.5 us per input + 0.1 us
per id. At the budget that is e.g. one text of up to ~40 characters or ~180 token ids.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Tokenization work small enough to run on the event loop, in estimated microseconds.
INLINE_TOKENIZE_BUDGET_US = 25.0

#: Estimated microseconds per character of text the tokenizer reads.
US_PER_CHAR = 0.35


def text_cost_us(texts: Sequence[str]) -> float:
    """Estimated tokenizer time (microseconds) for ``texts``; see INLINE_TOKENIZE_BUDGET_US."""
    return 8.0 + 2.0 * len(texts) + US_PER_CHAR * sum(len(t) for t in texts)


def ids_cost_us(rows: Sequence[Sequence[int]]) -> float:
    """Estimated ``encode_ids`` time (microseconds) for ``rows``."""
    return 2.0 + 1.5 * len(rows) + 0.1 * sum(len(r) for r in rows)


def runs_inline(cost_us: float) -> bool:
    """Whether a job estimated at ``cost_us`` tokenizes on the event loop."""
    return cost_us <= INLINE_TOKENIZE_BUDGET_US
