"""``load_engine``: pick the backend named in an :class:`EngineConfig` and load the model.

Backends are imported lazily, so importing this module costs nothing (no torch); a backend
whose optional extra or hardware is missing raises :class:`BackendUnavailableError` saying what
to install.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os

from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.errors import BackendUnavailableError, CacheUnwritableError, ModelLoadError
from ember.engines.openvino_session import openvino_available
from ember.engines.precision import PrecisionUnsupportedError

log = logging.getLogger(__name__)

_EXTRAS = {
    "torch": ("torch", "engine", ""),
    "onnx": ("onnxruntime", "onnx", ""),
    "tensorrt": ("tensorrt_llm", "tensorrt", " (needs an NVIDIA GPU)"),
}


def _require(module: str, extra: str, note: str, backend: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise BackendUnavailableError(
            f"the {backend} backend needs the {module!r} package: "
            f"pip install 'ember-serve[{extra}]'{note}"
        )


def _gpu_present() -> bool:
    # Decided without importing torch, so a CPU start on the ONNX path stays torch-free.
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")


def _onnx_candidate(config: EngineConfig) -> bool:
    """Whether ``auto`` should try the ONNX graph: a CPU run in float32 or int8 (ONNX Runtime),
    or in bfloat16 with OpenVINO installed, with onnxruntime and onnx installed. The model kind,
    the architecture and the CPU's bf16 support are checked on load."""
    on_cpu = config.device == "cpu" or (config.device == "auto" and not _gpu_present())
    bf16 = config.dtype == "bfloat16" and config.quantization is None
    return (
        on_cpu
        and (config.dtype in ("auto", "float32") or (bf16 and openvino_available()))
        and config.quantization in (None, "int8")
        and not config.compile
        and importlib.util.find_spec("onnxruntime") is not None
        and importlib.util.find_spec("onnx") is not None
    )


def _load_auto(config: EngineConfig) -> Engine:
    if _onnx_candidate(config):
        from ember.engines.onnx_engine import OnnxEngine

        try:
            return OnnxEngine.load(dataclasses.replace(config, backend="onnx"))
        except BackendUnavailableError as exc:
            log.info("serving with torch: %s", exc.message)
        except PrecisionUnsupportedError:
            raise  # the CPU emulates the dtype: torch would refuse it for the same reason
        except CacheUnwritableError as exc:
            if config.quantization is not None:
                raise  # torch's int8 is another recipe, less accurate: fix the cache instead
            log.warning("serving with torch instead of ONNX Runtime (slower): %s", exc.message)
        except ModelLoadError as exc:
            # An export that fails (an unusual architecture) must not stop the model from
            # serving: torch runs every architecture transformers loads.
            log.warning("ONNX export failed, serving with torch instead: %s", exc.message)
    return load_engine(dataclasses.replace(config, backend="torch"))


def load_engine(config: EngineConfig) -> Engine:
    """Load ``config.model_path`` with ``config.backend`` (``auto``: ONNX Runtime for encoder
    embedding models on the CPU when installed, else torch; see ``EngineConfig.backend``).

    Raises :class:`BackendUnavailableError` when the backend's extra is not installed, when
    CUDA is requested but unavailable, or for the reserved backend (tensorrt) that this
    version does not implement; :class:`ModelLoadError` when the folder cannot be loaded.
    """
    if config.backend == "auto":
        return _load_auto(config)
    module, extra, note = _EXTRAS[config.backend]
    _require(module, extra, note, config.backend)
    if config.backend == "torch":
        from ember.engines.accel.engine import PackedEngine, choose_packed

        if choose_packed(config):
            return PackedEngine.load(config)
        from ember.engines.torch_engine import TorchEngine

        return TorchEngine.load(config)
    if config.backend == "onnx":
        from ember.engines.onnx_engine import OnnxEngine

        return OnnxEngine.load(config)
    raise BackendUnavailableError(
        f"the {config.backend} backend is reserved and not implemented in this version of "
        "Ember; use backend 'torch'"
    )
