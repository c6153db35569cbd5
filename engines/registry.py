"""``load_engine``: pick the backend named in an :class:`EngineConfig` and load the model.

Backends are imported lazily, so importing this module costs nothing (no torch); a backend
whose optional extra or hardware is missing raises :class:`BackendUnavailableError` saying what
to install.
"""

from __future__ import annotations

import importlib.util

from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.errors import BackendUnavailableError

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


def load_engine(config: EngineConfig) -> Engine:
    """Load ``config.model_path`` with ``config.backend``.

    Raises :class:`BackendUnavailableError` when the backend's extra is not installed, when
    CUDA is requested but unavailable, or for the reserved backend (tensorrt) that this
    version does not implement; :class:`ModelLoadError` when the folder cannot be loaded.
    """
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
