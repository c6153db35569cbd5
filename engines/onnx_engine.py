"""``OnnxEngine``: the ONNX-graph CPU backend for embedding models (fp32 fused, int8, bf16).

Owns running a cached ONNX graph (built by :mod:`ember.engines.onnx_export`) on the CPU with
thread settings for a small server, and turning its hidden states into embeddings with the same
pooling and Dense code as the torch backend, so results match it to float32 rounding (fp32) or
to the documented tolerance of the reduced mode (:data:`ember.engines.precision.ACCURACY_FLOORS`,
checked on the benchmark corpus by ``tests/parity/test_cpu_precision.py``).

Selected by ``EngineConfig.backend == "onnx"`` (and by ``auto`` on the CPU); serves
``ModelKind.EMBEDDING`` folders of encoder architectures. float32 runs on ONNX Runtime;
``dtype="bfloat16"`` runs the fp32 graph on OpenVINO in bf16
(:mod:`ember.engines.openvino_session`; needs the ``openvino`` package and native bf16);
``quantization="int8"`` runs in the CPU's scheme (:func:`ember.engines.precision.int8_scheme`):
static int8 on OpenVINO where the ``openvino`` extra is installed and the CPU has int8 dot
products, else ONNX Runtime's dynamic int8. OpenVINO engines report backend ``openvino``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.engines.base import FolderEngine
from ember.engines.batches import pad_batch, padding_id, unpad, warmup_batches, with_token_states
from ember.engines.config import EngineConfig
from ember.engines.cpu_features import cpu_features
from ember.engines.errors import BackendUnavailableError, EngineError, ModelLoadError
from ember.engines.model_folder import DECODER_MODEL_TYPES, ModelFolder, inspect_configured_folder
from ember.engines.onnx_export import graph_path, input_names, uses_token_types
from ember.engines.openvino_int8 import companion_dtype, openvino_int8_available
from ember.engines.openvino_session import OpenVinoSession, openvino_available
from ember.engines.precision import Int8Scheme, check_cpu_dtype, int8_scheme
from ember.engines.preempt import Preempt, PreemptedError
from ember.engines.runtimes import import_onnxruntime
from ember.engines.tokenizer import HFTokenizer
from ember.engines.types import (
    Encoding,
    EngineOutput,
    FloatArray,
    ModelInfo,
    ModelKind,
    Pooling,
)

log = logging.getLogger(__name__)

#: Pooling modes computed in numpy; others (and Dense layers, prompt exclusion) use the torch
#: pooling module, imported only then, so a plain mean-pooled model starts without torch.
_NUMPY_POOLING = frozenset({Pooling.CLS, Pooling.MEAN, Pooling.MAX, Pooling.MEAN_SQRT_LEN})


def _threads(requested: int | None) -> int:
    if requested is not None:
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def ort_session(path: str, threads: int) -> Any:
    """An ONNX Runtime CPU session for the graph at ``path`` on ``threads`` threads, tuned for
    one batch at a time on a small server."""
    ort = import_onnxruntime()

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Between batches the pool's threads must sleep, not spin: on a small machine they share
    # the cores with the event loop, tokenizer threads and the gateway.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class OnnxEngine(FolderEngine):
    """An embedding model run by ONNX Runtime; implements :class:`~ember.engines.base.Engine`.

    ``forward`` must be called from one thread at a time (the service's engine thread).
    """

    def __init__(
        self,
        folder: ModelFolder,
        tokenizer: HFTokenizer,
        session: Any,
        precision: str,
        with_types: bool,
        backend: str = "onnx",
    ) -> None:
        self._folder = folder
        self._tokenizer = tokenizer
        self._session = session
        self._with_types = with_types
        self._names = input_names(with_types)
        self._pad_id = padding_id(
            folder.config.get("pad_token_id"), tokenizer.pad_token_id, tokenizer.vocab_size
        )
        spec = folder.pooling
        self._exclude_prompt = spec is not None and not spec.include_prompt
        self._numpy_pooling = (
            spec is not None
            and not folder.dense
            and not self._exclude_prompt
            and all(mode in _NUMPY_POOLING for mode in spec.modes)
        )
        self._dense: list[Any] = []
        if folder.dense:
            from ember.engines.dense import load_dense

            self._dense = [load_dense(layer) for layer in folder.dense]
        self._lead = tokenizer.num_leading_special
        self._info = ModelInfo(
            model_id=folder.model_id,
            kind=folder.kind,
            architecture=folder.architecture,
            max_input_length=tokenizer.max_input_length,
            dtype=precision,
            device="cpu",
            backend=backend,
            vocab_size=tokenizer.vocab_size,
            embedding_dim=folder.embedding_dim,
            pooling=spec.modes[0] if spec is not None else None,
            prompts=dict(folder.prompts),
            default_prompt=folder.default_prompt,
        )

    @classmethod
    def load(cls, config: EngineConfig) -> OnnxEngine:
        """Load (exporting and caching on first use) ``config.model_path``.

        Raises ``BackendUnavailableError`` for a device, dtype or model kind this backend does
        not run, and ``ModelLoadError`` when export or loading fails.
        """
        if config.device not in ("auto", "cpu"):
            raise BackendUnavailableError(
                f"the onnx backend runs on the CPU only; got device {config.device!r}"
            )
        if config.dtype not in ("auto", "float32", "bfloat16"):
            raise BackendUnavailableError(
                f"the onnx backend computes in float32, bfloat16 (OpenVINO) or int8 (with "
                f"--quantization int8); for {config.dtype} use --backend torch"
            )
        if config.quantization not in (None, "int8"):
            raise BackendUnavailableError(
                f"the onnx backend supports int8 quantization only, not {config.quantization}"
            )
        bf16 = config.dtype == "bfloat16"
        if bf16 and config.quantization is not None:
            raise BackendUnavailableError("--quantization int8 runs with --dtype auto/float32")
        if bf16:
            check_cpu_dtype("bfloat16", cpu_features(), allow_slow=config.allow_slow_precision)
            if not openvino_available():
                raise BackendUnavailableError(
                    "bfloat16 on the onnx backend runs on OpenVINO: pip install "
                    "'ember-serve[openvino]' (or use --backend torch)"
                )
        folder = inspect_configured_folder(config)
        # Decoder architectures made bidirectional (EmbeddingGemma) are not exported either:
        # their sliding-window masks are built per input length inside the forward.
        if (
            folder.kind is not ModelKind.EMBEDDING
            or folder.is_decoder
            or folder.model_type in DECODER_MODEL_TYPES
        ):
            raise BackendUnavailableError(
                f"the onnx backend serves encoder embedding models; {folder.architecture} "
                f"({folder.kind.value}) needs --backend torch"
            )
        if folder.m3_heads is not None:
            raise BackendUnavailableError(
                "the onnx backend has no BGE-M3 sparse and multi-vector heads; serving with torch"
            )
        tokenizer = HFTokenizer.from_folder(folder)
        features = cpu_features()
        scheme = None
        if config.quantization == "int8":
            scheme = int8_scheme(features, openvino=openvino_int8_available())
        path = graph_path(folder, scheme, config.cache_dir)
        threads = _threads(config.num_threads)
        precision = "bfloat16" if bf16 else "int8" if scheme is not None else "float32"
        on_openvino = bf16 or scheme is Int8Scheme.OPENVINO_STATIC
        try:
            if on_openvino:
                # int8: OpenVINO runs what the IR leaves unquantized in bf16 where it is native
                dtype = "bfloat16" if bf16 else companion_dtype(features)
                session = OpenVinoSession(path, dtype, threads)
            else:
                session = ort_session(str(path), threads)
        except Exception as exc:
            runtime = "OpenVINO" if on_openvino else "ONNX Runtime"
            raise ModelLoadError(f"{runtime} cannot load {str(path)!r}: {exc}") from exc
        backend = "openvino" if on_openvino else "onnx"
        log.info("%s backend: %s, %s, %d threads", backend, path.name, precision, threads)
        return cls(folder, tokenizer, session, precision, uses_token_types(folder), backend)

    # -- Engine protocol --------------------------------------------------------------------

    def warmup(self, max_batch_tokens: int, max_batch_requests: int) -> None:
        """Run a short input, a full batch of short inputs and one long batch (<= 2048 tokens)."""
        for batch in warmup_batches(
            self._tokenizer, max_batch_tokens, max_batch_requests, long_cap=2048
        ):
            self.forward(batch)

    def forward(self, batch: Sequence[Encoding], preempt: Preempt | None = None) -> EngineOutput:
        """Embed a batch: one pooled (and Dense-projected) row per encoding, in order.

        ``preempt`` set while the graph runs terminates the run before its next node
        (``RunOptions.terminate`` of this run only; OpenVINO only before the run starts, see
        :class:`~ember.engines.openvino_session.OpenVinoSession`):
        ``PreemptedError``."""
        ort = import_onnxruntime()

        padded = pad_batch(batch, self._pad_id, type_ids=self._with_types)
        feeds = {"input_ids": padded.ids, "attention_mask": padded.real.astype(np.int64)}
        if padded.type_ids is not None:
            feeds["token_type_ids"] = padded.type_ids
        # A RunOptions per run: its terminate flag stops this run only, not the next one.
        options = ort.RunOptions()
        options.log_severity_level = 4  # a terminated run is expected, not an error to log
        try:
            if preempt is None:
                hidden = self._session.run(None, feeds, options)[0]
            else:
                with preempt.on_set(lambda: self._stop(options)):
                    preempt.check()
                    hidden = self._session.run(None, feeds, options)[0]
        except PreemptedError:
            raise
        except Exception as exc:
            if preempt is not None and preempt.is_set():
                raise PreemptedError(
                    f"the forward of a batch of {len(batch)} was preempted"
                ) from exc
            raise EngineError(f"ONNX Runtime failed on a batch of {len(batch)}: {exc}") from exc
        rows = self._pool(batch, hidden, padded.lengths)
        return with_token_states(batch, rows, lambda: unpad(hidden, padded.lengths))

    def _stop(self, options: Any) -> None:
        """End the run in progress (from another thread): ``options`` is that run's."""
        options.terminate = True

    def close(self) -> None:
        """Release the session."""
        self._session = None
        self._dense = []

    # -- helpers ------------------------------------------------------------------------------

    def _pool(
        self, batch: Sequence[Encoding], hidden: np.ndarray[Any, Any], lengths: np.ndarray[Any, Any]
    ) -> FloatArray:
        spec = self._folder.pooling
        assert spec is not None
        if self._numpy_pooling:
            return _pool_numpy(hidden, lengths, spec.modes)
        import torch

        from ember.engines.pooling import pool

        excluded = None
        if self._exclude_prompt and any(e.prompt_length for e in batch):
            counts = [self._lead + e.prompt_length if e.prompt_length else 0 for e in batch]
            excluded = torch.tensor(counts, dtype=torch.int64)
        with torch.inference_mode():
            pooled = pool(torch.from_numpy(hidden), torch.from_numpy(lengths), spec, excluded)
            for layer in self._dense:
                pooled = layer(pooled)
            rows: FloatArray = pooled.to(torch.float32).numpy()
        return rows


def _pool_numpy(
    hidden: np.ndarray[Any, Any], lengths: np.ndarray[Any, Any], modes: Sequence[Pooling]
) -> FloatArray:
    """``ember.engines.pooling.pool`` for CLS / MEAN / MAX / MEAN_SQRT_LEN without prompt
    exclusion, in numpy (float32 accumulation, the same operations in the same order)."""
    states = hidden.astype(np.float32, copy=False)
    real = (np.arange(states.shape[1])[None, :] < lengths[:, None]).astype(np.float32)
    weights = real[:, :, None]
    outputs: list[FloatArray] = []
    for mode in modes:
        if mode is Pooling.CLS:
            outputs.append(states[:, 0])
        elif mode is Pooling.MAX:
            outputs.append(np.where(weights > 0, states, -np.inf).max(axis=1))
        else:
            sums = (states * weights).sum(axis=1)
            counts = np.maximum(weights.sum(axis=1), 1e-9)
            outputs.append(sums / (counts if mode is Pooling.MEAN else np.sqrt(counts)))
    pooled = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=-1)
    rows: FloatArray = np.ascontiguousarray(pooled, dtype=np.float32)
    return rows
