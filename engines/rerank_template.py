"""The prompt template that turns (query, document) into the input of an LLM reranker.

Ember applies the template so users send plain queries and documents. The template is the one
Qwen3-Reranker documents: a system turn asking for a "yes"/"no" judgement, a user turn
``<Instruct>: ...\\n<Query>: ...\\n<Document>: ...`` and the assistant prefix with an empty think
block; the score is read from the next-token logits of "yes" and "no".
"""

from __future__ import annotations

from dataclasses import dataclass

QWEN3_RERANKER_INSTRUCTION = (
    "Given a web search query, retrieve relevant passages that answer the query"
)


@dataclass(frozen=True)
class RerankTemplate:
    """A causal-LM reranking prompt: ``prefix + body(query, document) + suffix``.

    The prefix and suffix are tokenized on their own (they hold the chat-template special
    tokens); the body is tokenized as one string, and only its document part is ever truncated.
    """

    prefix: str
    #: Text of the body before the query; the query follows, then ``document_intro``.
    instruction_part: str
    document_intro: str
    suffix: str
    #: The tokens whose next-token logits are compared: score = logit(yes) - logit(no).
    yes_token: str = "yes"
    no_token: str = "no"

    def body_head(self, query: str) -> str:
        """The body up to where the document starts."""
        return f"{self.instruction_part}{query}{self.document_intro}"


def qwen3_reranker_template(instruction: str = QWEN3_RERANKER_INSTRUCTION) -> RerankTemplate:
    """Qwen3-Reranker's documented prompt format, with ``instruction`` as the task."""
    return RerankTemplate(
        prefix=(
            "<|im_start|>system\nJudge whether the Document meets the requirements based on the "
            'Query and the Instruct provided. Note that the answer can only be "yes" or "no".'
            "<|im_end|>\n<|im_start|>user\n"
        ),
        instruction_part=f"<Instruct>: {instruction}\n<Query>: ",
        document_intro="\n<Document>: ",
        suffix="<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
    )
