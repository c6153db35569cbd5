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


def pylate_encode(folder: Path, texts: list[str], *, is_query: bool) -> list[Any]:
    """PyLate's ``ColBERT.encode(texts, is_query=...)`` on a PyLate-layout folder, written from
    PyLate 1.6.0's published semantics with transformers alone: pylate 1.6.0 itself does not
    load models under sentence-transformers 6 (it requires 5.3), which the project pins.

    Tokenize with the transformers tokenizer (pad token = the mask token) to the query or
    document length less one (queries padded to it with the mask token under query expansion),
    insert the prefix id after the first token, run the encoder with that attention mask
    (all ones for queries that attend to their expansion), project every token through the
    Dense modules, keep every query vector (expansion) or the attended document tokens not in
    the skip-list, and L2-normalize each vector.
    """
    import json

    import torch
    import transformers
    from safetensors.torch import load_file

    settings = json.loads((folder / "config_sentence_transformers.json").read_text())
    modules = json.loads((folder / "modules.json").read_text())
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    tokenizer.pad_token_id = tokenizer.mask_token_id
    model = transformers.AutoModel.from_pretrained(str(folder)).eval()
    projections = [
        load_file(str(folder / m["path"] / "model.safetensors"))
        for m in modules
        if m["type"].endswith("Dense")
    ]
    length = settings["query_length" if is_query else "document_length"]
    prefix = tokenizer.convert_tokens_to_ids(
        settings["query_prefix" if is_query else "document_prefix"]
    )
    expand = is_query and settings["do_query_expansion"]
    batch = tokenizer(
        texts,
        padding="max_length" if expand else True,
        truncation=True,
        max_length=length - 1,
        return_tensors="pt",
    )

    def insert(values: torch.Tensor, fill: int) -> torch.Tensor:
        column = torch.full((values.shape[0], 1), fill, dtype=values.dtype)
        return torch.cat([values[:, :1], column, values[:, 1:]], dim=1)

    ids = insert(batch["input_ids"], prefix)
    mask = insert(batch["attention_mask"], 1)
    if is_query and settings["attend_to_expansion_tokens"]:
        mask = torch.ones_like(mask)
    kwargs = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in batch:
        kwargs["token_type_ids"] = insert(batch["token_type_ids"], 0)
    with torch.no_grad():
        states = model(**kwargs).last_hidden_state
        for weights in projections:
            states = torch.nn.functional.linear(
                states, weights["linear.weight"], weights.get("linear.bias")
            )
    skip = {tokenizer.convert_tokens_to_ids(w) for w in settings["skiplist_words"]}
    out = []
    for i in range(len(texts)):
        if expand:
            keep = torch.ones(ids.shape[1], dtype=torch.bool)
        elif is_query:
            keep = mask[i].bool()
        else:
            keep = mask[i].bool() & torch.tensor([int(t) not in skip for t in ids[i]])
        out.append(torch.nn.functional.normalize(states[i][keep], dim=-1).numpy())
    return out
