"""The GPU plan's sections: what each one measures, on the harness's pieces.

Each ``section_*`` takes the run's :class:`Ctx` and writes its numbers into ``ctx.results``;
:mod:`benchmarks.gpu.run` lists them in order of value. GPU-only measurements (matrix peaks,
the packed engine, fp8, parity, mixed lengths) are here and in :mod:`benchmarks.gpu.measure`;
the served path (in-process server, load-generator processes), sentence-transformers, timing,
the machine record and the report are the harness's (:mod:`benchmarks.harness`).
"""

from __future__ import annotations

import copy
import json
import platform
import random
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from benchmarks.gpu import measure, models
from benchmarks.gpu.shapes import Shape, parity_shapes
from benchmarks.harness import bootstrap, machine, peers, serverpath
from benchmarks.harness.runner import DeadlineError, Runner, log
from benchmarks.harness.timing import repeat_timed, sync
from ember.service.runtime import run_event_loop

if TYPE_CHECKING:
    from benchmarks.gpu.run import Plan

# -- context --------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What every section needs."""

    plan: Plan
    tiny: bool
    device: str
    runner: Runner
    results: dict[str, Any]
    work: Path
    shapes: dict[str, Shape]
    folders: dict[str, tuple[Path, str]] = field(default_factory=dict)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def bf16(self) -> Any:
        import torch

        return torch.bfloat16

    def folder(self, shape: Shape) -> Path:
        """The weight-less folder of a shape (written once)."""
        if shape.name not in self.folders:
            self.folders[shape.name] = models.write_folder(self.work / shape.name, shape)
        return self.folders[shape.name][0]

    def model_entry(self, shape: Shape) -> dict[str, Any]:
        entries: dict[str, Any] = self.results.setdefault("models", {})
        if shape.name not in entries:
            self.folder(shape)
            entries[shape.name] = {
                "label": shape.label,
                "arch": shape.arch,
                "config": dict(shape.config),
                "params_total": shape.total_params(),
                "params_linear": shape.linear_params(),
                "flops_per_token_long": shape.flops_per_token(self.plan.long_len),
                "flops_per_token_short": shape.flops_per_token(self.plan.short_len),
                "tokenizer": self.folders[shape.name][1],
                "engines": {},
                "server": {},
            }
        entry: dict[str, Any] = entries[shape.name]
        return entry

    def build(self, shape: Shape, dtype: Any = None, seed: int = 0) -> Any:
        """A fresh seeded random model of ``shape`` on the device (its build time logged)."""
        start = time.perf_counter()
        model = models.build_model(shape, self.device, dtype or self.bf16, seed)
        sync(self.device)
        seconds = time.perf_counter() - start
        self.results.setdefault("build_s", {}).setdefault(shape.name, []).append(round(seconds, 2))
        log(f"   built {shape.name} in {seconds:.1f}s")
        return model


# -- sections -------------------------------------------------------------------------------


def section_env(ctx: Ctx) -> None:
    """The machine record (harness), the card, torch's CUDA, and the tree measured."""
    import torch

    meta = ctx.results["meta"]
    meta.update(machine.environment("benchmarks.gpu.run"))
    meta["torch_cuda"] = torch.version.cuda
    meta["device"] = ctx.device
    meta["packed_engine"] = models.packed_engine_class() is not None
    if ctx.device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        meta["card"] = props.name
        meta["sm_count"] = props.multi_processor_count
        meta["memory_gib"] = round(props.total_memory / 2**30, 1)
        meta["capability"] = f"{props.major}.{props.minor}"
        meta["nvidia_smi"] = machine.gpu_card()
    else:
        meta["card"] = f"CPU ({platform.machine()}; see host CPU)"
    info = bootstrap.REPO_ROOT / ".whl" / "tree-info.txt"
    if info.is_file():  # the device machine's copy of the tree is not a git checkout
        meta["commit"] = info.read_text(encoding="utf-8").strip()


def section_peaks(ctx: Ctx) -> None:
    plan = ctx.plan
    ctx.results["peaks"] = measure.matmul_peaks(ctx.device, plan.matmul_size, plan.peak_s)
    peaks = ctx.results["peaks"]
    log(
        f"   bf16 {peaks['bf16_tflops']:.1f} TFLOP/s, fp8 "
        f"{peaks.get('fp8_tflops', float('nan')):.1f} TFLOP/s {peaks.get('fp8_error', '')}"
    )


def section_parity(ctx: Ctx, families: Mapping[str, Shape] | None = None) -> None:
    """Packed/padded bf16 and packed fp8 against an fp32 transformers reference, per shape
    (``families``: these parity shapes instead of BERT's and Qwen3's)."""
    import torch

    out = ctx.results.setdefault("parity", {})
    rng = random.Random(7)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")  # an fp32 reference, not tf32
    try:
        chosen = parity_shapes(ctx.tiny) if families is None else families
        for arch, shape in chosen.items():
            ctx.runner.need(10, f"parity {arch}")
            out[arch] = _parity_one(ctx, shape, rng)
    finally:
        torch.set_float32_matmul_precision(previous)


def section_parity_folders(ctx: Ctx) -> None:
    """``tests.tiny_models`` folders (saved weights) loaded by Ember vs sentence-transformers."""
    import torch

    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        ctx.results.setdefault("parity", {})["folders"] = _parity_folders(ctx)
    finally:
        torch.set_float32_matmul_precision(previous)


def _parity_one(ctx: Ctx, shape: Shape, rng: random.Random) -> dict[str, Any]:
    import torch

    path = ctx.folder(shape)
    low, high = models.token_id_range(shape)
    limit = shape.max_seq_length
    lengths = [min(n, limit) for n in ctx.plan.parity_lengths]
    ids = [[rng.randrange(low, high) for _ in range(n)] for n in lengths]
    result: dict[str, Any] = {"shape": shape.label, "lengths": lengths}
    ref_model = ctx.build(shape, torch.float32, seed=1)
    ref = measure.reference_embeddings(ref_model, ids, shape.pooling, ctx.device)
    batch = measure.encodings(ids)

    def rows_of(kind: str, dtype: Any, quant: str | None, model: Any) -> Any:
        engine = models.build_engine(kind, path, model, ctx.device, dtype, quant)
        try:
            return measure.output_rows(engine.forward(batch))
        finally:
            engine.close()

    try:
        fp32_rows = rows_of("padded", torch.float32, None, ref_model)
        result["padded-fp32_vs_fp32"] = measure.cosines(fp32_rows, ref)
    except Exception as exc:
        result["padded-fp32_vs_fp32"] = {"error": f"{type(exc).__name__}: {exc}"}
    bf16_rows: dict[str, Any] = {}
    for kind in ("packed", "padded"):
        try:
            model = copy.deepcopy(ref_model).to(torch.bfloat16)
            bf16_rows[kind] = rows_of(kind, torch.bfloat16, None, model)
            result[f"{kind}-bf16_vs_fp32"] = measure.cosines(bf16_rows[kind], ref)
        except Exception as exc:
            result[f"{kind}-bf16_vs_fp32"] = {"error": f"{type(exc).__name__}: {exc}"}
        models.free()
    try:
        model = copy.deepcopy(ref_model).to(torch.bfloat16)
        fp8_rows = rows_of("packed", torch.bfloat16, "fp8", model)
        result["packed-fp8_vs_fp32"] = measure.cosines(fp8_rows, ref)
        if "packed" in bf16_rows:
            result["packed-fp8_vs_packed-bf16"] = measure.cosines(fp8_rows, bf16_rows["packed"])
    except Exception as exc:
        result["packed-fp8_vs_fp32"] = {"error": f"{type(exc).__name__}: {exc}"}
    del ref_model
    models.free()
    log(f"   parity {shape.name}: " + json.dumps(_brief(result)))
    return result


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    brief: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, dict):
            brief[key] = value.get("min_cos", value.get("error", "?"))
    return brief


def _parity_folders(ctx: Ctx) -> dict[str, Any]:
    """``tests.tiny_models`` folders (saved weights) loaded by Ember vs sentence-transformers."""
    import numpy as np

    from ember.engines.config import EngineConfig
    from ember.engines.types import TruncationSide
    from tests.tiny_models import CORPUS, make_tiny_model

    out: dict[str, Any] = {}
    texts = list(CORPUS)
    for arch in ("bert", "qwen3"):
        entry: dict[str, Any] = {}
        out[arch] = entry
        try:
            path = make_tiny_model(
                ctx.work / f"tiny-{arch}",
                arch=arch,
                head="embedding",
                tokenizer="bpe",
            )
            from sentence_transformers import SentenceTransformer

            st = SentenceTransformer(str(path), device=ctx.device, local_files_only=True)
            reference = st.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
            del st
        except Exception as exc:
            entry["error"] = f"reference: {type(exc).__name__}: {exc}"
            continue
        variants: tuple[tuple[str, Literal["bfloat16"], Literal["fp8"] | None], ...] = (
            ("packed", "bfloat16", None),
            ("padded", "bfloat16", None),
            ("packed", "bfloat16", "fp8"),
        )
        for kind, dtype, quant in variants:
            label = f"{kind}-{quant or dtype}"
            try:
                config = EngineConfig(
                    model_path=path,
                    device=ctx.device,
                    dtype=dtype,
                    quantization=quant,
                )
                engine = _load_engine(kind, config)
                try:
                    encs = engine.tokenizer.encode(texts, truncate=True, side=TruncationSide.RIGHT)
                    rows = measure.output_rows(engine.forward(encs))
                finally:
                    engine.close()
                rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
                entry[f"{label}_vs_st-fp32"] = measure.cosines(rows, reference)
            except Exception as exc:
                entry[f"{label}_vs_st-fp32"] = {"error": f"{type(exc).__name__}: {exc}"}
        models.free()
        log(f"   folder parity {arch}: " + json.dumps(_brief(entry)))
    return out


def _load_engine(kind: str, config: Any) -> Any:
    if kind == "padded":
        from ember.engines.torch_engine import TorchEngine

        return TorchEngine.load(config)
    cls = models.packed_engine_class()
    if cls is None:
        raise RuntimeError("PackedEngine is not in this tree (no ember.engines.accel)")
    return cls.load(config)


def _engine_only(ctx: Ctx, shape: Shape, engine: Any, res: dict[str, Any]) -> Any:
    """Engine-only points for one engine; returns its outputs on the shape's probe inputs."""
    plan = ctx.plan
    low, high = models.token_id_range(shape)
    rng = random.Random(11)
    length = min(plan.long_len, shape.max_seq_length)
    suggested = models.suggested_batch_tokens(engine, plan.batch_tokens)
    tokens = min(suggested, plan.batch_tokens)
    requests = max(1, tokens // length)
    res["suggested_batch_tokens"] = suggested
    long_batch = measure.encodings(models.random_ids(rng, requests, length, low, high))
    timed = measure.time_forward(
        engine, long_batch, ctx.device, plan.point_s, plan.min_repeats, plan.warmup
    )
    seconds = timed["median_s"]
    res["long"] = {
        **timed,
        "tokens_per_request": length,
        "requests": requests,
        "tok_per_s": requests * length / seconds,
        "tflops": shape.flops_for_lengths([length] * requests) / seconds / 1e12,
    }
    log(
        f"   {res['variant']}: {length}-token x {requests}: {res['long']['tok_per_s']:,.0f} tok/s, "
        f"{res['long']['tflops']:.1f} TFLOP/s"
    )
    probe = measure.encodings(
        models.random_ids(random.Random(5), plan.probe_inputs, length, low, high)
    )
    rows = measure.output_rows(engine.forward(probe))
    ctx.runner.need(5, "small-batch point")
    small = long_batch[: plan.small_batch_requests]
    timed = measure.time_forward(
        engine, small, ctx.device, plan.point_s / 2, plan.min_repeats, plan.warmup
    )
    res["long_small_batch"] = {
        **timed,
        "requests": len(small),
        "tok_per_s": len(small) * length / timed["median_s"],
        "tflops": shape.flops_for_lengths([length] * len(small)) / timed["median_s"] / 1e12,
    }
    ctx.runner.need(5, "5-token point")
    short = measure.encodings(models.random_ids(rng, plan.short_batch, plan.short_len, low, high))
    timed = measure.time_forward(
        engine, short, ctx.device, plan.point_s, plan.min_repeats, plan.warmup
    )
    res["short"] = {
        **timed,
        "tokens_per_request": plan.short_len,
        "requests": len(short),
        "req_per_s": len(short) / timed["median_s"],
    }
    log(f"   {res['variant']}: 5-token x {len(short)}: {res['short']['req_per_s']:,.0f} req/s")
    ctx.runner.need(5, "launch-overhead point")
    launch: dict[str, Any] = {}
    for count in plan.launch_rows:
        batch = short[:count]
        timed = repeat_timed(
            lambda b=batch: engine.forward(b),  # type: ignore[misc]
            ctx.device,
            target_s=plan.point_s / 3,
            warmup=plan.warmup + 1,
            min_repeats=plan.min_repeats + 2,
            max_repeats=50,
        )
        point: dict[str, Any] = {"wall_ms": timed["median_s"] * 1000.0}
        try:
            point.update(measure.launch_profile(engine, batch, ctx.device, plan.profile_runs))
        except Exception as exc:
            point["profile_error"] = f"{type(exc).__name__}: {exc}"
        launch[str(count)] = point
    res["launch"] = launch
    log(f"   {res['variant']}: launch " + json.dumps(launch, default=_round))
    return rows


def _round(value: object) -> object:
    return round(value, 3) if isinstance(value, float) else str(value)


def section_engine(ctx: Ctx, name: str, fast: bool = False) -> None:
    """Packed bf16 and fp8 (or, with ``fast``, fp8 with fast accumulation), engine only, each
    on a freshly built model (the packed engine takes its model over)."""
    shape = ctx.shapes[name]
    entry = ctx.model_entry(shape)
    path = ctx.folder(shape)
    probes = ctx.probes.setdefault(name, {})
    variants: list[tuple[str, str | None]] = [("packed", None), ("packed", "fp8")]
    if fast:
        variants = [("packed", "fp8")]
    if models.packed_engine_class() is None:
        variants = [] if fast else [("padded", None)]
        entry["note"] = "PackedEngine not in this tree: the padded TorchEngine stands in"
    for kind, quant in variants:
        variant = f"{kind}-{quant or 'bf16'}" + ("-fast-accum" if fast else "")
        ctx.runner.need(15, variant)
        res: dict[str, Any] = {"variant": variant}
        entry["engines"][variant] = res
        model = ctx.build(shape)
        try:
            start = time.perf_counter()
            engine = models.build_engine(
                kind, path, model, ctx.device, ctx.bf16, quant, fast_accum=fast
            )
            res["engine_build_s"] = round(time.perf_counter() - start, 2)
        except Exception as exc:
            res["error"] = f"{type(exc).__name__}: {exc}"
            log(f"   {variant}: {res['error']}")
            del model
            models.free()
            continue
        try:
            probes[variant] = _engine_only(ctx, shape, engine, res)
        except DeadlineError:
            raise
        except Exception as exc:
            res["error"] = f"{type(exc).__name__}: {exc}"
            log(f"   {variant} failed: {res['error']}")
            traceback.print_exc(file=sys.stdout)
        finally:
            engine.close()
            del engine, model
            models.free()
    for variant in ("packed-fp8", "packed-fp8-fast-accum"):
        if variant in probes and "packed-bf16" in probes:
            key = "fp8_vs_bf16" if variant == "packed-fp8" else "fp8_fast_accum_vs_bf16"
            entry[key] = measure.cosines(probes[variant], probes["packed-bf16"])


def section_peers(ctx: Ctx, name: str) -> None:
    """The padded TorchEngine and sentence-transformers on one freshly built bf16 model."""
    shape = ctx.shapes[name]
    entry = ctx.model_entry(shape)
    path = ctx.folder(shape)
    probes = ctx.probes.setdefault(name, {})
    model = ctx.build(shape)
    try:
        if "padded-bf16" not in entry["engines"]:
            res: dict[str, Any] = {"variant": "padded-bf16"}
            entry["engines"]["padded-bf16"] = res
            engine = models.build_engine("padded", path, model, ctx.device, ctx.bf16, None)
            try:
                probes["padded-bf16"] = _engine_only(ctx, shape, engine, res)
            except DeadlineError:
                raise
            except Exception as exc:
                res["error"] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc(file=sys.stdout)
            if "packed-bf16" in probes and "padded-bf16" in probes:
                entry["packed_vs_padded_bf16"] = measure.cosines(
                    probes["packed-bf16"], probes["padded-bf16"]
                )
        ctx.runner.need(15, "sentence-transformers")
        entry["st"] = _st_peer(ctx, shape, path, model)
    finally:
        del model
        models.free()


def _st_peer(ctx: Ctx, shape: Shape, path: Path, model: Any) -> dict[str, Any]:
    plan = ctx.plan
    st = models.sentence_transformer(path, model, ctx.device)
    out: dict[str, Any] = {"version": _version("sentence-transformers")}
    length = min(plan.long_len, shape.max_seq_length)
    texts, reached = models.exact_length_texts(st.tokenizer, plan.st_long_texts, length, seed=3)
    out["long_tokens_min_max"] = [min(reached), max(reached)]
    out["tokenize_long_s_per_1k"] = (
        measure.time_tokenizer(st.tokenizer, texts, shape.max_seq_length) * 1000 / len(texts)
    )
    long_points = []
    for batch_size in plan.st_long_batches:
        ctx.runner.need(8, f"sentence-transformers batch {batch_size}")
        point = peers.time_encode(st, texts, batch_size, ctx.device, plan.st_point_s)
        point["tok_per_s"] = point["inputs_per_s"] * sum(reached) / len(reached)
        long_points.append(point)
        log(f"   st {length}-token bs {batch_size}: {point['tok_per_s']:,.0f} tok/s")
    out["long"] = long_points
    short_texts, short_reached = models.exact_length_texts(
        st.tokenizer, plan.st_short_texts, plan.short_len, seed=4
    )
    out["short_tokens_min_max"] = [min(short_reached), max(short_reached)]
    short_points = []
    for batch_size in plan.st_short_batches:
        ctx.runner.need(6, f"sentence-transformers short batch {batch_size}")
        point = peers.time_encode(st, short_texts, batch_size, ctx.device, plan.st_point_s)
        point["req_per_s"] = point["inputs_per_s"]
        short_points.append(point)
        log(f"   st 5-token bs {batch_size}: {point['req_per_s']:,.0f} inputs/s")
    out["short"] = short_points
    del st
    return out


def _version(package: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _gpu_sampler(device: str) -> Callable[[], float | None] | None:
    if not device.startswith("cuda"):
        return None
    import torch

    try:
        torch.cuda.utilization()
    except Exception:
        return None
    return lambda: float(torch.cuda.utilization())


def section_server(ctx: Ctx, name: str, variants: list[tuple[str, str | None]], lean: bool) -> None:
    """Serve each engine variant in-process; gRPC and REST load from worker processes."""
    shape = ctx.shapes[name]
    entry = ctx.model_entry(shape)
    path = ctx.folder(shape)
    if models.packed_engine_class() is None:
        variants = [("padded", None)]
    plan = ctx.plan
    length = min(plan.long_len, shape.max_seq_length)
    points = [
        ("grpc", length, plan.conc_long),
        ("rest", plan.short_len, plan.conc_short),
        ("grpc", plan.short_len, plan.conc_short),
        ("rest", length, plan.conc_long),
    ]
    for kind, quant in variants:
        variant = f"{kind}-{quant or 'bf16'}"
        ctx.runner.need(25, f"server {variant}")
        res: dict[str, Any] = {}
        entry["server"][variant] = res
        try:
            model = ctx.build(shape)
            engine = models.build_engine(kind, path, model, ctx.device, ctx.bf16, quant)
            del model
            chosen = points[:2] if lean else points
            run_event_loop(_serve_points(ctx, shape, path, engine, chosen, res, separate=False))
        except DeadlineError:
            raise
        except Exception as exc:
            res["error"] = f"{type(exc).__name__}: {exc}"
            log(f"   server {variant}: {res['error']}")
        finally:
            engine = None  # the server closed it; drop the last reference
            models.free()


def section_separate_gateway(ctx: Ctx, name: str) -> None:
    """REST 5-token requests with the gateway as its own process (``ember gateway``)."""
    shape = ctx.shapes[name]
    entry = ctx.model_entry(shape)
    path = ctx.folder(shape)
    kind = "packed" if models.packed_engine_class() is not None else "padded"
    res: dict[str, Any] = {}
    entry["server"][f"{kind}-bf16 (gateway process)"] = res
    model = ctx.build(shape)
    engine = models.build_engine(kind, path, model, ctx.device, ctx.bf16, None)
    del model
    points = [("rest", ctx.plan.short_len, ctx.plan.conc_short)]
    run_event_loop(_serve_points(ctx, shape, path, engine, points, res, separate=True))
    del engine
    models.free()


def section_http_workers(ctx: Ctx, name: str) -> None:
    """REST and gRPC 5-token requests with the gateway in ``plan.http_workers`` processes
    (``ember serve --http-workers N``); the gRPC point shows the service process's own ceiling
    next to it."""
    shape = ctx.shapes[name]
    entry = ctx.model_entry(shape)
    path = ctx.folder(shape)
    kind = "packed" if models.packed_engine_class() is not None else "padded"
    workers = ctx.plan.http_workers
    res: dict[str, Any] = {}
    entry["server"][f"{kind}-bf16 ({workers} gateway workers)"] = res
    model = ctx.build(shape)
    engine = models.build_engine(kind, path, model, ctx.device, ctx.bf16, None)
    del model
    short, conc = ctx.plan.short_len, ctx.plan.conc_short
    points = [("rest", short, conc), ("grpc", short, conc)]
    run_event_loop(
        _serve_points(ctx, shape, path, engine, points, res, separate=False, http_workers=workers)
    )
    del engine
    models.free()


async def _serve_points(
    ctx: Ctx,
    shape: Shape,
    path: Path,
    engine: Any,
    points: list[tuple[str, int, int]],
    res: dict[str, Any],
    separate: bool,
    http_workers: int = 1,
) -> None:
    plan = ctx.plan
    pool = serverpath.WorkerPool(plan.workers)
    sampler = _gpu_sampler(ctx.device)
    start = time.perf_counter()
    try:
        await pool.start()
        async with serverpath.serve_engine(
            engine, path, separate_gateway=separate, http_workers=http_workers
        ) as ports:
            res["startup_s"] = round(time.perf_counter() - start, 2)
            grpc_port, http_port, res["limits"] = ports
            for transport, tokens, concurrency in points:
                duration = (
                    plan.server_long_duration_s
                    if tokens > plan.short_len
                    else plan.server_duration_s
                )
                if ctx.runner.left() < plan.server_warmup_s + duration + 8:
                    res[f"{transport}-{tokens}"] = {"skipped": "deadline"}
                    continue
                scenario = serverpath.Scenario(
                    transport, tokens, concurrency, plan.server_warmup_s, duration
                )
                port = grpc_port if transport == "grpc" else http_port
                point = await pool.run(
                    scenario, "127.0.0.1", port, models.token_id_range(shape), sampler
                )
                res[f"{transport}-{tokens}"] = point
                log(
                    f"   server {transport} {tokens}-token x{concurrency}: "
                    f"{point['req_per_s']:,.0f} req/s, {point['tok_per_s']:,.0f} tok/s, "
                    f"p50 {point['p50_ms']} ms, p99 {point['p99_ms']} ms, errors {point['errors']} "
                    f"{point['error_sample'][:120]}"
                )
    finally:
        await pool.close()


def section_mixed(ctx: Ctx) -> None:
    """Packed vs padded on one batch of mixed lengths (real tokens/s)."""
    out = ctx.results.setdefault("mixed", {})
    for name in ("qwen3-0.6b", "bert-base"):
        ctx.runner.need(12, f"mixed {name}")
        shape = ctx.shapes[name]
        out[name] = _mixed_one(ctx, shape)


def _mixed_one(ctx: Ctx, shape: Shape) -> dict[str, Any]:
    plan = ctx.plan
    path = ctx.folder(shape)
    low, high = models.token_id_range(shape)
    rng = random.Random(21)
    lo, hi = plan.mixed_range
    hi = min(hi, shape.max_seq_length)
    lengths: list[int] = []
    while sum(lengths) < plan.mixed_tokens:
        lengths.append(rng.randint(lo, hi))
    ids = [[rng.randrange(low, high) for _ in range(n)] for n in lengths]
    batch = measure.encodings(ids)
    real = sum(lengths)
    result: dict[str, Any] = {
        "inputs": len(lengths),
        "real_tokens": real,
        "length_range": [lo, hi],
        "padded_tokens_unsorted": len(lengths) * max(lengths),
    }
    order = sorted(range(len(batch)), key=lambda i: lengths[i])
    chunks = [[batch[i] for i in order[k : k + 32]] for k in range(0, len(order), 32)]
    result["padded_tokens_sorted32"] = sum(len(c) * max(len(e) for e in c) for c in chunks)
    flops = shape.flops_for_lengths(lengths)
    for kind in ("packed", "padded"):
        model = ctx.build(shape)
        try:
            engine = models.build_engine(kind, path, model, ctx.device, ctx.bf16, None)
        except Exception as exc:
            result[kind] = {"error": f"{type(exc).__name__}: {exc}"}
            del model
            models.free()
            continue
        try:
            timed = measure.time_forward(
                engine, batch, ctx.device, plan.point_s, plan.min_repeats, plan.warmup
            )
            result[kind] = {
                **timed,
                "tok_per_s": real / timed["median_s"],
                "tflops": flops / timed["median_s"] / 1e12,
            }
            if kind == "padded":

                def sorted_chunks(e: Any = engine) -> None:
                    for chunk in chunks:
                        e.forward(chunk)

                timed = repeat_timed(
                    sorted_chunks, ctx.device, target_s=plan.point_s, min_repeats=plan.min_repeats
                )
                result["padded-sorted32"] = {
                    **timed,
                    "tok_per_s": real / timed["median_s"],
                    "tflops": flops / timed["median_s"] / 1e12,
                }
        finally:
            engine.close()
            del engine, model
            models.free()
    log(
        f"   mixed {shape.name}: "
        + json.dumps(
            {k: v.get("tok_per_s") for k, v in result.items() if isinstance(v, dict)},
            default=_round,
        )
    )
    return result
