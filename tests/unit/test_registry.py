"""Unit tests of ember.engines.registry and the device/config checks behind it."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from pathlib import Path

import pytest

from ember.engines.config import EngineConfig
from ember.engines.errors import BackendUnavailableError, CacheUnwritableError, ModelLoadError
from ember.engines.registry import load_engine


@pytest.mark.parametrize(
    ("backend", "module", "extra"),
    [("tensorrt", "tensorrt_llm", "tensorrt"), ("onnx", "onnxruntime", "onnx")],
)
def test_a_missing_backend_names_its_extra(
    minilm_path: Path, backend: str, module: str, extra: str
) -> None:
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here; the {backend} backend is its owner's to test")
    with pytest.raises(BackendUnavailableError) as info:
        load_engine(EngineConfig(model_path=minilm_path, backend=backend))  # type: ignore[arg-type]
    assert f"pip install 'ember-serve[{extra}]'" in info.value.message
    if backend == "tensorrt":
        assert "NVIDIA GPU" in info.value.message


def test_cuda_without_cuda_is_a_clear_error(minilm_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(BackendUnavailableError, match="CUDA is not available"):
        load_engine(EngineConfig(model_path=minilm_path, device="cuda:0"))


def test_auto_device_falls_back_to_cpu() -> None:
    torch = pytest.importorskip("torch")
    from ember.engines.torch_device import resolve_device, resolve_dtype

    device = resolve_device("auto")
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("auto", torch.device("cpu")) is torch.float32
    assert resolve_dtype("float16", torch.device("cpu")) is torch.float16


def test_missing_folder_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_engine(EngineConfig(model_path=tmp_path / "missing", device="cpu"))


def test_fp8_is_refused_by_the_torch_backend(minilm_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="fp8"):
        load_engine(EngineConfig(model_path=minilm_path, device="cpu", quantization="fp8"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("backend", "jax", "backend must be one of"),
        ("dtype", "int4", "dtype must be one of"),
        ("device", "tpu", "device must be cpu, cuda, cuda:N or auto"),
        ("device", "cuda:x", "device must be cpu, cuda, cuda:N or auto"),
        ("quantization", "int4", "quantization must be none or one of"),
        ("max_input_length", 0, "max_input_length must be >= 1"),
        ("num_threads", 0, "num_threads must be >= 1"),
    ],
)
def test_config_validation(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EngineConfig(model_path=Path("."), **{field: value})  # type: ignore[arg-type]


def test_one_default_prompt_at_most() -> None:
    with pytest.raises(ValueError, match="--default-prompt or --default-prompt-name, not both"):
        EngineConfig(model_path=Path("."), default_prompt="q: ", default_prompt_name="query")


def _unwritable(tmp_path: Path) -> Path:
    """A cache folder that cannot be created (a file is in the way): what a read-only home
    folder does to the default cache, reproducible without root or a read-only mount."""
    blocker = tmp_path / "read-only"
    blocker.write_text("")
    return blocker / "cache"


def test_an_unwritable_cache_serves_fp32_with_torch_and_says_why(
    minilm_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """fp32 through torch gives the same vectors, slower: serve, and say how to fix the cache.
    (Before, the OSError ended the server with a bare "[Errno 30] Read-only file system".)"""
    # at_level sets the capture handler's level too: an earlier test in the session can leave
    # it above WARNING
    with caplog.at_level(logging.WARNING, logger="ember.engines.registry"):
        config = EngineConfig(model_path=minilm_path, cache_dir=_unwritable(tmp_path))
        engine = load_engine(config)
    try:
        assert engine.info.backend == "torch"
    finally:
        engine.close()
    assert "serving with torch instead of ONNX Runtime" in caplog.text
    assert "--cache-dir (EMBER_CACHE_DIR)" in caplog.text


def test_an_unwritable_cache_refuses_int8(minilm_path: Path, tmp_path: Path) -> None:
    """torch's int8 is another, less accurate recipe: no silent switch to it."""
    config = EngineConfig(model_path=minilm_path, quantization="int8")
    with pytest.raises(CacheUnwritableError, match=r"--cache-dir \(EMBER_CACHE_DIR\)"):
        load_engine(dataclasses.replace(config, cache_dir=_unwritable(tmp_path)))


def test_prepare_fails_where_the_cache_cannot_be_written(
    minilm_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ember prepare`` exists to write the cache: "prepared" would be untrue."""
    from ember.service.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["prepare", "--model", str(minilm_path), "--cache-dir", str(_unwritable(tmp_path))])
    assert exited.value.code == 2
    assert "cannot write the graph cache" in capsys.readouterr().err
