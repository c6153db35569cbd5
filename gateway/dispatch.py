"""Which task a request to a task route (``POST /``, ``/invocations``, ``/vertex``) runs.

TEI answers ``POST /`` (and SageMaker's ``/invocations``) with the task of the model it
serves, and huggingface_hub's ``InferenceClient`` posts there when it is given the server's
URL. :func:`target_for` chooses from the loaded model's kind and, where one model serves
several tasks, from the body's shape:

* embedding model: ``{"inputs": {"source_sentence", "sentences"}}`` is a similarity request
  (TEI needs ``TASK=sentence-similarity`` for that; here the shape says it), else an embedding;
* sparse embedding model: a sparse embedding;
* reranker: a body with ``query`` is a rerank, else a classification;
* classifier: a classification; token classifier: token classification (TEI has none).

Classification and token classification answer in the shape of the Hugging Face pipelines
(the one ``InferenceClient`` reads) when the body has ``parameters``, as that client always
sends; else in TEI's ``/predict`` / BEI's ``/predict_tokens`` shape. Pure functions only.
"""

from __future__ import annotations

import enum

from ember.v1 import model_pb2


class Target(enum.Enum):
    """The handler a task-route request goes to."""

    EMBED = "embed"
    SIMILARITY = "similarity"
    EMBED_SPARSE = "embed_sparse"
    RERANK = "rerank"
    PREDICT = "predict"
    PREDICT_TOKENS = "predict_tokens"
    HF_CLASSIFY = "hf_classify"
    HF_TOKENS = "hf_tokens"


def target_for(kind: int, body: dict[str, object]) -> Target:
    """The target for a JSON object ``body`` sent to a server whose model is of ``kind`` (a
    ``model_pb2.ModelKind`` value)."""
    hf_shape = "parameters" in body and isinstance(body["parameters"], dict)
    if kind == model_pb2.MODEL_KIND_EMBEDDING:
        inputs = body.get("inputs")
        if isinstance(inputs, dict) and "source_sentence" in inputs:
            return Target.SIMILARITY
        return Target.EMBED
    if kind == model_pb2.MODEL_KIND_SPARSE_EMBEDDING:
        return Target.EMBED_SPARSE
    if kind in (
        model_pb2.MODEL_KIND_RERANKER,
        model_pb2.MODEL_KIND_LLM_RERANKER,
        model_pb2.MODEL_KIND_COLBERT,
    ):
        if "query" in body or kind != model_pb2.MODEL_KIND_RERANKER:
            return Target.RERANK
        return Target.HF_CLASSIFY if hf_shape else Target.PREDICT
    if kind == model_pb2.MODEL_KIND_CLASSIFIER:
        return Target.HF_CLASSIFY if hf_shape else Target.PREDICT
    if kind == model_pb2.MODEL_KIND_TOKEN_CLASSIFIER:
        return Target.HF_TOKENS if hf_shape else Target.PREDICT_TOKENS
    # An unknown kind (a newer service): embeddings are what most clients of / want.
    return Target.EMBED
