"""``TorchEngine``: the PyTorch backend, running models through transformers' own classes.

Owns loading a parsed model folder onto a device in a dtype, and the forward pass per model
kind: pooled (+ Dense) embeddings, classification logits, per-token logits, SPLADE sparse
vectors and LLM-reranker yes/no log-odds. Batches are right-padded to their longest encoding;
every position-dependent step (pooling, last-token gathers) uses the real lengths, so results do
not depend on what else is in the batch. Everything is device-parametrised: CUDA needs no
change beyond ``EngineConfig.device``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ember.engines.base import FolderEngine
from ember.engines.batches import pad_batch, padding_id, unpad, warmup_batches, with_token_states
from ember.engines.colbert import resolve as resolve_colbert
from ember.engines.config import EngineConfig
from ember.engines.cpu_features import cpu_features
from ember.engines.dense import DenseProjection, load_dense
from ember.engines.errors import BackendUnavailableError, EngineError, ModelLoadError
from ember.engines.m3 import M3Heads
from ember.engines.model_folder import ModelFolder, inspect_configured_folder
from ember.engines.pooling import pool
from ember.engines.precision import check_cpu_dtype
from ember.engines.preempt import Preempt
from ember.engines.rerank_template import qwen3_reranker_template
from ember.engines.tokenizer import HFTokenizer
from ember.engines.torch_device import (
    configure_threads,
    device_name,
    dtype_name,
    resolve_device,
    resolve_dtype,
)
from ember.engines.types import (
    EmbeddingOutput,
    Encoding,
    EngineOutput,
    FloatArray,
    IntArray,
    ItemsOutput,
    ModelInfo,
    ModelKind,
    Output,
    Outputs,
    SparseOutput,
    TokenLogitsOutput,
    VectorOutput,
)

logger = logging.getLogger(__name__)

#: SPLADE materialises (rows, time, vocab) logits; keep one chunk under this many elements.
_SPARSE_CHUNK_ELEMENTS = 1 << 26


def _auto_class(kind: ModelKind) -> Any:
    # Imported lazily: the transformers model classes cost most of the cold start.
    import transformers

    return {
        ModelKind.EMBEDDING: transformers.AutoModel,
        ModelKind.SPARSE_EMBEDDING: transformers.AutoModelForMaskedLM,
        ModelKind.CLASSIFIER: transformers.AutoModelForSequenceClassification,
        ModelKind.RERANKER: transformers.AutoModelForSequenceClassification,
        ModelKind.TOKEN_CLASSIFIER: transformers.AutoModelForTokenClassification,
        ModelKind.LLM_RERANKER: transformers.AutoModelForCausalLM,
        ModelKind.COLBERT: transformers.AutoModel,
    }[kind]


def _load_model(folder: ModelFolder, config: EngineConfig, dtype: torch.dtype) -> Any:
    import transformers

    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    cls = _auto_class(folder.kind)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": config.trust_remote_code}
    try:
        try:
            return cls.from_pretrained(str(folder.path), attn_implementation="sdpa", **kwargs)
        except ValueError as exc:
            message = str(exc).lower()
            if "sdpa" not in message and "scaled_dot_product_attention" not in message:
                raise
            logger.warning("%s has no SDPA attention; using eager attention", folder.architecture)
            return cls.from_pretrained(str(folder.path), attn_implementation="eager", **kwargs)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"cannot load the {folder.architecture} model in {str(folder.path)!r}: {exc}"
        ) from exc


class TorchEngine(FolderEngine):
    """A model loaded with PyTorch; implements :class:`~ember.engines.base.Engine`.

    ``forward`` must be called from one thread at a time (the service's engine thread).
    """

    def __init__(
        self,
        folder: ModelFolder,
        tokenizer: HFTokenizer,
        model: Any,
        device: torch.device,
        dtype: torch.dtype,
        quantization: str | None = None,
    ) -> None:
        self._folder = folder
        self._tokenizer = tokenizer
        self._model = model
        self._device = device
        self._kind = folder.kind
        # The preempt of the forward in progress, checked before each encoder layer.
        self._preempt: Preempt | None = None
        self._layer_hooks = [
            layer.register_forward_pre_hook(self._check_preempt) for layer in _layers(model)
        ]
        cfg = model.config
        self._pad_id = padding_id(
            getattr(cfg, "pad_token_id", None), tokenizer.pad_token_id, tokenizer.vocab_size
        )
        params = inspect.signature(model.forward).parameters
        type_vocab = getattr(cfg, "type_vocab_size", 0)
        self._uses_token_types = (
            "token_type_ids" in params and isinstance(type_vocab, int) and type_vocab > 1
        )
        self._dense: list[DenseProjection] = [
            load_dense(layer).to(device) for layer in folder.dense
        ]
        # Leading positions left out of pooling for prompted inputs (include_prompt=false).
        spec = folder.pooling
        self._exclude_prompt = spec is not None and not spec.include_prompt
        self._lead = tokenizer.num_leading_special
        # Decoder sequence classifiers are scored from the last real token's state directly
        # (right padding: transformers' own lookup relies on pad ids matching config).
        self._score_head: Any = None
        if folder.kind in (ModelKind.CLASSIFIER, ModelKind.RERANKER) and folder.is_decoder:
            self._score_head = getattr(model, "score", None)
        self._yes_no: torch.Tensor | None = None
        self._yes_no_bias: torch.Tensor | None = None
        if folder.kind is ModelKind.LLM_RERANKER:
            self._init_llm_reranker()
        self._m3: M3Heads | None = None
        heads: frozenset[EmbeddingOutput] = frozenset()
        if folder.m3_heads is not None:
            self._m3 = _m3_heads(folder).to(device)
            heads = frozenset({EmbeddingOutput.SPARSE, EmbeddingOutput.MULTI_VECTOR})
        colbert = None
        if folder.colbert is not None:
            colbert = resolve_colbert(folder.colbert, tokenizer, _mask_token_id(folder))
        embedding_dim = folder.embedding_dim
        if folder.kind is ModelKind.EMBEDDING and self._dense:
            embedding_dim = self._dense[-1].linear.out_features
        dtype_label = quantization or dtype_name(dtype)
        self._info = ModelInfo(
            model_id=folder.model_id,
            kind=folder.kind,
            architecture=folder.architecture,
            max_input_length=tokenizer.max_input_length,
            dtype=dtype_label,
            device=device_name(device),
            backend="torch",
            vocab_size=tokenizer.vocab_size,
            labels=folder.labels,
            multi_label=folder.multi_label,
            embedding_dim=embedding_dim,
            pooling=spec.modes[0] if spec is not None else None,
            prompts=dict(folder.prompts),
            default_prompt=folder.default_prompt,
            heads=heads,
            colbert=colbert,
        )

    # -- loading ----------------------------------------------------------------------------

    @classmethod
    def load(cls, config: EngineConfig) -> TorchEngine:
        """Load ``config.model_path`` per ``config``; raises ``ModelLoadError`` on failure."""
        folder = inspect_configured_folder(config)
        device = resolve_device(config.device)
        dtype = resolve_dtype(config.dtype, device)
        if config.quantization == "fp8":
            raise BackendUnavailableError(
                "fp8 quantization is not available in the torch backend; use dtype bfloat16 or "
                "float16 on CUDA"
            )
        if config.quantization == "int8" and (device.type != "cpu" or dtype != torch.float32):
            raise ModelLoadError("int8 quantization runs on the CPU with float32 (dtype auto)")
        if device.type == "cpu":
            check_cpu_dtype(
                dtype_name(dtype), cpu_features(), allow_slow=config.allow_slow_precision
            )
        configure_threads(config.num_threads)
        template = qwen3_reranker_template() if folder.kind is ModelKind.LLM_RERANKER else None
        tokenizer = HFTokenizer.from_folder(folder, rerank_template=template)
        model = _load_model(folder, config, dtype)
        model.eval()
        model.requires_grad_(False)
        if config.quantization == "int8":
            model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
        model.to(device)
        engine = cls(folder, tokenizer, model, device, dtype, config.quantization)
        if config.compile:
            engine._compile()
        return engine

    def _compile(self) -> None:
        """Compile the model with torch.compile (inductor, dynamic shapes).

        Inductor fuses the elementwise work (bias, GELU, LayerNorm, softmax) that eager mode
        runs as separate passes: measured 1.06-1.6x bf16 eager in-process for MiniLM on the
        2-vCPU CPU, though not end to end there (``benchmarks/results-amx/RESULTS.md``). Compiling
        happens in :meth:`warmup` (tens of seconds), never on a request; with ``dynamic=True``
        new batch shapes do not recompile.
        """
        logger.info("compiling the model with torch.compile; warm-up will take a while")
        # A hook reading self._preempt would be traced into the graph as a guard on it (and
        # recompile when it changes): a compiled model is preempted before it starts only.
        for hook in self._layer_hooks:
            hook.remove()
        self._layer_hooks = []
        self._model = torch.compile(self._model, dynamic=True)

    def _init_llm_reranker(self) -> None:
        folder = self._folder
        yes = folder.true_token_id
        no = folder.false_token_id
        if yes is None:
            yes = self._tokenizer.token_to_id("yes")
        if no is None:
            no = self._tokenizer.token_to_id("no")
        if yes is None or no is None:
            raise ModelLoadError(
                "an LLM reranker needs 'yes' and 'no' tokens in its vocabulary; this tokenizer "
                "lacks them"
            )
        head = self._model.get_output_embeddings()
        weight: torch.Tensor = head.weight
        # score = logit(yes) - logit(no) = h . (w_yes - w_no) (+ bias difference).
        self._yes_no = (weight[yes].float() - weight[no].float()).contiguous()
        bias = getattr(head, "bias", None)
        if isinstance(bias, torch.Tensor):
            self._yes_no_bias = bias[yes].float() - bias[no].float()

    # -- Engine protocol --------------------------------------------------------------------

    def warmup(self, max_batch_tokens: int, max_batch_requests: int) -> None:
        """Run a short input, a full batch of short inputs and one long batch.

        The long batch is capped at 2048 tokens on CUDA (enough to size the caching
        allocator's buffers) and 512 on the CPU, where it only primes the kernels and every
        token costs start-up time.
        """
        cap = 2048 if self._device.type == "cuda" else 512
        for batch in warmup_batches(
            self._tokenizer, max_batch_tokens, max_batch_requests, long_cap=cap
        ):
            self.forward(batch)

    def forward(self, batch: Sequence[Encoding], preempt: Preempt | None = None) -> EngineOutput:
        """Run the model on a batch and return per-input outputs in batch order.

        ``preempt`` set while the model runs stops it before its next encoder layer (before
        it starts, when compiled): ``PreemptedError``."""
        if preempt is not None:
            preempt.check()
        self._preempt = preempt
        try:
            return self._forward(batch)
        finally:
            self._preempt = None

    def _check_preempt(self, module: torch.nn.Module, args: Any) -> None:
        """Forward pre-hook of each encoder layer: stop here if the forward is preempted."""
        preempt = self._preempt
        if preempt is not None:
            preempt.check()

    def _forward(self, batch: Sequence[Encoding]) -> EngineOutput:
        with torch.inference_mode():
            ids, mask, lengths, type_ids = self._inputs(batch)
            kind = self._kind
            if kind is ModelKind.EMBEDDING:
                return self._embed(batch, ids, mask, lengths, type_ids)
            if kind in (ModelKind.CLASSIFIER, ModelKind.RERANKER):
                return VectorOutput(self._classify(ids, mask, lengths, type_ids))
            if kind is ModelKind.TOKEN_CLASSIFIER:
                return self._token_logits(ids, mask, lengths, type_ids)
            if kind is ModelKind.SPARSE_EMBEDDING:
                return self._sparse(ids, mask, lengths, type_ids)
            if kind is ModelKind.COLBERT:
                return self._token_vectors(ids, mask, lengths, type_ids)
            return VectorOutput(self._llm_rerank(ids, mask, lengths))

    def close(self) -> None:
        """Release the model's memory."""
        self._model = None
        self._dense = []
        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    # -- forward helpers --------------------------------------------------------------------

    def _inputs(
        self, batch: Sequence[Encoding]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Right-padded ``input_ids``, ``attention_mask``, lengths and ``token_type_ids``."""
        with_types = self._uses_token_types and any(e.type_ids is not None for e in batch)
        padded = pad_batch(batch, self._pad_id, type_ids=with_types)
        attention = padded.real
        if any(e.attended for e in batch):
            limits = np.array([e.attended or len(e.ids) for e in batch], dtype=np.int64)
            attention = attention & (np.arange(attention.shape[1])[None, :] < limits[:, None])
        return (
            self._to_device(padded.ids),
            self._to_device(attention.astype(np.int64)),
            self._to_device(padded.lengths),
            None if padded.type_ids is None else self._to_device(padded.type_ids),
        )

    def _to_device(self, array: np.ndarray[Any, Any]) -> torch.Tensor:
        return torch.from_numpy(array).to(self._device, non_blocking=True)

    def _kwargs(
        self, ids: torch.Tensor, mask: torch.Tensor, type_ids: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        kwargs = {"input_ids": ids, "attention_mask": mask}
        if type_ids is not None:
            kwargs["token_type_ids"] = type_ids
        return kwargs

    def _embed(
        self,
        batch: Sequence[Encoding],
        ids: torch.Tensor,
        mask: torch.Tensor,
        lengths: torch.Tensor,
        type_ids: torch.Tensor | None,
    ) -> VectorOutput | ItemsOutput:
        spec = self._folder.pooling
        assert spec is not None
        hidden = self._model(**self._kwargs(ids, mask, type_ids)).last_hidden_state
        excluded = None
        if self._exclude_prompt and any(e.prompt_length for e in batch):
            counts = [self._lead + e.prompt_length if e.prompt_length else 0 for e in batch]
            excluded = torch.tensor(counts, dtype=torch.int64).to(self._device, non_blocking=True)
        pooled = pool(hidden, lengths, spec, excluded)
        for layer in self._dense:
            pooled = layer(pooled)
        rows = _numpy(pooled)
        if not any(e.output.combined for e in batch):
            return with_token_states(
                batch, rows, lambda: unpad(_numpy(hidden), _numpy_ints(lengths))
            )
        if self._m3 is None:
            raise EngineError("sparse or multi-vector outputs asked of a model without those heads")
        combined = self._m3.outputs(batch, hidden, ids, lengths, rows)
        states = None
        if any(e.output & Output.TOKENS for e in batch):
            states = unpad(_numpy(hidden), _numpy_ints(lengths))
        values: list[FloatArray | Outputs] = []
        for i, e in enumerate(batch):
            if e.output.combined:
                values.append(combined[i])
            elif states is not None and e.output & Output.TOKENS:
                values.append(np.ascontiguousarray(states[i]))
            else:
                values.append(rows[i])
        return ItemsOutput(values)

    def _classify(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        lengths: torch.Tensor,
        type_ids: torch.Tensor | None,
    ) -> FloatArray:
        if self._score_head is not None:
            hidden = self._model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
            last = hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths - 1]
            return _numpy(self._score_head(last))
        return _numpy(self._model(**self._kwargs(ids, mask, type_ids)).logits)

    def _token_logits(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        lengths: torch.Tensor,
        type_ids: torch.Tensor | None,
    ) -> TokenLogitsOutput:
        logits = _numpy(self._model(**self._kwargs(ids, mask, type_ids)).logits)
        sizes = lengths.tolist()
        return TokenLogitsOutput([logits[i, :n] for i, n in enumerate(sizes)])

    def _sparse(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        lengths: torch.Tensor,
        type_ids: torch.Tensor | None,
    ) -> SparseOutput:
        vocab = int(self._model.config.vocab_size)
        step = max(1, _SPARSE_CHUNK_ELEMENTS // (ids.shape[1] * vocab))
        pooled: list[torch.Tensor] = []
        use_sum = self._folder.sparse_pooling == "sum"
        twice = self._folder.sparse_activation == "log1p_relu"
        for start in range(0, ids.shape[0], step):
            part = slice(start, start + step)
            part_types = None if type_ids is None else type_ids[part]
            logits = self._model(**self._kwargs(ids[part], mask[part], part_types)).logits
            values = torch.log1p(torch.relu(logits.float()))
            if twice:
                values = torch.log1p(values)
            # Padding positions become 0, the floor of log1p(relu(.)), so they never win a max.
            values = values * mask[part].unsqueeze(-1).to(values.dtype)
            pooled.append(values.sum(dim=1) if use_sum else values.amax(dim=1))
        dense = _numpy(torch.cat(pooled))
        indices: list[IntArray] = []
        weights: list[FloatArray] = []
        for row in dense:
            nonzero = np.flatnonzero(row).astype(np.int64)
            indices.append(nonzero)
            weights.append(row[nonzero])
        return SparseOutput(indices, weights)

    def _token_vectors(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        lengths: torch.Tensor,
        type_ids: torch.Tensor | None,
    ) -> ItemsOutput:
        """ColBERT: every position's state through the Dense projections, per input its first
        ``len(encoding)`` vectors (the service keeps and normalizes what the model's rules
        say)."""
        vectors = self._model(**self._kwargs(ids, mask, type_ids)).last_hidden_state
        for layer in self._dense:
            vectors = layer(vectors)
        host = _numpy(vectors)
        return ItemsOutput(
            [Outputs(multi=host[i, :n]) for i, n in enumerate(_numpy_ints(lengths).tolist())]
        )

    def _llm_rerank(
        self, ids: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor
    ) -> FloatArray:
        assert self._yes_no is not None
        hidden = self._model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        last = hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths - 1]
        scores = last.float() @ self._yes_no
        if self._yes_no_bias is not None:
            scores = scores + self._yes_no_bias
        return _numpy(scores.unsqueeze(1))


def _layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's repeated blocks (encoder layers): the elements of its ModuleList with the
    most submodules (counted, not weighed: dynamic int8 Linear layers have no parameters)."""
    best: list[torch.nn.Module] = []
    most = 0
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > 1:
            size = sum(1 for _ in module.modules())
            if size > most:
                best, most = list(module), size
    return best


def _m3_heads(folder: ModelFolder) -> M3Heads:
    """BGE-M3's heads, with the ids its sparse output leaves out (the tokenizer's CLS, EOS, PAD
    and UNK, as FlagEmbedding reads them)."""
    import transformers

    assert folder.m3_heads is not None
    tok = transformers.AutoTokenizer.from_pretrained(str(folder.path))
    unused = (tok.cls_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id)
    return M3Heads(*folder.m3_heads, hidden=folder.hidden_size, unused_ids=unused)


def _mask_token_id(folder: ModelFolder) -> int | None:
    """The mask token's id as transformers' tokenizer reads it (PyLate expands queries with
    it)."""
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(str(folder.path))
    mask: int | None = tok.mask_token_id
    return mask


def _numpy(tensor: torch.Tensor) -> FloatArray:
    array: FloatArray = tensor.detach().to(torch.float32).cpu().numpy()
    return array


def _numpy_ints(tensor: torch.Tensor) -> IntArray:
    array: IntArray = tensor.detach().cpu().numpy()
    return array
