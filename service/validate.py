"""Request checks that need the model's description or the server's limits.

Pure functions; each raises :class:`InvalidInputError` (or :class:`UnsupportedTaskError`) with
a message that names the problem. Checks that need the tokenizer (empty texts, length, token
ids) live in the tokenizer, which sees the inputs anyway.
"""

from __future__ import annotations

from ember.engines.errors import InvalidInputError, UnsupportedTaskError
from ember.engines.types import ModelInfo, ModelKind, Task

_TASK_RPC = {
    Task.EMBED: "Embed",
    Task.EMBED_SPARSE: "EmbedSparse",
    Task.CLASSIFY: "Classify",
    Task.RERANK: "Rerank",
    Task.PREDICT_TOKENS: "PredictTokens",
}

#: How a refusal names the loaded model's kind (with its article).
_KIND_NAMES = {
    ModelKind.EMBEDDING: "an embedding",
    ModelKind.SPARSE_EMBEDDING: "a sparse embedding",
    ModelKind.RERANKER: "a reranker",
    ModelKind.CLASSIFIER: "a classifier",
    ModelKind.TOKEN_CLASSIFIER: "a token classifier",
    ModelKind.LLM_RERANKER: "an LLM reranker",
    ModelKind.COLBERT: "a ColBERT",
}


def require_task(info: ModelInfo, task: Task, rpc: str | None = None) -> None:
    """Refuse a task the loaded model cannot do, saying what it does serve; ``rpc`` names the
    call refused when it is not the task's own (e.g. EmbedTokens, which needs Embed)."""
    if task in info.tasks:
        return
    serves = ", ".join(sorted(_TASK_RPC[t] for t in info.tasks))
    raise UnsupportedTaskError(
        f"the loaded model {info.model_id!r} is {_KIND_NAMES[info.kind]} model and cannot serve "
        f"{rpc or _TASK_RPC[task]}; it serves: {serves}"
    )


def check_count(count: int, limit: int, what: str = "inputs") -> None:
    """At least one and at most ``limit`` items."""
    if count == 0:
        raise InvalidInputError(f"the request has no {what}; send at least one")
    if count > limit:
        raise InvalidInputError(
            f"the request has {count} {what}, over the server's limit of {limit} per request "
            f"(--max-client-batch-size); split it into smaller requests"
        )


def check_dimensions(dimensions: int | None, info: ModelInfo) -> None:
    """Matryoshka dimensions must be between 1 and the model's embedding size."""
    if dimensions is None:
        return
    if not 1 <= dimensions <= info.embedding_dim:
        raise InvalidInputError(
            f"dimensions must be between 1 and the model's {info.embedding_dim}, got {dimensions}"
        )


def resolve_prompt(prompt_name: str | None, info: ModelInfo) -> str:
    """The prompt text for ``prompt_name`` (the model's default prompt when None)."""
    if prompt_name is None:
        return info.default_prompt
    if prompt_name not in info.prompts:
        known = ", ".join(sorted(info.prompts)) or "none"
        raise InvalidInputError(
            f"unknown prompt_name {prompt_name!r}; the model defines these prompts: {known}"
        )
    return info.prompts[prompt_name]


def check_classify_input(index: int, texts: list[str]) -> None:
    """A classification input is one text or one pair."""
    if len(texts) not in (1, 2):
        raise InvalidInputError(
            f"input {index} has {len(texts)} texts; a classification input is one text or a "
            f"pair of two texts"
        )


def check_top_n(top_n: int | None) -> None:
    """``top_n``, when set, keeps at least one result (checked before the model runs)."""
    if top_n is not None and top_n < 1:
        raise InvalidInputError(f"top_n must be at least 1, got {top_n}")


def check_query(query: str) -> None:
    """A rerank query must have content."""
    if not query.strip():
        raise InvalidInputError("the query is empty")
