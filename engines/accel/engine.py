"""``PackedEngine``: the CUDA fast path, a :class:`~ember.engines.torch_engine.TorchEngine` whose
forward packs the batch (no padding) and runs Ember's own forward of the model.

Loading, the tokenizer, :class:`~ember.engines.types.ModelInfo`, Dense layers and the LLM
reranker's yes/no vector come from ``TorchEngine``; the forward pass is
:func:`~ember.engines.accel.model.build_packed_model`'s, with pooling and heads applied to the
packed hidden states. Runs on CPU too (the reference attention path), which is how the tests
check it; the registry picks it for CUDA.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ember.engines.accel.fp8 import require_fp8
from ember.engines.accel.glu_encoder import GLU_ENCODER_TYPES
from ember.engines.accel.model import (
    DECODER_TYPES,
    ENCODER_TYPES,
    PackedModel,
    build_packed_model,
    packed_support,
    position_rule,
)
from ember.engines.accel.packing import DevicePack, DeviceStager, pack_encodings
from ember.engines.accel.pooling import first_tokens, last_tokens, pool_packed
from ember.engines.batches import with_token_states
from ember.engines.config import EngineConfig
from ember.engines.errors import EngineError, ModelLoadError
from ember.engines.model_folder import (
    ModelFolder,
    PoolingSpec,
    inspect_configured_folder,
    inspect_model_folder,
)
from ember.engines.preempt import Preempt
from ember.engines.rerank_template import qwen3_reranker_template
from ember.engines.tokenizer import HFTokenizer
from ember.engines.torch_device import configure_threads, resolve_device, resolve_dtype
from ember.engines.torch_engine import TorchEngine, _load_model
from ember.engines.types import (
    Encoding,
    EngineOutput,
    FloatArray,
    ModelKind,
    Pooling,
    TokenLogitsOutput,
    TruncationSide,
    VectorOutput,
)

logger = logging.getLogger(__name__)

#: Upper bound of :meth:`PackedEngine.suggested_batch_tokens`: past ~32k tokens the GEMMs are
#: as efficient as they get, and bigger batches only add latency.
DEFAULT_BATCH_TOKEN_CAP = 32768
#: Headroom kept free on the GPU (fragmentation, cuBLAS workspaces, other processes).
_RESERVE_FRACTION = 0.08
_RESERVE_MIN_BYTES = 1 << 30
_GIB = float(1 << 30)


def choose_packed(config: EngineConfig) -> bool:
    """Whether :func:`~ember.engines.registry.load_engine` should load a :class:`PackedEngine`.

    ``config.packed`` True/False forces the choice; ``None`` (auto) picks the packed engine for
    fp8 (only it runs fp8, and it explains when the GPU cannot) and on CUDA in bfloat16/float16
    (float32 has no flash kernel: packed attention would loop over sequences) when
    :func:`~ember.engines.accel.model.packed_support` accepts the folder.
    """
    forced = getattr(config, "packed", None)
    if forced is not None:
        return bool(forced)
    if config.quantization == "fp8":
        return True
    device = config.device
    on_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if not on_cuda or config.dtype == "float32":
        return False
    folder = inspect_configured_folder(config)
    reason = packed_support(folder)
    if reason is not None:
        logger.info("using the padded torch engine: %s", reason)
    return reason is None


def suggest_batch_tokens(
    free_bytes: int,
    per_token_bytes: int,
    *,
    total_bytes: int,
    min_tokens: int,
    cap: int = DEFAULT_BATCH_TOKEN_CAP,
    safety: float = 1.5,
) -> int:
    """Tokens per batch that fit in ``free_bytes`` of device memory.

    ``tokens = (free - reserve) / (per_token * safety)``, ``reserve = max(1 GiB, 8 % of the
    device)``, rounded down to a multiple of 256 and clamped to ``[min_tokens, cap]``.
    ``per_token_bytes`` is the packed model's peak live activation bytes per token inside one
    layer (layers run one after another, so one layer's peak is the forward's peak) plus the
    pooling/head working set; ``safety`` covers allocator rounding and fragmentation.
    """
    reserve = max(_RESERVE_MIN_BYTES, int(_RESERVE_FRACTION * total_bytes))
    usable = max(0, free_bytes - reserve)
    tokens = int(usable / (max(per_token_bytes, 1) * safety)) // 256 * 256
    return max(min_tokens, min(tokens, cap))


class PackedEngine(TorchEngine):
    """A model run with packed (varlen) batches; implements :class:`~ember.engines.base.Engine`.

    Serves embeddings (all pooling modes, Dense layers), classification/reranking and token
    classification for BERT/RoBERTa/XLM-R, ModernBERT, Nomic-BERT, GTE and
    Qwen2/Qwen3/Llama/Mistral, LLM reranking for those decoders, and embeddings for Gemma3
    (bidirectional EmbeddingGemma or causal); ``quantization="fp8"`` runs the linear layers in
    fp8 on Hopper/Ada GPUs.
    ``forward`` must be called from one thread at a time.
    """

    def __init__(
        self,
        folder: ModelFolder,
        tokenizer: HFTokenizer,
        model: Any,
        device: torch.device,
        dtype: torch.dtype,
        quantization: str | None = None,
        *,
        fast_accum: bool = False,
    ) -> None:
        reason = packed_support(folder)
        if reason is not None:
            raise ModelLoadError(f"the packed engine cannot run this model: {reason}")
        if quantization == "int8":
            raise ModelLoadError("int8 quantization runs on the CPU torch engine (packed off)")
        fp8 = quantization == "fp8"
        if fp8:
            require_fp8(device)
            if dtype not in (torch.bfloat16, torch.float16):
                raise ModelLoadError("fp8 quantization runs with dtype bfloat16 or float16")
        super().__init__(folder, tokenizer, model, device, dtype, quantization)
        base: nn.Module = model.base_model
        self._packed: PackedModel | None = build_packed_model(
            folder, base, fp8=fp8, fast_accum=fast_accum
        )
        self._rule = position_rule(folder, base)
        type_vocab = getattr(model.config, "type_vocab_size", 0)
        self._token_types = (
            folder.model_type in ENCODER_TYPES | GLU_ENCODER_TYPES
            and isinstance(type_vocab, int)
            and type_vocab > 1
        )
        self._stager = DeviceStager(device)
        self._head_style = self._find_head_style(folder, model)
        self._info = dataclasses.replace(self._info, backend="torch-packed")

    @staticmethod
    def _find_head_style(folder: ModelFolder, model: Any) -> str:
        kind = folder.kind
        if kind in (ModelKind.CLASSIFIER, ModelKind.RERANKER):
            if folder.model_type in DECODER_TYPES:
                if not isinstance(getattr(model, "score", None), nn.Module):
                    raise ModelLoadError("decoder classifier without a score head")
                return "score"
            head = getattr(model, "classifier", None)
            if folder.model_type == "modernbert" and isinstance(head, nn.Linear):
                return "modernbert"
            if isinstance(head, nn.Linear) and getattr(model.base_model, "pooler", None):
                return "pooler"
            if isinstance(head, nn.Module) and hasattr(head, "out_proj"):
                return "roberta"
            raise ModelLoadError(f"unsupported classification head on {folder.architecture}")
        if kind is ModelKind.TOKEN_CLASSIFIER:
            if folder.model_type == "modernbert":
                if not isinstance(getattr(model, "head", None), nn.Module):
                    raise ModelLoadError("ModernBERT token classifier without its head")
                return "modernbert"
            for name in ("classifier", "score"):
                if isinstance(getattr(model, name, None), nn.Linear):
                    return name
            raise ModelLoadError(f"unsupported token classification head on {folder.architecture}")
        return ""

    # -- loading ----------------------------------------------------------------------------

    @classmethod
    def load(cls, config: EngineConfig) -> PackedEngine:
        """Load ``config.model_path`` per ``config``; raises ``ModelLoadError`` (or its subclass
        ``BackendUnavailableError``) on failure, before loading weights when it can tell.

        ``config.fp8_fast_accum`` lets fp8 GEMMs accumulate without periodic promotion.
        """
        folder = inspect_configured_folder(config)
        reason = packed_support(folder)
        if reason is not None:
            raise ModelLoadError(f"the packed engine cannot run this model: {reason}")
        device = resolve_device(config.device)
        dtype = resolve_dtype(config.dtype, device)
        if config.quantization == "fp8":
            require_fp8(device)
        configure_threads(config.num_threads)
        template = qwen3_reranker_template() if folder.kind is ModelKind.LLM_RERANKER else None
        tokenizer = HFTokenizer.from_folder(folder, rerank_template=template)
        model = _load_model(folder, config, dtype)
        model.eval()
        model.requires_grad_(False)
        model.to(device)
        return cls(
            folder,
            tokenizer,
            model,
            device,
            dtype,
            config.quantization,
            fast_accum=config.fp8_fast_accum,
        )

    @classmethod
    def from_model(
        cls,
        folder: ModelFolder | Path | str,
        tokenizer: HFTokenizer | None,
        model: Any,
        device: torch.device | str,
        dtype: torch.dtype,
        quantization: str | None = None,
        *,
        fast_accum: bool = False,
    ) -> PackedEngine:
        """An engine around an already-built transformers ``model`` (e.g. random weights made
        on the GPU for a benchmark) and a model folder that may hold no weights.

        ``folder``: a parsed :class:`ModelFolder` or its path (config.json, tokenizer and
        sentence-transformers files); ``tokenizer`` None loads it from the folder. The model
        must already be on ``device`` in ``dtype``. The engine takes the model over: in
        bf16/fp16 its q/k/v (gate/up) weights become views of fused tensors (it still runs);
        with fp8 its quantized weights are freed (it no longer runs on its own).
        """
        if not isinstance(folder, ModelFolder):
            folder = inspect_model_folder(Path(folder))
        device = torch.device(device)
        if quantization == "fp8":
            require_fp8(device)
        if tokenizer is None:
            template = qwen3_reranker_template() if folder.kind is ModelKind.LLM_RERANKER else None
            tokenizer = HFTokenizer.from_folder(folder, rerank_template=template)
        model.eval()
        model.requires_grad_(False)
        return cls(folder, tokenizer, model, device, dtype, quantization, fast_accum=fast_accum)

    # -- Engine protocol --------------------------------------------------------------------

    @property
    def packed_model(self) -> PackedModel:
        """The packed forward (for benchmarks and tests)."""
        if self._packed is None:
            raise EngineError("the engine is closed")
        return self._packed

    def accel_status(self) -> dict[str, str | None]:
        """What the fast path fell back from in this process, and why (None: nothing).

        ``flash``: the flash varlen kernel failed, attention runs per sequence; ``triton``: a
        Triton kernel failed to compile or launch, the torch twins run. Both stay correct and
        get slower; the benchmark logs this next to its numbers.
        """
        from ember.engines.accel.attention import flash_failure
        from ember.engines.accel.kernels import triton_failure

        return {"flash": flash_failure(), "triton": triton_failure()}

    def suggested_batch_tokens(self, cap: int = DEFAULT_BATCH_TOKEN_CAP) -> int | None:
        """Tokens per batch that fit the free GPU memory (:func:`suggest_batch_tokens`);
        None on CPU. Call after loading (the weights are then already resident)."""
        if self._device.type != "cuda":
            return None
        free, total = torch.cuda.mem_get_info(self._device)
        # Memory the caching allocator holds but does not use is free for activations too.
        cached = torch.cuda.memory_reserved(self._device) - torch.cuda.memory_allocated(
            self._device
        )
        modes = len(self.folder.pooling.modes) if self.folder.pooling else 1
        per_token = self.packed_model.activation_bytes_per_token()
        # Pooling works on a float32 copy of the hidden states; 5 int64 staged inputs.
        per_token += 4 * self.packed_model.hidden_size * modes + 5 * 8
        tokens = suggest_batch_tokens(
            free + cached,
            per_token,
            total_bytes=total,
            min_tokens=self.tokenizer.max_input_length,
            cap=cap,
        )
        logger.info(
            "suggested batch: %d tokens (%.1f GiB free, %d bytes/token)",
            tokens, (free + cached) / _GIB, per_token,
        )  # fmt: skip
        return tokens

    def warmup(self, max_batch_tokens: int, max_batch_requests: int) -> None:
        """TorchEngine's warm-up batches, then on CUDA one batch of about ``max_batch_tokens``
        tokens (inputs of up to 2048 tokens: longer ones add attention time, not new kernels),
        so the allocator holds the peak working set and every Triton kernel is compiled before
        the first request."""
        super().warmup(max_batch_tokens, max_batch_requests)
        if self._device.type != "cuda":
            return
        sample = self.tokenizer.encode(
            ["Ember warms up its model."], truncate=True, side=TruncationSide.RIGHT
        )[0]
        token = int(sample.ids[min(1, len(sample.ids) - 1)])
        length = max(1, min(self.tokenizer.max_input_length, max_batch_tokens, 2048))
        rows = max(1, min(max_batch_requests, max_batch_tokens // length))
        self.forward([Encoding(ids=[int(sample.ids[0])] + [token] * (length - 1))] * rows)
        torch.cuda.synchronize(self._device)
        status = self.accel_status()
        if any(status.values()):
            logger.error("the CUDA fast path runs degraded: %s", status)

    def forward(self, batch: Sequence[Encoding], preempt: Preempt | None = None) -> EngineOutput:
        """Run the model on a packed batch and return per-input outputs in batch order.

        ``preempt`` is checked before the batch starts only: the CUDA kernels, once queued,
        run to the end (stopping between layers would cost a device sync per layer)."""
        if preempt is not None:
            preempt.check()
        packed = self.packed_model
        with torch.inference_mode():
            host = pack_encodings(
                batch,
                self._rule,
                token_types=self._token_types,
                exclude_leading=self._lead if self._exclude_prompt else None,
            )
            pack = self._stager.stage(host)
            hidden = packed(pack)
            kind = self._kind
            if kind is ModelKind.EMBEDDING:
                rows = self._embed_packed(hidden, pack)
                return with_token_states(
                    batch, rows, lambda: np.split(_numpy(hidden), host.cu_seqlens[1:-1])
                )
            if kind in (ModelKind.CLASSIFIER, ModelKind.RERANKER):
                return VectorOutput(_numpy(self._classify_packed(hidden, pack)))
            if kind is ModelKind.TOKEN_CLASSIFIER:
                logits = _numpy(self._packed_token_logits(hidden))
                return TokenLogitsOutput(np.split(logits, host.cu_seqlens[1:-1]))
            if kind is ModelKind.LLM_RERANKER:
                assert self._yes_no is not None
                scores = last_tokens(hidden, pack).float() @ self._yes_no
                if self._yes_no_bias is not None:
                    scores = scores + self._yes_no_bias
                return VectorOutput(_numpy(scores.unsqueeze(1)))
        raise EngineError(f"the packed engine does not serve {kind.value} models")

    def close(self) -> None:
        """Release the model's memory."""
        self._packed = None
        super().close()

    # -- heads ------------------------------------------------------------------------------

    def _embed_packed(self, hidden: torch.Tensor, pack: DevicePack) -> FloatArray:
        spec = self.folder.pooling
        assert spec is not None
        pooled = pool_packed(hidden, pack, spec, pack.excluded)
        for layer in self._dense:
            pooled = layer(pooled)
        return _numpy(pooled)

    def _packed_token_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        model = self._model
        if self._head_style == "modernbert":
            # ModernBERT's prediction head (dense, act, norm) runs before the classifier.
            out: torch.Tensor = model.classifier(model.head(hidden))
            return out
        out = getattr(model, self._head_style)(hidden)
        return out

    def _classify_packed(self, hidden: torch.Tensor, pack: DevicePack) -> torch.Tensor:
        model = self._model
        if self._head_style == "score":
            out: torch.Tensor = model.score(last_tokens(hidden, pack))
            return out
        if self._head_style == "modernbert":
            # classifier(head(pool)), pooled as config.classifier_pooling says (cls or mean).
            mode = Pooling.MEAN if model.config.classifier_pooling == "mean" else Pooling.CLS
            pooled = pool_packed(hidden, pack, PoolingSpec((mode,))).to(hidden.dtype)
            out = model.classifier(model.head(pooled))
            return out
        cls_states = first_tokens(hidden, pack).unsqueeze(1)
        if self._head_style == "pooler":
            out = model.classifier(model.base_model.pooler(cls_states))
            return out
        out = model.classifier(cls_states)
        return out


def _numpy(tensor: torch.Tensor) -> FloatArray:
    # The forward's one host synchronisation.
    array: FloatArray = tensor.detach().to(torch.float32).cpu().numpy()
    return array
