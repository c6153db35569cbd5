"""Resolving ``EngineConfig.device``/``dtype``/``num_threads`` into torch objects.

The one place that asks torch what hardware there is; raises ``BackendUnavailableError`` when
the configuration asks for hardware the process does not have.
"""

from __future__ import annotations

import os

import torch

from ember.engines.errors import BackendUnavailableError, ModelLoadError

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; ``"cuda[:N]"`` checked to exist."""
    if device == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if device == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise BackendUnavailableError(
            f"device {device!r} was requested but CUDA is not available (no NVIDIA GPU or a "
            "CPU-only torch build); use device 'cpu' or 'auto', or install a CUDA build of torch"
        )
    resolved = torch.device(device)
    count = torch.cuda.device_count()
    if resolved.index is not None and resolved.index >= count:
        raise BackendUnavailableError(
            f"device {device!r} was requested but only {count} CUDA device(s) are visible"
        )
    return resolved


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``"auto"`` -> float32 on CPU, bfloat16 on CUDA (float16 on GPUs without bfloat16)."""
    if dtype == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ModelLoadError(
            f"unsupported dtype {dtype!r} (use one of {sorted(_DTYPES)})"
        ) from None


def dtype_name(dtype: torch.dtype) -> str:
    """Short name of a torch dtype: ``torch.bfloat16`` -> ``"bfloat16"``."""
    return str(dtype).removeprefix("torch.")


def device_name(device: torch.device) -> str:
    """``cpu`` or ``cuda:N`` (the index made explicit)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index}"
    return device.type


def configure_threads(num_threads: int | None) -> int:
    """Set torch's intra-op threads (default: every core this process may run on)."""
    if num_threads is None:
        try:
            num_threads = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            num_threads = os.cpu_count() or 1
    torch.set_num_threads(num_threads)
    return num_threads
