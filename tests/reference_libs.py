"""The reference libraries the parity tests compare with, imported as published.

FlagEmbedding 1.4.2's package ``__init__`` imports its decoder-only rerankers, which need a
transformers module (``modeling_attn_mask_utils``) that transformers 5 removed; BGE-M3's
embedder itself runs unchanged on transformers 5. :func:`flag_m3_embedder` imports
``FlagEmbedding.inference.embedder.encoder_only.m3`` with the package ``__init__`` files on the
way there left out (empty package modules stand in for them), so the embedder's own code is
what runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

_M3_PACKAGES = (
    "FlagEmbedding",
    "FlagEmbedding.inference",
    "FlagEmbedding.inference.embedder",
    "FlagEmbedding.inference.embedder.encoder_only",
)


def flag_m3_embedder() -> Any:
    """FlagEmbedding's ``M3Embedder`` class (what ``BGEM3FlagModel`` names)."""
    spec = importlib.util.find_spec("FlagEmbedding")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("FlagEmbedding is not installed (make install-dev installs it)")
    root = Path(next(iter(spec.submodule_search_locations)))
    for name in _M3_PACKAGES:
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
            sys.modules[name] = package
    module = importlib.import_module("FlagEmbedding.inference.embedder.encoder_only.m3")
    return module.M3Embedder
