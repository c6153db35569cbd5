"""Token embeddings (EmbedTokens, TEI's ``/embed_all``): the last hidden state of every token.

Inputs and checks are those of dense embedding; each encoding asks the engine for
:attr:`~ember.engines.types.Output.TOKENS`, so these inputs share batches with pooled ones.
"""

from __future__ import annotations

import dataclasses

from ember.engines.types import Encoding, Output, Task
from ember.service import validate
from ember.service.jobs import EmbedJob, TokenStatesResult
from ember.service.tasks.base import ModelContext, Ran, TaskSpec, dense, encode_parts
from ember.service.tasks.embed import check_inputs, inputs_cost_us


class TokenStatesTask(TaskSpec[EmbedJob, TokenStatesResult]):
    """Per input, its ``(tokens, hidden)`` states with token ids and character offsets."""

    def check(self, job: EmbedJob, ctx: ModelContext) -> None:
        check_inputs(job, ctx, Task.EMBED, rpc="EmbedTokens")
        validate.resolve_prompt(job.prompt_name, ctx.info)

    def cost_us(self, job: EmbedJob, ctx: ModelContext) -> float:
        return inputs_cost_us(job, ctx)

    def encode(self, job: EmbedJob, ctx: ModelContext) -> list[Encoding]:
        truncate, side = ctx.truncation(job.truncation)
        prompt = validate.resolve_prompt(job.prompt_name, ctx.info)
        tok = ctx.tokenizer
        text_pos = [i for i, x in enumerate(job.inputs) if isinstance(x, str)]
        id_pos = [i for i, x in enumerate(job.inputs) if not isinstance(x, str)]
        texts = [x for x in job.inputs if isinstance(x, str)]
        ids = [x for x in job.inputs if isinstance(x, list)]
        encodings = encode_parts(
            len(job.inputs),
            [
                (
                    text_pos,
                    lambda: tok.encode(
                        texts, truncate=truncate, side=side, prompt=prompt, offsets=True
                    ),
                ),
                (id_pos, lambda: tok.encode_ids(ids, truncate=truncate, side=side)),
            ],
        )
        return [dataclasses.replace(e, output=Output.TOKENS) for e in encodings]

    def head(self, job: EmbedJob, ctx: ModelContext, ran: Ran) -> TokenStatesResult:
        states = [dense(r) for r in ran.results]
        return TokenStatesResult(states, ran.encodings, usage=ran.usage, timing=ran.timing)


TOKEN_STATES = TokenStatesTask()
