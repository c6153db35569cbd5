"""Ember's GPU benchmark: one script that measures everything GPU-side in one short lease.

    python3 -m benchmarks.gpu.run --out "$OUT"            # the device machine (CUDA)
    python -m benchmarks.gpu.run --cpu --tiny --out DIR   # the CPU dry run, tiny shapes

Sections run in order of value, each in its own try/except, each skipped when the global
deadline leaves too little time for it; ``results.json``, ``RESULTS-gpu.md`` and ``log.txt`` are
rewritten after every section, so a timeout still leaves every number measured so far. A
watchdog thread writes the files and exits if the hard deadline (deadline + grace) passes inside
a section.

1. ``env``: card, driver, versions, the command.
2. ``peaks``: bf16 ``torch.matmul`` and fp8 ``torch._scaled_mm`` rates (the MFU denominators).
3. ``parity``: Ember's engines vs transformers in fp32 on the GPU (BERT and Qwen3 shapes with real
   head sizes, random weights): bf16 packed and padded, fp8 vs bf16; and the tiny model folders
   of ``tests.tiny_models`` loaded from disk vs sentence-transformers.
4. ``<model>/engine``: ``engine.forward`` on prepared token-id batches: 500-token requests
   (tokens/s, TFLOP/s), 5-token requests (requests/s), launch overhead at 5-token batches;
   packed bf16 and fp8.
5. ``<model>/peers``: the padded ``TorchEngine`` and sentence-transformers ``encode`` on the same
   random model.
6. ``<model>/server``: the gRPC service + REST gateway in this process (as ``ember serve`` runs
   them), load from separate processes; gRPC and REST, 500- and 5-token requests.
7. ``mixed``: packed vs padded on mixed lengths (the no-padding-waste claim).

Models: Qwen3-Embedding-4B, Qwen3-Embedding-0.6B and BERT-base shapes (``shapes.py``), seeded random
weights created on the GPU. See README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import importlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

# Nothing outside the device machine can be reached: never let a library try the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

from benchmarks.gpu import bootstrap

bootstrap.ensure_ember_importable()

from benchmarks import machine  # noqa: E402
from benchmarks.gpu import measure, models, report, serverpath  # noqa: E402
from benchmarks.gpu.shapes import Shape, parity_shapes, shapes  # noqa: E402
from ember.service.runtime import run_event_loop  # noqa: E402  (uvloop, as ``ember serve``)


class DeadlineError(Exception):
    """Too little time is left for (the rest of) a section; the message says what was skipped."""


@dataclass(frozen=True)
class Plan:
    """Sizes and time targets: the full plan for the GPU, a tiny one for the CPU dry run."""

    long_len: int = 500
    short_len: int = 5
    batch_tokens: int = 32768  # engine-only batch cap (PackedEngine's own cap), every engine
    small_batch_requests: int = 16
    short_batch: int = 512  # the service's default max batch requests on CUDA
    point_s: float = 1.5  # time target of one engine-only point
    min_repeats: int = 3
    warmup: int = 2
    profile_runs: int = 5
    launch_rows: tuple[int, ...] = (1, 32)
    matmul_size: int = 8192
    peak_s: float = 1.0
    parity_lengths: tuple[int, ...] = (3, 17, 64, 128, 257, 500)
    probe_inputs: int = 8
    st_long_batches: tuple[int, ...] = (32, 128)
    st_short_batches: tuple[int, ...] = (32, 512)
    st_long_texts: int = 1024
    st_short_texts: int = 4096
    st_point_s: float = 2.5
    mixed_tokens: int = 32768
    mixed_range: tuple[int, int] = (8, 512)
    workers: int = 8
    conc_long: int = 256
    conc_short: int = 512
    server_warmup_s: float = 1.5
    server_duration_s: float = 4.0
    server_long_duration_s: float = 6.0  # long requests complete in large batches
    http_workers: int = 4  # gateway processes of the ``server-http-workers`` section
    deadline_s: float = 420.0
    grace_s: float = 25.0


TINY_PLAN = Plan(
    long_len=64,
    batch_tokens=1024,
    small_batch_requests=4,
    short_batch=32,
    point_s=0.15,
    min_repeats=2,
    warmup=1,
    profile_runs=2,
    launch_rows=(1, 8),
    matmul_size=256,
    peak_s=0.1,
    parity_lengths=(3, 9, 17, 40, 64),
    probe_inputs=4,
    st_long_batches=(8,),
    st_short_batches=(16,),
    st_long_texts=32,
    st_short_texts=64,
    st_point_s=0.2,
    mixed_tokens=1024,
    mixed_range=(4, 64),
    workers=2,
    conc_long=4,
    conc_short=8,
    server_warmup_s=0.3,
    server_duration_s=0.8,
    server_long_duration_s=0.8,
    http_workers=2,
    deadline_s=150.0,
    grace_s=20.0,
)


# -- output ---------------------------------------------------------------------------------


class _Tee:
    """Writes to the console and to the log file."""

    def __init__(self, stream: TextIO, log: TextIO) -> None:
        self._stream, self._log = stream, log

    def write(self, text: str) -> int:
        self._stream.write(text)
        with contextlib.suppress(ValueError):
            self._log.write(text)
            self._log.flush()
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()


def log(message: str) -> None:
    """One timestamped line on stdout (and the log)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Runner:
    """Runs sections against a global deadline and writes the outputs after each one."""

    def __init__(self, out: Path, plan: Plan, deadline_s: float, results: dict[str, Any]) -> None:
        self.out = out
        self.plan = plan
        self.deadline_s = deadline_s
        self.results = results
        self.started = time.monotonic()
        self.current = ""
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        return self.deadline_s - self.elapsed()

    def need(self, seconds: float, what: str) -> None:
        """Raise DeadlineError when less than ``seconds`` are left before the deadline."""
        if self.left() < seconds:
            raise DeadlineError(f"{what}: {self.left():.0f}s left before the deadline")

    def run(self, name: str, min_s: float, fn: Callable[[], None]) -> None:
        entry: dict[str, Any] = {"name": name, "status": "running", "seconds": 0.0}
        self.results["sections"].append(entry)
        if self.left() < min_s:
            entry.update(
                status="skipped", note=f"deadline: {self.left():.0f}s left, needs {min_s}s"
            )
            log(f"SKIP {name}: {entry['note']}")
            self.write()
            return
        log(f"== {name} ({self.left():.0f}s left)")
        self.current = name
        start = time.monotonic()
        try:
            fn()
            entry["status"] = "ok"
        except DeadlineError as exc:
            entry.update(status="partial", note=str(exc))
            log(f"PARTIAL {name}: {exc}")
        except Exception as exc:
            entry.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            log(f"FAILED {name}: {type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stdout)
        finally:
            entry["seconds"] = round(time.monotonic() - start, 2)
            self.current = ""
            with contextlib.suppress(Exception):
                models.free()
            log(f"   {name}: {entry['status']} in {entry['seconds']}s")
            self.write()

    def write(self) -> None:
        """Write results.json and RESULTS-gpu.md (atomically; retried if the dict moves)."""
        with self._lock:
            for _ in range(5):
                try:
                    self.results["meta"]["elapsed_s"] = round(self.elapsed(), 1)
                    self.results["meta"]["load_after"] = machine.load_average()
                    text = json.dumps(self.results, indent=1, default=_json_default)
                    break
                except RuntimeError:  # changed size during iteration (watchdog thread)
                    time.sleep(0.05)
            else:
                return
            _atomic_write(self.out / "results.json", text)
            try:
                markdown = report.render(json.loads(text))
            except Exception as exc:
                markdown = f"# report failed\n\n{type(exc).__name__}: {exc}\n"
            _atomic_write(self.out / "RESULTS-gpu.md", markdown)

    def start_watchdog(self, grace_s: float) -> None:
        def watch() -> None:
            while self.elapsed() < self.deadline_s + grace_s:
                time.sleep(1.0)
            note = (
                f"hard deadline ({self.deadline_s + grace_s:.0f}s) passed inside {self.current!r}"
            )
            log(f"WATCHDOG: {note}; writing results and exiting")
            self.results["meta"]["aborted"] = note
            for entry in self.results["sections"]:
                if entry.get("status") == "running":
                    entry.update(status="killed", note=note)
            serverpath.kill_children()
            with contextlib.suppress(Exception):
                self.write()
            sys.stdout.flush()
            os._exit(3)

        threading.Thread(target=watch, name="deadline-watchdog", daemon=True).start()


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# -- context --------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What every section needs."""

    args: argparse.Namespace
    plan: Plan
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
        measure.sync(self.device)
        seconds = time.perf_counter() - start
        self.results.setdefault("build_s", {}).setdefault(shape.name, []).append(round(seconds, 2))
        log(f"   built {shape.name} in {seconds:.1f}s")
        return model


# -- sections -------------------------------------------------------------------------------


def section_env(ctx: Ctx) -> None:
    import torch

    meta = ctx.results["meta"]
    meta["python"] = platform.python_version()
    meta["host_cpu"] = machine.cpu_summary()
    meta["torch"] = torch.__version__
    meta["torch_cuda"] = torch.version.cuda
    meta["device"] = ctx.device
    for name in (
        "transformers",
        "sentence_transformers",
        "tokenizers",
        "grpc",
        "google.protobuf",
        "fastapi",
        "starlette",
        "pydantic",
        "uvicorn",
        "orjson",
        "numpy",
        "triton",
    ):
        try:
            module = importlib.import_module(name)
            meta.setdefault("versions", {})[name] = str(getattr(module, "__version__", "?"))
        except Exception as exc:
            meta.setdefault("versions", {})[name] = f"missing ({type(exc).__name__})"
    meta["packed_engine"] = models.packed_engine_class() is not None
    if ctx.device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        meta["card"] = props.name
        meta["sm_count"] = props.multi_processor_count
        meta["memory_gib"] = round(props.total_memory / 2**30, 1)
        meta["capability"] = f"{props.major}.{props.minor}"
        meta["nvidia_smi"] = _nvidia_smi()
    else:
        meta["card"] = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    info = bootstrap.REPO_ROOT / ".whl" / "tree-info.txt"
    if info.is_file():
        meta["tree"] = info.read_text(encoding="utf-8").strip()
    else:
        meta["tree"] = machine.git_commit()


def _nvidia_smi() -> dict[str, str]:
    fields = "name,driver_version,memory.total,clocks.max.sm,clocks.sm,power.limit,temperature.gpu"
    try:
        text = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    values = [v.strip() for v in text.splitlines()[0].split(",")]
    return dict(zip(fields.split(","), values, strict=False))


def section_peaks(ctx: Ctx) -> None:
    plan = ctx.plan
    ctx.results["peaks"] = measure.matmul_peaks(ctx.device, plan.matmul_size, plan.peak_s)
    peaks = ctx.results["peaks"]
    log(
        f"   bf16 {peaks['bf16_tflops']:.1f} TFLOP/s, fp8 "
        f"{peaks.get('fp8_tflops', float('nan')):.1f} TFLOP/s {peaks.get('fp8_error', '')}"
    )


def section_parity(ctx: Ctx) -> None:
    import torch

    out = ctx.results.setdefault("parity", {})
    rng = random.Random(7)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")  # an fp32 reference, not tf32
    try:
        for arch, shape in parity_shapes(ctx.args.tiny).items():
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
        timed = measure.repeat_timed(
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
    out: dict[str, Any] = {"version": _version("sentence_transformers")}
    length = min(plan.long_len, shape.max_seq_length)
    texts, reached = models.exact_length_texts(st.tokenizer, plan.st_long_texts, length, seed=3)
    out["long_tokens_min_max"] = [min(reached), max(reached)]
    out["tokenize_long_s_per_1k"] = (
        measure.time_tokenizer(st.tokenizer, texts, shape.max_seq_length) * 1000 / len(texts)
    )
    long_points = []
    for batch_size in plan.st_long_batches:
        ctx.runner.need(8, f"sentence-transformers batch {batch_size}")
        point = measure.time_st_encode(st, texts, batch_size, ctx.device, plan.st_point_s)
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
        point = measure.time_st_encode(st, short_texts, batch_size, ctx.device, plan.st_point_s)
        point["req_per_s"] = point["inputs_per_s"]
        short_points.append(point)
        log(f"   st 5-token bs {batch_size}: {point['req_per_s']:,.0f} inputs/s")
    out["short"] = short_points
    del st
    return out


def _version(module: str) -> str:
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:
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

                timed = measure.repeat_timed(
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


# -- main -----------------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".bench/gpu")))
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (dry run)")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes and short points")
    parser.add_argument("--deadline", type=float, default=None, help="seconds (soft)")
    parser.add_argument(
        "--only", default="", help="comma-separated section names or prefixes to run"
    )
    parser.add_argument("--skip", default="", help="comma-separated section names to skip")
    return parser.parse_args(argv)


def _sections(ctx: Ctx) -> list[tuple[str, float, Callable[[], None]]]:
    both: list[tuple[str, str | None]] = [("packed", None), ("packed", "fp8")]
    bf16: list[tuple[str, str | None]] = [("packed", None)]
    return [
        ("env", 0, lambda: section_env(ctx)),
        ("peaks", 5, lambda: section_peaks(ctx)),
        ("parity", 20, lambda: section_parity(ctx)),
        ("qwen3-4b/engine", 30, lambda: section_engine(ctx, "qwen3-4b")),
        ("qwen3-4b/peers", 30, lambda: section_peers(ctx, "qwen3-4b")),
        ("qwen3-4b/server", 30, lambda: section_server(ctx, "qwen3-4b", both, lean=False)),
        ("qwen3-0.6b/engine", 20, lambda: section_engine(ctx, "qwen3-0.6b")),
        ("qwen3-0.6b/peers", 20, lambda: section_peers(ctx, "qwen3-0.6b")),
        ("bert-base/engine", 15, lambda: section_engine(ctx, "bert-base")),
        ("bert-base/peers", 15, lambda: section_peers(ctx, "bert-base")),
        ("mixed", 20, lambda: section_mixed(ctx)),
        ("qwen3-0.6b/server", 25, lambda: section_server(ctx, "qwen3-0.6b", bf16, lean=False)),
        ("bert-base/server", 25, lambda: section_server(ctx, "bert-base", bf16, lean=True)),
        (
            "qwen3-0.6b/server-gateway-process",
            20,
            lambda: section_separate_gateway(ctx, "qwen3-0.6b"),
        ),
        (
            "qwen3-0.6b/server-http-workers",
            25,
            lambda: section_http_workers(ctx, "qwen3-0.6b"),
        ),
        ("parity-folders", 15, lambda: section_parity_folders(ctx)),
        ("qwen3-4b/engine-fp8-fast-accum", 25, lambda: section_engine(ctx, "qwen3-4b", fast=True)),
    ]


def _raise_open_files_limit() -> None:
    """Hundreds of client connections: lift the soft open-files limit to the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard)
            )
    except (ImportError, ValueError, OSError):
        pass


def _selected(name: str, only: str, skip: str) -> bool:
    if name == "env":
        return True
    wanted = [s for s in only.split(",") if s]
    skipped = [s for s in skip.split(",") if s]
    if any(name == s or name.startswith(s) for s in skipped):
        return False
    return not wanted or any(name == s or name.startswith(s) for s in wanted)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    args = _parse(argv)
    plan = TINY_PLAN if args.tiny else Plan()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    log_file = (out / "log.txt").open("a", encoding="utf-8")
    sys.stdout = _Tee(sys.stdout, log_file)
    sys.stderr = _Tee(sys.stderr, log_file)
    deadline = args.deadline if args.deadline is not None else plan.deadline_s
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(
                [Path(sys.executable).name, "-m", "benchmarks.gpu.run", *sys.argv[1:]]
            ),
            "mode": "tiny" if args.tiny else "full",
            "deadline_s": deadline,
            "plan": asdict(plan),
            "host": platform.node(),
            "load_before": machine.load_average(),
        },
        "sections": [],
    }
    runner = Runner(out, plan, deadline, results)
    runner.start_watchdog(plan.grace_s)
    _raise_open_files_limit()

    import torch

    if args.cpu:
        device = "cpu"
    elif torch.cuda.is_available():
        device = "cuda"
    else:
        log("no CUDA device: use --cpu for the dry run")
        results["meta"]["error"] = "no CUDA device"
        runner.write()
        return 2
    work = Path(tempfile.mkdtemp(prefix="ember-gpu-bench-"))
    ctx = Ctx(args, plan, device, runner, results, work, shapes(args.tiny))
    log(
        f"Ember GPU benchmark: device {device}, mode {results['meta']['mode']}, "
        f"deadline {deadline}s"
    )
    try:
        for name, min_s, fn in _sections(ctx):
            if _selected(name, args.only, args.skip):
                runner.run(name, min_s, fn)
    finally:
        serverpath.kill_children()
        shutil.rmtree(work, ignore_errors=True)
        runner.write()
    log(f"done in {runner.elapsed():.0f}s; outputs in {out}")
    print(report.summary_lines(json.loads((out / "results.json").read_text())), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
