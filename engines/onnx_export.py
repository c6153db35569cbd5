"""Building the ONNX graphs the ONNX Runtime backend runs, once per model, in an on-disk cache.

Owns three steps and the cache that makes them a one-time cost:

1. export: the folder's transformers encoder (fp32, eager attention) to ONNX with dynamic batch
   and sequence axes; the graph returns ``last_hidden_state``;
2. fusion: ONNX Runtime's transformer optimizer rewrites BERT-family graphs into its fused
   operators (EmbedLayerNormalization, Attention, SkipLayerNormalization, BiasGelu);
3. int8 (optional): SmoothQuant scaling calibrated on a fixed text sample, then dynamic
   quantization with per-channel int8 weights and per-batch uint8 activations for every MatMul
   except the FFN down-projections (the MatMuls fed by a GELU): their inputs have the widest
   outliers and cost most accuracy with one activation scale per batch, smoothed or not. They
   stay fp32, or, on AVX-512 VNNI CPUs, run as ``MatMulNBits`` with 8-bit weights and int8
   activations quantized per 32-value block. The scheme follows the CPU
   (:func:`ember.engines.precision.int8_scheme`): 8-bit weights with VNNI/AMX, 7-bit without,
   where ONNX Runtime's int16 pair sums would saturate. Where the ``openvino`` extra is
   installed, CPUs with int8 dot products get static int8 for OpenVINO instead
   (:mod:`ember.engines.openvino_int8`), cached beside the fp32 graph.

Graphs are cached under ``<cache_dir>/onnx/<key>/`` (default ``~/.cache/ember``), keyed by
the model's config and weight files, the step's format version and the torch / onnxruntime /
openvino / nncf versions, and written atomically, so a second start loads them in well under a
second.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import platform
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ember.engines.cpu_features import cpu_features
from ember.engines.errors import CacheUnwritableError, ModelLoadError
from ember.engines.model_folder import ModelFolder
from ember.engines.precision import Int8Scheme
from ember.engines.runtimes import import_onnxruntime

log = logging.getLogger(__name__)

#: Bump when the export, fusion or quantization recipe changes: old cache entries are ignored.
FORMAT_VERSION = 3
#: Model types whose graphs the ONNX Runtime BERT optimizer fuses.
_FUSABLE = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "electra"})
_GELU_OPS = frozenset({"Gelu", "BiasGelu", "FastGelu", "QuickGelu"})
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_HASH_SPAN = 1 << 20
#: SmoothQuant migration strength and calibration size (measured on MiniLM: alpha 0.5 lifts
#: the int8 min cosine from 0.991 to 0.995; FFN down-projections stay fp32 at any alpha).
_SMOOTH_ALPHA = 0.5
CALIBRATION_TEXTS = 160
#: Block-wise FFN down-projections: values per weight/activation block (each with its own
#: scale) and ONNX Runtime's ``accuracy_level`` 4 (int8 activations, VNNI dot products).
_BLOCK = 32
_INT8_ACTIVATIONS = 4


def cache_root() -> Path:
    """The default cache folder, ``~/.cache/ember`` (``EngineConfig.cache_dir`` overrides it)."""
    return Path.home() / ".cache" / "ember"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def model_key(folder: ModelFolder) -> str:
    """A digest naming this model's graphs: config, weight files (size, head and tail) and
    the versions of the tools that build and run them."""
    digest = hashlib.sha256()
    digest.update(f"v{FORMAT_VERSION}|py {platform.python_version()}|".encode())
    digest.update(f"torch {_version('torch')}|".encode())
    digest.update(f"ort {_version('onnxruntime')}|tf {_version('transformers')}|".encode())
    digest.update(f"ov {_version('openvino')}|nncf {_version('nncf')}|".encode())
    config = folder.path / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for path in sorted(folder.path.iterdir()):
        if not path.name.endswith(_WEIGHT_SUFFIXES) or not path.is_file():
            continue
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}".encode())
        with path.open("rb") as handle:
            digest.update(handle.read(_HASH_SPAN))
            handle.seek(max(0, size - _HASH_SPAN))
            digest.update(handle.read(_HASH_SPAN))
    return digest.hexdigest()[:24]


def graph_cache(root: Path | None = None) -> Path:
    """The folder of the cached graphs: ``<root>/onnx``, one subfolder per model key (``root``
    None: :func:`cache_root`)."""
    return (root or cache_root()) / "onnx"


def check_cache_writable(directory: Path) -> None:
    """Create ``directory`` and check that a file can be written in it, before a graph is
    built there (the int8 builds take a minute). Raises ``CacheUnwritableError`` naming the way
    out; a read-only home folder (a container's read-only root file system) is the usual cause."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise CacheUnwritableError(
            f"cannot write the graph cache in {directory} ({exc.strerror or exc}): set "
            "--cache-dir (EMBER_CACHE_DIR) to a writable folder, or run `ember prepare` with "
            "the same model and options where the cache is writable (an image build), so that "
            "the server only reads it"
        ) from None


@contextmanager
def _atomic_target(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final``, renamed onto it when the block succeeds. The file
    gets the permissions of any new file (0666 less the umask), not mkstemp's owner-only 0600:
    a cache built by one user (an image build as root) is read by another (the server's)."""
    check_cache_writable(final.parent)
    temp = final.parent / f"{final.stem}.{uuid.uuid4().hex}.tmp"
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    mode = temp.stat().st_mode  # the kernel applied the umask
    try:
        yield temp
        os.chmod(temp, mode)  # the writer may have replaced the file
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)


def graph_path(folder: ModelFolder, scheme: Int8Scheme | None, root: Path | None = None) -> Path:
    """The cached graph for ``folder``: fp32 fused, or int8 in ``scheme`` (an ONNX graph for
    ONNX Runtime's schemes, an OpenVINO IR ``.xml`` for ``Int8Scheme.OPENVINO_STATIC``), built
    first when missing. Raises ``ModelLoadError`` when export, fusion or quantization fails."""
    directory = graph_cache(root) / model_key(folder)
    fp32 = directory / "model.onnx"
    if not fp32.is_file():
        log.info("exporting %s to ONNX in %s (once per model)", folder.model_id, directory)
        with _atomic_target(fp32) as temp:
            _export_fused(folder, temp)
    if scheme is None:
        return fp32
    if scheme is Int8Scheme.OPENVINO_STATIC:
        from ember.engines.openvino_int8 import quantized_ir

        target = directory / f"model.int8-{scheme.value}.xml"
        return quantized_ir(folder, fp32, target, cpu_features())
    int8 = directory / f"model.int8-{scheme.value}.onnx"
    if not int8.is_file():
        log.info("quantizing %s to int8 %s (once per model)", folder.model_id, scheme.name)
        with _atomic_target(int8) as temp:
            quantize_int8(folder, fp32, temp, scheme)
    return int8


def _hidden_states_module(model: Any, with_types: bool) -> Any:
    """Wrap a transformers encoder so the exported graph returns only ``last_hidden_state``."""
    import torch

    class HiddenStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            kwargs = {"input_ids": inputs[0], "attention_mask": inputs[1]}
            if with_types:
                kwargs["token_type_ids"] = inputs[2]
            return self.m(**kwargs).last_hidden_state  # type: ignore[no-any-return]

    return HiddenStates()


def input_names(with_types: bool) -> list[str]:
    """The graph's inputs, in order."""
    return ["input_ids", "attention_mask"] + (["token_type_ids"] if with_types else [])


def uses_token_types(folder: ModelFolder) -> bool:
    """Whether the graph takes ``token_type_ids`` (BERT-style models with several types)."""
    type_vocab = folder.config.get("type_vocab_size", 0)
    return isinstance(type_vocab, int) and type_vocab > 1


def _export_fused(folder: ModelFolder, target: Path) -> None:
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        model = transformers.AutoModel.from_pretrained(
            str(folder.path), attn_implementation="eager", dtype=torch.float32
        )
    except Exception as exc:
        raise ModelLoadError(f"cannot load {str(folder.path)!r} for ONNX export: {exc}") from exc
    model.eval()
    with_types = uses_token_types(folder)
    names = input_names(with_types)
    sample = [torch.ones(2, 16, dtype=torch.int64), torch.ones(2, 16, dtype=torch.int64)]
    if with_types:
        sample.append(torch.zeros(2, 16, dtype=torch.int64))
    axes = {name: {0: "batch", 1: "time"} for name in [*names, "last_hidden_state"]}
    raw = target.with_suffix(".raw.onnx")
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _hidden_states_module(model, with_types),
                tuple(sample),
                str(raw),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        _fuse(folder, raw, target)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"ONNX export of {folder.architecture} failed: {exc}") from exc
    finally:
        raw.unlink(missing_ok=True)


def _fuse(folder: ModelFolder, raw: Path, target: Path) -> None:
    """Fuse BERT-family graphs; copy others as exported (ORT still optimizes them at load)."""
    if folder.model_type not in _FUSABLE:
        os.replace(raw, target)
        return
    import_onnxruntime()
    from onnxruntime.transformers import optimizer

    # ORT's optimizer logs a line per fusion at INFO under its bare module names (it puts its
    # folder on sys.path): fusion_base, onnx_model_bert... The summary below says the same in
    # one line, under Ember's name.
    for module in Path(optimizer.__file__).parent.glob("*.py"):
        if module.stem.startswith(("fusion_", "onnx_model")):
            logging.getLogger(module.stem).setLevel(logging.WARNING)
    heads = folder.config.get("num_attention_heads", 0)
    optimized = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=heads if isinstance(heads, int) else 0,
        hidden_size=folder.hidden_size,
        opt_level=1,
    )
    fused = optimized.get_fused_operator_statistics()
    log.info("ONNX fusion: %s", {k: v for k, v in fused.items() if v})
    optimized.save_model_to_file(str(target))


def ffn_down_projections(model: Any) -> list[str]:
    """Names of the MatMul nodes fed by a GELU: the FFN down-projections of an encoder."""
    nodes = list(model.graph.node)
    gelu_outputs = {out for node in nodes if node.op_type in _GELU_OPS for out in node.output}
    found = [
        node.name
        for node in nodes
        if node.op_type == "MatMul" and any(i in gelu_outputs for i in node.input)
    ]
    if found:
        return found
    # Unfused graphs spell GELU as Erf arithmetic: fall back to the module path the exporter
    # writes into node names (BERT-style ``layer.N/output/dense``, not the attention output).
    return [
        node.name
        for node in nodes
        if node.op_type == "MatMul"
        and node.name.endswith("/output/dense/MatMul")
        and "/attention/" not in node.name
    ]


def text_feeds(folder: ModelFolder, texts: list[str]) -> list[dict[str, Any]]:
    """``texts`` as the graph's feeds: tokenized, truncated to the model's max length, sorted by
    length and padded in batches of 32."""
    import numpy as np

    from ember.engines.tokenizer import HFTokenizer
    from ember.engines.types import TruncationSide

    with_types = uses_token_types(folder)
    tokenizer = HFTokenizer.from_folder(folder)
    encodings = sorted(tokenizer.encode(texts, truncate=True, side=TruncationSide.RIGHT), key=len)
    feeds: list[dict[str, Any]] = []
    for start in range(0, len(encodings), 32):
        batch = encodings[start : start + 32]
        time = max(len(e) for e in batch)
        ids = np.zeros((len(batch), time), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(batch):
            ids[row, : len(encoding)] = encoding.ids
            mask[row, : len(encoding)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if with_types:
            feed["token_type_ids"] = np.zeros_like(ids)
        feeds.append(feed)
    return feeds


def quantize_int8(folder: ModelFolder, source: Path, target: Path, scheme: Int8Scheme) -> None:
    """int8 for the CPU: SmoothQuant (alpha 0.5, calibrated on standard-library prose) on every
    MatMul but the FFN down-projections, then dynamic quantization with per-channel int8 weights
    (7-bit with ``Int8Scheme.REDUCED_RANGE``) and per-batch uint8 activations; the FFN
    down-projections stay fp32, or become block-wise 8-bit (:func:`blockwise_int8`) when
    ``scheme.blockwise_ffn``."""
    import onnx

    import_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    keep = ffn_down_projections(model)
    smoothable = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in keep]
    feeds = text_feeds(folder, calibration_texts()[:CALIBRATION_TEXTS])
    smooth(model, activation_ranges(source, smoothable, feeds), _SMOOTH_ALPHA)
    smoothed = target.with_suffix(".smoothed.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT logs its generic "run pre-processing first" advice
    try:
        onnx.save(model, str(smoothed))
        quantize_dynamic(
            str(smoothed),
            str(target),
            per_channel=True,
            reduce_range=scheme.reduce_range,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep,
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
        smoothed.unlink(missing_ok=True)
    if scheme.blockwise_ffn:
        quantized = onnx.load(str(target))
        blockwise_int8(quantized, keep)
        onnx.save(quantized, str(target))


def blockwise_int8(model: Any, names: list[str]) -> list[str]:
    """Rewrite the named fp32 MatMuls (constant ``[K, N]`` weight, ``K`` a multiple of 32) of
    ``model`` into ONNX Runtime's ``MatMulNBits``: symmetric 8-bit weights with one scale per
    32 values of each output column, and ``accuracy_level`` 4, which quantizes the activations
    to int8 per 32-value block of each row at run time (so one outlier token or channel costs
    only its own block's precision) and multiplies with int8 dot products. Returns the names
    rewritten; a MatMul that does not qualify stays fp32."""
    import numpy as np
    from onnx import helper, numpy_helper

    initializers = {i.name: i for i in model.graph.initializer}
    rewritten: list[str] = []
    replaced: set[str] = set()
    for index, node in enumerate(list(model.graph.node)):
        if node.op_type != "MatMul" or node.name not in names:
            continue
        init = initializers.get(node.input[1])
        weight = None if init is None else numpy_helper.to_array(init).astype(np.float32)
        if weight is None or weight.ndim != 2 or weight.shape[0] % _BLOCK:
            continue
        k, n = weight.shape
        blocks = weight.T.reshape(n, k // _BLOCK, _BLOCK)  # [N, K/32, 32]: one row per column
        scales = np.maximum(np.abs(blocks).max(axis=2), 1e-12) / 127.0
        levels = np.clip(np.rint(blocks / scales[:, :, None]), -127, 127)
        packed = (levels + 128).astype(np.uint8)  # MatMulNBits' default 8-bit zero point: 128
        prefix = node.name
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(packed, f"{prefix}/q8_weight"),
                numpy_helper.from_array(scales.astype(np.float32), f"{prefix}/q8_scales"),
            ]
        )
        replacement = helper.make_node(
            "MatMulNBits",
            [node.input[0], f"{prefix}/q8_weight", f"{prefix}/q8_scales"],
            list(node.output),
            name=f"{prefix}/q8",
            domain="com.microsoft",
            K=k,
            N=n,
            bits=8,
            block_size=_BLOCK,
            accuracy_level=_INT8_ACTIVATIONS,
        )
        model.graph.node.remove(node)
        model.graph.node.insert(index, replacement)
        rewritten.append(node.name)
        replaced.add(node.input[1])
    if rewritten and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    # Drop the fp32 weights the rewrite replaced, unless something else still reads them.
    used = {name for node in model.graph.node for name in node.input}
    used |= {output.name for output in model.graph.output}
    for init in [i for i in model.graph.initializer if i.name in replaced and i.name not in used]:
        model.graph.initializer.remove(init)
    return rewritten


def calibration_texts() -> list[str]:
    """Calibration text for int8 smoothing: English prose from the standard library's own
    documentation (always installed, and unrelated to the accuracy corpus it is judged on)."""
    import argparse
    import asyncio
    import collections
    import email
    import json
    import logging as logging_module
    import random
    import threading

    modules = (argparse, asyncio, collections, email, json, logging_module, random, threading)
    texts: list[str] = []
    for module in modules:
        for obj in [module, *(getattr(module, n) for n in sorted(dir(module)) if n[:1] != "_")]:
            doc = getattr(obj, "__doc__", None)
            if isinstance(doc, str) and len(doc.split()) >= 4:
                texts.append(" ".join(doc.split()))
    return texts


def activation_ranges(
    path: Path, matmuls: list[str], feeds: list[dict[str, Any]]
) -> dict[str, Any]:
    """Per-channel max |x| of the activation input of each named MatMul over ``feeds``."""
    import numpy as np
    import onnx

    ort = import_onnxruntime()
    model = onnx.load(str(path))
    inputs = {n.name: n.input[0] for n in model.graph.node if n.name in matmuls}
    existing = {o.name for o in model.graph.output}
    for tensor in inputs.values():
        if tensor not in existing:
            model.graph.output.append(
                onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None)
            )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = list(inputs.values())
    ranges: dict[str, Any] = {}
    for feed in feeds:
        mask = feed["attention_mask"].astype(bool)
        for tensor, value in zip(names, session.run(names, feed), strict=True):
            real = np.abs(value[mask])  # (real tokens, channels): padding rows excluded
            peak = real.max(axis=0)
            ranges[tensor] = peak if tensor not in ranges else np.maximum(ranges[tensor], peak)
    return {name: ranges[tensor] for name, tensor in inputs.items()}


def smooth(model: Any, ranges: dict[str, Any], alpha: float) -> None:
    """SmoothQuant: move activation outliers into the weights of each named MatMul.

    For input channel j, ``s_j = max|x_j|**alpha / max|w_j|**(1 - alpha)``; the activation is
    multiplied by ``1/s`` (a new Mul on that MatMul's input edge only, so a residual that reads
    the same tensor is untouched) and weight row j by ``s_j``: the product is unchanged, but the
    per-tensor activation scale no longer follows a few outlier channels.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    initializers = {i.name: i for i in model.graph.initializer}
    for node in list(model.graph.node):
        if node.name not in ranges or node.input[1] not in initializers:
            continue
        weight_init = initializers[node.input[1]]
        weight = numpy_helper.to_array(weight_init).astype(np.float32)
        x_peak = np.maximum(np.asarray(ranges[node.name], dtype=np.float32), 1e-5)
        w_peak = np.maximum(np.abs(weight).max(axis=1), 1e-5)
        scale = np.clip(x_peak**alpha / w_peak ** (1.0 - alpha), 1e-3, 1e3).astype(np.float32)
        weight_init.CopyFrom(numpy_helper.from_array(weight * scale[:, None], weight_init.name))
        inverse = f"{node.name}/smooth_inverse"
        model.graph.initializer.append(numpy_helper.from_array(1.0 / scale, inverse))
        smoothed = f"{node.name}/smoothed_input"
        mul = helper.make_node(
            "Mul", [node.input[0], inverse], [smoothed], name=f"{node.name}/Smooth"
        )
        node.input[0] = smoothed
        position = list(model.graph.node).index(node)
        model.graph.node.insert(position, mul)
