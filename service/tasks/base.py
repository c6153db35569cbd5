"""The contract of a task: what one file per task defines, and what the pipeline hands it.

:class:`ember.service.core.Core` runs every task down the same corridor
(check -> admit -> tokenize -> schedule -> forward -> head); a task only says what differs:

- ``check(job, ctx)``: validate the request before any work (raise an ``EmberError``);
- ``cost_us(job, ctx)``: the estimated tokenization time, which decides inline vs. pool;
- ``encode(job, ctx)``: the request's inputs as encodings, one per engine input;
- ``head(job, ctx, ran)``: the engine's per-input outputs turned into the task's result.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from ember.engines.base import Tokenizer
from ember.engines.errors import EngineError, ItemError
from ember.engines.types import Encoding, FloatArray, ModelInfo, TruncationSide
from ember.service.jobs import Timing, Truncation, Usage
from ember.service.limits import ServiceLimits
from ember.service.scheduler import ItemResult

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True)
class ModelContext:
    """What a task may read about the model it runs on."""

    info: ModelInfo
    tokenizer: Tokenizer
    limits: ServiceLimits

    def truncation(self, truncation: Truncation) -> tuple[bool, TruncationSide]:
        """The request's truncation with the server default filled in."""
        truncate = self.limits.auto_truncate if truncation.truncate is None else truncation.truncate
        return truncate, truncation.side


@dataclass(frozen=True)
class Ran:
    """A request's trip through the engine: its encodings, one result each, and the timing."""

    encodings: list[Encoding]
    results: list[ItemResult]
    timing: Timing

    @property
    def usage(self) -> Usage:
        """The tokens the request fed to the model."""
        return Usage(prompt_tokens=sum(len(e) for e in self.encodings))

    def rows(self, empty_width: int = 0) -> FloatArray:
        """The results as one ``(n, width)`` float32 array, each row written once into it
        (``(0, empty_width)`` when there are none)."""
        if not self.results:
            return np.zeros((0, empty_width), dtype=np.float32)
        first = dense(self.results[0])
        out = np.empty((len(self.results), *first.shape), dtype=np.float32)
        for i, result in enumerate(self.results):
            out[i] = dense(result)
        return out


class TaskSpec(abc.ABC, Generic[J, R]):
    """One task's definition; see the module docstring. Instances are stateless."""

    #: Whether the head is heavy Python work that belongs on the tokenizer pool, off the loop.
    head_on_pool: bool = False

    @abc.abstractmethod
    def check(self, job: J, ctx: ModelContext) -> None:
        """Refuse a request the model or the limits cannot serve, before any work."""

    @abc.abstractmethod
    def cost_us(self, job: J, ctx: ModelContext) -> float:
        """Estimated tokenization time in microseconds (see :mod:`ember.service.cost`)."""

    @abc.abstractmethod
    def encode(self, job: J, ctx: ModelContext) -> list[Encoding]:
        """The request's engine inputs; errors name the request's own fields and indices."""

    @abc.abstractmethod
    def head(self, job: J, ctx: ModelContext, ran: Ran) -> R:
        """The task's result from the engine outputs."""


def dense(result: ItemResult) -> FloatArray:
    """One input's output as an array (a row or a token matrix), never a sparse pair."""
    if not isinstance(result.value, np.ndarray):
        raise EngineError(
            f"the engine returned {type(result.value).__name__} where an array was expected"
        )
    return result.value


def encode_parts(
    total: int, parts: Sequence[tuple[list[int], Callable[[], list[Encoding]]]]
) -> list[Encoding]:
    """Encode a request whose inputs come in kinds encoded separately (texts and token ids,
    single texts and pairs): each part is (its inputs' positions, a call encoding them).

    An error about the k-th input of a part is re-raised about input ``positions[k]``.
    """
    out: list[Encoding | None] = [None] * total
    for positions, encode in parts:
        if not positions:
            continue
        try:
            encoded = encode()
        except ItemError as exc:
            raise exc.renamed(positions[exc.position]) from exc
        for pos, enc in zip(positions, encoded, strict=True):
            out[pos] = enc
    result = [e for e in out if e is not None]
    if len(result) != total:  # pragma: no cover - every position is in exactly one part
        raise EngineError("tokenization lost inputs")
    return result
